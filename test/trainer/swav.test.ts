import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { listCheckpoints, loadCheckpoint } from '../../trainer/checkpoint/checkpoint';
import { BASE_DEFAULTS, deepMerge, type PartialConfig, validateConfig } from '../../trainer/config/config';
import { resolveConfig } from '../../trainer/config/resolve';
import type { RunConfig } from '../../trainer/config/types';
import { swappedPredictionLoss } from '../../trainer/losses/swav';
import { multiCropFeatures } from '../../trainer/methods/multicrop';
import { sinkhorn } from '../../trainer/methods/sinkhorn';
import { buildSwav, PROTOTYPES, SWAV_ASSIGN_CROPS, swav } from '../../trainer/methods/swav';
import type { Ctx } from '../../trainer/models/layers';
import { Rng } from '../../trainer/rng';
import { RunLogger } from '../../trainer/run/logger';
import { createRunFolder } from '../../trainer/run/runfolder';
import { train } from '../../trainer/train';
import { stepCtx } from '../helpers/method-ctx';
import {
  matMul64,
  rowsOf,
  sinkhornReference,
  swavLossReference,
  unitScores,
} from '../helpers/swav-dino-reference';
import { randn, useBackend } from '../helpers/tf';
import { CPU_BACKEND, lossByStep } from '../helpers/train-loop';

const NORM = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };

const close = (got: number, want: number, tol = 1e-4) =>
  assert.ok(Math.abs(got - want) <= tol * Math.max(1, Math.abs(want)), `got ${got}, want ${want}`);

/** A tiny SwAV: 16-px global crops, 8-px small ones, 12 prototypes, a 16-row queue from epoch 1. */
function tinyConfig(over: PartialConfig = {}): RunConfig {
  return validateConfig(
    deepMerge(
      BASE_DEFAULTS,
      swav.info.presets.laptop,
      {
        seed: 3,
        encoder: { arch: 'convnet', width: 4 },
        head: { hidden: [16], out: 8 },
        augment: { size: 16 },
        params: {
          prototypes: 12,
          localCrops: 2,
          localCropSize: 8,
          queueSize: 16,
          queueStartEpoch: 1,
          freezePrototypesSteps: 2,
        },
        training: { batchSize: 8 },
      },
      over,
    ),
  );
}

function randomViews(rng: Rng, b: number, sides: number[]): tf.Tensor4D[] {
  return sides.map((s) =>
    tf.tensor4d(
      Float32Array.from({ length: b * s * s * 3 }, () => rng.uniform(0, 1)),
      [b, s, s, 3],
    ),
  );
}

