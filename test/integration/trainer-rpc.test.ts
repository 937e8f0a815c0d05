/**
 * The trainer as a real process over real JSON-RPC: start, progress and metrics notifications,
 * cooperative stop, attach through the run's socket after the first client left, SIGKILL and
 * resume with an identical loss curve.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { listCheckpoints, loadCheckpoint } from '../../trainer/checkpoint/checkpoint';
import type { PartialConfig } from '../../trainer/config/config';
import { Initialize, PROTOCOL_VERSION, RunAttach, RunStart, RunStop } from '../../trainer/protocol';
import { readMetricsFile } from '../../trainer/run/metrics';
import { readRunInfo } from '../../trainer/run/runfolder';
import { connectSocket, ensureBuilt, runCli, spawnTrainer, tempDir } from '../helpers/trainer-process';

/** Small enough for the stock cpu backend; every row logged so curves compare step by step. */
const TINY: PartialConfig = {
  seed: 3,
  dataset: { kind: 'synthetic', syntheticTrain: 64, syntheticTest: 32 },
  encoder: { arch: 'convnet', width: 4 },
  head: { hidden: [16], out: 8 },
  training: { epochs: 3, batchSize: 8, logEvery: 1, checkpointEvery: 1, keepCheckpoints: 0 },
  eval: { knn: { every: 1, k: 10, atStart: true } },
};

function lossByStep(runDir: string): Map<number, number> {
  const m = new Map<number, number>();
  for (const r of readMetricsFile(path.join(runDir, 'metrics.jsonl')).rows) {
    if (typeof r.loss === 'number') {
      assert.ok(!m.has(r.step), `step ${r.step} appears twice in metrics.jsonl`);
      m.set(r.step, r.loss);
    }
  }
  return m;
}

