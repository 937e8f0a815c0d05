import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { BackendInfo } from '../../trainer/backend/choose';
import { listCheckpoints, loadCheckpoint } from '../../trainer/checkpoint/checkpoint';
import { BASE_DEFAULTS, deepMerge, type PartialConfig, validateConfig } from '../../trainer/config/config';
import type { RunConfig } from '../../trainer/config/types';
import { augmentBatch } from '../../trainer/data/augment';
import { makeSynthetic } from '../../trainer/data/synthetic';
import { byolLoss, collapseStd, detach, simsiamLoss } from '../../trainer/losses/cosine';
import { BYOL_VIEW_AUGMENT, byol } from '../../trainer/methods/byol';
import { momentumAt } from '../../trainer/methods/ema';
import { PREDICTOR_PREFIX, simsiam } from '../../trainer/methods/simsiam';
import type { Method, MethodModel, StepContext } from '../../trainer/methods/types';
import { makeEncoder } from '../../trainer/models/encoders';
import type { Ctx } from '../../trainer/models/layers';
import { mlp, simsiamPredictorSpec, simsiamProjectorSpec } from '../../trainer/models/predictor';
import { Optimizer } from '../../trainer/optim/optimizer';
import { Rng, rngFor } from '../../trainer/rng';
import { RunLogger } from '../../trainer/run/logger';
import { readMetricsFile } from '../../trainer/run/metrics';
import { createRunFolder } from '../../trainer/run/runfolder';
import { train } from '../../trainer/train';
import { dataInfo, stepCtx } from '../helpers/method-ctx';
import { randn, useBackend } from '../helpers/tf';

// ---------------------------------------------------------------------------------------------
// float64 references

function cos64(a: number[], b: number[]): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let k = 0; k < a.length; k++) {
    ab += a[k] * b[k];
    aa += a[k] * a[k];
    bb += b[k] * b[k];
  }
  return ab / Math.sqrt(aa * bb);
}

/** mean_b [ (2 - 2 cos(p1, t2)) + (2 - 2 cos(p2, t1)) ] */
function byolReference(p1: number[][], p2: number[][], t1: number[][], t2: number[][]): number {
  let s = 0;
  for (let i = 0; i < p1.length; i++) s += 2 - 2 * cos64(p1[i], t2[i]) + (2 - 2 * cos64(p2[i], t1[i]));
  return s / p1.length;
}

/** -1/2 mean_b cos(p1, z2) - 1/2 mean_b cos(p2, z1) */
function simsiamReference(p1: number[][], p2: number[][], z1: number[][], z2: number[][]): number {
  let s = 0;
  for (let i = 0; i < p1.length; i++) s += cos64(p1[i], z2[i]) + cos64(p2[i], z1[i]);
  return -s / (2 * p1.length);
}

/** Mean over dimensions of the unbiased per-dimension std of the L2-normalised rows. */
function collapseStdReference(z: number[][]): number {
  const zn = z.map((r) => {
    const n = Math.sqrt(r.reduce((s, x) => s + x * x, 0));
    return r.map((x) => x / n);
  });
  const b = zn.length;
  const d = zn[0].length;
  let total = 0;
  for (let k = 0; k < d; k++) {
    let mean = 0;
    for (let i = 0; i < b; i++) mean += zn[i][k];
    mean /= b;
    let v = 0;
    for (let i = 0; i < b; i++) v += (zn[i][k] - mean) ** 2;
    total += Math.sqrt(v / (b - 1));
  }
  return total / d;
}

const close = (got: number, want: number, tol = 1e-5) =>
  assert.ok(Math.abs(got - want) <= tol * Math.max(1, Math.abs(want)), `got ${got}, want ${want}`);

const t2 = (x: number[][]) => tf.tensor2d(x);

// ---------------------------------------------------------------------------------------------

