import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { listCheckpoints, loadCheckpoint } from '../../trainer/checkpoint/checkpoint';
import {
  BASE_DEFAULTS,
  configSchema,
  deepMerge,
  type PartialConfig,
  validateConfig,
} from '../../trainer/config/config';
import type { RunConfig } from '../../trainer/config/types';
import { infoNce, infoNceLogits } from '../../trainer/losses/infonce';
import { METHODS } from '../../trainer/methods';
import {
  buildMoco,
  groupSizes,
  type MocoModel,
  mocoV1,
  mocoV2,
  shuffledGroupForward,
} from '../../trainer/methods/moco';
import { KeyQueue } from '../../trainer/methods/queue';
import { ParamStore } from '../../trainer/models/params';
import { Optimizer } from '../../trainer/optim/optimizer';
import { Rng } from '../../trainer/rng';
import { RunLogger } from '../../trainer/run/logger';
import { createRunFolder } from '../../trainer/run/runfolder';
import { train } from '../../trainer/train';
import { stepCtx } from '../helpers/method-ctx';
import { randn, useBackend } from '../helpers/tf';
import { CPU_BACKEND, lossByStep } from '../helpers/train-loop';

const NORM = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };

/** InfoNCE in float64 with plain loops: mean over queries of -log softmax([q.k, q.Q] / tau)[0]. */
function infoNceReference(q: number[][], k: number[][], queue: number[][], tau: number): number {
  const unit = (v: number[]) => {
    const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    return v.map((x) => x / n);
  };
  const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0);
  let total = 0;
  for (let i = 0; i < q.length; i++) {
    const qi = unit(q[i]);
    const logits = [dot(qi, unit(k[i])) / tau, ...queue.map((row) => dot(qi, row) / tau)];
    const max = Math.max(...logits);
    const lse = max + Math.log(logits.reduce((s, v) => s + Math.exp(v - max), 0));
    total += lse - logits[0];
  }
  return total / q.length;
}

function unitRows(rows: number[][]): number[][] {
  return rows.map((r) => {
    const n = Math.sqrt(r.reduce((s, x) => s + x * x, 0));
    return r.map((x) => x / n);
  });
}

/** A tiny MoCo config: ConvNet width 4, small head, batch 8, K 16. */
function tinyConfig(over: PartialConfig = {}, base = mocoV2.info.presets.laptop): RunConfig {
  return deepMerge<RunConfig>(
    BASE_DEFAULTS,
    base,
    {
      seed: 5,
      encoder: { arch: 'convnet', width: 4 },
      head: { hidden: [8], out: 8 },
      params: { queueSize: 16, bnGroups: 2 },
      training: { batchSize: 8 },
    },
    over,
  );
}

/** Builds the model and creates every parameter as the training loop does (dry run, then afterInit). */
function buildReady(config: RunConfig, side = 16): MocoModel {
  const model = buildMoco(config, NORM);
  model.store.dryRun = true;
  tf.tidy(() => {
    const views = [0, 1].map(() => tf.zeros([2, side, side, 3]) as tf.Tensor4D);
    model.loss(views, stepCtx(0, 1));
  });
  model.store.dryRun = false;
  model.afterInit!();
  return model;
}

