/**
 * Checkpoint tools in-process on small real checkpoints: restore, evaluate, embed, the evals.jsonl
 * file, and UMAP's determinism.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { type CheckpointMeta, saveCheckpoint } from '../../trainer/checkpoint/checkpoint';
import type { PartialConfig } from '../../trainer/config/config';
import { resolveConfig } from '../../trainer/config/resolve';
import type { RunConfig } from '../../trainer/config/types';
import { datasetStats, loadDataset } from '../../trainer/data/load';
import type { Dataset } from '../../trainer/data/types';
import { topKCorrect } from '../../trainer/eval/accuracy';
import type { EvalRecord } from '../../trainer/eval/contract';
import { embedCheckpoint, umap2 } from '../../trainer/eval/embed';
import {
  appendEvalRecord,
  checkpointLabel,
  parseEvals,
  readEvals,
  runDirOfCheckpoint,
} from '../../trainer/eval/evals-file';
import { EvalInputError, evaluateCheckpoint } from '../../trainer/eval/evaluate';
import { knnTop1 } from '../../trainer/eval/knn';
import { linearProbe } from '../../trainer/eval/linear-probe';
import { pca2 } from '../../trainer/eval/pca';
import type { MethodModel } from '../../trainer/methods/types';
import { Rng } from '../../trainer/rng';
import { buildModel, imagesToTensor } from '../../trainer/train';
import { useBackend } from '../helpers/tf';

interface Fixture {
  dir: string;
  runDir: string;
  file: string;
  config: RunConfig;
  data: Dataset;
  model: MethodModel;
}

/**
 * A run folder with one checkpoint whose weights are moved away from their initial values, so a
 * tool that forgot to restore them would compute different features.
 */
async function makeCheckpoint(user: PartialConfig): Promise<Fixture> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-embed-'));
  const runDir = path.join(dir, 'run');
  fs.mkdirSync(path.join(runDir, 'checkpoints'), { recursive: true });
  const config = resolveConfig(user, 'laptop');
  fs.writeFileSync(path.join(runDir, 'config.json'), JSON.stringify(config));
  const data = await loadDataset(config.dataset);
  const norm = datasetStats(data.train);
  const model = buildModel(config, norm, data);
  const rng = new Rng(99);
  for (const p of model.store.allParams()) {
    const noise = tf.tensor(
      Float32Array.from({ length: p.variable.size }, () => rng.normal() * 0.2),
      p.variable.shape,
    );
    p.variable.assign(tf.add(p.variable, noise));
    noise.dispose();
  }
  const meta: CheckpointMeta = {
    format: 'contrastive-lab/checkpoint',
    formatVersion: 1,
    method: config.method,
    step: 7,
    epoch: 1,
    metricsBytes: 0,
    createdAt: new Date().toISOString(),
    backend: 'cpu',
    normalization: norm,
    config,
  };
  const file = path.join(runDir, 'checkpoints', 'step-00000007.safetensors');
  await saveCheckpoint(file, model.store.state(), meta);
  return { dir, runDir, file, config, data, model };
}

const SMALL: PartialConfig = {
  method: 'simclr-v1',
  dataset: { kind: 'synthetic', syntheticTrain: 64, syntheticTest: 48 },
  encoder: { arch: 'convnet', width: 4 },
  head: { hidden: [16], out: 8, outputBn: true },
  eval: { knn: { k: 20, temperature: 0.1 } },
};

