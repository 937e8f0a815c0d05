/**
 * CLIP: the symmetric loss against a float64 loop reference, its initial value on random
 * embeddings, the logit-scale clamp, caption determinism, the tokenizer, the causal text encoder,
 * prompt-ensembled zero-shot logits, and the whole model's wiring (gradients reach both towers).
 */
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { BASE_DEFAULTS, deepMerge, type PartialConfig, validateConfig } from '../../trainer/config/config';
import type { RunConfig } from '../../trainer/config/types';
import { clampLogScale, clipLoss, MAX_LOGIT_SCALE } from '../../trainer/losses/clip';
import {
  checkTemplates,
  DEFAULT_TEMPLATES,
  templateIndices,
  trainingCaptions,
} from '../../trainer/methods/captions';
import {
  allCaptions,
  buildClip,
  type ClipModel,
  clip,
  ensembleClassEmbeddings,
  zeroShotFromEmbeddings,
} from '../../trainer/methods/clip';
import type { Ctx } from '../../trainer/models/layers';
import { ParamStore } from '../../trainer/models/params';
import { textEncoder } from '../../trainer/models/text-encoder';
import { EOT, PAD, SOT, splitWords, UNK, WordTokenizer } from '../../trainer/models/tokenizer';
import { Optimizer } from '../../trainer/optim/optimizer';
import { Rng } from '../../trainer/rng';
import { dataInfo, stepCtx } from '../helpers/method-ctx';
import { randn, useBackend } from '../helpers/tf';

const NORM = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
const SHAPES = ['circle', 'square', 'triangle', 'plus', 'ring'];

// ---------------------------------------------------------------------------------------------
// float64 references

function unit(v: number[]): number[] {
  const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  return v.map((x) => x / n);
}

function dot(a: number[], b: number[]): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += a[k] * b[k];
  return s;
}

function logSumExp(v: number[]): number {
  const m = Math.max(...v);
  return m + Math.log(v.reduce((s, x) => s + Math.exp(x - m), 0));
}

/** (CE over rows + CE over columns) / 2 of exp(t) cos(I_i, T_j), diagonal targets. */
function clipReference(img: number[][], txt: number[][], t: number): number {
  const b = img.length;
  const I = img.map(unit);
  const T = txt.map(unit);
  const s = Math.exp(t);
  const logits = I.map((ri) => T.map((tj) => s * dot(ri, tj)));
  let rows = 0;
  let cols = 0;
  for (let i = 0; i < b; i++) {
    rows += logSumExp(logits[i]) - logits[i][i];
    cols += logSumExp(logits.map((r) => r[i])) - logits[i][i];
  }
  return (rows + cols) / (2 * b);
}

// ---------------------------------------------------------------------------------------------
// helpers

function tinyConfig(over: PartialConfig = {}): RunConfig {
  return validateConfig(
    deepMerge<RunConfig>(
      BASE_DEFAULTS,
      clip.info.presets.laptop,
      {
        seed: 3,
        encoder: { arch: 'convnet', width: 4 },
        head: { hidden: [], out: 8, outputBn: false },
        params: { textWidth: 8, textLayers: 1, textHeads: 2 },
        training: { batchSize: 8 },
      },
      over,
    ),
  );
}

/** Builds the model and creates every parameter as the training loop does (dry run). */
function buildReady(config: RunConfig, classNames = SHAPES, side = 8): ClipModel {
  const model = buildClip(config, NORM, [side, side, 3], { trainSize: 64, classNames });
  model.store.dryRun = true;
  tf.tidy(() => {
    model.loss([tf.zeros([2, side, side, 3]) as tf.Tensor4D], stepCtx(0, 1, 2, 0, classNames.length));
  });
  model.store.dryRun = false;
  model.afterInit?.();
  return model;
}

function images(n: number, seed: number, side = 8): tf.Tensor4D {
  return tf.randomUniform([n, side, side, 3], 0, 1, 'float32', seed) as tf.Tensor4D;
}

