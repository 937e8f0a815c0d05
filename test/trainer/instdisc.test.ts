import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { listCheckpoints, loadCheckpoint } from '../../trainer/checkpoint/checkpoint';
import { BASE_DEFAULTS, deepMerge, type PartialConfig } from '../../trainer/config/config';
import { resolveConfig } from '../../trainer/config/resolve';
import type { RunConfig } from '../../trainer/config/types';
import { NCE_EPS } from '../../trainer/losses/nce';
import { METHODS } from '../../trainer/methods';
import { type InstDiscModel, instdisc } from '../../trainer/methods/instdisc';
import { sampleNoise } from '../../trainer/methods/memory-bank';
import { rngFor } from '../../trainer/rng';
import { RunLogger } from '../../trainer/run/logger';
import { readMetricsFile } from '../../trainer/run/metrics';
import { createRunFolder } from '../../trainer/run/runfolder';
import { train } from '../../trainer/train';
import { dataInfo } from '../helpers/method-ctx';
import { useBackend } from '../helpers/tf';
import { CPU_BACKEND } from '../helpers/train-loop';

const NORM = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
const N = 40;
const B = 8;

function tinyConfig(over: PartialConfig = {}): RunConfig {
  return deepMerge<RunConfig>(
    BASE_DEFAULTS,
    instdisc.info.presets.laptop,
    {
      seed: 3,
      encoder: { arch: 'convnet', width: 4 },
      // The papers' head and random bank (the laptop preset's deviations are tested in memory-bank).
      head: { hidden: [], out: 6, outputBn: false },
      params: { temperature: 0.1, bankLoss: 'nce', nceK: 12, bankInit: 'random' },
      training: { batchSize: B },
    },
    over,
  );
}

/** Built and dry-run as the training loop does. */
function buildReady(config: RunConfig): InstDiscModel {
  const model = instdisc.build(config, NORM, [12, 12, 3], dataInfo(N)) as InstDiscModel;
  model.store.dryRun = true;
  tf.tidy(() => {
    model.loss([tf.zeros([2, 12, 12, 3]) as tf.Tensor4D], ctxFor(0, Int32Array.from([0, 1])));
  });
  model.store.dryRun = false;
  model.afterInit?.();
  return model;
}

function ctxFor(step: number, indices: Int32Array) {
  return { step, epoch: 0, totalSteps: 10, indices, labels: new Int32Array(indices.length) };
}

const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0);

/** The NCE loss of the official code in float64 from features, bank rows and Z. */
function nceRef(f: number[][], bank: number[][], idx: Int32Array, noise: Int32Array, tau: number, z: number) {
  const k = noise.length / f.length;
  const kPn = k / bank.length;
  let total = 0;
  f.forEach((fr, r) => {
    const p = (j: number) => Math.exp(dot(bank[j], fr) / tau) / z;
    total += Math.log(p(idx[r]) / (p(idx[r]) + kPn + NCE_EPS));
    for (let j = 0; j < k; j++) total += Math.log(kPn / (p(noise[r * k + j]) + kPn + NCE_EPS));
  });
  return -total / f.length;
}

function softmaxRef(f: number[][], bank: number[][], idx: Int32Array, tau: number) {
  let total = 0;
  f.forEach((fr, r) => {
    const logits = bank.map((v) => dot(v, fr) / tau);
    const m = Math.max(...logits);
    total += m + Math.log(logits.reduce((s, x) => s + Math.exp(x - m), 0)) - logits[idx[r]];
  });
  return total / f.length;
}