describe('BYOL / SimSiam losses', () => {
  before(() => useBackend('cpu'));

  for (const [b, d] of [
    [1, 3],
    [4, 8],
    [16, 32],
    [64, 256],
  ] as const) {
    it(`BYOL and SimSiam losses match float64 loop references (B=${b}, d=${d})`, () => {
      const rng = new Rng(100 * b + d);
      // Correlated predictions and targets, so the loss is far from its random value.
      const z1 = randn(rng, b, d);
      const z2 = z1.map((r) => r.map((x) => x + 0.7 * rng.normal()));
      const p1 = z1.map((r) => r.map((x) => 2 * x + 0.5 * rng.normal()));
      const p2 = z2.map((r) => r.map((x) => 0.3 * x + 0.5 * rng.normal()));
      const by = tf.tidy(() => byolLoss(t2(p1), t2(p2), t2(z1), t2(z2)).arraySync());
      close(by, byolReference(p1, p2, z1, z2));
      for (const sg of [true, false]) {
        const ss = tf.tidy(() => simsiamLoss(t2(p1), t2(p2), t2(z1), t2(z2), sg).arraySync());
        close(ss, simsiamReference(p1, p2, z1, z2));
      }
      const cs = tf.tidy(() => collapseStd(t2(z1)).arraySync());
      if (b > 1) close(cs, collapseStdReference(z1));
    });
  }

  it('take their theoretical values on random embeddings: BYOL 2 per term (sum 4), SimSiam 0', () => {
    // Reference section 5 (d = 256): BYOL term 1.998, SimSiam -0.001.
    const rng = new Rng(5);
    const [b, d] = [512, 256];
    const [p1, p2, z1, z2] = [0, 1, 2, 3].map(() => randn(rng, b, d));
    const by = tf.tidy(() => byolLoss(t2(p1), t2(p2), t2(z1), t2(z2)).arraySync());
    const ss = tf.tidy(() => simsiamLoss(t2(p1), t2(p2), t2(z1), t2(z2)).arraySync());
    console.log(
      `      random embeddings (B=${b}, d=${d}): BYOL ${by.toFixed(4)} (theory 4), SimSiam ${ss.toFixed(4)} (theory 0)`,
    );
    // Standard errors: BYOL 4 / sqrt(2 B d) ~ 0.008, SimSiam 1 / sqrt(2 B d) ~ 0.002.
    assert.ok(Math.abs(by - 4) < 0.04, `BYOL ${by}`);
    assert.ok(Math.abs(ss) < 0.01, `SimSiam ${ss}`);
    // Per-dimension std of normalised random outputs is 1/sqrt(d).
    const cs = tf.tidy(() => collapseStd(t2(z1)).arraySync());
    assert.ok(Math.abs(cs * Math.sqrt(d) - 1) < 0.02, `collapse_std ${cs} vs 1/sqrt(d) ${1 / Math.sqrt(d)}`);
  });

  it('reach their minima at perfect alignment and at full collapse (BYOL 0, SimSiam -1), maxima anti-aligned', () => {
    const rng = new Rng(9);
    const z = randn(rng, 8, 16);
    const scaled = z.map((r, i) => r.map((x) => x * (0.5 + i)));
    // Perfect alignment: each prediction points along its target (norms are irrelevant).
    close(
      tf.tidy(() => byolLoss(t2(scaled), t2(scaled), t2(z), t2(z)).arraySync()),
      0,
    );
    close(
      tf.tidy(() => simsiamLoss(t2(scaled), t2(scaled), t2(z), t2(z)).arraySync()),
      -1,
    );
    // Full collapse: every output is the same vector; the losses cannot tell it from alignment.
    const same = z.map(() => z[0]);
    close(
      tf.tidy(() => byolLoss(t2(same), t2(same), t2(same), t2(same)).arraySync()),
      0,
    );
    close(
      tf.tidy(() => simsiamLoss(t2(same), t2(same), t2(same), t2(same)).arraySync()),
      -1,
    );
    // ... only the collapse monitor can: 0 for identical outputs.
    assert.ok(tf.tidy(() => collapseStd(t2(same)).arraySync()) < 1e-6);
    // Range ends: anti-aligned predictions give BYOL 8, SimSiam +1.
    const neg = z.map((r) => r.map((x) => -x));
    close(
      tf.tidy(() => byolLoss(t2(neg), t2(neg), t2(z), t2(z)).arraySync()),
      8,
    );
    close(
      tf.tidy(() => simsiamLoss(t2(neg), t2(neg), t2(z), t2(z)).arraySync()),
      1,
    );
  });

  it('pair view 1 predictions with view 2 targets (the symmetrisation is not a same-view match)', () => {
    const rng = new Rng(3);
    const a = randn(rng, 8, 16);
    const c = randn(rng, 8, 16);
    // p1 = t2 and p2 = t1 exactly: a perfect BYOL/SimSiam solution; p1 = t1 would not be one.
    close(
      tf.tidy(() => byolLoss(t2(c), t2(a), t2(a), t2(c)).arraySync()),
      0,
    );
    close(
      tf.tidy(() => simsiamLoss(t2(c), t2(a), t2(a), t2(c)).arraySync()),
      -1,
    );
    assert.ok(tf.tidy(() => byolLoss(t2(a), t2(c), t2(a), t2(c)).arraySync()) > 3);
  });

  it('detach: same values, no gradient path, and either tensor may be disposed first', () => {
    const x = tf.tensor1d([1, -2, 3]);
    // d/dx sum(sg(x) * x) = sg(x) = x (not 2x as without the stop-gradient).
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(detach(v), v)))(x);
    assert.deepEqual(Array.from(g.dataSync()), [1, -2, 3]);
    const y = detach(x);
    x.dispose();
    assert.deepEqual(Array.from(y.dataSync()), [1, -2, 3]);
    y.dispose();
    g.dispose();
    // Losses: no gradient path reaches the target arguments (BYOL always; SimSiam unless disabled):
    // tfjs refuses to differentiate with respect to a tensor the result does not depend on.
    const rng = new Rng(4);
    const [p1, p2, z1, z2] = [0, 1, 2, 3].map(() => t2(randn(rng, 4, 6)));
    const noPath = /Cannot compute gradient/;
    assert.throws(() => tf.grad((t: tf.Tensor) => byolLoss(p1, p2, z1, t as tf.Tensor2D))(z2), noPath);
    assert.throws(() => tf.grad((t: tf.Tensor) => byolLoss(p1, p2, t as tf.Tensor2D, z2))(z1), noPath);
    assert.throws(() => tf.grad((t: tf.Tensor) => simsiamLoss(p1, p2, z1, t as tf.Tensor2D))(z2), noPath);
    const absMax = (t: tf.Tensor) => tf.max(tf.abs(t)).arraySync() as number;
    const gb = tf.grads((a: tf.Tensor, b: tf.Tensor) => byolLoss(a as tf.Tensor2D, b as tf.Tensor2D, z1, z2))(
      [p1, p2],
    );
    assert.ok(absMax(gb[0]) > 0 && absMax(gb[1]) > 0, 'predictions get gradient');
    const gs = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      simsiamLoss(a as tf.Tensor2D, b as tf.Tensor2D, z1, z2),
    )([p1, p2]);
    assert.ok(absMax(gs[0]) > 0 && absMax(gs[1]) > 0, 'predictions get gradient');
    const gn = tf.grads((c: tf.Tensor, d: tf.Tensor) =>
      simsiamLoss(p1, p2, c as tf.Tensor2D, d as tf.Tensor2D, false),
    )([z1, z2]);
    assert.ok(absMax(gn[0]) > 0 && absMax(gn[1]) > 0, 'without stop-gradient z gets gradient');
    tf.dispose([p1, p2, z1, z2, ...gb, ...gs, ...gn]);
  });
});

