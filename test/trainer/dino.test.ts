import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { listCheckpoints, loadCheckpoint } from '../../trainer/checkpoint/checkpoint';
import { BASE_DEFAULTS, deepMerge, type PartialConfig, validateConfig } from '../../trainer/config/config';
import { resolveConfig } from '../../trainer/config/resolve';
import type { RunConfig } from '../../trainer/config/types';
import { dinoLoss, meanEntropy, nextCenter, teacherTemperatureAt } from '../../trainer/losses/dino';
import { buildDino, DINO_VIEW_AUGMENT, dino } from '../../trainer/methods/dino';
import { momentumAt } from '../../trainer/methods/ema';
import { type DinoHeadSpec, dinoHead } from '../../trainer/models/dino-head';
import { ParamStore } from '../../trainer/models/params';
import { Rng } from '../../trainer/rng';
import { RunLogger } from '../../trainer/run/logger';
import { createRunFolder } from '../../trainer/run/runfolder';
import { train } from '../../trainer/train';
import { stepCtx } from '../helpers/method-ctx';
import { dinoLossReference, matMul64, rowsOf } from '../helpers/swav-dino-reference';
import { randn, useBackend } from '../helpers/tf';
import { CPU_BACKEND, lossByStep } from '../helpers/train-loop';

const NORM = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };

const close = (got: number, want: number, tol = 1e-4) =>
  assert.ok(Math.abs(got - want) <= tol * Math.max(1, Math.abs(want)), `got ${got}, want ${want}`);