describe('checkpoint tools in-process (wasm)', function () {
  this.timeout(60000);
  let fx: Fixture;
  let trainF: tf.Tensor2D;
  let testF: tf.Tensor2D;

  before(async () => {
    await useBackend('wasm');
    fx = await makeCheckpoint(SMALL);
    // Reference features straight from the model that was saved.
    trainF = tf.tidy(() => fx.model.features(imagesToTensor(fx.data.train, 0, fx.data.train.n)));
    testF = tf.tidy(() => fx.model.features(imagesToTensor(fx.data.test, 0, fx.data.test.n)));
  });
  after(() => {
    tf.dispose([trainF, testF]);
    fx.model.store.dispose();
    fs.rmSync(fx.dir, { recursive: true, force: true });
  });

  it('kNN and linear protocols equal the same computations on the saved model, and append rows', async () => {
    const knn = await evaluateCheckpoint({ checkpoint: fx.file, protocol: 'knn', backend: 'cpu' });
    const want = await knnTop1(trainF, fx.data.train.labels, testF, fx.data.test.labels, 10, 20, 0.1);
    assert.equal(knn.record.top1, want);
    assert.equal(knn.runDir, fx.runDir);
    assert.equal(knn.record.checkpoint, 'checkpoints/step-00000007.safetensors');
    assert.equal(knn.record.step, 7);
    assert.ok(knn.record.alignment! > 0 && knn.record.alignment! < 4);
    assert.ok(knn.record.uniformity! < 0 && knn.record.uniformity! > -4);

    const progress: number[] = [];
    const lin = await evaluateCheckpoint({
      checkpoint: fx.file,
      protocol: 'linear',
      backend: 'cpu',
      onProgress: (p) => progress.push(p.fraction),
    });
    const ref = linearProbe(
      await trainF.data(),
      fx.data.train.labels,
      await testF.data(),
      fx.data.test.labels,
      trainF.shape[1],
      10,
    );
    assert.equal(lin.record.top1, ref.top1);
    assert.equal(lin.record.top5, ref.top5);
    assert.equal(lin.record.options.iterations, ref.classifier.iterations);
    assert.deepEqual(
      progress,
      [...progress].sort((a, b) => a - b),
    );
    assert.equal(progress.at(-1), 1);
    // Same views, same seed: alignment is a property of the checkpoint, not of the protocol.
    assert.equal(lin.record.alignment, knn.record.alignment);
    assert.deepEqual(readEvals(fx.runDir).records, [knn.record, lin.record]);
  });

  it('--random-init evaluates the built parameters, not the saved ones', async () => {
    const r = await evaluateCheckpoint({
      checkpoint: fx.file,
      protocol: 'knn',
      backend: 'cpu',
      randomInit: true,
      append: false,
    });
    const init = buildModel(fx.config, datasetStats(fx.data.train), fx.data);
    const [a, b] = tf.tidy(() => [
      init.features(imagesToTensor(fx.data.train, 0, fx.data.train.n)),
      init.features(imagesToTensor(fx.data.test, 0, fx.data.test.n)),
    ]);
    assert.equal(r.record.top1, await knnTop1(a, fx.data.train.labels, b, fx.data.test.labels, 10, 20, 0.1));
    assert.equal(r.record.step, 0);
    tf.dispose([a, b]);
    init.store.dispose();
  });

  it('zeroshot on a method without a text encoder is an input error', async () => {
    await assert.rejects(
      evaluateCheckpoint({ checkpoint: fx.file, protocol: 'zeroshot', backend: 'cpu', append: false }),
      (e: Error) =>
        e instanceof EvalInputError &&
        e.message === 'zeroshot needs a CLIP checkpoint (method simclr-v1 has no text encoder).',
    );
  });

  it('embed: the first test images, PCA of their restored features, pixels and labels in order', async () => {
    const out = path.join(fx.dir, 'out', 'emb.json');
    const f = await embedCheckpoint({ checkpoint: fx.file, out, projection: 'both', limit: 40 });
    assert.deepEqual(JSON.parse(fs.readFileSync(out, 'utf8')), JSON.parse(JSON.stringify(f)));
    const feats = (await testF.data()).subarray(0, 40 * testF.shape[1]);
    const p = pca2(feats, 40, testF.shape[1]);
    for (let i = 0; i < 40; i++) {
      assert.ok(Math.abs(f.projections.pca!.x[i] - p.x[i]) < 1e-4);
      assert.ok(Math.abs(f.projections.pca!.y[i] - p.y[i]) < 1e-4);
    }
    assert.equal(f.projections.umap!.x.length, 40);
    assert.deepEqual(
      f.indices,
      Array.from({ length: 40 }, (_, i) => i),
    );
    assert.deepEqual(f.labels, Array.from(fx.data.test.labels.subarray(0, 40)));
    const px = 32 * 32 * 3;
    assert.ok(
      Buffer.from(f.images.pixelsBase64, 'base64').equals(
        Buffer.from(fx.data.test.images.subarray(0, 40 * px)),
      ),
    );
    assert.equal(f.step, 7);
    // The limit is capped by the split size.
    const all = await embedCheckpoint({ checkpoint: fx.file, projection: 'pca', limit: 10000 });
    assert.equal(all.indices.length, fx.data.test.n);
    assert.equal(all.projections.umap, undefined);
  });
});

