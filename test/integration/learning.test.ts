/**
 * SimCLR learns: trained briefly with the real CLI, the encoder's kNN top-1 beats the same
 * encoder at random initialisation (measured in the same run, epoch 0) on the built-in dataset by
 * at least 10 points, and on real Fashion-MNIST. Raw-pixel kNN on the same split is printed as
 * the baseline an SSL representation should aim past.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { PartialConfig } from '../../trainer/config/config';
import { loadDataset } from '../../trainer/data/load';
import { knnTop1 } from '../../trainer/eval/knn';
import { readMetricsFile } from '../../trainer/run/metrics';
import { readRunInfo } from '../../trainer/run/runfolder';
import { useBackend } from '../helpers/tf';
import { ensureBuilt, runCli, tempDir } from '../helpers/trainer-process';

const FASHION = '/usr/share/datasets/fashion-mnist';

function trainAndRead(runsDir: string, name: string, cfg: PartialConfig, backend: string) {
  const file = path.join(runsDir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(cfg));
  const t0 = Date.now();
  const r = runCli([
    'train',
    '--config',
    file,
    '--backend',
    backend,
    '--runs-dir',
    runsDir,
    '--name',
    name,
    '--quiet',
  ]);
  const seconds = (Date.now() - t0) / 1000;
  assert.equal(r.code, 0, r.stderr);
  const dir = fs
    .readdirSync(runsDir)
    .map((d) => path.join(runsDir, d))
    .find((d) => d.endsWith(`-${name}`))!;
  const knn = readMetricsFile(path.join(dir, 'metrics.jsonl')).rows.filter(
    (x) => typeof x.knn_top1 === 'number',
  );
  const losses = readMetricsFile(path.join(dir, 'metrics.jsonl')).rows.filter(
    (x) => typeof x.loss === 'number',
  );
  return { dir, knn, losses, seconds, info: readRunInfo(dir) };
}

describe('SimCLR learns (real CLI: onnxruntime and wasm backends)', function () {
  this.timeout(900000);
  let runsDir: string;
  before(() => {
    ensureBuilt();
    runsDir = tempDir('cl-learn-');
  });
  after(() => fs.rmSync(runsDir, { recursive: true, force: true }));

  const BUILTIN: PartialConfig = {
    method: 'simclr-v1',
    dataset: { kind: 'synthetic', syntheticTrain: 4096, syntheticTest: 1000 },
    training: { epochs: 4 },
    eval: { knn: { every: 4, atStart: true } },
  };
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

  it('built-in dataset, wasm: kNN top-1 beats the random-init encoder by >= 10 points', () => {
    const r = trainAndRead(runsDir, 'synthetic', BUILTIN, 'wasm');
    const start = r.knn[0];
    const end = r.knn.at(-1)!;
    console.log(
      `      synthetic: knn_top1 ${(start.knn_top1 * 100).toFixed(1)}% (random init) -> ${(end.knn_top1 * 100).toFixed(1)}% after ${end.epoch} epochs; loss ${r.losses[0].loss.toFixed(3)} -> ${r.losses.at(-1)!.loss.toFixed(3)}; ${r.seconds.toFixed(0)} s`,
    );
    assert.equal(start.step, 0);
    assert.equal(r.info.status, 'completed');
    assert.ok(end.knn_top1 >= start.knn_top1 + 0.1, `${end.knn_top1} vs ${start.knn_top1}`);
    assert.ok(r.losses.at(-1)!.loss < r.losses[0].loss - 0.3, 'the loss fell');
  });

  it('built-in dataset, onnxruntime convolutions: the loss falls and kNN rises', () => {
    // This short run is chaotic: numerically equivalent runs (wasm, onnxruntime, onnxruntime with
    // other chunk sizes; seeds 0-2) end between 18% and 29% kNN top-1 after these 256 steps, and
    // which one a machine gets depends on its SIMD width under onnxruntime. What held in all 12
    // measured: the mean loss of the last 64 steps is 0.35-0.56 below the first 64's, and kNN rose.
    const r = trainAndRead(runsDir, 'synthetic-ort', BUILTIN, 'onnxruntime');
    const losses = r.losses.map((x) => x.loss);
    const drop = mean(losses.slice(0, 64)) - mean(losses.slice(-64));
    const start = r.knn[0];
    const end = r.knn.at(-1)!;
    console.log(
      `      synthetic, onnxruntime: knn_top1 ${(start.knn_top1 * 100).toFixed(1)}% -> ${(end.knn_top1 * 100).toFixed(1)}%; mean loss first/last 64 steps fell by ${drop.toFixed(3)}; ${r.seconds.toFixed(0)} s`,
    );
    assert.equal(r.info.status, 'completed');
    assert.equal(r.info.backend, 'onnxruntime');
    assert.equal(losses.length, 256);
    assert.ok(drop > 0.25, `mean loss fell by only ${drop}`);
    assert.ok(end.knn_top1 > start.knn_top1, `${end.knn_top1} vs ${start.knn_top1}`);
  });

  it('Fashion-MNIST, wasm: beats the random-init encoder; raw-pixel kNN reported as the bar', async function () {
    if (!fs.existsSync(FASHION)) this.skip();
    const cfg: PartialConfig = {
      method: 'simclr-v1',
      dataset: { kind: 'fashion-mnist', path: FASHION, trainLimit: 6000, testLimit: 2000 },
      training: { epochs: 2 },
      eval: { knn: { every: 2, atStart: true } },
    };
    const r = trainAndRead(runsDir, 'fashion', cfg, 'wasm');
    const start = r.knn[0];
    const end = r.knn.at(-1)!;

    // Raw-pixel kNN (k=200, T=0.1, cosine on raw pixels) on the same train/test subsets.
    await useBackend('cpu');
    const data = await loadDataset({
      kind: 'fashion-mnist',
      path: FASHION,
      trainLimit: 6000,
      testLimit: 2000,
      syntheticTrain: 0,
      syntheticTest: 0,
      syntheticSeed: 0,
      imageSize: 28,
    });
    const px = (s: typeof data.train) =>
      tf.tensor2d(
        Float32Array.from(s.images, (v) => v / 255),
        [s.n, s.height * s.width * s.channels],
      );
    const tr = px(data.train);
    const te = px(data.test);
    const raw = await knnTop1(tr, data.train.labels, te, data.test.labels, 10, 200, 0.1);
    tf.dispose([tr, te]);
    console.log(
      `      fashion-mnist (6k train / 2k test): knn_top1 ${(start.knn_top1 * 100).toFixed(1)}% (random init) -> ${(end.knn_top1 * 100).toFixed(1)}% after ${end.epoch} epochs; raw pixels ${(raw * 100).toFixed(1)}%; ${r.seconds.toFixed(0)} s`,
    );
    assert.ok(end.knn_top1 > start.knn_top1, `${end.knn_top1} vs ${start.knn_top1}`);
    assert.ok(raw > 0.7, 'raw-pixel kNN is the strong baseline it is known to be');
  });
});