describe('SwAV', () => {
  before(() => useBackend('cpu'));

  describe('swapped prediction loss', () => {
    for (const [b, k, crops, tau] of [
      [4, 5, 2, 0.1],
      [8, 30, 4, 0.1],
      [16, 12, 6, 0.5],
    ] as const) {
      it(`matches the float64 loop of main_swav.py with float64 Sinkhorn codes (B=${b}, K=${k}, ${crops} crops, tau ${tau})`, () => {
        const rng = new Rng(b * k + crops);
        const scores = Array.from({ length: crops }, () => unitScores(rng, b, k, 6));
        const codes = SWAV_ASSIGN_CROPS.map((a) => sinkhornReference(scores[a], 0.05, 3));
        const got = tf.tidy(() =>
          swappedPredictionLoss(
            scores.map((s) => tf.tensor2d(s)),
            codes.map((q) => tf.tensor2d(q)),
            SWAV_ASSIGN_CROPS,
            tau,
          ).arraySync(),
        );
        close(got, swavLossReference(scores, codes, SWAV_ASSIGN_CROPS, tau));
        // The whole code path in float32 (tfjs Sinkhorn) agrees with the float64 one as well.
        const tfCodes = tf.tidy(() =>
          swappedPredictionLoss(
            scores.map((s) => tf.tensor2d(s)),
            SWAV_ASSIGN_CROPS.map((a) => sinkhorn(tf.tensor2d(scores[a]), 0.05, 3)),
            SWAV_ASSIGN_CROPS,
            tau,
          ).arraySync(),
        );
        close(tfCodes, swavLossReference(scores, codes, SWAV_ASSIGN_CROPS, tau));
      });
    }

    it('is ln K + 1/(2 d tau^2) on random unit embeddings (reference section 5: 8.397 for K 3000, d 128, tau 0.1)', () => {
      const [b, k, d, tau] = [128, 3000, 128, 0.1];
      const rng = new Rng(11);
      const unit = (x: tf.Tensor2D) => tf.div(x, tf.norm(x, 'euclidean', 1, true)) as tf.Tensor2D;
      const loss = tf.tidy(() => {
        const c = unit(tf.tensor2d(randn(rng, k, d)));
        const scores = [0, 1].map(
          () => tf.matMul(unit(tf.tensor2d(randn(rng, b, d))), c, false, true) as tf.Tensor2D,
        );
        const codes = SWAV_ASSIGN_CROPS.map((a) => sinkhorn(scores[a], 0.05, 3));
        return swappedPredictionLoss(scores, codes, SWAV_ASSIGN_CROPS, tau).dataSync()[0];
      });
      const theory = Math.log(k) + 1 / (2 * d * tau * tau);
      console.log(`      random embeddings: loss ${loss.toFixed(4)}, theory ${theory.toFixed(4)}`);
      assert.ok(Math.abs(loss - theory) < 0.03, `${loss} vs ${theory}`);
    });

    it('gives the codes no gradient, and every crop other than a code source a gradient', () => {
      const rng = new Rng(5);
      const scores = [0, 1, 2].map(() => tf.tensor2d(unitScores(rng, 4, 6, 5)));
      const codes = SWAV_ASSIGN_CROPS.map((a) => sinkhorn(scores[a], 0.05, 3));
      assert.throws(
        () =>
          tf.grad((q: tf.Tensor) =>
            swappedPredictionLoss(scores, [q as tf.Tensor2D, codes[1]], SWAV_ASSIGN_CROPS, 0.1),
          )(codes[0]),
        /Cannot compute gradient/,
      );
      const g = tf.grad((s: tf.Tensor) =>
        swappedPredictionLoss([scores[0], scores[1], s as tf.Tensor2D], codes, SWAV_ASSIGN_CROPS, 0.1),
      )(scores[2]);
      assert.ok(tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]) > 1e-4);
      tf.dispose([...scores, ...codes, g]);
    });
  });

  describe('model', () => {
    it('asks for 2 global crops and localCrops small ones with their own side and area range', () => {
      const cfg = tinyConfig({ augment: { cropScale: [0.14, 1] }, params: { localCropScale: [0.05, 0.14] } });
      const m = buildSwav(cfg, NORM);
      assert.equal(m.views, 4);
      const augs = Array.from({ length: 4 }, (_, v) => m.viewAugment!(cfg.augment, v));
      assert.deepEqual(
        augs.map((a) => [a.size, ...a.cropScale]),
        [
          [16, 0.14, 1],
          [16, 0.14, 1],
          [8, 0.05, 0.14],
          [8, 0.05, 0.14],
        ],
      );
      // Everything else (colour, blur) is the base pipeline, as SwAV's multi-crop dataset.
      assert.deepEqual(
        { ...augs[3], size: 0, cropScale: [0, 0] },
        { ...cfg.augment, size: 0, cropScale: [0, 0] },
      );
      m.store.dispose();
    });

    it('multi-crop forward: crops of one side go through the backbone as one batch, outputs in view order', () => {
      const rng = new Rng(6);
      const views = randomViews(rng, 3, [8, 8, 4, 4, 4]);
      const calls: number[][] = [];
      // A backbone whose output depends on the whole batch (like BatchNorm): x - mean over the batch.
      const backbone = (x: tf.Tensor4D) => {
        calls.push(x.shape.slice(0, 2));
        const f = tf.mean(x, [1, 2]) as tf.Tensor2D;
        return tf.sub(f, tf.mean(f, 0, true)) as tf.Tensor2D;
      };
      const got = multiCropFeatures(views, backbone).arraySync();
      assert.deepEqual(calls, [
        [6, 8],
        [9, 4],
      ]);
      const want = [tf.concat(views.slice(0, 2)), tf.concat(views.slice(2))].flatMap((g) =>
        (backbone(g as tf.Tensor4D).arraySync() as number[][]).map((r) => r),
      );
      assert.deepEqual(got, want);
      tf.dispose(views);
    });

    it('keeps every prototype a unit vector: after afterInit and after every step', () => {
      const cfg = tinyConfig();
      const m = buildSwav(cfg, NORM);
      const rng = new Rng(7);
      const views = randomViews(rng, 8, [16, 16, 8, 8]);
      const ctx0 = stepCtx(0, 10, 8);
      m.store.dryRun = true;
      tf.tidy(() => void m.loss(views, ctx0));
      m.store.dryRun = false;
      const c = m.store.params.get(PROTOTYPES)!.variable;
      const norms = () => tf.tidy(() => Array.from(tf.norm(c, 'euclidean', 0).dataSync()));
      assert.deepEqual(c.shape, [8, 12]);
      assert.ok(
        norms().some((n) => Math.abs(n - 1) > 0.05),
        'nn.Linear init is not unit-norm',
      );
      m.afterInit!();
      for (const n of norms()) close(n, 1, 1e-6);
      // A step that moves the prototypes off the sphere, then afterStep.
      tf.tidy(() => c.assign(tf.mul(c, tf.linspace(0.5, 2, 12))));
      m.afterStep!(stepCtx(3, 10, 8));
      for (const n of norms()) close(n, 1, 1e-6);
      tf.dispose(views);
      m.store.dispose();
    });

    it('gives the prototypes no gradient during the first freezePrototypesSteps iterations, then a gradient', () => {
      const cfg = tinyConfig({ params: { freezePrototypesSteps: 2 } });
      const m = buildSwav(cfg, NORM);
      const views = randomViews(new Rng(8), 8, [16, 16, 8, 8]);
      m.store.dryRun = true;
      tf.tidy(() => void m.loss(views, stepCtx(0, 10, 8)));
      m.store.dryRun = false;
      m.afterInit!();
      const vars = m.store.trainable().map((p) => p.variable);
      const proto = m.store.params.get(PROTOTYPES)!.variable;
      const gradAt = (step: number) => {
        const { value, grads } = tf.variableGrads(() => m.loss(views, stepCtx(step, 10, 8)).loss, vars);
        const maxAbs = (t: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(t)).dataSync()[0]);
        const g = grads[proto.name];
        const out = {
          proto: g ? maxAbs(g) : null,
          head: maxAbs(grads[m.store.params.get('online.head.fc2.weight')!.variable.name]),
        };
        tf.dispose([value, ...Object.values(grads)]);
        return out;
      };
      for (const step of [0, 1]) {
        const g = gradAt(step);
        assert.equal(g.proto, null, `step ${step}: prototypes must get no gradient (not even zero)`);
        assert.ok(g.head > 0, 'the rest of the network still learns');
      }
      const g2 = gradAt(2);
      assert.ok(g2.proto !== null && g2.proto > 0, `step 2: ${g2.proto}`);
      tf.dispose(views);
      m.store.dispose();
    });

    it('queue: filled from queueStartEpoch newest first, used once full with the current prototypes (float64 reference)', () => {
      const cfg = tinyConfig({ params: { queueSize: 16, queueStartEpoch: 1 } });
      const m = buildSwav(cfg, NORM);
      const q = m.queue!;
      const rng = new Rng(9);
      const b = 8;
      const newViews = () => randomViews(rng, b, [16, 16, 8, 8]);
      const ctx: Ctx = { ps: m.store, training: true };
      let views = newViews();
      m.store.dryRun = true;
      tf.tidy(() => void m.loss(views, stepCtx(0, 10, b)));
      m.store.dryRun = false;
      m.afterInit!();
      const runStep = (step: number, epoch: number) => {
        const out = tf.tidy(() => {
          const r = m.loss(views, stepCtx(step, 10, b, epoch));
          return { loss: r.loss.arraySync(), inUse: r.extra.queue_in_use.arraySync() };
        });
        return out;
      };
      // Epoch 0: before queueStartEpoch nothing is written.
      runStep(5, 0);
      m.afterStep!(stepCtx(5, 10, b, 0));
      assert.equal(q.filled(), 0);
      // Epoch 1: two writes fill the 16 rows; the newest batch sits on top.
      const written: number[][][][] = [];
      for (const step of [6, 7]) {
        tf.dispose(views);
        views = newViews();
        const z = tf.tidy(() => m.embed(ctx, views).arraySync());
        const r = runStep(step, 1);
        assert.equal(r.inUse, 0, 'not used before it is full');
        m.afterStep!(stepCtx(step, 10, b, 1));
        written.push(SWAV_ASSIGN_CROPS.map((a) => z.slice(a * b, (a + 1) * b)));
      }
      assert.equal(q.filled(), 16);
      const rows = SWAV_ASSIGN_CROPS.map((_, i) => tf.tidy(() => q.crop(i).arraySync()));
      for (const i of [0, 1]) {
        const want = [...written[1][i], ...written[0][i]];
        for (let r = 0; r < 16; r++) for (let j = 0; j < 8; j++) close(rows[i][r][j], want[r][j], 1e-6);
      }
      // Step with the full queue: the model's loss equals the float64 pipeline on its own values.
      tf.dispose(views);
      views = newViews();
      const z = tf.tidy(() => m.embed(ctx, views).arraySync());
      const c = rowsOf(m.store.params.get(PROTOTYPES)!.variable.dataSync(), 8, 12);
      const r = runStep(8, 1);
      assert.equal(r.inUse, 1);
      const scores = [0, 1, 2, 3].map((v) => matMul64(z.slice(v * b, (v + 1) * b), c));
      const codes = SWAV_ASSIGN_CROPS.map((a, i) =>
        sinkhornReference([...matMul64(rows[i], c), ...scores[a]], cfg.params.sinkhornEpsilon!, 3).slice(16),
      );
      close(r.loss, swavLossReference(scores, codes, SWAV_ASSIGN_CROPS, cfg.params.temperature));
      // Without the queue the codes (and so the loss) would differ.
      const noQueue = swavLossReference(
        scores,
        SWAV_ASSIGN_CROPS.map((a) => sinkhornReference(scores[a], 0.05, 3)),
        SWAV_ASSIGN_CROPS,
        0.1,
      );
      assert.ok(Math.abs(noQueue - r.loss) > 1e-3, `${noQueue} vs ${r.loss}`);
      m.afterStep!(stepCtx(8, 10, b, 1));
      tf.dispose(views);
      m.store.dispose();
    });

    it('rejects a queue that is not a multiple of the batch, naming the fields', () => {
      assert.throws(
        () => buildSwav(tinyConfig({ params: { queueSize: 20 } }), NORM),
        /params\.queueSize.*training\.batchSize/,
      );
    });
  });

  describe('presets', () => {
    for (const preset of ['paper', 'laptop'] as const) {
      it(`${preset} preset validates and follows the paper's structure`, () => {
        const c = resolveConfig({ method: 'swav' }, preset);
        const p = c.params;
        assert.equal(p.temperature, 0.1);
        assert.equal(p.sinkhornEpsilon, 0.05);
        assert.equal(p.sinkhornIterations, 3);
        assert.ok(p.localCropSize! < (c.augment.size || 32));
        assert.ok(p.localCropScale![1] <= c.augment.cropScale[0] + 0.2);
        assert.equal(p.queueSize! % c.training.batchSize, 0);
        assert.equal(c.head.outputBn, false);
        if (preset === 'paper') {
          assert.equal(p.prototypes, 3000);
          assert.equal(p.localCrops, 6);
          assert.equal(p.queueSize, 3840);
          assert.equal(p.queueStartEpoch, 15);
          assert.deepEqual(c.head, { hidden: [2048], out: 128, outputBn: false });
        } else {
          assert.ok(swav.info.laptopScaling.length > 200);
        }
      });
    }
  });

  describe('training loop', function () {
    this.timeout(120000);
    let runsDir: string;
    before(() => {
      runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-swav-'));
    });
    after(() => fs.rmSync(runsDir, { recursive: true, force: true }));
    const backend = CPU_BACKEND;

    it('trains through train(), checkpoints the queue, and a resume reproduces the uninterrupted losses', async () => {
      const config = tinyConfig({
        dataset: { kind: 'synthetic', syntheticTrain: 32, syntheticTest: 16 },
        params: { queueSize: 16, queueStartEpoch: 1, freezePrototypesSteps: 3 },
        training: { epochs: 2, batchSize: 8, logEvery: 1, checkpointEvery: 1, keepCheckpoints: 0 },
        eval: { knn: { every: 1, k: 10, atStart: false } },
      });
      const ref = createRunFolder(runsDir, config, { name: 'swav-ref' });
      const r1 = await train({
        runDir: ref.dir,
        backend,
        logger: new RunLogger(null),
        control: { stop: false },
      });
      assert.equal(r1.status, 'completed');
      const refRows = lossByStep(ref.dir);
      assert.equal(refRows.size, 8);
      assert.deepEqual(
        [...refRows.values()].map((r) => [r.prototypes_frozen, r.queue_in_use]),
        [
          [1, 0],
          [1, 0],
          [1, 0],
          [0, 0],
          [0, 0],
          [0, 0],
          [0, 1],
          [0, 1],
        ],
      );
      const run = createRunFolder(runsDir, config, { name: 'swav-resume' });
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
      assert.equal(r2.step, 6);
      const ck = loadCheckpoint(listCheckpoints(run.dir).at(-1)!.file);
      assert.deepEqual(ck.tensors.get('swav.queue')!.shape, [2, 16, 8]);
      assert.equal(ck.tensors.get('swav.queue_count')!.data[0], 16);
      const r3 = await train({
        runDir: run.dir,
        backend,
        logger: new RunLogger(null),
        control: { stop: false },
        resume: true,
      });
      assert.equal(r3.status, 'completed');
      const got = lossByStep(run.dir);
      for (const [step, row] of refRows) close(got.get(step)!.loss, row.loss, 1e-6);
    });
  });
});
