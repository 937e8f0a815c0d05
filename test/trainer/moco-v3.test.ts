/**
 * MoCo v3: the loss against float64 loops (2 tau-scaled symmetric InfoNCE over in-batch keys), its
 * value on random embeddings against the reference's 4 tau (ln B + 1/(2 d tau^2)), exactly zero
 * gradient into the momentum branch, the momentum schedule and EMA rule, the query-only predictor
 * with its final BN, the frozen random patch projection through an AdamW step, attention maps, and
 * both presets.
 */
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { BASE_DEFAULTS, deepMerge, validateConfig } from '../../trainer/config/config';
import type { RunConfig } from '../../trainer/config/types';
import { mocoV3Info } from '../../trainer/methods/info/moco-v3';
import { buildMocoV3, MOCO_V3_VIEW_AUGMENT, mocoV3, mocoV3Contrastive } from '../../trainer/methods/moco-v3';
import { Optimizer } from '../../trainer/optim/optimizer';
import { Rng } from '../../trainer/rng';
import { stepCtx } from '../helpers/method-ctx';
import { randn, useBackend } from '../helpers/tf';

const NORM = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };

/** float64 2 tau * mean_i CE(norm(q_i) . norm(k_j) / tau, label i). */
function ctr64(q: number[][], k: number[][], tau: number): number {
  const unit = (v: number[]) => {
    const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    return v.map((x) => x / n);
  };
  const qn = q.map(unit);
  const kn = k.map(unit);
  let total = 0;
  for (let i = 0; i < qn.length; i++) {
    const logits = kn.map((kj) => kj.reduce((s, x, c) => s + x * qn[i][c], 0) / tau);
    const m = Math.max(...logits);
    const lse = m + Math.log(logits.reduce((s, l) => s + Math.exp(l - m), 0));
    total += lse - logits[i];
  }
  return (2 * tau * total) / qn.length;
}

function tinyConfig(over: object = {}): RunConfig {
  return validateConfig(
    deepMerge(
      BASE_DEFAULTS,
      mocoV3Info.presets.laptop,
      {
        encoder: {
          arch: 'vit',
          width: 16,
          patchSize: 4,
          depth: 1,
          heads: 2,
          mlpRatio: 2,
          posEmbed: 'sincos',
        },
        head: { hidden: [32, 32], out: 8, outputBn: true },
        params: { predictorHidden: 32, freezePatchEmbed: true },
        training: { batchSize: 8 },
      },
      over,
    ),
  );
}

function images(seed: number, b = 8, side = 8): tf.Tensor4D {
  const rng = new Rng(seed);
  return tf.tensor4d(
    Float32Array.from({ length: b * side * side * 3 }, () => rng.uniform(0, 1)),
    [b, side, side, 3],
  );
}

/** A built model with every parameter created (dry step) and the momentum copy made. */
function built(cfg = tinyConfig()) {
  const model = buildMocoV3(cfg, NORM, 8);
  model.store.dryRun = true;
  tf.tidy(() => {
    model.loss([images(1), images(2)], stepCtx(0, 10, 8));
  });
  model.store.dryRun = false;
  model.afterInit?.();
  return model;
}