describe('checkpoint tools on CLIP and a DINO ViT (wasm)', function () {
  this.timeout(60000);
  before(() => useBackend('wasm'));
  const tiny: PartialConfig = {
    dataset: { kind: 'synthetic', syntheticTrain: 32, syntheticTest: 24 },
    training: { batchSize: 16 },
  };

  it('zeroshot: top-1 and top-5 of the saved model zero-shot logits on the test split', async () => {
    const fx = await makeCheckpoint({
      ...tiny,
      method: 'clip',
      encoder: { arch: 'convnet', width: 4 },
      head: { hidden: [], out: 8, outputBn: false },
      params: { temperature: 0.07, textWidth: 16, textLayers: 1, textHeads: 2 },
    });
    try {
      const r = await evaluateCheckpoint({ checkpoint: fx.file, protocol: 'zeroshot', backend: 'wasm' });
      const n = fx.data.test.n;
      const logits = tf.tidy(() =>
        fx.model.zeroShotLogits!(imagesToTensor(fx.data.test, 0, n), fx.data.classNames),
      );
      const scores = await logits.data();
      logits.dispose();
      assert.equal(r.record.top1, topKCorrect(scores, fx.data.test.labels, n, 10, 1) / n);
      assert.equal(r.record.top5, topKCorrect(scores, fx.data.test.labels, n, 10, 5) / n);
      assert.equal(r.record.protocol, 'zeroshot');
      assert.ok(Number.isFinite(r.record.alignment) && Number.isFinite(r.record.uniformity));
    } finally {
      fx.model.store.dispose();
      fs.rmSync(fx.dir, { recursive: true, force: true });
    }
  });

  it('embed: attention maps of the first 8 test images from a ViT, one distribution per head', async () => {
    const fx = await makeCheckpoint({
      ...tiny,
      method: 'dino',
      encoder: { arch: 'vit', width: 16, patchSize: 8, depth: 1, heads: 2 },
      head: { hidden: [16, 16], out: 8, outputBn: false },
      params: { prototypes: 32, localCrops: 0 },
    });
    try {
      const f = await embedCheckpoint({ checkpoint: fx.file, projection: 'pca', limit: 12 });
      const att = f.attention!;
      assert.deepEqual([att.points, att.heads, att.gridH, att.gridW], [[0, 1, 2, 3, 4, 5, 6, 7], 2, 4, 4]);
      const ref = tf.tidy(() => fx.model.attentionMaps!(imagesToTensor(fx.data.test, 0, 8)));
      const want = await ref.data();
      ref.dispose();
      for (let i = 0; i < 8; i++) {
        for (let h = 0; h < 2; h++) {
          const m = att.maps[i][h];
          assert.equal(m.length, 16);
          assert.ok(Math.abs(m.reduce((s, v) => s + v, 0) - 1) < 1e-9);
          // The encoder's [CLS] row over the patches, renormalised (it leaves out [CLS] itself).
          const row = Array.from(want.subarray((i * 2 + h) * 16, (i * 2 + h + 1) * 16));
          const mass = row.reduce((s, v) => s + v, 0);
          assert.ok(mass > 0 && mass < 1);
          for (let j = 0; j < 16; j++) assert.ok(Math.abs(m[j] - row[j] / mass) < 1e-6);
        }
      }
    } finally {
      fx.model.store.dispose();
      fs.rmSync(fx.dir, { recursive: true, force: true });
    }
  });
});

