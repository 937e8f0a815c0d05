import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { BASE_DEFAULTS, deepMerge, type PartialConfig } from '../../trainer/config/config';
import { resolveConfig } from '../../trainer/config/resolve';
import type { RunConfig } from '../../trainer/config/types';
import { rgbToLab, sobelMagnitude } from '../../trainer/data/colorspace';
import { NCE_EPS } from '../../trainer/losses/nce';
import { METHODS } from '../../trainer/methods';
import { type CmcModel, cmc, cmcSplit } from '../../trainer/methods/cmc';
import { sampleNoise } from '../../trainer/methods/memory-bank';
import { Rng, rngFor } from '../../trainer/rng';
import { dataInfo } from '../helpers/method-ctx';
import { useBackend } from '../helpers/tf';

/** skimage.color.rgb2lab for one pixel, float64. */
function labReference(rgb: number[]): number[] {
  const lin = rgb.map((c) => (c > 0.04045 ? ((c + 0.055) / 1.055) ** 2.4 : c / 12.92));
  const m = [
    [0.412453, 0.35758, 0.180423],
    [0.212671, 0.71516, 0.072169],
    [0.019334, 0.119193, 0.950227],
  ];
  const white = [0.95047, 1, 1.08883];
  const f = m.map((row, i) => {
    const t = (row[0] * lin[0] + row[1] * lin[1] + row[2] * lin[2]) / white[i];
    return t > 0.008856 ? Math.cbrt(t) : 7.787 * t + 16 / 116;
  });
  return [116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])];
}

const NORM = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
const N = 30;
const B = 6;
const K = 10;

function tinyConfig(over: PartialConfig = {}): RunConfig {
  return deepMerge<RunConfig>(
    BASE_DEFAULTS,
    cmc.info.presets.laptop,
    {
      seed: 4,
      encoder: { arch: 'convnet', width: 4 },
      // The paper's head, random banks and L / ab views (the laptop preset may deviate).
      head: { hidden: [], out: 5, outputBn: false },
      params: { temperature: 0.2, nceK: K, bankLoss: 'nce', bankInit: 'random', cmcViews: 'auto' },
      training: { batchSize: B },
    },
    over,
  );
}

function ctxFor(step: number, indices: Int32Array) {
  return { step, epoch: 0, totalSteps: 10, indices, labels: new Int32Array(indices.length) };
}

function buildReady(config: RunConfig, channels = 3): CmcModel {
  const model = cmc.build(config, NORM, [10, 10, channels], dataInfo(N)) as CmcModel;
  model.store.dryRun = true;
  tf.tidy(() => {
    model.loss([tf.zeros([2, 10, 10, channels]) as tf.Tensor4D], ctxFor(0, Int32Array.from([0, 1])));
  });
  model.store.dryRun = false;
  return model;
}

const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0);

/** One NCE term of CMC in float64: anchors f against `bank`, with its Z from this batch. */
function nceTerm(f: number[][], bank: number[][], idx: Int32Array, noise: Int32Array, tau: number) {
  const k = noise.length / f.length;
  const cols = (r: number) => [idx[r], ...noise.subarray(r * k, (r + 1) * k)];
  let s = 0;
  f.forEach((fr, r) => {
    for (const j of cols(r)) s += Math.exp(dot(bank[j], fr) / tau);
  });
  const z = (bank.length * s) / (f.length * (k + 1));
  const kPn = k / bank.length;
  let total = 0;
  f.forEach((fr, r) => {
    cols(r).forEach((j, c) => {
      const p = Math.exp(dot(bank[j], fr) / tau) / z;
      total += c === 0 ? Math.log(p / (p + kPn + NCE_EPS)) : Math.log(kPn / (p + kPn + NCE_EPS));
    });
  });
  return { loss: -total / f.length, z };
}