// ---------------------------------------------------------------------------------------------

const NORM = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };

/** Tiny networks: ConvNet width 4 (32-d features), 16-d embeddings. */
const TINY: PartialConfig = {
  encoder: { arch: 'convnet', width: 4 },
  head: { hidden: [16], out: 16, outputBn: false },
  params: { predictorHidden: 8, momentum: 0.99, momentumSchedule: 'cosine' },
};

function tinyConfig(method: Method, over: PartialConfig = {}): RunConfig {
  return deepMerge<RunConfig>(BASE_DEFAULTS, method.info.presets.laptop, TINY, over);
}

function tinyModel(method: Method, over: PartialConfig = {}): { model: MethodModel; config: RunConfig } {
  const config = tinyConfig(method, over);
  const model = method.build(config, NORM, [32, 32, 3], dataInfo());
  return { model, config };
}

/** What train.ts does before the first step: create every parameter, then afterInit. */
function initialise(model: MethodModel, totalSteps = 10): void {
  model.store.dryRun = true;
  tf.tidy(() => {
    model.loss(
      [0, 1].map(() => tf.zeros([2, 32, 32, 3]) as tf.Tensor4D),
      stepCtx(0, totalSteps),
    );
  });
  model.store.dryRun = false;
  model.afterInit?.();
}

function randomViews(b: number, seed: number): tf.Tensor4D[] {
  return [0, 1].map((v) => tf.randomUniform([b, 32, 32, 3], 0, 1, 'float32', seed * 10 + v) as tf.Tensor4D);
}

const values = (v: tf.Tensor) => Array.from(v.dataSync());
const maxAbs = (xs: number[]) => xs.reduce((m, x) => Math.max(m, Math.abs(x)), 0);