/** A tiny DINO: 16-px global crops, two 8-px small ones, a 16-16-8 head with K = 32. */
function tinyConfig(over: PartialConfig = {}): RunConfig {
  return validateConfig(
    deepMerge(
      BASE_DEFAULTS,
      dino.info.presets.laptop,
      {
        seed: 5,
        encoder: { arch: 'convnet', width: 4 },
        head: { hidden: [16, 16], out: 8 },
        augment: { size: 16 },
        params: { prototypes: 32, localCrops: 2, localCropSize: 8, momentum: 0.9 },
        optimizer: { kind: 'sgd' },
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

/** Builds the model and creates its parameters as buildModel does (dry step, then afterInit). */
function built(cfg: RunConfig, views: tf.Tensor4D[]) {
  const m = buildDino(cfg, NORM);
  m.store.dryRun = true;
  tf.tidy(() => void m.loss(views, stepCtx(0, 10, views[0].shape[0])));
  m.store.dryRun = false;
  m.afterInit!();
  return m;
}

/** erf to 1.5e-7 (Abramowitz & Stegun 7.1.26), for the float64 GELU. */
function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-x * x);
  return x >= 0 ? y : -y;
}

const split = (rows: number[][], parts: number) => {
  const n = rows.length / parts;
  return Array.from({ length: parts }, (_, i) => rows.slice(i * n, (i + 1) * n));
};

describe('DINO', () => {
  before(() => useBackend('cpu'));

  describe('loss, centre and teacher temperature', () => {
    for (const [b, k, crops, tauT] of [
      [3, 5, 2, 0.04],
      [8, 20, 4, 0.07],
      [16, 12, 10, 0.04],
    ] as const) {
      it(`matches the float64 DINOLoss loop (B=${b}, K=${k}, ${crops} student crops, tau_t ${tauT})`, () => {
        const rng = new Rng(b * 100 + k);
        const student = Array.from({ length: crops }, () => randn(rng, b, k));
        const teacher = [0, 1].map(() => randn(rng, b, k, 2));
        const center = randn(rng, 1, k, 0.5)[0];
        const got = tf.tidy(
          () =>
            dinoLoss(
              student.map((s) => tf.tensor2d(s)),
              teacher.map((t) => tf.tensor2d(t)),
              tf.tensor1d(center),
              0.1,
              tauT,
            ).dataSync()[0],
        );
        close(got, dinoLossReference(student, teacher, center, 0.1, tauT));
      });
    }

    it('is ln K + 1/(2 d tau_s^2) for random heads (reference section 5: 11.29 at K 65536, d 256)', () => {
      // K 4096 keeps the test small; the variance term 1/(2 256 0.01) = 0.195 is the same.
      const [b, k, d, tauS, tauT] = [32, 4096, 256, 0.1, 0.04];
      const unit = (x: tf.Tensor2D, axis: number) =>
        tf.div(x, tf.norm(x, 'euclidean', axis, true)) as tf.Tensor2D;
      let seed = 12;
      const gauss = (rows: number, cols: number) =>
        tf.randomNormal([rows, cols], 0, 1, 'float32', seed++) as tf.Tensor2D;
      const loss = tf.tidy(() => {
        const w = unit(gauss(d, k), 0);
        const out = () => tf.matMul(unit(gauss(b, d), 1), w) as tf.Tensor2D;
        const teacher = [out(), out()];
        const student = [out(), out(), out(), out()];
        return dinoLoss(student, teacher, tf.zeros([k]), tauS, tauT).dataSync()[0];
      });
      const theory = Math.log(k) + 1 / (2 * d * tauS * tauS);
      console.log(`      random heads: loss ${loss.toFixed(4)}, theory ${theory.toFixed(4)}`);
      assert.ok(Math.abs(loss - theory) < 0.03, `${loss} vs ${theory}`);
    });

    it('gives the teacher outputs no gradient and the student outputs one', () => {
      const rng = new Rng(2);
      const s = [0, 1, 2].map(() => tf.tensor2d(randn(rng, 4, 6)));
      const t = [0, 1].map(() => tf.tensor2d(randn(rng, 4, 6)));
      const c = tf.zeros([6]);
      assert.throws(
        () => tf.grad((x: tf.Tensor) => dinoLoss(s, [x as tf.Tensor2D, t[1]], c, 0.1, 0.04))(t[0]),
        /Cannot compute gradient/,
      );
      const g = tf.grad((x: tf.Tensor) => dinoLoss([s[0], s[1], x as tf.Tensor2D], t, c, 0.1, 0.04))(s[2]);
      assert.ok(tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]) > 1e-4);
      tf.dispose([...s, ...t, c, g]);
    });

    it('centre: C <- m C + (1 - m) mean of all teacher rows (float64 reference)', () => {
      const rng = new Rng(3);
      const t = [0, 1].map(() => randn(rng, 5, 7));
      const c0 = randn(rng, 1, 7)[0];
      const got = tf.tidy(() =>
        Array.from(
          nextCenter(
            tf.tensor1d(c0),
            t.map((x) => tf.tensor2d(x)),
            0.9,
          ).dataSync(),
        ),
      );
      const rows = [...t[0], ...t[1]];
      for (let k = 0; k < 7; k++) {
        const mean = rows.reduce((a, r) => a + r[k], 0) / rows.length;
        close(got[k], 0.9 * c0[k] + 0.1 * mean, 1e-5);
      }
    });

    it('teacher temperature: np.linspace(warmup, final, warmupEpochs) per epoch, then final', () => {
      // The README recipe: 0.04 -> 0.07 over 30 epochs.
      close(teacherTemperatureAt(0, 0.04, 0.07, 30), 0.04, 1e-12);
      close(teacherTemperatureAt(10, 0.04, 0.07, 30), 0.04 + (0.03 * 10) / 29, 1e-12);
      close(teacherTemperatureAt(29, 0.04, 0.07, 30), 0.07, 1e-12);
      close(teacherTemperatureAt(30, 0.04, 0.07, 30), 0.07, 1e-12);
      close(teacherTemperatureAt(99, 0.04, 0.07, 30), 0.07, 1e-12);
      close(teacherTemperatureAt(0, 0.04, 0.07, 1), 0.04, 1e-12);
      close(teacherTemperatureAt(1, 0.04, 0.07, 1), 0.07, 1e-12);
      close(teacherTemperatureAt(0, 0.04, 0.07, 0), 0.07, 1e-12);
    });

    it('entropy monitor: ln K for uniform outputs, 0 for one-hot', () => {
      const u = tf.zeros([3, 16]) as tf.Tensor2D;
      close(meanEntropy(u).dataSync()[0], Math.log(16), 1e-6);
      const oneHot = tf.mul(tf.oneHot([1, 5, 7], 16), 1000) as tf.Tensor2D;
      assert.ok(meanEntropy(oneHot).dataSync()[0] < 1e-6);
      tf.dispose([u, oneHot]);
    });
  });

  describe('head', () => {
    for (const normLastLayer of [true, false]) {
      it(`matches a float64 forward: MLP with GELU, L2-normalised bottleneck, weight-normalised last layer (normLastLayer ${normLastLayer})`, () => {
        const spec: DinoHeadSpec = { hidden: [6, 5], bottleneck: 4, out: 9, normLastLayer };
        const store = new ParamStore(1);
        const ctx = { ps: store, training: true };
        const x = randn(new Rng(4), 3, 7);
        tf.tidy(() => void dinoHead(ctx, 'h', tf.tensor2d(x), spec));
        assert.equal(store.params.has('h.last_layer.weight_g'), !normLastLayer);
        if (!normLastLayer) {
          // A trained gain: one scale per output unit.
          store.params.get('h.last_layer.weight_g')!.variable.assign(tf.linspace(0.5, 2.5, 9));
        }
        const got = tf.tidy(() => dinoHead(ctx, 'h', tf.tensor2d(x), spec).arraySync());
        const param = (n: string) => store.params.get(n)!.variable;
        const lin = (h: number[][], name: string) => {
          const w = param(`${name}.weight`);
          const b = Array.from(param(`${name}.bias`).dataSync());
          return matMul64(h, rowsOf(w.dataSync(), w.shape[0], w.shape[1] as number)).map((r) =>
            r.map((v, j) => v + b[j]),
          );
        };
        const gelu = (v: number) => 0.5 * v * (1 + erf(v / Math.SQRT2));
        let h = lin(x, 'h.mlp.0').map((r) => r.map(gelu));
        h = lin(h, 'h.mlp.2').map((r) => r.map(gelu));
        h = lin(h, 'h.mlp.4').map((r) => {
          const n = Math.sqrt(r.reduce((a, v) => a + v * v, 0));
          return r.map((v) => v / n);
        });
        const v = rowsOf(param('h.last_layer.weight_v').dataSync(), 4, 9);
        const g = normLastLayer ? Array(9).fill(1) : Array.from(param('h.last_layer.weight_g').dataSync());
        const colNorm = v[0].map((_, j) => Math.sqrt(v.reduce((a, r) => a + r[j] * r[j], 0)));
        const w = v.map((r) => r.map((val, j) => (g[j] * val) / colNorm[j]));
        const want = matMul64(h, w);
        for (let i = 0; i < 3; i++) for (let j = 0; j < 9; j++) close(got[i][j], want[i][j], 1e-4);
        store.dispose();
      });
    }
  });

  describe('model', () => {
    it('student sees all crops, teacher the 2 global ones; crops get their own augmentation', () => {
      const cfg = tinyConfig({ params: { localCropScale: [0.05, 0.4] } });
      const views = randomViews(new Rng(6), 4, [16, 16, 8, 8]);
      const m = built(cfg, views);
      assert.equal(m.views, 4);
      assert.deepEqual(
        tf.tidy(() => m.student(views, 0).shape),
        [16, 32],
      );
      assert.deepEqual(
        tf.tidy(() => m.teacher(views).shape),
        [8, 32],
      );
      const augs = [0, 1, 2, 3].map((v) => m.viewAugment!(cfg.augment, v));
      assert.deepEqual(
        augs.map((a) => [a.size, a.cropScale[0], a.blur.p, a.solarize.p]),
        [
          [16, cfg.augment.cropScale[0], DINO_VIEW_AUGMENT[0].blur, 0],
          [16, cfg.augment.cropScale[0], 0.1, 0.2],
          [8, 0.05, 0.5, 0],
          [8, 0.05, 0.5, 0],
        ],
      );
      assert.equal(m.attentionMaps, undefined, 'attention maps only for ViT backbones');
      tf.dispose(views);
      m.store.dispose();
    });

    it("uses the old centre in this step's loss and updates it after, with the batch mean of teacher outputs", () => {
      const cfg = tinyConfig({
        params: { centerMomentum: 0.9, teacherTemperature: 0.06, warmupTeacherEpochs: 0 },
      });
      const rng = new Rng(7);
      const views = randomViews(rng, 8, [16, 16, 8, 8]);
      const m = built(cfg, views);
      const c0 = randn(rng, 1, 32, 0.1)[0];
      m.center.assign(tf.tensor1d(c0));
      const s = tf.tidy(() => m.student(views, 1).arraySync());
      const loss = tf.tidy(() => m.loss(views, stepCtx(3, 10, 8, 1)).loss.dataSync()[0]);
      const t = m.pendingTeacher()!.arraySync();
      close(loss, dinoLossReference(split(s, 4), split(t, 2), c0, 0.1, 0.06));
      // A second evaluation before afterStep sees the same centre.
      const again = tf.tidy(() => m.loss(views, stepCtx(3, 10, 8, 1)).loss.dataSync()[0]);
      close(again, loss, 1e-6);
      for (const [k, v] of Array.from(m.center.dataSync()).entries()) assert.equal(v, Math.fround(c0[k]));
      m.afterStep!(stepCtx(3, 10, 8, 1));
      const c1 = Array.from(m.center.dataSync());
      for (let k = 0; k < 32; k++) {
        const mean = t.reduce((a, r) => a + r[k], 0) / t.length;
        close(c1[k], 0.9 * c0[k] + 0.1 * mean, 1e-5);
      }
      assert.equal(m.pendingTeacher(), null);
      tf.dispose(views);
      m.store.dispose();
    });

    it('teacher: a copy of the student at start, then EMA with the cosine momentum after each step', () => {
      const cfg = tinyConfig({ params: { momentum: 0.9, momentumSchedule: 'cosine' } });
      const rng = new Rng(8);
      const views = randomViews(rng, 4, [16, 16, 8, 8]);
      const m = built(cfg, views);
      const pairs = m.store
        .allParams()
        .filter((p) => p.name.startsWith('student.'))
        .map((p) => [p.variable, m.store.params.get(`teacher.${p.name.slice(8)}`)!.variable] as const);
      assert.ok(pairs.length > 10);
      for (const [s, t] of pairs) assert.deepEqual(Array.from(t.dataSync()), Array.from(s.dataSync()));
      // Stand-in for an optimizer step: move the student.
      const before = pairs.map(([, t]) => Array.from(t.dataSync()));
      for (const [s] of pairs)
        tf.tidy(() => s.assign(tf.add(s, tf.randomNormal(s.shape, 0, 0.1, 'float32', 1))));
      const after = pairs.map(([s]) => Array.from(s.dataSync()));
      const lam = momentumAt(0.9, 'cosine', 4, 10);
      assert.ok(lam > 0.9 && lam < 1);
      m.afterStep!(stepCtx(4, 10, 4, 0));
      pairs.forEach(([, t], i) => {
        const got = t.dataSync();
        for (let j = 0; j < got.length; j++)
          close(got[j], lam * before[i][j] + (1 - lam) * after[i][j], 1e-5);
      });
      close(momentumAt(0.996, 'cosine', 0, 100), 0.996, 1e-12);
      close(momentumAt(0.996, 'cosine', 100, 100), 1, 1e-12);
      tf.dispose(views);
      m.store.dispose();
    });

    it('stop-gradient: no gradient reaches any teacher parameter, even one marked trainable', () => {
      const cfg = tinyConfig();
      const views = randomViews(new Rng(9), 4, [16, 16, 8, 8]);
      const m = built(cfg, views);
      const teacherVars = m.store
        .allParams()
        .filter((p) => p.name.startsWith('teacher.'))
        .map((p) => p.variable);
      // Frozen parameters are not even offered to the optimizer; make them eligible to prove the
      // graph itself has no path to them (torch.no_grad), not only that nobody asks.
      for (const v of teacherVars) v.trainable = true;
      try {
        const vars = m.store.allParams().map((p) => p.variable);
        const { value, grads } = tf.variableGrads(() => m.loss(views, stepCtx(0, 10, 4, 1)).loss, vars);
        for (const v of teacherVars) assert.equal(grads[v.name], undefined, v.name);
        const student = m.store.params.get('student.head.mlp.0.weight')!.variable;
        assert.ok(tf.tidy(() => tf.max(tf.abs(grads[student.name])).dataSync()[0]) > 0);
        tf.dispose([value, ...Object.values(grads)]);
      } finally {
        for (const v of teacherVars) v.trainable = false;
      }
      tf.dispose(views);
      m.store.dispose();
    });

    it("freezes the head's last layer during the first freezeLastLayerEpochs, then trains it", () => {
      const cfg = tinyConfig({ params: { freezeLastLayerEpochs: 1 } });
      const views = randomViews(new Rng(10), 4, [16, 16, 8, 8]);
      const m = built(cfg, views);
      const vars = m.store.trainable().map((p) => p.variable);
      const last = m.store.params.get('student.head.last_layer.weight_v')!.variable;
      const mlp = m.store.params.get('student.head.mlp.4.weight')!.variable;
      const grads = (epoch: number) => {
        const { value, grads } = tf.variableGrads(() => m.loss(views, stepCtx(0, 10, 4, epoch)).loss, vars);
        const out = [last, mlp].map((v) =>
          grads[v.name] ? tf.tidy(() => tf.max(tf.abs(grads[v.name])).dataSync()[0]) : null,
        );
        tf.dispose([value, ...Object.values(grads)]);
        return out;
      };
      const [l0, m0] = grads(0);
      assert.equal(l0, null, 'epoch 0: the last layer gets no gradient (not even zero)');
      assert.ok(m0! > 0);
      const [l1] = grads(1);
      assert.ok(l1 !== null && l1 > 0);
      tf.dispose(views);
      m.store.dispose();
    });

    it('shows the teacher ViT last block [CLS] attention over the patches', () => {
      const cfg = tinyConfig({
        encoder: { arch: 'vit', width: 16, depth: 1, heads: 2, patchSize: 4 },
        params: { localCropSize: 8 },
      });
      const rng = new Rng(11);
      const views = randomViews(rng, 2, [16, 16, 8, 8]);
      const m = built(cfg, views);
      assert.ok(m.attentionMaps);
      const a = tf.tidy(() => m.attentionMaps!(views[0]).arraySync());
      assert.deepEqual([a.length, a[0].length, a[0][0].length, a[0][0][0].length], [2, 2, 4, 4]);
      for (const img of a)
        for (const head of img) {
          const flat = head.flat();
          assert.ok(flat.every((v) => v >= 0));
          // The [CLS] row sums to 1 over all tokens; the patches get all but its self-attention.
          const s = flat.reduce((x, y) => x + y, 0);
          assert.ok(s > 0 && s < 1 + 1e-6, `${s}`);
        }
      // The small crops go through the same ViT (position embeddings resized to their 2x2 grid).
      const r = tf.tidy(() => m.loss(views, stepCtx(1, 10, 2, 1)).loss.dataSync()[0]);
      assert.ok(Number.isFinite(r));
      tf.dispose(views);
      m.store.dispose();
    });
  });

  describe('presets', () => {
    for (const preset of ['paper', 'laptop'] as const) {
      it(`${preset} preset validates and follows the paper's structure`, () => {
        const c = resolveConfig({ method: 'dino' }, preset);
        const p = c.params;
        assert.equal(p.temperature, 0.1);
        assert.equal(p.centerMomentum, 0.9);
        assert.equal(p.momentumSchedule, 'cosine');
        assert.equal(p.normLastLayer, true);
        assert.equal(p.freezeLastLayerEpochs, 1);
        assert.ok(p.localCropSize! < (c.augment.size || 32));
        if (preset === 'paper') {
          assert.equal(p.prototypes, 65536);
          assert.equal(p.localCrops, 8);
          assert.deepEqual(c.head.hidden, [2048, 2048]);
          assert.equal(c.head.out, 256);
          assert.equal(c.encoder.arch, 'vit');
        } else {
          assert.ok(dino.info.laptopScaling.length > 200);
        }
      });
    }
  });

  describe('training loop', function () {
    this.timeout(120000);
    let runsDir: string;
    before(() => {
      runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-dino-'));
    });
    after(() => fs.rmSync(runsDir, { recursive: true, force: true }));
    const backend = CPU_BACKEND;

    it('trains through train(), checkpoints teacher and centre, and a resume reproduces the uninterrupted losses', async () => {
      const config = tinyConfig({
        dataset: { kind: 'synthetic', syntheticTrain: 32, syntheticTest: 16 },
        params: { warmupTeacherTemperature: 0.04, teacherTemperature: 0.07, warmupTeacherEpochs: 2 },
        training: { epochs: 2, batchSize: 8, logEvery: 1, checkpointEvery: 1, keepCheckpoints: 0 },
        eval: { knn: { every: 1, k: 10, atStart: false } },
      });
      const ref = createRunFolder(runsDir, config, { name: 'dino-ref' });
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
        [...refRows.values()].map((r) => r.teacher_temp),
        [0.04, 0.04, 0.04, 0.04, 0.07, 0.07, 0.07, 0.07].map((v) => Math.fround(v)),
      );
      for (const r of refRows.values()) assert.ok(r.teacher_entropy > 0 && r.kl > -1e-4);
      const run = createRunFolder(runsDir, config, { name: 'dino-resume' });
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
      assert.deepEqual(ck.tensors.get('dino.center')!.shape, [32]);
      assert.ok(ck.tensors.has('teacher.head.last_layer.weight_v'));
      assert.ok(ck.tensors.get('dino.center')!.data.some((v) => v !== 0));
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
