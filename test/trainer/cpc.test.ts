import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { BASE_DEFAULTS, deepMerge, type PartialConfig, validateConfig } from '../../trainer/config/config';
import schema from '../../trainer/config/schema.json';
import type { RunConfig } from '../../trainer/config/types';
import { cpcLoss } from '../../trainer/losses/cpc';
import { METHODS } from '../../trainer/methods';
import { buildCpc, type CpcModel, cpc } from '../../trainer/methods/cpc';
import { causalConv, maskedConvContext } from '../../trainer/models/cpc-context';
import { ParamStore } from '../../trainer/models/params';
import { extractPatches, patchGeometry } from '../../trainer/models/patches';
import { Rng } from '../../trainer/rng';
import { stepCtx } from '../helpers/method-ctx';
import { randn, useBackend } from '../helpers/tf';

const NORM = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };

/**
 * CPC's loss in float64 with plain loops: for each step k (offset o = k + skip), every context
 * position (b, i, j) with i + o < n predicts p = c[b][i][j] W_k; its logits are p . z over all
 * target positions (b', i' >= o, j') of that step; loss = mean over positions of
 * logsumexp - positive, then mean over steps.
 */
function cpcReference(c: number[][][][], z: number[][][][], w: number[][][], skip: number): number[] {
  const b = c.length;
  const n = c[0].length;
  const cols = c[0][0].length;
  const perStep: number[] = [];
  w.forEach((wk, s) => {
    const o = s + 1 + skip;
    const targets: number[][] = [];
    const preds: number[][] = [];
    for (let bi = 0; bi < b; bi++)
      for (let i = 0; i + o < n; i++)
        for (let j = 0; j < cols; j++) {
          const ctxv = c[bi][i][j];
          preds.push(wk[0].map((_, q) => ctxv.reduce((acc, cv, r) => acc + cv * wk[r][q], 0)));
          targets.push(z[bi][i + o][j]);
        }
    let total = 0;
    preds.forEach((p, a) => {
      const logits = targets.map((t) => t.reduce((acc, tv, q) => acc + tv * p[q], 0));
      const max = Math.max(...logits);
      const lse = max + Math.log(logits.reduce((acc, v) => acc + Math.exp(v - max), 0));
      total += lse - logits[a];
    });
    perStep.push(total / preds.length);
  });
  return perStep;
}

function grid4(rng: Rng, b: number, n: number, d: number, scale: number): number[][][][] {
  return Array.from({ length: b }, () => Array.from({ length: n }, () => randn(rng, n, d, scale)));
}

function tinyConfig(over: PartialConfig = {}): RunConfig {
  return deepMerge<RunConfig>(
    BASE_DEFAULTS,
    cpc.info.presets.laptop,
    {
      seed: 3,
      params: { patchGrid: 3, predictionSteps: 2, skipRows: 0, contextBlocks: 2 },
      encoder: { arch: 'convnet', width: 4 },
      training: { batchSize: 4 },
    },
    over,
  );
}

/** Builds the model and creates its parameters as the training loop does. */
function buildReady(config: RunConfig, side = 16): CpcModel {
  const model = buildCpc(config, NORM, [side, side, 3]);
  model.store.dryRun = true;
  tf.tidy(() => {
    model.loss([tf.zeros([2, side, side, 3]) as tf.Tensor4D], stepCtx(0, 1, 2));
  });
  model.store.dryRun = false;
  return model;
}

function maxAbs(t: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(t)).dataSync()[0]);
}