describe('InstDisc', () => {
  before(() => useBackend('cpu'));

  it('is registered, with both presets valid', () => {
    assert.equal(METHODS.get('instdisc'), instdisc);
    for (const preset of ['paper', 'laptop'] as const) {
      const c = resolveConfig({ method: 'instdisc' }, preset);
      assert.equal(c.method, 'instdisc');
    }
    assert.equal(resolveConfig({ method: 'instdisc' }, 'paper').params.nceK, 4096);
  });

  it('NCE loss equals the official formula on its features and bank; Z is set once and kept', () => {
    const config = tinyConfig();
    const model = buildReady(config);
    assert.equal(model.z.get(), null, 'Z is not estimated by the dry run');
    const x = tf.randomUniform([B, 12, 12, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const idx = Int32Array.from([5, 17, 3, 39, 0, 22, 8, 11]);
    let z0 = 0;
    for (const step of [0, 1]) {
      const bank = model.bank.memory.arraySync() as number[][];
      const got = tf.tidy(() => model.loss([x], ctxFor(step, idx)).loss.dataSync()[0]);
      // The features the loss saw: the same forward again (BatchNorm in training mode is
      // deterministic for the same batch).
      const f = tf.tidy(() => model.embed(x).arraySync());
      const noise = sampleNoise(rngFor(config.seed, 'nce', step), B, 12, N);
      if (step === 0) {
        let s = 0;
        f.forEach((fr, r) => {
          s += Math.exp(dot(bank[idx[r]], fr) / 0.1);
          for (let j = 0; j < 12; j++) s += Math.exp(dot(bank[noise[r * 12 + j]], fr) / 0.1);
        });
        z0 = (N * s) / (B * 13);
      }
      assert.ok(Math.abs(model.z.get()! - Math.log(z0)) < 1e-4, 'Z from the first batch, then frozen');
      const want = nceRef(f, bank, idx, noise, 0.1, z0);
      assert.ok(Math.abs(got - want) < 1e-4, `step ${step}: ${got} vs ${want}`);
      model.afterStep!(ctxFor(step, idx));
    }
    assert.ok(model.store.state().has('bank.log_z') && model.store.state().has('bank.memory'));
    x.dispose();
    model.store.dispose();
  });

  it('full softmax (nceK 0) equals cross-entropy over the whole bank', () => {
    const model = buildReady(tinyConfig({ params: { bankLoss: 'softmax', nceK: 0 } }));
    const x = tf.randomUniform([B, 12, 12, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
    const idx = Int32Array.from([1, 2, 3, 4, 30, 31, 32, 33]);
    const bank = model.bank.memory.arraySync() as number[][];
    const got = tf.tidy(() => model.loss([x], ctxFor(0, idx)).loss.dataSync()[0]);
    const f = tf.tidy(() => model.embed(x).arraySync());
    const want = softmaxRef(f, bank, idx, 0.1);
    assert.ok(Math.abs(got - want) < 1e-4, `${got} vs ${want}`);
    x.dispose();
    model.store.dispose();
  });

  it('afterStep writes norm(0.5 v + 0.5 f) with the features of the loss into the batch rows only', () => {
    const model = buildReady(tinyConfig());
    const x = tf.randomUniform([B, 12, 12, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const idx = Int32Array.from([9, 8, 7, 6, 5, 4, 3, 2]);
    const before = model.bank.memory.arraySync() as number[][];
    const f = tf.tidy(() => model.embed(x).arraySync());
    tf.tidy(() => {
      model.loss([x], ctxFor(0, idx));
    });
    assert.deepEqual(model.bank.memory.arraySync(), before, 'the bank is written after the loss, not in it');
    model.afterStep!(ctxFor(0, idx));
    const after = model.bank.memory.arraySync() as number[][];
    for (let row = 0; row < N; row++) {
      const r = [...idx].indexOf(row);
      let want = before[row];
      if (r >= 0) {
        const mix = before[row].map((v, j) => 0.5 * v + 0.5 * f[r][j]);
        const n = Math.sqrt(dot(mix, mix));
        want = mix.map((v) => v / n);
      }
      after[row].forEach((v, j) => {
        assert.ok(Math.abs(v - want[j]) < 1e-5, `row ${row}`);
      });
    }
    x.dispose();
    model.store.dispose();
  });

  it('the bank and Z get no gradient and are never given to the optimizer', () => {
    const model = buildReady(tinyConfig());
    const names = model.store.trainable().map((p) => p.name);
    assert.ok(
      names.every((n) => n.startsWith('online.')),
      names.join(),
    );
    assert.ok(!model.store.params.has('bank.memory') && model.store.buffers.has('bank.memory'));
    model.store.dispose();
  });

  it('NCE without noise samples is refused, naming params.nceK', () => {
    assert.throws(
      () =>
        instdisc.build(tinyConfig({ params: { bankLoss: 'nce', nceK: 0 } }), NORM, [12, 12, 3], dataInfo(N)),
      /params\.nceK.*softmax/,
    );
  });

  describe('training loop', function () {
    this.timeout(120000);
    let runsDir: string;
    before(() => {
      runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-instdisc-'));
    });
    after(() => {
      if (runsDir) fs.rmSync(runsDir, { recursive: true, force: true });
    });

    const backend = CPU_BACKEND;
    // NCE, so the frozen Z has to survive the checkpoint as well as the bank.
    const config = deepMerge<RunConfig>(BASE_DEFAULTS, instdisc.info.presets.laptop, {
      seed: 5,
      dataset: { kind: 'synthetic', syntheticTrain: 64, syntheticTest: 32 },
      encoder: { arch: 'convnet', width: 4 },
      head: { hidden: [], out: 8 },
      params: { bankLoss: 'nce', nceK: 16 },
      // 16-pixel views: the stock cpu backend's convolution gradients are slow at 32.
      augment: { size: 16 },
      training: { epochs: 2, batchSize: 16, logEvery: 1, checkpointEvery: 1, keepCheckpoints: 0 },
      eval: { knn: { every: 1, k: 10, atStart: false } },
    });
    const lossByStep = (dir: string) =>
      new Map(
        readMetricsFile(path.join(dir, 'metrics.jsonl'))
          .rows.filter((r) => typeof r.loss === 'number')
          .map((r) => [r.step, r.loss as number]),
      );

    it('a run stopped mid-epoch and resumed gives the uninterrupted losses step for step', async () => {
      const ref = createRunFolder(runsDir, config, { name: 'instdisc-ref' });
      const r1 = await train({
        runDir: ref.dir,
        backend,
        logger: new RunLogger(null),
        control: { stop: false },
      });
      assert.equal(r1.status, 'completed');
      const want = lossByStep(ref.dir);
      assert.equal(want.size, 8);

      // Stop after step 6: in the second epoch, with the bank written by the first and by two
      // steps of the second, and Z frozen since step 1.
      const run = createRunFolder(runsDir, config, { name: 'instdisc-resume' });
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
      const ck = loadCheckpoint(listCheckpoints(run.dir).at(-1)!.file);
      assert.equal(ck.meta.step, 6);
      assert.deepEqual(ck.tensors.get('bank.memory')!.shape, [64, 8]);
      assert.equal(ck.tensors.get('bank.log_z')!.data[1], 1, 'Z is checkpointed as estimated');

      const r3 = await train({
        runDir: run.dir,
        backend,
        logger: new RunLogger(null),
        control: { stop: false },
        resume: true,
      });
      assert.equal(r3.status, 'completed');
      const got = lossByStep(run.dir);
      assert.deepEqual([...got.keys()], [...want.keys()]);
      // Exactly equal: the same float32 ops on the same values, whether or not the run stopped.
      for (const [step, loss] of want) assert.equal(got.get(step), loss, `step ${step}`);
    });
  });
});