describe('BYOL and SimSiam methods', () => {
  before(() => useBackend('wasm'));
  after(() => useBackend('cpu'));

  it('BYOL: target parameters are frozen, mirror the online encoder + projector and start equal', () => {
    const { model } = tinyModel(byol);
    initialise(model);
    const names = model.store.allParams().map((p) => p.name);
    const targets = names.filter((n) => n.startsWith('target.'));
    assert.ok(targets.length > 0);
    assert.ok(!names.some((n) => n.startsWith('target.predictor')), 'no target predictor');
    assert.deepEqual(
      targets.map((n) => n.replace('target.', 'online.')).sort(),
      names.filter((n) => n.startsWith('online.') && !n.startsWith('online.predictor')).sort(),
    );
    assert.ok(!model.store.trainable().some((p) => p.name.startsWith('target.')), 'targets not trainable');
    for (const t of targets) {
      const o = model.store.params.get(t.replace('target.', 'online.'))!.variable;
      assert.deepEqual(values(model.store.params.get(t)!.variable), values(o), `${t} copied at afterInit`);
    }
    model.store.dispose();
  });

  it('BYOL: no gradient reaches the target network (even if unfrozen); the online encoder gets one', () => {
    const { model } = tinyModel(byol);
    initialise(model);
    const all = model.store.allParams();
    const targets = all.filter((p) => p.name.startsWith('target.'));
    // Unfreeze the target for this check, so only the loss's stop-gradient can keep it gradient-free.
    for (const p of targets) p.variable.trainable = true;
    const views = randomViews(8, 1);
    const { value, grads } = tf.variableGrads(
      () => model.loss(views, stepCtx(0, 10)).loss,
      all.map((p) => p.variable),
    );
    for (const p of targets) p.variable.trainable = false;
    for (const p of targets) {
      const g = grads[p.variable.name];
      assert.ok(g == null || maxAbs(values(g)) === 0, `gradient reached ${p.name}`);
    }
    const enc = all.filter((p) => p.name.startsWith('online.encoder.') && p.role === 'weight');
    assert.ok(enc.length > 0);
    for (const p of enc) assert.ok(maxAbs(values(grads[p.variable.name]!)) > 0, `${p.name} has no gradient`);
    tf.dispose([value, ...Object.values(grads).filter((g): g is tf.Tensor => g != null), ...views]);
    model.store.dispose();
  });

  it('BYOL: afterStep at step k sets target = m_k t + (1 - m_k) o, m_k = momentumAt(base, cosine, k, K)', () => {
    const tauBase = 0.5; // far from 1, so neighbouring steps' coefficients differ clearly
    const K = 10;
    const { model } = tinyModel(byol, { params: { momentum: tauBase, momentumSchedule: 'cosine' } });
    initialise(model, K);
    const pairs = model.store
      .allParams()
      .filter((p) => p.name.startsWith('target.'))
      .map(
        (t) => [t.variable, model.store.params.get(t.name.replace('target.', 'online.'))!.variable] as const,
      );
    const rng = new Rng(2);
    // Move the online network away from the target (as an optimizer step would).
    for (const [, o] of pairs)
      o.assign(
        tf.tidy(() => tf.add(o, tf.mul(tf.randomNormal(o.shape, 0, 1, 'float32', rng.int(1e6)), 0.5))),
      );
    for (const k of [0, 3, 9]) {
      const mk = momentumAt(tauBase, 'cosine', k, K);
      const before = pairs.map(([t, o]) => [values(t), values(o)]);
      const ctx: StepContext = stepCtx(k, K);
      // The logged coefficient is the one this step's afterStep applies.
      const r = tf.tidy(() => model.loss(randomViews(4, k), ctx).extra.ema_momentum.arraySync());
      assert.ok(Math.abs(r - mk) < 1e-6, `ema_momentum ${r} vs ${mk}`);
      model.afterStep!(ctx);
      pairs.forEach(([t], i) => {
        const [tb, ob] = before[i];
        const got = values(t);
        for (let j = 0; j < got.length; j++) {
          const want = mk * tb[j] + (1 - mk) * ob[j];
          assert.ok(
            Math.abs(got[j] - want) < 1e-5 * Math.max(1, Math.abs(want)),
            `step ${k}: ${got[j]} vs ${want}`,
          );
        }
      });
    }
    assert.equal(momentumAt(tauBase, 'cosine', K, K), 1);
    model.store.dispose();
  });

  it('BYOL: asymmetric views (blur 1.0 / 0.1, solarize 0 / 0.2), other settings kept', () => {
    const { model, config } = tinyModel(byol);
    const base = config.augment;
    const v0 = model.viewAugment!(base, 0);
    const v1 = model.viewAugment!(base, 1);
    assert.deepEqual([v0.blur.p, v0.solarize.p, v1.blur.p, v1.solarize.p], [1.0, 0, 0.1, 0.2]);
    assert.deepEqual(BYOL_VIEW_AUGMENT.length, 2);
    assert.deepEqual({ ...v1, blur: base.blur, solarize: base.solarize }, base);
    assert.deepEqual(v0.blur.sigma, base.blur.sigma);
    assert.equal(v1.solarize.threshold, base.solarize.threshold);
    model.store.dispose();
  });

  it('SimSiam: with stop-gradient the projector gets gradient only through p; without, a different one', () => {
    const projectorGrads = (stopGradient: boolean) => {
      const { model } = tinyModel(simsiam, { params: { stopGradient } });
      initialise(model);
      const views = randomViews(8, 3);
      const proj = model.store.trainable().filter((p) => p.name.startsWith('online.projector.'));
      const { value, grads } = tf.variableGrads(
        () => model.loss(views, stepCtx(0, 10)).loss,
        proj.map((p) => p.variable),
      );
      const out = new Map(proj.map((p) => [p.name, values(grads[p.variable.name]!)]));
      // Reference: the same network with z replaced by constants (computed beforehand), so the only
      // path from the projector to the loss is through the predictor.
      const config = tinyConfig(simsiam);
      const ctx: Ctx = { ps: model.store, training: true };
      const enc = makeEncoder('online.encoder', config.encoder, NORM);
      const projSpec = simsiamProjectorSpec(config.head.hidden, config.head.out, config.head.outputBn);
      const predSpec = simsiamPredictorSpec(config.params.predictorHidden!, config.head.out);
      const zOf = (x: tf.Tensor4D) => mlp(ctx, 'online.projector', enc.forward(ctx, x), projSpec);
      const [z1c, z2c] = views.map((x) => tf.tidy(() => zOf(x)));
      const ref = tf.variableGrads(
        () => {
          const p1 = mlp(ctx, 'online.predictor', zOf(views[0]), predSpec);
          const p2 = mlp(ctx, 'online.predictor', zOf(views[1]), predSpec);
          return simsiamLoss(p1, p2, z1c, z2c, false);
        },
        proj.map((p) => p.variable),
      );
      const refOut = new Map(proj.map((p) => [p.name, values(ref.grads[p.variable.name]!)]));
      tf.dispose([
        value,
        ...Object.values(grads),
        ref.value,
        ...Object.values(ref.grads),
        z1c,
        z2c,
        ...views,
      ]);
      model.store.dispose();
      return { out, refOut };
    };
    const sg = projectorGrads(true);
    const nosg = projectorGrads(false);
    let maxDiff = 0;
    let scale = 0;
    for (const [name, g] of sg.out) {
      const r = sg.refOut.get(name)!;
      const tol = 1e-4 * Math.max(1e-3, maxAbs(r));
      for (let i = 0; i < g.length; i++) assert.ok(Math.abs(g[i] - r[i]) <= tol, `${name}[${i}]`);
      const n = nosg.out.get(name)!;
      g.forEach((v, i) => {
        maxDiff = Math.max(maxDiff, Math.abs(v - n[i]));
        scale = Math.max(scale, Math.abs(v));
      });
    }
    assert.ok(scale > 0, 'projector gradient is non-zero');
    assert.ok(
      maxDiff > 0.05 * scale,
      `gradients with and without stop-gradient differ (${maxDiff} vs ${scale})`,
    );
  });

  it('SimSiam: --fix-pred-lr marks exactly the predictor parameters, which then move at the peak lr', () => {
    for (const fix of [true, false]) {
      const { model, config } = tinyModel(simsiam, { params: { fixPredictorLr: fix } });
      initialise(model);
      const params = model.store.trainable();
      const pred = params.filter((p) => p.name.startsWith(PREDICTOR_PREFIX));
      assert.ok(pred.length >= 4, 'predictor: fc1, bn1 (weight, bias), fc2 (weight, bias)');
      for (const p of params) assert.equal(!!p.fixedLr, fix && p.name.startsWith(PREDICTOR_PREFIX), p.name);
      // One step with a scheduled lr of 0 (e.g. the end of the cosine) and a peak lr of 0.1.
      const opt = new Optimizer({ ...config.optimizer, weightDecay: 0 }, params);
      const views = randomViews(8, 4);
      const before = params.map((p) => values(p.variable));
      const { value, grads } = tf.variableGrads(
        () => model.loss(views, stepCtx(0, 1)).loss,
        params.map((p) => p.variable),
      );
      opt.apply(params, grads, 0, 0.1);
      params.forEach((p, i) => {
        const moved = values(p.variable).some((v, j) => v !== before[i][j]);
        assert.equal(moved, !!p.fixedLr, `${p.name} moved=${moved}`);
      });
      tf.dispose([value, ...Object.values(grads), ...views]);
      opt.dispose();
      model.store.dispose();
    }
  });

  it('training steps leak no tensors and log collapse_std (and ema_momentum for BYOL)', () => {
    for (const method of [byol, simsiam]) {
      const { model, config } = tinyModel(method);
      initialise(model, 5);
      const params = model.store.trainable();
      const opt = new Optimizer(config.optimizer, params);
      const views = randomViews(8, 5);
      const counts: number[] = [];
      let keys: string[] = [];
      for (let s = 0; s < 3; s++) {
        let extra: Record<string, tf.Scalar> = {};
        const ctx = stepCtx(s, 5);
        const { value, grads } = tf.variableGrads(
          () => {
            const r = model.loss(views, ctx);
            extra = Object.fromEntries(Object.entries(r.extra).map(([k, t]) => [k, tf.keep(t)]));
            return r.loss;
          },
          params.map((p) => p.variable),
        );
        opt.apply(params, grads, 0.05);
        model.afterStep?.(ctx);
        keys = Object.keys(extra).sort();
        assert.ok(Object.values(extra).every((t) => Number.isFinite(t.arraySync())));
        tf.dispose([value, ...Object.values(grads), ...Object.values(extra)]);
        counts.push(tf.memory().numTensors);
      }
      assert.equal(counts[2], counts[1], `${method.info.id}: tensor count flat across steps (${counts})`);
      assert.deepEqual(keys, method === byol ? ['collapse_std', 'ema_momentum'] : ['collapse_std']);
      opt.dispose();
      model.store.dispose();
      tf.dispose(views);
    }
  });

  it('presets: paper and laptop recipes as documented, valid configs, params listed in paramKeys', () => {
    for (const method of [byol, simsiam]) {
      for (const name of ['paper', 'laptop'] as const) {
        const preset = method.info.presets[name];
        assert.equal(preset.method, method.info.id);
        for (const k of Object.keys(preset.params ?? {}))
          assert.ok(method.info.paramKeys.includes(k), `paramKeys lists ${k}`);
        const full = deepMerge<RunConfig>(BASE_DEFAULTS, preset);
        validateConfig(full);
      }
    }
    const bp = deepMerge<RunConfig>(BASE_DEFAULTS, byol.info.presets.paper);
    assert.deepEqual(
      [
        bp.optimizer.kind,
        bp.optimizer.lr,
        bp.optimizer.lrScaling,
        bp.optimizer.weightDecay,
        bp.schedule.warmupEpochs,
      ],
      ['lars', 0.2, 'linear', 1.5e-6, 10],
    );
    assert.deepEqual(
      [bp.params.momentum, bp.params.momentumSchedule, bp.params.predictorHidden],
      [0.996, 'cosine', 4096],
    );
    assert.deepEqual([bp.head.hidden, bp.head.out, bp.head.outputBn], [[4096], 256, false]);
    assert.deepEqual([bp.encoder.arch, bp.encoder.width], ['resnet18', 64]);
    const sp = deepMerge<RunConfig>(BASE_DEFAULTS, simsiam.info.presets.paper);
    assert.deepEqual(
      [
        sp.optimizer.kind,
        sp.optimizer.lr,
        sp.optimizer.lrScaling,
        sp.optimizer.weightDecay,
        sp.training.batchSize,
      ],
      ['sgd', 0.05, 'linear', 1e-4, 512],
    );
    assert.deepEqual([sp.head.hidden, sp.head.out, sp.head.outputBn], [[2048, 2048], 2048, true]);
    assert.deepEqual(
      [sp.params.predictorHidden, sp.params.stopGradient, sp.params.fixPredictorLr],
      [512, true, true],
    );
    for (const method of [byol, simsiam]) {
      const lp = deepMerge<RunConfig>(BASE_DEFAULTS, method.info.presets.laptop);
      assert.deepEqual([lp.encoder.arch, lp.encoder.width, lp.training.batchSize], ['convnet', 16, 64]);
      assert.deepEqual(lp.augment.colorJitter, {
        p: 0.8,
        brightness: 0.8,
        contrast: 0.8,
        saturation: 0.8,
        hue: 0.2,
      });
      assert.deepEqual([lp.augment.grayscale, lp.augment.cropScale], [1, [0.3, 1]]);
      assert.ok(method.info.laptopScaling.length > 100);
    }
    const bl = deepMerge<RunConfig>(BASE_DEFAULTS, byol.info.presets.laptop);
    assert.deepEqual([bl.params.momentum, bl.optimizer.kind, bl.optimizer.lr], [0.99, 'sgd', 1.0]);
    const sl = deepMerge<RunConfig>(BASE_DEFAULTS, simsiam.info.presets.laptop);
    assert.deepEqual([sl.optimizer.lr, sl.params.fixPredictorLr, sl.head.outputBn], [0.5, true, true]);
  });

  describe('through train()', () => {
    let runsDir: string;
    before(() => {
      runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-byol-simsiam-'));
    });
    after(() => {
      if (runsDir) fs.rmSync(runsDir, { recursive: true, force: true });
    });
    const backend: BackendInfo = {
      name: 'wasm',
      tfBackend: 'wasm',
      version: tf.version_core,
      threads: 1,
      reason: 'test',
      tried: [],
    };
    const small = (method: Method) =>
      deepMerge<RunConfig>(BASE_DEFAULTS, method.info.presets.laptop, TINY, {
        seed: 5,
        dataset: { kind: 'synthetic', syntheticTrain: 64, syntheticTest: 32 },
        training: { epochs: 2, batchSize: 16, logEvery: 1, checkpointEvery: 1, keepCheckpoints: 0 },
        eval: { knn: { every: 1, k: 10, atStart: false } },
      });
    const rowsByStep = (dir: string) =>
      new Map(
        readMetricsFile(path.join(dir, 'metrics.jsonl'))
          .rows.filter((r) => typeof r.loss === 'number')
          .map((r) => [r.step, r as Record<string, number>]),
      );

    it('BYOL: logs its metrics, checkpoints the target, and a resume reproduces the uninterrupted run', async () => {
      const config = small(byol);
      const ref = createRunFolder(runsDir, config, { name: 'byol-ref' });
      const r1 = await train({
        runDir: ref.dir,
        backend,
        logger: new RunLogger(null),
        control: { stop: false },
      });
      assert.equal(r1.status, 'completed');
      const refRows = rowsByStep(ref.dir);
      assert.equal(refRows.size, 8);
      for (const [step, r] of refRows) {
        assert.ok(r.loss >= 0 && r.loss <= 8, `loss ${r.loss}`);
        assert.ok(r.collapse_std > 0);
        assert.ok(Math.abs(r.ema_momentum - momentumAt(0.99, 'cosine', step - 1, 8)) < 1e-6);
      }
      const run = createRunFolder(runsDir, config, { name: 'byol-resume' });
      const control = { stop: false };
      const r2 = await train({
        runDir: run.dir,
        backend,
        logger: new RunLogger(null),
        control,
        events: {
          progress: (p) => {
            if (p.step >= 3) control.stop = true;
          },
        },
      });
      assert.equal(r2.status, 'stopped');
      const ck = loadCheckpoint(listCheckpoints(run.dir).at(-1)!.file);
      assert.equal(ck.meta.step, 3);
      for (const k of [
        'target.encoder.conv1.weight',
        'target.projector.fc2.weight',
        'target.encoder.bn1.running_mean',
      ])
        assert.ok(ck.tensors.has(k), k);
      assert.ok(!ck.tensors.has('target.predictor.fc1.weight'));
      // The target differs from the online network after 3 EMA steps, so restoring it matters.
      const t = ck.tensors.get('target.projector.fc2.weight')!.data;
      const o = ck.tensors.get('online.projector.fc2.weight')!.data;
      assert.ok(t.some((v, i) => v !== o[i]));
      const r3 = await train({
        runDir: run.dir,
        backend,
        logger: new RunLogger(null),
        control: { stop: false },
        resume: true,
      });
      assert.equal(r3.status, 'completed');
      const got = rowsByStep(run.dir);
      assert.deepEqual(
        [...got.keys()].sort((a, b) => a - b),
        [...refRows.keys()].sort((a, b) => a - b),
      );
      for (const [step, row] of refRows) {
        const g = got.get(step)!.loss;
        assert.ok(
          Math.abs(g - row.loss) <= 1e-6 * Math.max(1, row.loss),
          `step ${step}: ${g} vs ${row.loss}`,
        );
      }
    });

    it('SimSiam: trains through train() and logs collapse_std', async () => {
      const run = createRunFolder(runsDir, small(simsiam), { name: 'simsiam' });
      const r = await train({
        runDir: run.dir,
        backend,
        logger: new RunLogger(null),
        control: { stop: false },
      });
      assert.equal(r.status, 'completed');
      const rows = rowsByStep(run.dir);
      assert.equal(rows.size, 8);
      for (const row of rows.values()) {
        assert.ok(row.loss >= -1 && row.loss <= 1, `loss ${row.loss}`);
        assert.ok(row.collapse_std > 0);
        assert.equal(row.ema_momentum, undefined);
      }
    });
  });

  // -------------------------------------------------------------------------------------------
  // The papers' central claims, measured at a tiny scale: ConvNet width 4, 32-d embeddings,
  // batch 32 of the built-in shapes with the laptop augmentations, SGD lr 0.1, 40 steps.

  const CLAIM_STEPS = 40;
  const D = 32;
  const CLAIM: PartialConfig = {
    encoder: { arch: 'convnet', width: 4 },
    // No output BN: the official projector's last BN (affine False) re-standardises every output
    // dimension over the batch, which blocks the constant solution, so within a few dozen steps
    // SimSiam without stop-gradient collapses only partly (measured: 0.65/sqrt(d) after 40 steps).
    head: { hidden: [D], out: D, outputBn: false },
    params: { predictorHidden: D / 2 },
    optimizer: { kind: 'sgd', lr: 0.1, lrScaling: 'none', momentum: 0.9, weightDecay: 1e-4 },
  };

  function trainTiny(method: Method, over: PartialConfig): { losses: number[]; stds: number[] } {
    const data = makeSynthetic({ train: 256, test: 1, seed: 3 });
    const config = deepMerge<RunConfig>(BASE_DEFAULTS, method.info.presets.laptop, CLAIM, over);
    const model = method.build(config, NORM, [32, 32, 3], dataInfo());
    initialise(model, CLAIM_STEPS);
    const params = model.store.trainable();
    const opt = new Optimizer(config.optimizer, params);
    const losses: number[] = [];
    const stds: number[] = [];
    for (let s = 0; s < CLAIM_STEPS; s++) {
      const idx = rngFor(1, 'order', s).permutation(256).subarray(0, 32);
      const views = [0, 1].map((v) =>
        augmentBatch(
          data.train,
          idx,
          model.viewAugment ? model.viewAugment(config.augment, v) : config.augment,
          rngFor(1, 'augment', s, v),
        ),
      );
      const ctx = stepCtx(s, CLAIM_STEPS);
      let std: tf.Scalar | undefined;
      const { value, grads } = tf.variableGrads(
        () => {
          const r = model.loss(views, ctx);
          std = tf.keep(r.extra.collapse_std);
          return r.loss;
        },
        params.map((p) => p.variable),
      );
      opt.apply(params, grads, config.optimizer.lr);
      model.afterStep?.(ctx);
      losses.push(value.dataSync()[0]);
      stds.push(std!.dataSync()[0]);
      tf.dispose([value, ...Object.values(grads), ...views, std!]);
    }
    opt.dispose();
    model.store.dispose();
    return { losses, stds };
  }

  const tail = (xs: number[]) => xs.slice(-5).reduce((a, b) => a + b, 0) / 5;
  const fmt = (xs: number[]) =>
    xs.filter((_, i) => i % 10 === 0 || i === xs.length - 1).map((x) => x.toFixed(3));

  it('SimSiam collapses without stop-gradient and does not with it', function () {
    this.timeout(300_000);
    const healthy = 1 / Math.sqrt(D);
    const sg = trainTiny(simsiam, { params: { stopGradient: true } });
    const nosg = trainTiny(simsiam, { params: { stopGradient: false } });
    console.log(`      1/sqrt(d) = ${healthy.toFixed(4)}`);
    console.log(`      with stop-gradient:    loss ${fmt(sg.losses)}  collapse_std ${fmt(sg.stds)}`);
    console.log(`      without stop-gradient: loss ${fmt(nosg.losses)}  collapse_std ${fmt(nosg.stds)}`);
    assert.ok(
      tail(nosg.stds) < 0.3 * healthy,
      `no stop-gradient: std ${tail(nosg.stds)} should fall below 0.3/sqrt(d)`,
    );
    assert.ok(tail(nosg.losses) < -0.95, `no stop-gradient: loss ${tail(nosg.losses)} should approach -1`);
    assert.ok(
      tail(sg.stds) > 0.6 * healthy,
      `stop-gradient: std ${tail(sg.stds)} should stay near 1/sqrt(d)`,
    );
    assert.ok(tail(sg.stds) > 0.9 * sg.stds[0], 'stop-gradient: std does not fall from its start');
  });

  it('BYOL learns without negatives: the loss falls well below ~4 and the outputs stay spread', function () {
    this.timeout(300_000);
    const healthy = 1 / Math.sqrt(D);
    const r = trainTiny(byol, { params: { momentum: 0.99, momentumSchedule: 'cosine' } });
    console.log(`      1/sqrt(d) = ${healthy.toFixed(4)}`);
    console.log(`      BYOL: loss ${fmt(r.losses)}  collapse_std ${fmt(r.stds)}`);
    assert.ok(r.losses[0] > 3, `initial loss ${r.losses[0]} near 4`);
    assert.ok(tail(r.losses) < 2.5, `loss ${tail(r.losses)} fell well below its start`);
    assert.ok(tail(r.stds) > 0.6 * healthy, `collapse_std ${tail(r.stds)} stays near 1/sqrt(d)`);
  });
});