function images(n: number, seed: number, side = 16): tf.Tensor4D {
  return tf.randomUniform([n, side, side, 3], 0, 1, 'float32', seed) as tf.Tensor4D;
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

describe('MoCo', () => {
  before(() => useBackend('cpu'));

  describe('InfoNCE with a queue', () => {
    for (const [b, kq, tau] of [
      [2, 4, 0.07],
      [8, 32, 0.2],
      [16, 100, 0.07],
      [5, 7, 1.0],
    ] as const) {
      it(`matches a float64 loop reference (B=${b}, K=${kq}, tau=${tau})`, () => {
        const rng = new Rng(b * 1000 + kq);
        const d = 6 + b;
        // Correlated positives, so the positive term matters and the loss is far from ln(K+1).
        const q = randn(rng, b, d);
        const k = q.map((row) => row.map((x) => x + 0.7 * rng.normal()));
        const queue = unitRows(randn(rng, kq, d));
        const got = tf.tidy(() =>
          infoNce(tf.tensor2d(q), tf.tensor2d(k), tf.tensor2d(queue), tau).arraySync(),
        );
        const want = infoNceReference(q, k, queue, tau);
        assert.ok(Math.abs(got - want) <= 1e-5 * Math.max(1, Math.abs(want)), `got ${got}, want ${want}`);
      });
    }

    it('puts the positive in column 0 of the logits and scales by 1/tau', () => {
      const q = [[1, 0]];
      const k = [[0, 2]];
      const queue = [
        [1, 0],
        [-1, 0],
      ];
      const logits = tf.tidy(() =>
        infoNceLogits(tf.tensor2d(q), tf.tensor2d(k), tf.tensor2d(queue), 0.5).arraySync(),
      );
      assert.deepEqual(logits, [[0, 2, -2]]);
    });

    it('has query gradients that match finite differences of the float64 reference', () => {
      const rng = new Rng(17);
      const q = randn(rng, 3, 5);
      const k = randn(rng, 3, 5);
      const queue = unitRows(randn(rng, 6, 5));
      const tau = 0.2;
      const g = tf.tidy(() =>
        tf
          .grad((x: tf.Tensor) => infoNce(x as tf.Tensor2D, tf.tensor2d(k), tf.tensor2d(queue), tau))(
            tf.tensor2d(q),
          )
          .arraySync(),
      ) as number[][];
      const h = 1e-5;
      for (const [i, j] of [
        [0, 0],
        [1, 3],
        [2, 4],
      ]) {
        const qp = q.map((r) => [...r]);
        const qm = q.map((r) => [...r]);
        qp[i][j] += h;
        qm[i][j] -= h;
        const fd = (infoNceReference(qp, k, queue, tau) - infoNceReference(qm, k, queue, tau)) / (2 * h);
        assert.ok(Math.abs(fd - g[i][j]) < 1e-3, `d/dq[${i}][${j}]: fd ${fd} vs ${g[i][j]}`);
      }
    });

    it('starts near ln(K+1) + 1/(2 d tau^2) on random unit embeddings against the initial queue', () => {
      // Reference section 5: K 4096, d 128, tau 0.2 simulated 8.393, formula 8.416. (K 65536,
      // tau 0.07 -> 11.92 / 11.89 is left out: a 65536-row queue takes seconds on the cpu backend.)
      // 512 queries: the positive term's spread (1/(tau sqrt d) per query) averages to about 0.02.
      for (const [kq, tau, b, tol] of [[4096, 0.2, 512, 0.05]] as const) {
        const d = 128;
        const ps = new ParamStore(kq);
        const queue = new KeyQueue(ps, 'queue', kq, d, b);
        const rng = new Rng(kq + 1);
        const got = tf.tidy(() =>
          infoNce(
            tf.tensor2d(randn(rng, b, d)),
            tf.tensor2d(randn(rng, b, d)),
            queue.keys as tf.Tensor2D,
            tau,
          ).arraySync(),
        );
        ps.dispose();
        const lnM = Math.log(kq + 1);
        const theory = lnM + 1 / (2 * d * tau * tau);
        console.log(
          `      initial loss K=${kq} d=${d} tau=${tau}: ${got.toFixed(4)} (ln(K+1) ${lnM.toFixed(4)}, ln(K+1) + 1/(2 d tau^2) ${theory.toFixed(4)})`,
        );
        assert.ok(Math.abs(got - theory) < tol, `K=${kq} tau=${tau}: got ${got}, theory ${theory}`);
        assert.ok(got > lnM, `above ln(K+1) = ${lnM}`);
      }
    });
  });

  describe('key queue', () => {
    it('is initialised with unit-norm seeded noise', () => {
      const norms = (seed: number) => {
        const ps = new ParamStore(seed);
        const q = new KeyQueue(ps, 'queue', 8, 5, 4);
        const v = q.keys.arraySync() as number[][];
        ps.dispose();
        return v;
      };
      const a = norms(1);
      for (const row of a) assert.ok(Math.abs(Math.hypot(...row) - 1) < 1e-6);
      assert.deepEqual(norms(1), a);
      assert.notDeepEqual(norms(2), a);
    });

    it('is FIFO with wrap-around; the pointer is (t B) mod K after t steps; no tensors leak', () => {
      const K = 12;
      const B = 4;
      const d = 3;
      const ps = new ParamStore(0);
      const q = new KeyQueue(ps, 'queue', K, d, B);
      const noise = q.keys.arraySync() as number[][];
      // Batch t, row r holds the recognisable value 100 t + r.
      const batch = (t: number) =>
        tf.tensor2d(Array.from({ length: B }, (_, r) => Array(d).fill(100 * t + r)));
      const n0 = tf.memory().numTensors;
      for (let t = 1; t <= 7; t++) {
        const kb = batch(t);
        q.enqueue(kb);
        kb.dispose();
        assert.equal(q.pointer(), (t * B) % K, `pointer after ${t} steps`);
        assert.equal(q.filled(), Math.min(K, t * B));
        const rows = q.keys.arraySync() as number[][];
        for (let slot = 0; slot < K; slot++) {
          // The newest batch that wrote this slot: batch s wrote slots ((s-1) B .. s B - 1) mod K.
          let writer = 0;
          for (let s = 1; s <= t; s++)
            if (Math.floor((((s - 1) * B) % K) / B) === Math.floor(slot / B)) writer = s;
          const want = writer ? Array(d).fill(100 * writer + (slot % B)) : noise[slot];
          assert.deepEqual(
            rows[slot].map((v) => Math.fround(v)),
            want.map((v) => Math.fround(v)),
            `slot ${slot} after ${t} steps`,
          );
        }
        if (t === 2) {
          // Partially filled: the fill fraction the loss logs.
          assert.equal(
            tf.tidy(() => q.fillFraction().dataSync()[0]),
            Math.fround(8 / 12),
          );
        }
      }
      assert.equal(tf.memory().numTensors, n0, 'enqueue leaks no tensors');
      assert.throws(() => q.enqueue(tf.zeros([2, d]) as tf.Tensor2D), /enqueue expects \[4, 3\]/);
      ps.dispose();
    });

    it('refuses K that is not a multiple of the batch, with a clear message', () => {
      const ps = new ParamStore(0);
      assert.throws(
        () => new KeyQueue(ps, 'queue', 100, 8, 16),
        /params\.queueSize \(K = 100\) must be a multiple of training\.batchSize \(16\).*K = 96 or 112/,
      );
      // Through the method as well: the error surfaces when the run is built.
      assert.throws(
        () => buildMoco(tinyConfig({ params: { queueSize: 20 } }), NORM),
        /K = 20\) must be a multiple of training\.batchSize \(8\)/,
      );
      ps.dispose();
    });
  });

  describe('networks', () => {
    it('the key encoder gets no gradient; the query encoder does', () => {
      const model = buildReady(tinyConfig());
      const views = [images(8, 1), images(8, 2)];
      const targets = model.store.allParams().filter((p) => p.name.startsWith('target.'));
      const online = model.store.allParams().filter((p) => p.name.startsWith('online.'));
      assert.ok(
        targets.length > 0 && targets.length === online.length,
        'key encoder mirrors the query encoder',
      );
      assert.ok(
        targets.every((p) => !p.variable.trainable),
        'the key encoder is frozen',
      );
      // Make the key encoder's variables look trainable, so only the stop-gradient can keep
      // gradients away from them.
      for (const p of targets) p.variable.trainable = true;
      try {
        const { value, grads } = tf.variableGrads(
          () => model.loss(views, stepCtx(0, 1)).loss,
          model.store.allParams().map((p) => p.variable),
        );
        for (const p of targets) {
          const g = grads[p.variable.name];
          assert.ok(
            g === undefined || tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]) === 0,
            `${p.name} got a gradient`,
          );
        }
        const withGrad = online.filter((p) => {
          const g = grads[p.variable.name];
          return g !== undefined && tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]) > 0;
        });
        assert.equal(withGrad.length, online.length, 'every query-encoder parameter gets a gradient');
        tf.dispose([value, ...Object.values(grads)]);
      } finally {
        for (const p of targets) p.variable.trainable = false;
      }
      // The loss does depend on the keys: without the stop-gradient they would get gradients.
      const gk = tf.tidy(() => {
        const q = model.queries(views[0]);
        const k = model.keys(views[1], 0);
        const g = tf.grad((kk: tf.Tensor) =>
          infoNce(q, kk as tf.Tensor2D, model.queue.keys as tf.Tensor2D, 0.2),
        )(k);
        return tf.max(tf.abs(g)).dataSync()[0];
      });
      assert.ok(gk > 0);
      model.afterStep!(stepCtx(0, 1));
      tf.dispose(views);
      model.store.dispose();
    });

    it("afterStep enqueues the step's keys and moves the key encoder to m t + (1 - m) o", () => {
      const m = 0.9;
      const model = buildReady(tinyConfig({ params: { momentum: m } }));
      const name = 'encoder.conv2.weight';
      const o = model.store.params.get(`online.${name}`)!.variable;
      const t = model.store.params.get(`target.${name}`)!.variable;
      assert.equal(maxAbsDiff(o, t), 0, 'afterInit copies the query encoder into the key encoder');
      const views = [images(8, 3), images(8, 4)];
      const ctx = stepCtx(0, 10);
      tf.tidy(() => {
        model.loss(views, ctx);
      });
      const keys = tf.clone(model.pendingKeys()!);
      // Stand-in for the optimizer step: move the query encoder.
      o.assign(tf.tidy(() => tf.add(o, tf.randomNormal(o.shape, 0, 0.1, 'float32', 9))));
      const t0 = t.dataSync().slice();
      const o1 = o.dataSync().slice();
      const n0 = tf.memory().numTensors;
      model.afterStep!(ctx);
      assert.equal(tf.memory().numTensors, n0 - 1, 'afterStep frees the pending keys and nothing else');
      const t1 = t.dataSync();
      for (let i = 0; i < t1.length; i++) {
        const want = m * t0[i] + (1 - m) * o1[i];
        assert.ok(Math.abs(t1[i] - want) < 1e-6, `element ${i}: ${t1[i]} vs ${want}`);
      }
      assert.ok(maxAbsDiff(o, t) > 0);
      // The step's keys are the queue's first rows now, and the pointer moved by B.
      assert.equal(model.queue.pointer(), 8);
      const head = tf.tidy(() => tf.slice(model.queue.keys, [0, 0], [8, -1]));
      assert.equal(maxAbsDiff(head, keys), 0);
      assert.equal(model.pendingKeys(), null);
      tf.dispose([head, keys, ...views]);
      model.store.dispose();
    });

    it('shuffle-BN groups change keys and queries; one group (after un-permuting) equals no shuffle', () => {
      const x = images(8, 6);
      const outputs = (params: PartialConfig['params']) => {
        const model = buildReady(tinyConfig({ params }));
        const out = [model.keys(x, 3), model.queries(x)];
        model.store.dispose();
        return out;
      };
      const plain = outputs({ shuffleBn: 'none' });
      const one = outputs({ shuffleBn: 'groups', bnGroups: 1 });
      const four = outputs({ shuffleBn: 'groups', bnGroups: 4 });
      for (const [i, what] of ['keys', 'queries'].entries()) {
        const d1 = maxAbsDiff(plain[i], one[i]);
        const d4 = maxAbsDiff(plain[i], four[i]);
        assert.ok(d1 < 1e-5, `${what}, 1 group vs no shuffle: ${d1}`);
        assert.ok(d4 > 1e-2, `${what}, 4 groups vs no shuffle: ${d4}`);
      }
      // The key groups are random subsets, not the query groups: keys and queries of the same
      // images differ with 4 groups even though the key encoder is a copy of the query encoder.
      assert.ok(maxAbsDiff(four[0], four[1]) > 1e-2);
      assert.ok(maxAbsDiff(plain[0], plain[1]) < 1e-5, 'same weights, same batch: same embeddings');
      tf.dispose([x, ...plain, ...one, ...four]);
    });

    it('shuffledGroupForward splits the permuted batch into groups and restores the order', () => {
      const n = 10;
      const x = tf.tidy(() => tf.reshape(tf.range(0, n * 2), [n, 1, 1, 2]) as tf.Tensor4D);
      const perm = new Rng(4).permutation(n);
      assert.notDeepEqual(Array.from(perm), [...Array(n).keys()]);
      assert.deepEqual(groupSizes(10, 4), [3, 3, 2, 2]);
      assert.deepEqual(groupSizes(2, 4), [1, 1]);
      // f returns [first feature of each row, group index]: rows must come back in input order,
      // and row perm[i] must have been in the group holding position i of the permuted batch.
      const y = shuffledGroupForward(
        x,
        perm,
        4,
        (xg, g) =>
          tf.tidy(() =>
            tf.concat(
              [tf.reshape(tf.slice(xg, [0, 0, 0, 0], [-1, 1, 1, 1]), [-1, 1]), tf.fill([xg.shape[0], 1], g)],
              1,
            ),
          ) as tf.Tensor2D,
      );
      const rows = y.arraySync() as number[][];
      const sizes = groupSizes(n, 4);
      const groupOfPos = sizes.flatMap((s, g) => Array(s).fill(g));
      for (let i = 0; i < n; i++) {
        assert.equal(rows[i][0], 2 * i, `row ${i} back in place`);
        assert.equal(rows[perm[i]][1], groupOfPos[i]);
      }
      tf.dispose([x, y]);
    });

    it('training steps leak no tensors and the loss is finite; the online encoder is the features net', () => {
      const config = tinyConfig();
      const model = buildReady(config);
      const optimizer = new Optimizer(config.optimizer, model.store.trainable());
      assert.ok(model.store.trainable().every((p) => p.name.startsWith('online.')));
      const step = (s: number) => {
        const views = [images(8, 10 + s), images(8, 20 + s)];
        const ctx = stepCtx(s, 4);
        let extra: Record<string, tf.Scalar> = {};
        const { value, grads } = tf.variableGrads(
          () => {
            const r = model.loss(views, ctx);
            extra = Object.fromEntries(Object.entries(r.extra).map(([k, t]) => [k, tf.keep(t)]));
            return r.loss;
          },
          model.store.trainable().map((p) => p.variable),
        );
        optimizer.apply(model.store.trainable(), grads, 0.05);
        model.afterStep!(ctx);
        const out: Record<string, number> = { loss: value.dataSync()[0] };
        for (const [k, t] of Object.entries(extra)) out[k] = t.dataSync()[0];
        tf.dispose([value, ...Object.values(grads), ...views, ...Object.values(extra)]);
        return out;
      };
      const first = step(0);
      assert.equal(first.queue_fill, 0);
      const n = tf.memory().numTensors;
      const later = [step(1), step(2), step(3)];
      assert.equal(tf.memory().numTensors, n, 'tensor count flat across steps');
      for (const r of [first, ...later]) {
        assert.ok(Number.isFinite(r.loss));
        assert.ok(r.pos_sim <= 1 && r.pos_sim >= -1 && r.inst_acc >= 0 && r.inst_acc <= 1);
      }
      assert.deepEqual(
        later.map((r) => r.queue_fill),
        [0.5, 1, 1],
      );
      const f = tf.tidy(() => model.features(images(3, 1)));
      assert.deepEqual(f.shape, [3, 32]);
      f.dispose();
      optimizer.dispose();
      model.store.dispose();
    });
  });

  describe('presets', () => {
    for (const method of [mocoV1, mocoV2]) {
      for (const preset of ['paper', 'laptop'] as const) {
        it(`${method.info.id} ${preset} preset is a valid config and a consistent MoCo setup`, () => {
          const p = method.info.presets[preset];
          assert.equal(p.method, method.info.id);
          for (const k of Object.keys(p.params ?? {}))
            assert.ok(method.info.paramKeys.includes(k), `paramKeys lists ${k}`);
          const c = deepMerge<RunConfig>(BASE_DEFAULTS, p);
          // The schema's method enum may not list the MoCo ids yet: check everything else.
          validateConfig({ ...c, method: 'simclr-v1' });
          const { queueSize, bnGroups, momentum, temperature } = c.params;
          assert.equal(queueSize! % c.training.batchSize, 0, 'K is a multiple of the batch');
          assert.ok(c.training.batchSize >= 2 * bnGroups!);
          assert.equal(temperature, method === mocoV1 ? 0.07 : 0.2);
          assert.equal(c.head.hidden.length, method === mocoV1 ? 0 : 1);
          assert.equal(c.head.outputBn, false);
          assert.equal(momentum, preset === 'paper' ? 0.999 : 0.99);
          if (preset === 'laptop') {
            assert.ok(queueSize! <= c.dataset.syntheticTrain / 4, 'K well below N');
            assert.ok(method.info.laptopScaling.length > 200);
          }
        });
      }
    }
  });

  describe('training loop', function () {
    this.timeout(120000);
    let runsDir: string;
    before(function () {
      // train() validates config.json against the schema and looks the method up in METHODS; both
      // learn the MoCo ids when they are registered.
      const methodEnum = (configSchema as { properties: { method: { enum: string[] } } }).properties.method
        .enum;
      if (!METHODS.has('moco-v2') || !methodEnum.includes('moco-v2')) this.skip();
      runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-moco-'));
    });
    after(() => {
      if (runsDir) fs.rmSync(runsDir, { recursive: true, force: true });
    });

    const backend = CPU_BACKEND;
    const config = deepMerge<RunConfig>(BASE_DEFAULTS, mocoV2.info.presets.laptop, {
      seed: 7,
      dataset: { kind: 'synthetic', syntheticTrain: 64, syntheticTest: 32 },
      encoder: { arch: 'convnet', width: 4 },
      head: { hidden: [16], out: 8 },
      params: { queueSize: 64, bnGroups: 4 },
      // 16-pixel views: the stock cpu backend's convolution gradients are slow at 32.
      augment: { size: 16 },
      training: { epochs: 2, batchSize: 16, logEvery: 1, checkpointEvery: 1, keepCheckpoints: 0 },
      // kNN every epoch: a checkpoint written before any kNN result fails to encode (knnTop1 undefined).
      eval: { knn: { every: 1, k: 10, atStart: false } },
    });

    it('trains through train(), checkpoints the queue, and a resume reproduces the uninterrupted losses', async () => {
      const ref = createRunFolder(runsDir, config, { name: 'moco-ref' });
      const r1 = await train({
        runDir: ref.dir,
        backend,
        logger: new RunLogger(null),
        control: { stop: false },
      });
      assert.equal(r1.status, 'completed');
      const refRows = lossByStep(ref.dir);
      assert.equal(refRows.size, 8);
      for (const r of refRows.values()) {
        assert.ok(Number.isFinite(r.loss) && r.loss > 0);
        for (const k of ['pos_sim', 'neg_sim', 'inst_acc', 'queue_fill'])
          assert.equal(typeof r[k], 'number', k);
      }
      assert.equal(refRows.get(1)!.queue_fill, 0);
      assert.equal(refRows.get(5)!.queue_fill, 1);

      // Stop after step 6 (the queue has wrapped around once), then resume.
      const run = createRunFolder(runsDir, config, { name: 'moco-resume' });
      const control = { stop: false };
      const r2 = await train({
        runDir: run.dir,
        backend,
        logger: new RunLogger(null),
        control,
        events: {
          progress: (p) => {
            if (p.step >= 6) control.stop = true;
          },
        },
      });
      assert.equal(r2.status, 'stopped');
      assert.equal(r2.step, 6);
      const ck = loadCheckpoint(listCheckpoints(run.dir).at(-1)!.file);
      assert.equal(ck.meta.step, 6);
      const keys = ck.tensors.get('queue.keys')!;
      assert.deepEqual(keys.shape, [64, 8]);
      assert.equal(ck.tensors.get('queue.ptr')!.data[0], (6 * 16) % 64);
      assert.equal(ck.tensors.get('queue.count')!.data[0], 64);
      assert.ok(ck.tensors.has('target.encoder.conv1.weight') && ck.tensors.has('target.head.fc2.weight'));

      const r3 = await train({
        runDir: run.dir,
        backend,
        logger: new RunLogger(null),
        control: { stop: false },
        resume: true,
      });
      assert.equal(r3.status, 'completed');
      const got = lossByStep(run.dir);
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
  });
});