describe('MoCo v3', () => {
  before(() => useBackend('cpu'));

  it('loss equals float64 ctr(q1, k2) + ctr(q2, k1), each scaled by 2 tau', () => {
    const rng = new Rng(3);
    const [b, d] = [6, 5];
    for (const tau of [0.2, 1.0]) {
      const [q1, q2, k1, k2] = [0, 1, 2, 3].map(() => randn(rng, b, d));
      const got = tf.tidy(() =>
        tf
          .add(
            mocoV3Contrastive(tf.tensor2d(q1), tf.tensor2d(k2), tau).loss,
            mocoV3Contrastive(tf.tensor2d(q2), tf.tensor2d(k1), tau).loss,
          )
          .dataSync(),
      )[0];
      const ref = ctr64(q1, k2, tau) + ctr64(q2, k1, tau);
      assert.ok(Math.abs(got - ref) < 1e-4, `tau ${tau}: ${got} vs ${ref}`);
    }
  });

  it('random unit embeddings give 4 tau (ln B + 1/(2 d tau^2)) (reference initial-loss section)', () => {
    const rng = new Rng(4);
    const [b, d, tau] = [256, 128, 0.2];
    const [q1, q2, k1, k2] = [0, 1, 2, 3].map(() => tf.tensor2d(randn(rng, b, d)));
    const got =
      mocoV3Contrastive(q1, k2, tau).loss.dataSync()[0] + mocoV3Contrastive(q2, k1, tau).loss.dataSync()[0];
    const theory = 4 * tau * (Math.log(b) + 1 / (2 * d * tau * tau));
    // 4 tau ln B alone is 4.44 (the reference's example); the variance term adds 0.08.
    assert.ok(Math.abs(got - theory) / theory < 0.02, `${got} vs ${theory}`);
  });

  it('the momentum branch gets exactly zero gradient; the query branch does not', () => {
    const model = built();
    const x1 = images(5);
    const x2 = images(6);
    const target = model.store.allParams().filter((p) => p.name.startsWith('target.'));
    const online = model.store.trainable();
    assert.ok(target.length > 0 && online.length > 0);
    assert.ok(online.every((p) => !p.name.startsWith('target.')));
    const { grads } = tf.variableGrads(
      () => model.loss([x1, x2], stepCtx(1, 10, 8)).loss,
      [...target, ...online].map((p) => p.variable),
    );
    for (const p of target) {
      const g = grads[p.variable.name];
      if (g) assert.equal(tf.max(tf.abs(g)).dataSync()[0], 0, p.name);
    }
    const onlineNorm = online.reduce((s, p) => s + tf.sum(tf.abs(grads[p.variable.name])).dataSync()[0], 0);
    assert.ok(onlineNorm > 1e-3);
  });

  it('momentum rises by a half cosine from 0.99 to exactly 1; the EMA rule per parameter', () => {
    const model = built();
    const total = 10;
    const ms = Array.from({ length: total }, (_, t) => model.momentumAfter(t, total));
    // The update after step t is the official forward's update of step t + 1.
    for (let t = 0; t < total; t++) {
      const ref = 1 - 0.5 * (1 + Math.cos((Math.PI * (t + 1)) / total)) * (1 - 0.99);
      assert.ok(Math.abs(ms[t] - ref) < 1e-12);
    }
    assert.equal(ms[total - 1], 1);
    assert.ok(Math.abs(model.momentumAfter(-1, total) - 0.99) < 1e-12);
    // One EMA update: theta_k <- m theta_k + (1 - m) theta_q.
    const name = 'encoder.blocks.0.attn.qkv.weight';
    const on = model.store.params.get(`online.${name}`)!.variable;
    const tg = model.store.params.get(`target.${name}`)!.variable;
    on.assign(tf.add(on, 0.5));
    const before = Float64Array.from(tg.dataSync());
    const onV = on.dataSync();
    model.afterStep?.(stepCtx(3, total, 8));
    const m = ms[3];
    const after = tg.dataSync();
    for (let i = 0; i < before.length; i++)
      assert.ok(Math.abs(after[i] - (m * before[i] + (1 - m) * onV[i])) < 1e-6);
  });

  it('predictor on the query side only, ending in a BatchNorm without affine parameters (ViT)', () => {
    const model = built();
    const names = [...model.store.params.keys()];
    assert.ok(names.some((n) => n.startsWith('online.predictor.')));
    assert.ok(!names.some((n) => n.startsWith('target.predictor')));
    assert.ok(names.includes('target.projector.fc3.weight'));
    // Bias-free MLPs; BN(affine=False) after the last layers.
    assert.ok(!names.some((n) => /(projector|predictor)\.fc\d\.bias$/.test(n)));
    assert.ok(!names.includes('online.predictor.bn2.weight'));
    assert.ok(model.store.buffers.has('online.predictor.bn2.running_mean'));
    assert.ok(!model.store.buffers.has('online.projector.bn3.weight'));
    assert.ok(model.store.buffers.has('online.projector.bn3.running_mean'));
    // A ConvNet backbone (MoCo_ResNet's layout) has no BN after the predictor.
    const conv = built(
      tinyConfig({ encoder: { arch: 'convnet', width: 4 }, params: { freezePatchEmbed: false } }),
    );
    assert.ok(!conv.store.buffers.has('online.predictor.bn2.running_mean'));
    assert.throws(
      () => buildMocoV3(tinyConfig({ encoder: { arch: 'convnet', width: 4 } }), NORM, 8),
      /params.freezePatchEmbed needs encoder.arch 'vit'/,
    );
  });

  it('random patch projection: kept through an AdamW step while the rest moves; momentum copy equal', () => {
    const model = built();
    const pe = 'encoder.patch_embed.proj.weight';
    const params = model.store.trainable();
    assert.ok(!params.some((p) => p.name.includes('patch_embed')));
    const before = Float64Array.from(model.store.params.get(`online.${pe}`)!.variable.dataSync());
    const qkv = model.store.params.get('online.encoder.blocks.0.attn.qkv.weight')!.variable;
    const qkvBefore = Float64Array.from(qkv.dataSync());
    const opt = new Optimizer(tinyConfig().optimizer, params);
    const { grads } = tf.variableGrads(
      () => model.loss([images(7), images(8)], stepCtx(0, 10, 8)).loss,
      params.map((p) => p.variable),
    );
    opt.apply(params, grads, 1e-3);
    model.afterStep?.(stepCtx(0, 10, 8));
    assert.deepEqual(Float64Array.from(model.store.params.get(`online.${pe}`)!.variable.dataSync()), before);
    // m x + (1 - m) x rounds to within an ulp of x in float32.
    const tgt = model.store.params.get(`target.${pe}`)!.variable.dataSync();
    for (let i = 0; i < before.length; i++) assert.ok(Math.abs(tgt[i] - before[i]) < 1e-6);
    assert.notDeepEqual(Float64Array.from(qkv.dataSync()), qkvBefore);
  });

  it('attention maps of the [CLS] token: [B, heads, gh, gw]', () => {
    const model = built();
    const maps = model.attentionMaps!(images(9, 3));
    assert.deepEqual(maps.shape, [3, 2, 2, 2]);
    for (const s of tf.sum(maps, [2, 3]).dataSync()) assert.ok(s > 0 && s < 1);
    assert.deepEqual(model.features(images(9, 3)).shape, [3, 16]);
  });

  it('asymmetric views (blur 1.0 / 0.1, solarize 0 / 0.2) and both presets valid', () => {
    const model = built();
    const base = tinyConfig().augment;
    for (const v of [0, 1]) {
      const a = model.viewAugment!(base, v);
      assert.equal(a.blur.p, MOCO_V3_VIEW_AUGMENT[v].blur);
      assert.equal(a.solarize.p, MOCO_V3_VIEW_AUGMENT[v].solarize);
    }
    for (const name of ['paper', 'laptop'] as const) {
      const cfg = validateConfig(deepMerge(BASE_DEFAULTS, mocoV3.info.presets[name]));
      assert.equal(cfg.encoder.arch, 'vit');
      assert.equal(cfg.optimizer.kind, 'adamw');
      for (const k of Object.keys(cfg.params))
        if (k !== 'temperature') assert.ok(mocoV3.info.paramKeys.includes(k), k);
    }
    const paper = mocoV3.info.presets.paper;
    assert.equal(paper.params?.temperature, 0.2);
    assert.deepEqual(paper.head, { hidden: [4096, 4096], out: 256, outputBn: true });
  });
});
