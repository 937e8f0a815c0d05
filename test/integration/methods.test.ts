/**
 * Every registered method trains through the real CLI (tiny configs): finite losses in
 * metrics.jsonl, a checkpoint, status `completed`, and a resume from that checkpoint works.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { listCheckpoints, loadCheckpoint } from '../../trainer/checkpoint/checkpoint';
import { METHOD_INFOS } from '../../trainer/methods/catalog';
import { readMetricsFile } from '../../trainer/run/metrics';
import { readRunInfo } from '../../trainer/run/runfolder';
import { ensureBuilt, runCli, tempDir } from '../helpers/trainer-process';

/**
 * Per-method changes to the tiny config below (e.g. a ViT encoder, a small queue or bank): each
 * top-level key replaces the tiny config's. One entry per method that needs one.
 */
const TINY_OVERRIDES: Record<string, Record<string, unknown>> = {
  'moco-v1': { params: { queueSize: 32 } },
  'moco-v2': { params: { queueSize: 32 } },
  // A queue of two batches: full after two steps, so the codes use it from the third on.
  swav: { params: { queueSize: 32 } },
  'moco-v3': {
    params: { freezePatchEmbed: true },
    encoder: { arch: 'vit', width: 8, patchSize: 8, depth: 1, heads: 2, posEmbed: 'sincos' },
  },
  // A ViT, so the CLI run also covers position embeddings resized for the 16-px small crops.
  dino: { encoder: { arch: 'vit', width: 8, patchSize: 8, depth: 1, heads: 2 } },
  clip: {
    params: { textWidth: 8, textLayers: 1, textHeads: 2 },
    head: { hidden: [], out: 8, outputBn: false },
  },
};

describe('every method trains through the CLI', function () {
  this.timeout(600000);
  let runsDir: string;
  before(() => {
    ensureBuilt();
    runsDir = tempDir('cl-methods-');
  });
  after(() => fs.rmSync(runsDir, { recursive: true, force: true }));

  for (const id of METHOD_INFOS.keys()) {
    it(`${id}: trains, checkpoints and completes`, () => {
      const cfg = {
        method: id,
        params: {},
        dataset: { kind: 'synthetic', syntheticTrain: 64, syntheticTest: 32 },
        encoder: { arch: 'convnet', width: 4 },
        head: { hidden: [16], out: 8 },
        training: { epochs: 2, batchSize: 16 },
        // No kNN before the first checkpoint: its metadata has no knnTop1 (a case that once failed).
        eval: { knn: { every: 0, atStart: false, k: 10 } },
      };
      const file = path.join(runsDir, `${id}.json`);
      fs.writeFileSync(file, JSON.stringify({ ...cfg, ...TINY_OVERRIDES[id] }));
      const r = runCli([
        'train',
        '--config',
        file,
        '--runs-dir',
        runsDir,
        '--name',
        id,
        '--backend',
        'wasm',
        '--quiet',
      ]);
      assert.equal(r.code, 0, r.stderr);
      const dir = fs
        .readdirSync(runsDir)
        .map((d) => path.join(runsDir, d))
        .find((d) => d.endsWith(`-${id}`))!;
      assert.equal(readRunInfo(dir).status, 'completed');
      const rows = readMetricsFile(path.join(dir, 'metrics.jsonl')).rows;
      const losses = rows.filter((x) => typeof x.loss === 'number').map((x) => x.loss);
      assert.equal(losses.length, 8);
      assert.ok(losses.every(Number.isFinite), `${id}: ${losses}`);
      assert.ok(rows.some((x) => typeof x.knn_top1 === 'number'));
      const ck = listCheckpoints(dir).at(-1)!;
      assert.equal(loadCheckpoint(ck.file).meta.method, id);
    });
  }
});
