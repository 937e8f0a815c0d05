import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { BASE_DEFAULTS, deepMerge, type PartialConfig, validateConfig } from '../../trainer/config/config';
import schema from '../../trainer/config/schema.json';
import type { RunConfig } from '../../trainer/config/types';
import { ntXent } from '../../trainer/losses/ntxent';
import { ntXentMemory } from '../../trainer/losses/ntxent-memory';
import { METHODS } from '../../trainer/methods';
import { buildSimclrV2, type SimclrV2Model, simclrV2 } from '../../trainer/methods/simclr-v2';
import { ParamStore } from '../../trainer/models/params';
import { simclrV2Head } from '../../trainer/models/simclr-v2-head';
import { Rng } from '../../trainer/rng';
import { stepCtx } from '../helpers/method-ctx';
import { randn, useBackend } from '../helpers/tf';

const NORM = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };

const unit = (v: number[]) => {
  const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  return v.map((x) => x / n);
};
const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0);

/**
 * NT-Xent with memory in float64 loops: anchors are the 2B normalised views; anchor i's logits are
 * its dot products with every other view and every memory row, over tau; loss = mean over anchors
 * of logsumexp - positive (the other view of the same image).
 */
function ntXentMemoryReference(z1: number[][], z2: number[][], memory: number[][], tau: number): number {
  const z = [...z1, ...z2].map(unit);
  const b = z1.length;
  let total = 0;
  for (let i = 0; i < 2 * b; i++) {
    const logits: number[] = [];
    for (let j = 0; j < 2 * b; j++) if (j !== i) logits.push(dot(z[i], z[j]) / tau);
    for (const m of memory) logits.push(dot(z[i], m) / tau);
    const max = Math.max(...logits);
    const lse = max + Math.log(logits.reduce((s, v) => s + Math.exp(v - max), 0));
    total += lse - dot(z[i], z[(i + b) % (2 * b)]) / tau;
  }
  return total / (2 * b);
}

/** Batch-statistics BN (biased variance, eps 1e-5) over the rows of x, per column. */
function bnRef(x: number[][], gamma: number[], beta: number[]): number[][] {
  const n = x.length;
  return x.map((row) =>
    row.map((v, c) => {
      const mean = x.reduce((s, r) => s + r[c], 0) / n;
      const variance = x.reduce((s, r) => s + (r[c] - mean) ** 2, 0) / n;
      return ((v - mean) / Math.sqrt(variance + 1e-5)) * gamma[c] + beta[c];
    }),
  );
}

const matmul = (x: number[][], w: number[][]) =>
  x.map((r) => w[0].map((_, o) => r.reduce((s, v, i) => s + v * w[i][o], 0)));

function tinyConfig(over: PartialConfig = {}): RunConfig {
  return deepMerge<RunConfig>(
    BASE_DEFAULTS,
    simclrV2.info.presets.laptop,
    {
      seed: 11,
      encoder: { arch: 'convnet', width: 4 },
      head: { hidden: [8, 8], out: 6 },
      params: { queueSize: 32 },
      training: { batchSize: 4 },
    },
    over,
  );
}

function buildReady(config: RunConfig, side = 8): SimclrV2Model {
  const model = buildSimclrV2(config, NORM);
  model.store.dryRun = true;
  tf.tidy(() => {
    const b = config.training.batchSize;
    model.loss(
      [0, 1].map(() => tf.zeros([b, side, side, 3]) as tf.Tensor4D),
      stepCtx(0, 1, b),
    );
  });
  model.store.dryRun = false;
  model.afterInit?.();
  return model;
}

function maxAbs(t: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(t)).dataSync()[0]);
}