describe('trainer process over JSON-RPC', function () {
  this.timeout(300000);
  let runsDir: string;
  before(() => ensureBuilt());
  beforeEach(() => {
    runsDir = tempDir('cl-rpc-');
  });
  afterEach(() => fs.rmSync(runsDir, { recursive: true, force: true }));

  it('initialize, start, progress and metrics, stop -> checkpoint and `stopped` on disk', async () => {
    const t = spawnTrainer(['--backend', 'wasm']);
    try {
      const init = await t.conn.sendRequest(Initialize, {
        clientName: 'test',
        protocolVersion: PROTOCOL_VERSION,
      });
      assert.equal(init.backend.name, 'wasm');
      assert.ok(init.methods.some((m) => m.id === 'simclr-v1' && m.year === 2020));
      assert.equal(init.run, null);

      const cfg = { ...TINY, training: { ...TINY.training, epochs: 50 } };
      const start = await t.conn.sendRequest(RunStart, { config: cfg, runsDir, name: 'rpc-stop' });
      assert.equal(path.dirname(start.runDir), runsDir);
      await t.rec.until(() => t.rec.progress.length >= 12, 120000, '12 progress notifications');
      const metricRows = t.rec.metrics.flatMap((m) => m.rows);
      assert.ok(metricRows.some((r) => typeof r.loss === 'number' && r.loss > 0));
      assert.ok(
        metricRows.some((r) => typeof r.knn_top1 === 'number'),
        'kNN at start was notified',
      );
      assert.equal(readRunInfo(start.runDir).status, 'running');
      assert.equal(readRunInfo(start.runDir).backend, 'wasm');

      const stop = await t.conn.sendRequest(RunStop, { runId: start.runId });
      assert.ok(stop.status === 'stopping' || stop.status === 'stopped');
      await t.rec.until(() => t.rec.status.some((s) => s.status === 'stopped'), 60000, 'stopped status');

      const info = readRunInfo(start.runDir);
      assert.equal(info.status, 'stopped');
      assert.equal(info.pid, undefined);
      const ckpts = listCheckpoints(start.runDir);
      assert.ok(ckpts.length >= 1, 'a checkpoint was written on stop');
      const last = ckpts.at(-1)!;
      const meta = loadCheckpoint(last.file).meta;
      assert.equal(meta.step, last.step);
      // The stop checkpoint is at the last step that reached metrics.jsonl.
      const steps = [...lossByStep(start.runDir).keys()];
      assert.equal(Math.max(...steps), meta.step);
      assert.ok(meta.step < 50 * 8, 'stopped well before the end');
      assert.ok(t.rec.checkpoints.some((c) => c.file === last.file));
    } finally {
      t.conn.dispose();
      t.child.kill('SIGKILL');
    }
  });

  it('keeps training when the stdio client goes away; a new client attaches through the socket', async () => {
    const t = spawnTrainer(['--backend', 'wasm']);
    const cfg = { ...TINY, training: { ...TINY.training, epochs: 50 } };
    const start = await t.conn.sendRequest(RunStart, { config: cfg, runsDir, name: 'attach' });
    assert.ok(start.socket, 'the trainer listens on a socket');
    await t.rec.until(() => t.rec.progress.length >= 2, 120000, 'first progress');
    // The client disappears (editor window reloaded).
    t.conn.dispose();
    t.child.stdin!.end();
    t.child.stdout!.destroy();
    const stepBefore = t.rec.progress.at(-1)!.step;

    const info = readRunInfo(start.runDir);
    assert.equal(info.socket, start.socket);
    const c = await connectSocket(info.socket!);
    try {
      const snap = await c.conn.sendRequest(RunAttach, { sinceStep: 0 });
      assert.equal(snap.runId, start.runId);
      assert.equal(snap.status, 'running');
      await c.rec.until(
        () => c.rec.progress.some((p) => p.step > stepBefore + 2),
        120000,
        'progress after attach',
      );
      // Replayed history arrives as a metrics notification.
      await c.rec.until(
        () => c.rec.metrics.some((m) => m.rows.some((r) => r.step === 1)),
        10000,
        'replayed rows',
      );
      await c.conn.sendRequest(RunStop, { runId: start.runId });
      await c.rec.until(() => c.rec.status.some((s) => s.status === 'stopped'), 60000, 'stopped via socket');
    } finally {
      c.conn.dispose();
      c.socket.destroy();
    }
    const code = await Promise.race([t.exited, new Promise((r) => setTimeout(() => r('timeout'), 20000))]);
    assert.equal(code, 0, 'the trainer exits once its run ended and no client is left');
    assert.equal(readRunInfo(start.runDir).status, 'stopped');
    assert.ok(!fs.existsSync(start.socket!), 'the socket file is removed');
  });

  it('SIGKILL mid-run, then resume: same loss curve as an uninterrupted run (cpu backend), no duplicate rows', async () => {
    // Reference: the same config uninterrupted, through the CLI.
    const cfgFile = path.join(runsDir, 'tiny.json');
    fs.writeFileSync(cfgFile, JSON.stringify(TINY));
    const ref = runCli([
      'train',
      '--config',
      cfgFile,
      '--backend',
      'cpu',
      '--runs-dir',
      runsDir,
      '--name',
      'reference',
      '--quiet',
    ]);
    assert.equal(ref.code, 0, ref.stderr);
    const refDir = fs
      .readdirSync(runsDir)
      .map((d) => path.join(runsDir, d))
      .find((d) => d.endsWith('-reference'))!;
    const refLoss = lossByStep(refDir);
    assert.equal(refLoss.size, 3 * 8);

    const t = spawnTrainer(['--backend', 'cpu']);
    const start = await t.conn.sendRequest(RunStart, { config: TINY, runsDir, name: 'killed' });
    // Kill a few steps after the first checkpoint (end of epoch 1 = step 8), mid-epoch 2.
    await t.rec.until(
      () => t.rec.checkpoints.length >= 1 && t.rec.progress.some((p) => p.step >= 11),
      120000,
      'step 11',
    );
    t.child.kill('SIGKILL');
    await t.exited;
    t.conn.dispose();

    const killedInfo = readRunInfo(start.runDir);
    assert.equal(
      killedInfo.status,
      'running',
      'run.json still says running: the process died without a word',
    );
    const ckpts = listCheckpoints(start.runDir);
    assert.ok(ckpts.length >= 1);
    const rowsBefore = readMetricsFile(path.join(start.runDir, 'metrics.jsonl')).rows;
    assert.ok(
      Math.max(...rowsBefore.map((r) => r.step)) > ckpts.at(-1)!.step,
      'metrics ran ahead of the checkpoint',
    );

    const t2 = spawnTrainer(['--backend', 'cpu']);
    try {
      const resumed = await t2.conn.sendRequest(RunStart, { resumeDir: start.runDir });
      assert.equal(resumed.runId, start.runId);
      await t2.rec.until(
        () => t2.rec.status.some((s) => s.status === 'completed' || s.status === 'failed'),
        240000,
        'completion',
      );
      assert.equal(readRunInfo(start.runDir).status, 'completed', t2.stderr());
    } finally {
      t2.conn.dispose();
      t2.child.kill('SIGKILL');
    }
    const got = lossByStep(start.runDir);
    assert.deepEqual(
      [...got.keys()].sort((a, b) => a - b),
      [...refLoss.keys()].sort((a, b) => a - b),
    );
    for (const [step, loss] of refLoss) {
      assert.ok(
        Math.abs(got.get(step)! - loss) <= 1e-6 * Math.max(1, Math.abs(loss)),
        `step ${step}: ${got.get(step)} vs ${loss}`,
      );
    }
    assert.equal(readRunInfo(start.runDir).resumes, 1);
    const log = fs.readFileSync(path.join(start.runDir, 'trainer.log'), 'utf8');
    assert.match(log, /resumed from checkpoints\/step-00000008\.safetensors at step 8/);
  });
});