describe('CLIP', () => {
  before(() => useBackend('cpu'));

  describe('symmetric loss', () => {
    for (const [b, d, t] of [
      [2, 3, 0],
      [5, 8, Math.log(1 / 0.07)],
      [16, 12, 1.3],
      [7, 4, Math.log(100)],
    ] as const) {
      it(`matches a float64 loop reference (B=${b}, d=${d}, scale ${Math.exp(t).toFixed(2)})`, () => {
        const rng = new Rng(b * 31 + d);
        // Correlated pairs, so the diagonal matters and the loss is far from ln B.
        const img = randn(rng, b, d);
        const txt = img.map((r) => r.map((x) => x + 0.8 * rng.normal()));
        const got = tf.tidy(() => clipLoss(tf.tensor2d(img), tf.tensor2d(txt), tf.scalar(t)).arraySync());
        const want = clipReference(img, txt, t);
        assert.ok(Math.abs(got - want) <= 1e-5 * Math.max(1, Math.abs(want)), `got ${got}, want ${want}`);
      });
    }

    it('is symmetric: swapping images and texts gives the same loss', () => {
      const rng = new Rng(4);
      const a = tf.tensor2d(randn(rng, 6, 5));
      const b = tf.tensor2d(randn(rng, 6, 5));
      const t = tf.scalar(2);
      const ab = clipLoss(a, b, t).arraySync();
      const ba = clipLoss(b, a, t).arraySync();
      tf.dispose([a, b, t]);
      assert.ok(Math.abs(ab - ba) < 1e-6, `${ab} vs ${ba}`);
    });

    it('has gradients (embeddings and log scale) that match finite differences of the reference', () => {
      const rng = new Rng(9);
      const img = randn(rng, 4, 5);
      const txt = randn(rng, 4, 5);
      const t = 1.7;
      const [gImg, gT] = tf.tidy(() => {
        const g = tf.grads((x: tf.Tensor, s: tf.Tensor) => clipLoss(x as tf.Tensor2D, tf.tensor2d(txt), s))([
          tf.tensor2d(img),
          tf.scalar(t),
        ]);
        return [g[0].arraySync() as number[][], g[1].arraySync() as number];
      });
      const h = 1e-6;
      for (const [i, j] of [
        [0, 0],
        [2, 3],
        [3, 4],
      ]) {
        const p = img.map((r) => [...r]);
        const m = img.map((r) => [...r]);
        p[i][j] += h;
        m[i][j] -= h;
        const fd = (clipReference(p, txt, t) - clipReference(m, txt, t)) / (2 * h);
        assert.ok(Math.abs(fd - gImg[i][j]) < 1e-4, `d/dI[${i}][${j}]: fd ${fd} vs ${gImg[i][j]}`);
      }
      const fdT = (clipReference(img, txt, t + h) - clipReference(img, txt, t - h)) / (2 * h);
      assert.ok(Math.abs(fdT - gT) < 1e-4, `d/dt: fd ${fdT} vs ${gT}`);
    });

    it('starts near ln B + s^2/(2d) on uncorrelated random embeddings', () => {
      // Reference section 5: B 256, d 512, s = 1/0.07 simulated 5.705, formula 5.744; at s = 1 the
      // variance term is 1/(2d) and the loss is ln B to within 0.01.
      const b = 256;
      const d = 512;
      for (const [s, tol] of [
        [1, 0.01],
        [1 / 0.07, 0.06],
      ] as const) {
        const rng = new Rng(Math.round(s * 100));
        const got = tf.tidy(() =>
          clipLoss(
            tf.tensor2d(randn(rng, b, d)),
            tf.tensor2d(randn(rng, b, d)),
            tf.scalar(Math.log(s)),
          ).arraySync(),
        );
        const theory = Math.log(b) + (s * s) / (2 * d);
        console.log(
          `      initial loss B=${b} d=${d} scale ${s.toFixed(2)}: ${got.toFixed(4)} (ln B ${Math.log(b).toFixed(4)}, ln B + s^2/(2d) ${theory.toFixed(4)})`,
        );
        assert.ok(Math.abs(got - theory) < tol, `scale ${s}: got ${got}, theory ${theory}`);
      }
    });

    it('clamps the log scale to [0, ln 100]', () => {
      const got = tf.tidy(() => clampLogScale(tf.tensor1d([-1, 0.5, 4.6, 7])).arraySync() as number[]);
      assert.deepEqual(
        got.map((x) => Number(x.toFixed(5))),
        [0, 0.5, 4.6, Number(Math.log(MAX_LOGIT_SCALE).toFixed(5))],
      );
    });
  });

  describe('captions', () => {
    it('are deterministic per (seed, step) and change with either', () => {
      const labels = Int32Array.from({ length: 64 }, (_, i) => i % SHAPES.length);
      const a = trainingCaptions(7, 12, labels, SHAPES, DEFAULT_TEMPLATES);
      assert.deepEqual(trainingCaptions(7, 12, labels, SHAPES, DEFAULT_TEMPLATES), a);
      assert.notDeepEqual(trainingCaptions(7, 13, labels, SHAPES, DEFAULT_TEMPLATES), a);
      assert.notDeepEqual(trainingCaptions(8, 12, labels, SHAPES, DEFAULT_TEMPLATES), a);
      a.forEach((c, i) => {
        assert.ok(c.includes(SHAPES[labels[i]]), `${c} names ${SHAPES[labels[i]]}`);
      });
    });

    it('draw every template about equally often', () => {
      const counts = new Array(DEFAULT_TEMPLATES.length).fill(0);
      for (let step = 0; step < 200; step++) {
        for (const t of templateIndices(0, step, 60, DEFAULT_TEMPLATES.length)) counts[t]++;
      }
      const mean = (200 * 60) / DEFAULT_TEMPLATES.length;
      for (const c of counts) assert.ok(Math.abs(c - mean) < 0.2 * mean, `counts ${counts}`);
    });

    it('reject templates without exactly one {} slot, naming the field', () => {
      assert.throws(() => checkTemplates(['a photo.']), /captionTemplates\[0\].*exactly once/);
      assert.throws(() => checkTemplates(['ok {}', '{} and {}']), /captionTemplates\[1\]/);
      assert.throws(() => checkTemplates([]), /empty/);
      checkTemplates(DEFAULT_TEMPLATES);
    });

    it('templates are validated by the config schema too', () => {
      assert.throws(() => tinyConfig({ params: { captionTemplates: ['no slot'] } }), /captionTemplates/);
      tinyConfig({ params: { captionTemplates: ['a {} here'] } });
    });
  });

  describe('tokenizer', () => {
    const captions = allCaptions(DEFAULT_TEMPLATES, ['T-shirt/top', 'Ankle boot']);

    it('splits words and punctuation, lower-cased', () => {
      assert.deepEqual(splitWords('A photo of a T-shirt/top.'), [
        'a',
        'photo',
        'of',
        'a',
        't',
        '-',
        'shirt',
        '/',
        'top',
        '.',
      ]);
    });

    it('builds the same vocabulary whatever the order of the texts', () => {
      const a = new WordTokenizer(captions);
      const b = new WordTokenizer([...captions].reverse());
      assert.deepEqual(a.vocab, b.vocab);
      assert.equal(a.fingerprint(), b.fingerprint());
      assert.notEqual(
        new WordTokenizer(allCaptions(DEFAULT_TEMPLATES, ['sock'])).fingerprint(),
        a.fingerprint(),
      );
    });

    it('lays out [SOT, words, EOT, 0...] with EOT the highest id and unknown words as UNK', () => {
      const tok = new WordTokenizer(captions);
      assert.equal(tok.vocab[0], PAD);
      assert.equal(tok.vocab[tok.eotId], EOT);
      assert.equal(tok.eotId, tok.size - 1);
      const longest = Math.max(...captions.map((c) => splitWords(c).length));
      assert.equal(tok.contextLength, longest + 2);
      const { ids, eot } = tok.encode(['a photo of a zebra.']);
      const L = tok.contextLength;
      const row = Array.from(ids.subarray(0, L));
      const expect = [SOT, 'a', 'photo', 'of', 'a', UNK, '.', EOT].map((w) => tok.vocab.indexOf(w));
      assert.deepEqual(row.slice(0, 8), expect);
      assert.ok(row.slice(8).every((x) => x === 0));
      assert.equal(eot[0], 7);
      // Too long for the context: cut, still ending with EOT (CLIP's truncate=True).
      const long = tok.encode([Array(50).fill('photo').join(' ')]);
      assert.equal(long.eot[0], L - 1);
      assert.equal(long.ids[L - 1], tok.eotId);
    });
  });

  describe('text encoder', () => {
    it('is causal: changing a later token leaves earlier positions unchanged', () => {
      const ps = new ParamStore(1);
      const enc = textEncoder('text', { vocabSize: 11, contextLength: 7, width: 8, layers: 2, heads: 2 });
      const ctx: Ctx = { ps, training: true };
      const a = [2, 5, 6, 7, 3, 10, 0];
      const b = [2, 5, 6, 7, 9, 10, 0]; // differs at position 4
      const [sa, sb] = tf.tidy(() => [
        enc.sequence(ctx, tf.tensor2d([a], [1, 7], 'int32')).arraySync()[0],
        enc.sequence(ctx, tf.tensor2d([b], [1, 7], 'int32')).arraySync()[0],
      ]);
      const diff = (i: number) => Math.max(...sa[i].map((x, k) => Math.abs(x - sb[i][k])));
      for (let i = 0; i < 4; i++) assert.ok(diff(i) < 1e-6, `position ${i} changed by ${diff(i)}`);
      for (let i = 4; i < 7; i++) assert.ok(diff(i) > 1e-3, `position ${i} did not change (${diff(i)})`);
      ps.dispose();
    });

    it('reads each row at its end-of-text position', () => {
      const ps = new ParamStore(2);
      const enc = textEncoder('text', { vocabSize: 11, contextLength: 6, width: 8, layers: 1, heads: 2 });
      const ctx: Ctx = { ps, training: true };
      const tokens = [
        [2, 4, 10, 0, 0, 0],
        [2, 4, 5, 6, 7, 10],
      ];
      const eot = Int32Array.from([2, 5]);
      const [seq, feat] = tf.tidy(() => {
        const t = tf.tensor2d(tokens, [2, 6], 'int32');
        return [enc.sequence(ctx, t).arraySync(), enc.forward(ctx, t, eot).arraySync()];
      });
      for (let r = 0; r < 2; r++) {
        const want = seq[r][eot[r]];
        assert.ok(Math.max(...want.map((x, k) => Math.abs(x - feat[r][k]))) < 1e-6);
      }
      ps.dispose();
    });
  });

  describe('zero-shot', () => {
    it('ensembles normalised template embeddings per class and scores images by cosine (hand-built case)', () => {
      // Two classes, two templates each, in 2-D: class 0's captions point near +x, class 1's near +y;
      // caption lengths differ so the per-caption normalisation matters.
      const captionEmb = [
        [3, 0.3],
        [0.5, -0.1],
        [0.2, 4],
        [-0.1, 0.6],
      ];
      const img = [
        [2, 0.1],
        [0.1, -3],
        [-1, 5],
      ];
      const [classEmb, logits] = tf.tidy(() => {
        const c = ensembleClassEmbeddings(tf.tensor2d(captionEmb), 2, 2);
        return [c.arraySync(), zeroShotFromEmbeddings(tf.tensor2d(img), c).arraySync()];
      });
      const want = [0, 1].map((c) =>
        unit([0, 1].map((k) => (unit(captionEmb[2 * c])[k] + unit(captionEmb[2 * c + 1])[k]) / 2)),
      );
      for (let c = 0; c < 2; c++)
        for (let k = 0; k < 2; k++) assert.ok(Math.abs(classEmb[c][k] - want[c][k]) < 1e-6);
      for (let i = 0; i < 3; i++) {
        for (let c = 0; c < 2; c++) assert.ok(Math.abs(logits[i][c] - dot(unit(img[i]), want[c])) < 1e-6);
      }
      const argmax = logits.map((r) => r.indexOf(Math.max(...r)));
      assert.deepEqual(argmax, [0, 0, 1]);
    });

    it("the model's zero-shot logits are the cosines of its image and ensembled caption embeddings", () => {
      const model = buildReady(tinyConfig());
      const classes = ['ring', 'circle', 'star'];
      const x = images(4, 5);
      const ctx: Ctx = { ps: model.store, training: false };
      const got = tf.tidy(() => model.zeroShotLogits!(x, classes).arraySync());
      assert.equal(got.length, 4);
      assert.equal(got[0].length, 3);
      // Independent recomputation in float64 from the model's own embeddings.
      const imgEmb = tf.tidy(() => model.imageEmbed(ctx, x).arraySync());
      const T = model.templates.length;
      const capEmb = tf.tidy(() => model.textEmbed(ctx, allCaptions(model.templates, classes)).arraySync());
      for (let c = 0; c < classes.length; c++) {
        const d = capEmb[0].length;
        const mean = new Array(d).fill(0);
        for (let t = 0; t < T; t++) {
          const u = unit(capEmb[c * T + t]);
          for (let k = 0; k < d; k++) mean[k] += u[k] / T;
        }
        const w = unit(mean);
        for (let i = 0; i < 4; i++) {
          const want = dot(unit(imgEmb[i]), w);
          assert.ok(Math.abs(got[i][c] - want) < 1e-4, `image ${i} class ${c}: ${got[i][c]} vs ${want}`);
        }
      }
      x.dispose();
      model.store.dispose();
    });
  });

  describe('model', () => {
    it('starts with logit scale 1/0.07 stored as its log, and keeps the scale at or below 100 after an update past it', () => {
      const model = buildReady(tinyConfig());
      const t0 = model.logScale.dataSync()[0];
      assert.ok(Math.abs(t0 - Math.log(1 / 0.07)) < 1e-6, `log scale ${t0}`);
      assert.ok(Math.abs(Math.exp(t0) - 14.2857) < 1e-3);
      const param = model.store.trainable().find((p) => p.name === 'online.logit_scale')!;
      assert.ok(param, 'the log scale is trained');
      // Plain SGD, so one step is exactly lr x gradient (the preset's AdamW moves by about lr per step).
      const opt = new Optimizer({ ...tinyConfig().optimizer, kind: 'sgd', momentum: 0, weightDecay: 0 }, [
        param,
      ]);
      // A gradient that pushes t far up: one SGD step moves it to t0 + 0.1 * 50 > ln 100.
      const grads = { [param.variable.name]: tf.scalar(-50) };
      opt.apply([param], grads, 0.1);
      const before = model.logScale.dataSync()[0];
      assert.ok(before > Math.log(MAX_LOGIT_SCALE), `the step went past ln 100 (${before})`);
      model.afterStep!(stepCtx(0, 1, 8));
      const after = model.logScale.dataSync()[0];
      assert.ok(Math.abs(after - Math.log(100)) < 1e-6, `clamped to ln 100, got ${after}`);
      assert.ok(Math.exp(after) <= MAX_LOGIT_SCALE + 1e-4);
      tf.dispose(Object.values(grads));
      opt.dispose();
      model.store.dispose();
    });

    it('sends gradient to both towers and the log scale from the training loss', () => {
      const model = buildReady(tinyConfig());
      const params = model.store.trainable();
      const names = params.map((p) => p.name);
      for (const want of [
        'online.encoder.conv1.weight',
        'online.image_projection.weight',
        'online.text.token_embedding.weight',
        'online.text.blocks.0.attn.qkv.weight',
        'online.text.ln_final.weight',
        'online.text_projection.weight',
        'online.logit_scale',
      ]) {
        assert.ok(names.includes(want), `${want} in ${names}`);
      }
      const x = images(8, 11);
      const ctx = stepCtx(3, 10, 8, 0, SHAPES.length);
      const { value, grads } = tf.variableGrads(
        () => model.loss([x], ctx).loss,
        params.map((p) => p.variable),
      );
      for (const p of params) {
        const g = grads[p.variable.name];
        const n = g ? tf.tidy(() => tf.norm(g).dataSync()[0]) : 0;
        assert.ok(Number.isFinite(n), `${p.name} gradient finite`);
        if (!p.name.includes('positional_embedding')) assert.ok(n > 0, `${p.name} has a gradient`);
      }
      const loss = value.dataSync()[0];
      tf.dispose([value, x, ...Object.values(grads)]);
      assert.ok(Number.isFinite(loss) && loss > 0);
      model.store.dispose();
    });

    it('uses the class names of the batch labels as captions (the loss depends on the labels)', () => {
      const model = buildReady(tinyConfig());
      const x = images(8, 12);
      const ctx = stepCtx(3, 10, 8, 0, SHAPES.length);
      const other = { ...ctx, labels: ctx.labels.map((l) => (l + 1) % SHAPES.length) };
      const [a, a2, b] = tf.tidy(() => [
        model.loss([x], ctx).loss.dataSync()[0],
        model.loss([x], ctx).loss.dataSync()[0],
        model.loss([x], other).loss.dataSync()[0],
      ]);
      x.dispose();
      model.store.dispose();
      assert.ok(Math.abs(a - a2) < 1e-6, 'same step, same labels: same loss');
      assert.ok(Math.abs(a - b) > 1e-5, `other labels, other captions: ${a} vs ${b}`);
    });

    it('rejects a checkpoint whose caption vocabulary differs from the rebuilt one', () => {
      const a = buildReady(tinyConfig(), SHAPES);
      const b = buildReady(tinyConfig(), ['sock', 'shoe', 'hat', 'coat', 'bag']);
      // What restoring a's checkpoint into b does to b's tokenizer fingerprint.
      b.store.buffers.get('tokenizer.fingerprint')!.assign(a.store.buffers.get('tokenizer.fingerprint')!);
      const x = images(2, 1);
      assert.throws(
        () => b.zeroShotLogits!(x, ['sock']),
        /caption vocabulary.*class names and params\.captionTemplates/,
      );
      x.dispose();
      a.store.dispose();
      b.store.dispose();
    });

    it('rejects a projection head with hidden layers, naming the field', () => {
      assert.throws(
        () => buildClip(tinyConfig({ head: { hidden: [16] } }), NORM, [8, 8, 3], dataInfo(64, 5)),
        /head\.hidden must be \[\]/,
      );
    });

    it('both presets validate', () => {
      for (const preset of ['paper', 'laptop'] as const) {
        const c = validateConfig(deepMerge<RunConfig>(BASE_DEFAULTS, clip.info.presets[preset]));
        assert.equal(c.method, 'clip');
        assert.equal(c.head.hidden.length, 0);
      }
    });
  });
});
