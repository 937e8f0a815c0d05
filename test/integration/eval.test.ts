/**
 * Checkpoint tools through the real CLI: a SimCLR run trained briefly on the built-in dataset, then
 * `eval` (linear probe, kNN) and `embed` on its last checkpoint. The random-init baseline is the same
 * checkpoint evaluated with --random-init: the run's own architecture, seed and normalisation with
 * the parameters as built, i.e. the state training started from (checked below: its kNN equals the
 * run's epoch-0 monitor value).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeSynthetic } from '../../trainer/data/synthetic';
import type { EmbeddingFile, EvalRecord, ToolProgress } from '../../trainer/eval/contract';
import { readEvals } from '../../trainer/eval/evals-file';
import { type MetricRow, readMetricsFile } from '../../trainer/run/metrics';
import { ensureBuilt, runCli, tempDir } from '../helpers/trainer-process';

const TRAIN = 4096;
const TEST = 1000;

function evalJson(args: string[]): { record: EvalRecord; progress: ToolProgress[] } {
  const r = runCli(['eval', ...args, '--json', '--progress-json', '--backend', 'wasm']);
  assert.equal(r.code, 0, r.stderr);
  const progress = r.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as ToolProgress);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, 'one JSON object on stdout');
  return { record: JSON.parse(lines[0]) as EvalRecord, progress };
}

describe('eval and embed (real CLI, wasm backend)', function () {
  this.timeout(900000);
  let tmp: string;
  let runDir: string;
  let ckpt: string;
  let knnRows: MetricRow[];

  before(() => {
    ensureBuilt();
    tmp = tempDir('cl-eval-');
    const cfg = path.join(tmp, 'simclr.json');
    fs.writeFileSync(
      cfg,
      JSON.stringify({
        method: 'simclr-v1',
        dataset: { kind: 'synthetic', syntheticTrain: TRAIN, syntheticTest: TEST },
        training: { epochs: 3 },
        eval: { knn: { every: 3, atStart: true } },
      }),
    );
    const runs = path.join(tmp, 'runs');
    const r = runCli([
      'train',
      '--config',
      cfg,
      '--backend',
      'wasm',
      '--runs-dir',
      runs,
      '--name',
      'e',
      '--quiet',
    ]);
    assert.equal(r.code, 0, r.stderr);
    runDir = path.join(runs, fs.readdirSync(runs)[0]);
    const ckpts = fs.readdirSync(path.join(runDir, 'checkpoints')).sort();
    ckpt = path.join(runDir, 'checkpoints', ckpts.at(-1)!);
    knnRows = readMetricsFile(path.join(runDir, 'metrics.jsonl')).rows.filter(
      (x) => typeof x.knn_top1 === 'number',
    );
    assert.equal(knnRows[0].step, 0);
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('linear probe: the trained checkpoint beats the random-init encoder; both rows land in evals.jsonl', () => {
    const trained = evalJson([ckpt, '--protocol', 'linear']).record;
    const random = evalJson([ckpt, '--protocol', 'linear', '--random-init']).record;
    console.log(
      `      linear probe top-1: random init ${(random.top1 * 100).toFixed(1)}% -> trained ${(trained.top1 * 100).toFixed(1)}% ` +
        `(top-5 ${(random.top5! * 100).toFixed(1)}% -> ${(trained.top5! * 100).toFixed(1)}%; ` +
        `alignment ${random.alignment!.toFixed(3)} -> ${trained.alignment!.toFixed(3)}, ` +
        `uniformity ${random.uniformity!.toFixed(3)} -> ${trained.uniformity!.toFixed(3)}; ` +
        `L-BFGS ${random.options.iterations} / ${trained.options.iterations} iterations)`,
    );
    assert.ok(trained.top1 >= random.top1 + 0.1, `${trained.top1} vs ${random.top1}`);
    assert.equal(trained.options.converged, true);
    assert.equal(random.options.converged, true);
    assert.equal(trained.step, knnRows.at(-1)!.step);
    assert.equal(random.step, 0);
    assert.equal(random.options.randomInit, true);
    assert.equal(trained.checkpoint, `checkpoints/${path.basename(ckpt)}`);
    assert.deepEqual(trained.dataset, { kind: 'synthetic', train: TRAIN, test: TEST });
    assert.deepEqual(readEvals(runDir).records, [trained, random]);
  });

  it('kNN through eval equals the run monitor at the same checkpoint; random init equals the epoch-0 monitor', () => {
    const before = fs.readFileSync(path.join(runDir, 'evals.jsonl'), 'utf8');
    const { record, progress } = evalJson([ckpt, '--protocol', 'knn', '--no-append']);
    assert.equal(record.top1, knnRows.at(-1)!.knn_top1);
    assert.deepEqual(
      { k: record.options.k, temperature: record.options.temperature },
      { k: 200, temperature: 0.1 },
    );
    assert.ok(progress.length >= 3);
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i].fraction >= progress[i - 1].fraction);
    assert.equal(progress.at(-1)!.fraction, 1);
    assert.equal(fs.readFileSync(path.join(runDir, 'evals.jsonl'), 'utf8'), before, '--no-append');

    // A copy outside any run folder: evaluated the same, named by its absolute path, never appended.
    const loose = path.join(tmp, 'loose.safetensors');
    fs.copyFileSync(ckpt, loose);
    const init = evalJson([loose, '--protocol', 'knn', '--random-init']).record;
    assert.equal(init.top1, knnRows[0].knn_top1);
    assert.equal(init.checkpoint, loose);
    assert.equal(fs.readFileSync(path.join(runDir, 'evals.jsonl'), 'utf8'), before);
    assert.ok(!fs.existsSync(path.join(tmp, 'evals.jsonl')));
  });

  it('embed writes points, labels, coordinates and images of matching sizes', () => {
    const out = path.join(tmp, 'emb', 'embedding.json');
    const r = runCli([
      'embed',
      ckpt,
      '--out',
      out,
      '--projection',
      'both',
      '--limit',
      '300',
      '--backend',
      'wasm',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const f = JSON.parse(fs.readFileSync(out, 'utf8')) as EmbeddingFile;
    const n = 300;
    assert.equal(f.format, 'contrastive-lab/embeddings');
    assert.equal(f.indices.length, n);
    assert.equal(f.labels.length, n);
    for (const p of [f.projections.pca!, f.projections.umap!]) {
      assert.equal(p.x.length, n);
      assert.equal(p.y.length, n);
      assert.ok([...p.x, ...p.y].every(Number.isFinite));
    }
    const ev = f.projections.pca!.explainedVariance;
    assert.ok(ev[0] >= ev[1] && ev[1] > 0 && ev[0] + ev[1] <= 1);
    const { height, width, channels } = f.images;
    const pixels = Buffer.from(f.images.pixelsBase64, 'base64');
    assert.equal(pixels.length, n * height * width * channels);
    // The points are the first test images, in order, with their labels.
    const seed = JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8')).dataset.syntheticSeed;
    const data = makeSynthetic({ train: 0, test: TEST, seed });
    assert.deepEqual(f.labels, Array.from(data.test.labels.subarray(0, n)));
    assert.ok(pixels.equals(Buffer.from(data.test.images.subarray(0, n * height * width * channels))));
    assert.equal(f.attention, undefined, 'a ConvNet has no attention maps');
  });

  it('bad input exits 2 with a message naming the problem', () => {
    const missing = path.join(tmp, 'nope.safetensors');
    let r = runCli(['eval', missing, '--protocol', 'knn']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /nope\.safetensors/);
    const corrupt = path.join(tmp, 'corrupt.safetensors');
    fs.writeFileSync(corrupt, fs.readFileSync(ckpt).subarray(0, 100));
    r = runCli(['eval', corrupt, '--protocol', 'linear']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /corrupt\.safetensors/);
    r = runCli(['eval', ckpt, '--protocol', 'svm']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown protocol 'svm'/);
    r = runCli(['eval', ckpt, '--protocol', 'zeroshot', '--backend', 'wasm']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /zeroshot needs a CLIP checkpoint \(method simclr-v1 has no text encoder\)/);
    r = runCli(['embed', ckpt]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--out FILE\.json is required/);
  });
});