describe('UMAP projection', () => {
  const clusters = () => {
    const rng = new Rng(8);
    const d = 16;
    const centres = Array.from({ length: 3 }, () => Array.from({ length: d }, () => rng.normal()));
    const x: number[] = [];
    const label: number[] = [];
    for (let i = 0; i < 90; i++) {
      const c = i % 3;
      label.push(c);
      for (let j = 0; j < d; j++) x.push(centres[c][j] + rng.normal() * 0.05);
    }
    return { x, label, n: 90, d };
  };

  it('is reproducible from its seed, and a different seed gives a different layout', async () => {
    const { x, n, d } = clusters();
    const s = { nNeighbors: 10, minDist: 0.1, seed: 3 };
    const a = await umap2(x, n, d, s);
    const b = await umap2(x, n, d, s);
    const c = await umap2(x, n, d, { ...s, seed: 4 });
    assert.deepEqual(a, b);
    assert.notDeepEqual(a.x, c.x);
  });

  it('keeps well-separated clusters apart: every point has its nearest 2-D neighbour in its own cluster', async () => {
    const { x, label, n, d } = clusters();
    const u = await umap2(x, n, d, { nNeighbors: 10, minDist: 0.1, seed: 1 });
    let same = 0;
    for (let i = 0; i < n; i++) {
      let best = -1;
      let bd = Number.POSITIVE_INFINITY;
      for (let j = 0; j < n; j++) {
        if (j === i) continue;
        const dd = (u.x[i] - u.x[j]) ** 2 + (u.y[i] - u.y[j]) ** 2;
        if (dd < bd) {
          bd = dd;
          best = j;
        }
      }
      if (label[best] === label[i]) same++;
    }
    assert.equal(same, n);
  });

  it('refuses fewer than 3 points with a hint', async () => {
    await assert.rejects(
      umap2([1, 2, 3, 4], 2, 2, { nNeighbors: 15, minDist: 0.1, seed: 0 }),
      /--projection pca/,
    );
  });
});

describe('evals.jsonl', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-evals-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const rec = (top1: number): EvalRecord => ({
    time: '2026-01-01T00:00:00.000Z',
    checkpoint: 'checkpoints/step-00000001.safetensors',
    method: 'simclr-v1',
    step: 1,
    epoch: 1,
    protocol: 'knn',
    top1,
    options: { k: 20 },
    dataset: { kind: 'synthetic', train: 10, test: 10 },
    backend: 'cpu',
    seconds: 1,
  });

  it('appends whole lines, never rewriting earlier ones; a torn last line is closed and skipped', () => {
    const file = appendEvalRecord(dir, rec(0.5));
    fs.appendFileSync(file, '{"time":"torn');
    const before = fs.readFileSync(file, 'utf8');
    appendEvalRecord(dir, rec(0.75));
    const text = fs.readFileSync(file, 'utf8');
    assert.ok(text.startsWith(before));
    const parsed = parseEvals(text);
    assert.deepEqual(
      parsed.records.map((r) => r.top1),
      [0.5, 0.75],
    );
    assert.equal(parsed.warnings.length, 1);
    assert.match(parsed.warnings[0], /line 2/);
  });

  it('a checkpoint belongs to a run only inside <run>/checkpoints/ of a folder with config.json', () => {
    const run = path.join(dir, 'r');
    fs.mkdirSync(path.join(run, 'checkpoints'), { recursive: true });
    const inside = path.join(run, 'checkpoints', 'a.safetensors');
    assert.equal(runDirOfCheckpoint(inside), undefined);
    fs.writeFileSync(path.join(run, 'config.json'), '{}');
    assert.equal(runDirOfCheckpoint(inside), run);
    assert.equal(runDirOfCheckpoint(path.join(run, 'a.safetensors')), undefined);
    assert.equal(checkpointLabel(inside, run), 'checkpoints/a.safetensors');
    assert.equal(
      checkpointLabel(path.join(dir, 'b.safetensors'), undefined),
      path.join(dir, 'b.safetensors'),
    );
  });
});