describe('SimCLR v2', () => {
  before(() => useBackend('cpu'));

  describe('NT-Xent with memory', () => {
    for (const [b, k, d, tau] of [
      [2, 0, 3, 0.5],
      [4, 6, 5, 0.1],
      [3, 12, 4, 1.0],
      [8, 16, 6, 0.2],
    ] as const) {
      it(`matches a float64 loop reference (B=${b}, K=${k}, d=${d}, tau=${tau})`, () => {
        const rng = new Rng(b * 100 + k);
        const z1 = randn(rng, b, d);
        // Correlated positives, so the positive term matters.
        const z2 = z1.map((r) => r.map((x) => x + 0.5 * rng.normal()));
        const memory = randn(rng, k, d).map(unit);
        const got = tf.tidy(
          () =>
            ntXentMemory(tf.tensor2d(z1), tf.tensor2d(z2), k ? tf.tensor2d(memory) : null, tau).dataSync()[0],
        );
        const want = ntXentMemoryReference(z1, z2, memory, tau);
        assert.ok(Math.abs(got - want) < 1e-4, `got ${got}, want ${want}`);
        if (!k) {
          // Without memory it is SimCLR v1's NT-Xent.
          const v1 = tf.tidy(() => ntXent(tf.tensor2d(z1), tf.tensor2d(z2), tau).dataSync()[0]);
          assert.ok(Math.abs(got - v1) < 1e-5, `v1 ${v1}`);
        }
      });
    }

    it('starts near ln(2B - 1 + K) + 1/(2 d tau^2) on random embeddings', () => {
      // Reference section 5: NT-Xent B = 512, d = 128, tau = 0.5 simulated 6.944, formula 6.946.
      // The positive's random score (spread 1/(tau sqrt d) per pair) averages over B pairs: large
      // batches keep that noise near 0.01.
      for (const [b, k, tau] of [
        [512, 0, 0.5],
        [256, 1024, 0.5],
      ] as const) {
        const d = 128;
        const rng = new Rng(b + k);
        const got = tf.tidy(
          () =>
            ntXentMemory(
              tf.tensor2d(randn(rng, b, d)),
              tf.tensor2d(randn(rng, b, d)),
              k ? tf.tensor2d(randn(rng, k, d).map(unit)) : null,
              tau,
            ).dataSync()[0],
        );
        const lnM = Math.log(2 * b - 1 + k);
        const theory = lnM + 1 / (2 * d * tau * tau);
        console.log(
          `      B=${b} K=${k} tau=${tau}: ${got.toFixed(4)} (ln M ${lnM.toFixed(4)}, theory ${theory.toFixed(4)})`,
        );
        assert.ok(Math.abs(got - theory) < 0.03, `got ${got}, theory ${theory}`);
      }
    });
  });

  describe('projection head', () => {
    it('is Linear-BN-ReLU x 2 then Linear-BN (scale, no centre), no Linear biases, as tf2/model.py', () => {
      const ps = new ParamStore(2);
      const ctx = { ps, training: true };
      const rng = new Rng(3);
      const h = randn(rng, 6, 5);
      const cfg = { hidden: [4, 4], out: 3, outputBn: true };
      const outs = tf.tidy(() => simclrV2Head(ctx, 'head', tf.tensor2d(h), cfg).map((t) => t.arraySync()));
      assert.deepEqual([...ps.params.keys()].sort(), [
        'head.bn1.bias',
        'head.bn1.weight',
        'head.bn2.bias',
        'head.bn2.weight',
        'head.bn3.weight',
        'head.fc1.weight',
        'head.fc2.weight',
        'head.fc3.weight',
      ]);
      // Non-trivial scales and shifts, so the test can tell gamma from beta.
      for (const [name, v] of [
        ['head.bn1.weight', 1.5],
        ['head.bn1.bias', 0.3],
        ['head.bn2.weight', 0.7],
        ['head.bn2.bias', -0.2],
        ['head.bn3.weight', 2.0],
      ] as const) {
        const p = ps.params.get(name)!.variable;
        p.assign(tf.fill(p.shape, v));
      }
      const w = (n: string) => ps.params.get(n)!.variable.arraySync() as number[][];
      const got = tf.tidy(() => simclrV2Head(ctx, 'head', tf.tensor2d(h), cfg).map((t) => t.arraySync()));
      const relu = (x: number[][]) => x.map((r) => r.map((v) => Math.max(0, v)));
      const l1 = relu(bnRef(matmul(h, w('head.fc1.weight')), [1.5, 1.5, 1.5, 1.5], [0.3, 0.3, 0.3, 0.3]));
      const l2 = relu(
        bnRef(matmul(l1, w('head.fc2.weight')), [0.7, 0.7, 0.7, 0.7], [-0.2, -0.2, -0.2, -0.2]),
      );
      const l3 = bnRef(matmul(l2, w('head.fc3.weight')), [2, 2, 2], [0, 0, 0]);
      assert.equal(got.length, 4);
      for (const [i, want] of [h, l1, l2, l3].entries())
        for (let r = 0; r < 6; r++)
          for (let c = 0; c < want[0].length; c++)
            assert.ok(
              Math.abs(got[i][r][c] - want[r][c]) < 1e-4,
              `layer ${i} [${r}][${c}]: ${got[i][r][c]} vs ${want[r][c]}`,
            );
      // Linear weights start as N(0, 0.01^2).
      const all = w('head.fc1.weight').flat();
      const std = Math.sqrt(all.reduce((s, v) => s + v * v, 0) / all.length);
      assert.ok(std > 0.004 && std < 0.02, `init std ${std}`);
      assert.equal(outs.length, 4);
      ps.dispose();
    });
  });

  describe('model', () => {
    it('features() is head layer ftProjSelector in eval mode (1: encoder + first layer; 0: encoder)', () => {
      const x = tf.randomUniform([5, 8, 8, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
      const views = [1, 2].map((sd) => tf.randomUniform([4, 8, 8, 3], 0, 1, 'float32', sd) as tf.Tensor4D);
      const build = (sel: number) => {
        const model = buildReady(tinyConfig({ params: { ftProjSelector: sel } }));
        // Two training-mode steps move the BN running statistics away from 0 / 1.
        for (let i = 0; i < 2; i++) tf.tidy(() => void model.loss(views, stepCtx(i, 2, 4)));
        return model;
      };
      const m0 = build(0);
      const h0 = tf.tidy(() => m0.encoder.forward({ ps: m0.store, training: false }, x));
      assert.equal(maxAbs(tf.sub(m0.features(x), h0)), 0, 'selector 0: the encoder output');
      m0.store.dispose();

      const m1 = build(1);
      const f1 = m1.features(x).arraySync() as number[][];
      const h = tf.tidy(() =>
        m1.encoder.forward({ ps: m1.store, training: false }, x).arraySync(),
      ) as number[][];
      const get = (n: string) =>
        (m1.store.params.get(n)?.variable ?? m1.store.buffers.get(n)!).arraySync() as number[];
      const [gamma, beta, rm, rv] = ['weight', 'bias', 'running_mean', 'running_var'].map((k) =>
        get(`online.head.bn1.${k}`),
      );
      assert.ok(
        rm.some((v) => Math.abs(v) > 1e-3),
        'running mean moved',
      );
      const lin = matmul(h, get('online.head.fc1.weight') as unknown as number[][]);
      assert.equal(f1[0].length, 8);
      for (let r = 0; r < 5; r++)
        for (let c = 0; c < 8; c++) {
          const want = Math.max(0, ((lin[r][c] - rm[c]) / Math.sqrt(rv[c] + 1e-5)) * gamma[c] + beta[c]);
          assert.ok(Math.abs(f1[r][c] - want) < 1e-4, `[${r}][${c}] ${f1[r][c]} vs ${want}`);
        }
      m1.store.dispose();

      const m3 = build(3);
      assert.deepEqual(m3.features(x).shape, [5, 6]);
      m3.store.dispose();
      assert.throws(
        () => buildSimclrV2(tinyConfig({ params: { ftProjSelector: 4 } }), NORM),
        /params.ftProjSelector \(4\) must be between 0 \(the encoder\) and 3/,
      );
      tf.dispose([x, h0, ...views]);
    });

    it('without memory: no momentum network, no queue; the loss is NT-Xent of the head outputs', () => {
      const model = buildReady(tinyConfig());
      assert.equal(model.queue, null);
      assert.throws(
        () => buildSimclrV2(tinyConfig({ params: { memory: true, queueSize: 20 } }), NORM),
        /params.queueSize \(20\) must be a multiple of 2 x training.batchSize = 8 .*use e.g. 24/,
      );
      assert.ok(![...model.store.params.keys()].some((k) => k.startsWith('target.')));
      const views = [5, 6].map((sd) => tf.randomUniform([4, 8, 8, 3], 0, 1, 'float32', sd) as tf.Tensor4D);
      // Same weights and same BN batch: the loss equals NT-Xent over embed()'s outputs.
      model.store.dryRun = true;
      const got = tf.tidy(() => model.loss(views, stepCtx(0, 1, 4)).loss.dataSync()[0]);
      const want = tf.tidy(() => {
        const z = model.embed(tf.concat(views, 0)).at(-1)!;
        return ntXent(tf.slice(z, [0, 0], [4, -1]), tf.slice(z, [4, 0], [4, -1]), 0.5).dataSync()[0];
      });
      assert.ok(Math.abs(got - want) < 1e-6, `${got} vs ${want}`);
      tf.dispose(views);
      model.store.dispose();
    });

    it('memory: the momentum network gets exactly zero gradient, its 2B keys are queued, EMA m t + (1 - m) o', () => {
      const m = 0.9;
      const model = buildReady(tinyConfig({ params: { memory: true, momentum: m } }));
      const targets = model.store.allParams().filter((p) => p.name.startsWith('target.'));
      const online = model.store.allParams().filter((p) => p.name.startsWith('online.'));
      assert.ok(
        targets.length > 0 && targets.length === online.length,
        'the memory network mirrors the online one',
      );
      assert.ok(targets.every((p) => !p.variable.trainable));
      const name = 'head.fc1.weight';
      const o = model.store.params.get(`online.${name}`)!.variable;
      const t = model.store.params.get(`target.${name}`)!.variable;
      assert.equal(maxAbs(tf.sub(o, t)), 0, 'afterInit copies the online network');
      const views = [7, 8].map((sd) => tf.randomUniform([4, 8, 8, 3], 0, 1, 'float32', sd) as tf.Tensor4D);
      // Make the memory network look trainable, so only the stop-gradient keeps gradients away.
      for (const p of targets) p.variable.trainable = true;
      const { value, grads } = tf.variableGrads(
        () => model.loss(views, stepCtx(0, 10, 4)).loss,
        model.store.allParams().map((p) => p.variable),
      );
      for (const p of targets) p.variable.trainable = false;
      for (const p of targets) {
        const g = grads[p.variable.name];
        assert.ok(g === undefined || maxAbs(g) === 0, `${p.name} got a gradient`);
      }
      assert.ok(maxAbs(grads[o.name]) > 0, 'the online head gets a gradient');
      const keys = tf.clone(model.pendingKeys()!);
      assert.deepEqual(keys.shape, [8, 6]);
      // The keys are the memory network's normalised embeddings of both views.
      const direct = model.keys(tf.concat(views, 0));
      assert.ok(maxAbs(tf.sub(keys, direct)) < 1e-5);
      o.assign(tf.tidy(() => tf.add(o, tf.randomNormal(o.shape, 0, 0.1, 'float32', 9))));
      const t0 = t.dataSync().slice();
      const o1 = o.dataSync().slice();
      model.afterStep!(stepCtx(0, 10, 4));
      const t1 = t.dataSync();
      for (let i = 0; i < t1.length; i++)
        assert.ok(Math.abs(t1[i] - (m * t0[i] + (1 - m) * o1[i])) < 1e-6, `element ${i}`);
      assert.equal(model.queue!.pointer(), 8, 'the pointer moves by 2B');
      const head = tf.slice(model.queue!.keys, [0, 0], [8, -1]);
      assert.equal(maxAbs(tf.sub(head, keys)), 0);
      assert.equal(model.pendingKeys(), null);
      // The next loss contrasts against the queue: it differs from the no-memory NT-Xent.
      model.store.dryRun = true;
      const withMem = tf.tidy(() => model.loss(views, stepCtx(1, 10, 4)).loss.dataSync()[0]);
      const noMem = tf.tidy(() => {
        const z = model.embed(tf.concat(views, 0)).at(-1)!;
        return ntXent(tf.slice(z, [0, 0], [4, -1]), tf.slice(z, [4, 0], [4, -1]), 0.5).dataSync()[0];
      });
      const withQueue = tf.tidy(() => {
        const z = model.embed(tf.concat(views, 0)).at(-1)!;
        return ntXentMemory(
          tf.slice(z, [0, 0], [4, -1]),
          tf.slice(z, [4, 0], [4, -1]),
          model.queue!.keys as tf.Tensor2D,
          0.5,
        ).dataSync()[0];
      });
      assert.ok(Math.abs(withMem - withQueue) < 1e-6 && withMem > noMem, `${withMem} ${withQueue} ${noMem}`);
      tf.dispose([value, ...Object.values(grads), keys, direct, head, ...views]);
      model.store.dispose();
    });
  });

  it('presets: paper settings, valid configs, every param in the schema and paramKeys', () => {
    assert.equal(METHODS.get('simclr-v2'), simclrV2);
    const props = (schema as { properties: { params: { properties: Record<string, unknown> } } }).properties
      .params.properties;
    for (const k of simclrV2.info.paramKeys) assert.ok(k in props, `schema has params.${k}`);
    for (const name of ['paper', 'laptop'] as const) {
      const preset = simclrV2.info.presets[name];
      assert.equal(preset.method, 'simclr-v2');
      for (const k of Object.keys(preset.params ?? {}))
        if (k !== 'momentumSchedule') assert.ok(simclrV2.info.paramKeys.includes(k), k);
      const full = validateConfig(deepMerge<RunConfig>(BASE_DEFAULTS, preset));
      assert.equal(full.head.hidden.length, 2, '3-layer head');
      assert.equal(full.params.ftProjSelector, 1);
      assert.equal(full.params.memory, false);
      assert.equal(full.optimizer.kind, 'lars');
      buildSimclrV2(full, NORM).store.dispose();
    }
    const p = deepMerge<RunConfig>(BASE_DEFAULTS, simclrV2.info.presets.paper);
    assert.deepEqual(
      [p.optimizer.lr, p.optimizer.lrScaling, p.optimizer.weightDecay, p.optimizer.trustCoefficient],
      [0.1, 'sqrt', 1e-4, 0.001],
    );
    assert.equal(Math.sqrt(p.training.batchSize) * p.optimizer.lr, 6.4);
    assert.deepEqual([p.params.queueSize, p.params.momentum], [65536, 0.999]);
    assert.ok(simclrV2.info.laptopScaling.length > 100);
  });
});