describe('CPC', () => {
  before(() => useBackend('cpu'));

  describe('patch grid', () => {
    it("is the paper's 64-px patches with 32-px stride at 256 px, scaled to 8/4 at 32 px", () => {
      assert.deepEqual(patchGeometry(256, 7), { grid: 7, patch: 64, stride: 32 });
      assert.deepEqual(patchGeometry(32, 7), { grid: 7, patch: 8, stride: 4 });
      assert.deepEqual(patchGeometry(28, 6), { grid: 6, patch: 8, stride: 4 });
      assert.throws(
        () => patchGeometry(28, 7),
        /view side \(28 px\) to be a multiple of patchGrid \+ 1 = 8; set params.patchGrid to one of 3, 6, 13, 27 or augment.size to a multiple of 8 \(e.g. 32\)/,
      );
    });

    it('cuts every patch at (4i, 4j) of the image, image by image, row by row', () => {
      const rng = new Rng(1);
      const b = 2;
      const side = 16;
      const c = 3;
      const img = Array.from({ length: b }, () => Array.from({ length: side }, () => randn(rng, side, c)));
      const got = tf.tidy(() => extractPatches(tf.tensor4d(img), 3).arraySync());
      const { patch: p, stride: s } = patchGeometry(side, 3);
      assert.equal(got.length, b * 9);
      for (let bi = 0; bi < b; bi++)
        for (let i = 0; i < 3; i++)
          for (let j = 0; j < 3; j++)
            for (let y = 0; y < p; y++)
              for (let x = 0; x < p; x++)
                assert.deepEqual(
                  got[bi * 9 + i * 3 + j][y][x],
                  img[bi][i * s + y][j * s + x].map(Math.fround),
                  `image ${bi} patch (${i}, ${j}) pixel (${y}, ${x})`,
                );
    });
  });

  describe('InfoNCE over rows', () => {
    for (const [b, n, d, steps, skip] of [
      [2, 4, 3, 2, 0],
      [3, 5, 4, 2, 1],
      [1, 7, 5, 5, 1],
      [2, 3, 2, 1, 1],
    ] as const) {
      it(`matches a float64 loop reference (B=${b}, grid ${n}, d=${d}, K=${steps}, skip=${skip})`, () => {
        const rng = new Rng(100 * b + 10 * n + d);
        const c = grid4(rng, b, n, d + 1, 1);
        const z = grid4(rng, b, n, d, 1);
        const w = Array.from({ length: steps }, () => randn(rng, d + 1, d, 0.7));
        const want = cpcReference(c, z, w, skip);
        const got = tf.tidy(() => {
          const r = cpcLoss(
            tf.tensor4d(c),
            tf.tensor4d(z),
            w.map((m) => tf.tensor2d(m)),
            skip,
          );
          return [r.loss.dataSync()[0], ...r.perStep.map((t) => t.dataSync()[0])];
        });
        const meanWant = want.reduce((a, v) => a + v, 0) / want.length;
        assert.ok(Math.abs(got[0] - meanWant) < 1e-4, `loss ${got[0]} vs ${meanWant}`);
        for (const [k, v] of want.entries())
          assert.ok(Math.abs(got[k + 1] - v) < 1e-4, `step ${k + 1}: ${got[k + 1]} vs ${v}`);
      });
    }

    it('starts at ln M per step (M targets of the step) on random, unrelated encodings', () => {
      // Scores s = p . z with z ~ N(0, a^2 I) have variance a^2 |p|^2 per prediction: the loss is
      // about ln M + a^2 |p|^2 / 2 (reference section 5: CPC ~ ln(1 + negatives), plus the
      // variance term of the rule of thumb). B = 32 and the laptop grid: M = 32 x (7 - o) x 7. All
      // predictions of a step share its M targets, so the sample's own spread (about
      // sigma / sqrt(M) ~ 0.01) does not average out: tolerance 0.03.
      const rng = new Rng(9);
      const [b, n, d, skip] = [32, 7, 16, 1];
      const a = 0.05;
      const c = grid4(rng, b, n, d, 1);
      const z = grid4(rng, b, n, d, a);
      const w = Array.from({ length: 5 }, () => randn(rng, d, d, 1 / Math.sqrt(d)));
      const r = tf.tidy(() => {
        const res = cpcLoss(
          tf.tensor4d(c),
          tf.tensor4d(z),
          w.map((m) => tf.tensor2d(m)),
          skip,
        );
        return res.perStep.map((t) => t.dataSync()[0]);
      });
      w.forEach((wk, s) => {
        const o = s + 1 + skip;
        const m = b * (n - o) * n;
        let varSum = 0;
        let count = 0;
        for (let bi = 0; bi < b; bi++)
          for (let i = 0; i + o < n; i++)
            for (let j = 0; j < n; j++) {
              const p = wk[0].map((_, q) => c[bi][i][j].reduce((acc, cv, rr) => acc + cv * wk[rr][q], 0));
              varSum += a * a * p.reduce((acc, v) => acc + v * v, 0);
              count++;
            }
        const theory = Math.log(m) + varSum / count / 2;
        console.log(
          `      step ${s + 1}: M = ${m}, loss ${r[s].toFixed(4)}, ln M ${Math.log(m).toFixed(4)}, ln M + var/2 ${theory.toFixed(4)}`,
        );
        assert.ok(Math.abs(r[s] - theory) < 0.03, `step ${s + 1}: ${r[s]} vs ${theory}`);
      });
    });

    it('refuses more steps than the grid has rows, naming the params', () => {
      const t = tf.zeros([1, 4, 4, 2]) as tf.Tensor4D;
      const w = [0, 1, 2].map(() => tf.zeros([2, 2]) as tf.Tensor2D);
      assert.throws(
        () => cpcLoss(t, t, w, 1),
        /params.predictionSteps \(3\) \+ params.skipRows \(1\) must be between 1 and patchGrid - 1 = 3/,
      );
      assert.throws(
        () => buildCpc(tinyConfig({ params: { predictionSteps: 5, skipRows: 2 } }), NORM, [16, 16, 3]),
        /predictionSteps \(5\) \+ params.skipRows \(2\)/,
      );
      tf.dispose([t, ...w]);
    });
  });

  describe('context network', () => {
    it('is causal: context row i gets gradient from rows i-2L..i only, never from rows below', () => {
      const ps = new ParamStore(4);
      const ctx = { ps, training: true };
      const [n, d, blocks] = [7, 3, 2];
      const z = tf.randomNormal([2, n, n, d], 0, 1, 'float32', 5) as tf.Tensor4D;
      for (const row of [0, 3, 6]) {
        const g = tf.tidy(() =>
          tf.grad((x: tf.Tensor) => {
            const c = maskedConvContext(ctx, 'ctx', x as tf.Tensor4D, blocks);
            return tf.sum(tf.slice(c, [0, row, 0, 0], [-1, 1, -1, -1]));
          })(z),
        );
        for (let i = 0; i < n; i++) {
          const m = maxAbs(tf.slice(g, [0, i, 0, 0], [-1, 1, -1, -1]));
          if (i > row) assert.equal(m, 0, `row ${row} must not see row ${i}`);
          else if (i >= row - 2 * blocks) assert.ok(m > 0, `row ${row} sees row ${i}`);
          else assert.equal(m, 0, `row ${row}: row ${i} is outside the receptive field`);
        }
        g.dispose();
      }
      z.dispose();
      ps.dispose();
    });

    it('causal convolution equals a float64 loop with zero padding above and at the sides', () => {
      const ps = new ParamStore(6);
      const ctx = { ps, training: true };
      const rng = new Rng(7);
      const [h, w, cin, out] = [4, 3, 2, 2];
      const x = [Array.from({ length: h }, () => randn(rng, w, cin))];
      const got = tf.tidy(() => causalConv(ctx, 'cc', tf.tensor4d(x), { out, kh: 3, kw: 3 }).arraySync()[0]);
      const k = ps.params.get('cc.weight')!.variable.arraySync() as number[][][][];
      const bias = ps.params.get('cc.bias')!.variable.arraySync() as number[];
      for (let i = 0; i < h; i++)
        for (let j = 0; j < w; j++)
          for (let o = 0; o < out; o++) {
            let s = bias[o];
            for (let dy = 0; dy < 3; dy++)
              for (let dx = 0; dx < 3; dx++) {
                const yi = i - 2 + dy;
                const xj = j - 1 + dx;
                if (yi < 0 || xj < 0 || xj >= w) continue;
                for (let q = 0; q < cin; q++) s += x[0][yi][xj][q] * k[dy][dx][q][o];
              }
            assert.ok(Math.abs(got[i][j][o] - s) < 1e-5, `(${i}, ${j}, ${o}): ${got[i][j][o]} vs ${s}`);
          }
      ps.dispose();
    });
  });

  describe('model', () => {
    it('every parameter (encoder, context, one predictor per step) gets a gradient; the loss is finite', () => {
      const model = buildReady(tinyConfig());
      const names = [...model.store.params.keys()];
      for (let k = 1; k <= 2; k++) assert.ok(names.includes(`online.predictor.step${k}.weight`));
      assert.ok(!names.includes('online.predictor.step3.weight'));
      assert.ok(names.some((x) => x.startsWith('online.context.block2.')));
      const x = tf.randomUniform([4, 16, 16, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
      const params = model.store.trainable();
      const { value, grads } = tf.variableGrads(
        () => model.loss([x], stepCtx(0, 1, 4)).loss,
        params.map((p) => p.variable),
      );
      assert.ok(Number.isFinite(value.dataSync()[0]));
      for (const p of params) {
        const g = grads[p.variable.name];
        assert.ok(g && maxAbs(g) > 0, `${p.name} gets a gradient`);
      }
      tf.dispose([x, value, ...Object.values(grads)]);
      model.store.dispose();
    });

    it('features are the eval-mode patch encodings, mean-pooled; other sizes are resized to the view', () => {
      const model = buildReady(tinyConfig());
      const x = tf.randomUniform([3, 16, 16, 3], 0, 1, 'float32', 8) as tf.Tensor4D;
      const f = model.features(x);
      assert.deepEqual(f.shape, [3, model.encoder.dim]);
      const want = tf.tidy(() => {
        const h = model.encoder.forward({ ps: model.store, training: false }, extractPatches(x, 3));
        return tf.mean(tf.reshape(h, [3, 9, -1]), 1);
      });
      // The tiny config's 16-px views with patchGrid 3: 8-px patches, stride 4.
      assert.equal(model.side, 16);
      assert.ok(maxAbs(tf.sub(f, want)) < 1e-5);
      const big = tf.image.resizeBilinear(x, [24, 24]) as tf.Tensor4D;
      assert.deepEqual(model.features(big).shape, [3, model.encoder.dim]);
      tf.dispose([x, f, want, big]);
      model.store.dispose();
    });

    it('refuses a view side that the grid does not divide, naming the fix', () => {
      assert.throws(
        () => buildCpc(tinyConfig({ params: { patchGrid: 7 } }), NORM, [28, 28, 1]),
        /view side \(28 px\).*patchGrid \+ 1 = 8/,
      );
      // augment.size 32 makes Fashion-MNIST's 28-px images 32-px views.
      const m = buildCpc(tinyConfig({ params: { patchGrid: 7 }, augment: { size: 32 } }), NORM, [28, 28, 1]);
      assert.equal(m.side, 32);
      m.store.dispose();
    });
  });

  it('presets: the paper grid and steps, valid configs, every param in the schema and paramKeys', () => {
    assert.equal(METHODS.get('cpc'), cpc);
    const props = (schema as { properties: { params: { properties: Record<string, unknown> } } }).properties
      .params.properties;
    for (const k of cpc.info.paramKeys) assert.ok(k in props, `schema has params.${k}`);
    for (const name of ['paper', 'laptop'] as const) {
      const preset = cpc.info.presets[name];
      assert.equal(preset.method, 'cpc');
      for (const k of Object.keys(preset.params ?? {})) assert.ok(cpc.info.paramKeys.includes(k), k);
      const full = validateConfig(deepMerge<RunConfig>(BASE_DEFAULTS, preset));
      // Building checks the grid against the view size and the steps against the grid.
      const side = full.dataset.kind === 'fashion-mnist' ? 28 : 32;
      const channels = full.dataset.kind === 'fashion-mnist' ? 1 : 3;
      buildCpc(full, NORM, [side, side, channels]).store.dispose();
    }
    const p = deepMerge<RunConfig>(BASE_DEFAULTS, cpc.info.presets.paper);
    assert.deepEqual(
      [p.params.patchGrid, p.params.predictionSteps, p.params.skipRows, p.encoder.arch],
      [7, 5, 0, 'resnet18'],
    );
    assert.ok(cpc.info.laptopScaling.length > 100);
  });
});