describe('CMC', () => {
  before(() => useBackend('cpu'));

  describe('views', () => {
    it('RGB -> Lab matches skimage rgb2lab in float64 (random colours, primaries, white, black)', () => {
      const rng = new Rng(1);
      const pixels = [
        [1, 1, 1],
        [0, 0, 0],
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
        [0.02, 0.03, 0.01],
        ...Array.from({ length: 30 }, () => [rng.next(), rng.next(), rng.next()]),
      ];
      const got = tf.tidy(() => rgbToLab(tf.tensor4d(pixels.flat(), [1, 1, pixels.length, 3])).dataSync());
      pixels.forEach((p, i) => {
        const want = labReference(p);
        for (let c = 0; c < 3; c++) assert.ok(Math.abs(got[3 * i + c] - want[c]) < 1e-3, `${p}: ${c}`);
      });
      // Published values for sRGB red: L 53.24, a 80.09, b 67.20; white is L 100, a = b = 0 (to 0.005
      // with skimage's matrix rounded to six digits).
      assert.ok(
        Math.abs(got[6] - 53.24) < 0.01 && Math.abs(got[7] - 80.09) < 0.01 && Math.abs(got[8] - 67.2) < 0.01,
      );
      assert.ok(Math.abs(got[0] - 100) < 1e-3 && Math.abs(got[1]) < 0.005 && Math.abs(got[2]) < 0.005);
    });

    it('Sobel magnitude matches a float64 loop with zero padding', () => {
      const rng = new Rng(2);
      const [h, w] = [5, 6];
      const img = Array.from({ length: h * w }, () => rng.next());
      const at = (y: number, x: number) => (y < 0 || x < 0 || y >= h || x >= w ? 0 : img[y * w + x]);
      const got = tf.tidy(() => sobelMagnitude(tf.tensor4d(img, [1, h, w, 1])).dataSync());
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const gx =
            at(y - 1, x + 1) +
            2 * at(y, x + 1) +
            at(y + 1, x + 1) -
            at(y - 1, x - 1) -
            2 * at(y, x - 1) -
            at(y + 1, x - 1);
          const gy =
            at(y + 1, x - 1) +
            2 * at(y + 1, x) +
            at(y + 1, x + 1) -
            at(y - 1, x - 1) -
            2 * at(y - 1, x) -
            at(y - 1, x + 1);
          assert.ok(Math.abs(got[y * w + x] - Math.hypot(gx, gy)) < 1e-5, `(${y}, ${x})`);
        }
      }
    });

    it('splits colour into L (1 channel) and ab (2), grayscale into intensity and gradient; refuses others', () => {
      const x = tf.randomUniform([2, 4, 4, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
      const colour = cmcSplit(3, NORM);
      const [l, ab] = colour.split(x);
      assert.deepEqual(colour.names, ['l', 'ab']);
      assert.deepEqual([l.shape[3], ab.shape[3]], [1, 2]);
      const lab = rgbToLab(x);
      assert.deepEqual(tf.concat([l, ab], 3).arraySync(), lab.arraySync());
      const gray = cmcSplit(1, { mean: [0.3], std: [0.2] });
      assert.deepEqual(gray.names, ['intensity', 'gradient']);
      assert.throws(() => cmcSplit(2, NORM), /3 channels.*1 channel.*2 channels/);
      tf.dispose([x, l, ab, lab]);
    });
    it("cmcViews 'intensity-gradient' splits colour images into their grey value and its Sobel magnitude", () => {
      const rng = new Rng(4);
      const [h, w] = [3, 4];
      const rgb = Array.from({ length: h * w * 3 }, () => rng.next());
      const split = cmcSplit(3, { mean: [0.2, 0.4, 0.6], std: [0.1, 0.2, 0.3] }, 'intensity-gradient');
      assert.deepEqual(split.names, ['intensity', 'gradient']);
      assert.ok(Math.abs(split.norms[0].mean[0] - (0.299 * 0.2 + 0.587 * 0.4 + 0.114 * 0.6)) < 1e-12);
      const [y, g] = tf.tidy(() => split.split(tf.tensor4d(rgb, [1, h, w, 3])).map((t) => t.arraySync()));
      const grey = Array.from(
        { length: h * w },
        (_, p) => 0.299 * rgb[3 * p] + 0.587 * rgb[3 * p + 1] + 0.114 * rgb[3 * p + 2],
      );
      (y as number[][][][])[0].flat().forEach((v, p) => {
        assert.ok(Math.abs(v[0] - grey[p]) < 1e-6, `pixel ${p}`);
      });
      const want = tf.tidy(() => sobelMagnitude(tf.tensor4d(grey, [1, h, w, 1])).arraySync());
      (g as number[][][][])[0].flat().forEach((v, p) => {
        assert.ok(Math.abs(v[0] - (want as number[][][][])[0].flat()[p][0]) < 1e-5, `pixel ${p}`);
      });
    });
  });

  it('loss = NCE(l vs bank_ab) + NCE(ab vs bank_l), each with its own Z, as NCEAverage + NCECriterion', () => {
    const config = tinyConfig();
    const model = buildReady(config);
    const x = tf.randomUniform([B, 10, 10, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    const idx = Int32Array.from([4, 29, 0, 13, 7, 21]);
    const [bankL, bankAb] = model.banks.map((b) => b.memory.arraySync() as number[][]);
    const { loss, extra } = model.loss([x], ctxFor(0, idx));
    const [fl, fab] = tf.tidy(() => model.embed(x)).map((t) => t.arraySync() as number[][]);
    const noise = sampleNoise(rngFor(config.seed, 'nce', 0), B, K, N);
    const termL = nceTerm(fl, bankAb, idx, noise, 0.2);
    const termAb = nceTerm(fab, bankL, idx, noise, 0.2);
    const close = (a: number, b: number) => Math.abs(a - b) < 1e-4 * Math.max(1, Math.abs(b));
    assert.ok(close(extra.l_loss.dataSync()[0], termL.loss), `${extra.l_loss.dataSync()} vs ${termL.loss}`);
    assert.ok(close(extra.ab_loss.dataSync()[0], termAb.loss));
    assert.ok(close(loss.dataSync()[0], termL.loss + termAb.loss));
    assert.ok(Math.abs(model.z[0].get()! - Math.log(termL.z)) < 1e-4);
    assert.ok(Math.abs(model.z[1].get()! - Math.log(termAb.z)) < 1e-4);
    for (const name of ['bank.l.memory', 'bank.ab.memory', 'bank.log_z_l', 'bank.log_z_ab'])
      assert.ok(model.store.state().has(name), name);
    assert.ok(model.store.trainable().every((p) => /^online\.(l|ab)\./.test(p.name)));
    tf.dispose([x, loss, ...Object.values(extra)]);
    model.store.dispose();
  });

  it('softmax: cross-entropy over [positive, K noise] per view, summed', () => {
    const model = buildReady(tinyConfig({ params: { bankLoss: 'softmax' } }));
    const x = tf.randomUniform([B, 10, 10, 3], 0, 1, 'float32', 6) as tf.Tensor4D;
    const idx = Int32Array.from([1, 2, 3, 4, 5, 6]);
    const banks = model.banks.map((b) => b.memory.arraySync() as number[][]);
    const got = tf.tidy(() => model.loss([x], ctxFor(3, idx)).loss.dataSync()[0]);
    const f = tf.tidy(() => model.embed(x)).map((t) => t.arraySync() as number[][]);
    const noise = sampleNoise(rngFor(4, 'nce', 3), B, K, N);
    let want = 0;
    [0, 1].forEach((v) => {
      f[v].forEach((fr, r) => {
        const logits = [idx[r], ...noise.subarray(r * K, (r + 1) * K)].map(
          (j) => dot(banks[1 - v][j], fr) / 0.2,
        );
        const m = Math.max(...logits);
        want += (m + Math.log(logits.reduce((s, a) => s + Math.exp(a - m), 0)) - logits[0]) / B;
      });
    });
    assert.ok(Math.abs(got - want) < 1e-4, `${got} vs ${want}`);
    x.dispose();
    model.store.dispose();
  });

  it('afterStep writes each view feature into its own bank; features concatenate both backbones', () => {
    const model = buildReady(tinyConfig());
    const x = tf.randomUniform([B, 10, 10, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    const idx = Int32Array.from([10, 11, 12, 13, 14, 15]);
    const before = model.banks.map((b) => b.memory.arraySync() as number[][]);
    const f = tf.tidy(() => model.embed(x)).map((t) => t.arraySync() as number[][]);
    tf.tidy(() => {
      model.loss([x], ctxFor(0, idx));
    });
    model.afterStep!(ctxFor(0, idx));
    model.banks.forEach((bank, v) => {
      const after = bank.memory.arraySync() as number[][];
      idx.forEach((row, r) => {
        const mix = before[v][row].map((a, j) => 0.5 * a + 0.5 * f[v][r][j]);
        const n = Math.sqrt(dot(mix, mix));
        after[row].forEach((a, j) => {
          assert.ok(Math.abs(a - mix[j] / n) < 1e-5, `view ${v} row ${row}`);
        });
      });
      assert.deepEqual(after[0], before[v][0], 'rows outside the batch are unchanged');
    });
    const feats = tf.tidy(() => model.features(x).shape);
    assert.deepEqual(feats, [B, 2 * 32], 'two ConvNet width-4 backbones of 32 features each');
    x.dispose();
    model.store.dispose();
  });

  it('grayscale data trains intensity against gradient; registered, presets valid', () => {
    const model = buildReady(tinyConfig(), 1);
    const x = tf.randomUniform([B, 10, 10, 1], 0, 1, 'float32', 8) as tf.Tensor4D;
    const { loss, extra } = model.loss([x], ctxFor(0, Int32Array.from([0, 1, 2, 3, 4, 5])));
    assert.ok(Number.isFinite(loss.dataSync()[0]));
    assert.ok('intensity_loss' in extra && 'gradient_loss' in extra);
    assert.ok(model.store.state().has('bank.gradient.memory'));
    assert.equal(METHODS.get('cmc'), cmc);
    for (const preset of ['paper', 'laptop'] as const) resolveConfig({ method: 'cmc' }, preset);
    tf.dispose([x, loss, ...Object.values(extra)]);
    model.store.dispose();
  });
});
