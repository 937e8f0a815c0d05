/**
 * Starting and stopping runs through the extension's commands, with the real trainer process the
 * extension spawns (`dist/trainer.js serve`, JSON-RPC): a short run to completion, and a long run
 * stopped cooperatively (finish the step, write a checkpoint, exit).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { REUSE_FREED_MEMORY } from '../../../trainer/backend/malloc-env';
import { EDITOR_TRAINER_NICE } from '../../../trainer/run/priority';
import {
  api,
  checkpointFiles,
  createQueuedRun,
  findRunInTree,
  fixture,
  metricRows,
  readRunJson,
  removeRun,
  TINY,
  waitFor,
  waitForStatus,
  waitForValue,
} from './helpers';

describe('run lifecycle', () => {
  const made: string[] = [];

  after(async () => {
    // Charts panels of these runs first, then the run folders (a trainer still running is ended).
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    for (const dir of made) await removeRun(dir);
    const { store } = await api();
    await waitFor('the removed runs to leave the store', () => made.every((d) => !store.byDir(d)), 10_000);
  });

  async function queued(name: string, epochs: number): Promise<string> {
    const { store } = await api();
    const dir = createQueuedRun(fixture().runsDir, name, { ...TINY, training: { epochs, batchSize: 16 } });
    made.push(dir);
    // The commands take a run folder the store knows: wait for its file watcher.
    await waitFor(`the store to list ${name}`, () => store.byDir(dir)?.status === 'queued', 10_000);
    return dir;
  }

  it('Start Run trains a queued run to completion: checkpoints, metrics, tree', async function () {
    this.timeout(150_000);
    const dir = await queued('life-short', 2);
    assert.equal(readRunJson(dir).status, 'queued');

    await vscode.commands.executeCommand('contrastiveLab.startRun', dir);
    const info = await waitForStatus(dir, ['completed', 'failed', 'stopped'], 120_000);
    assert.equal(info.status, 'completed', info.error);
    assert.equal(info.step, 8, '2 epochs of 4 steps');
    assert.ok(info.backend, 'the backend is recorded in run.json');
    assert.ok(info.endedAt);

    assert.deepEqual(checkpointFiles(dir).sort(), ['step-00000004.safetensors', 'step-00000008.safetensors']);
    const rows = metricRows(dir);
    const losses = rows.filter((r) => typeof r.loss === 'number');
    assert.equal(losses.length, 8, 'one loss row per step');
    assert.ok(
      losses.every((r) => Number.isFinite(r.loss)),
      'finite losses',
    );
    assert.ok(
      rows.some((r) => typeof r.knn_top1 === 'number'),
      'a kNN evaluation row',
    );

    const shown = await waitForValue(
      'life-short under "completed" in the Runs tree',
      async () => {
        const f = await findRunInTree('life-short');
        return f?.group === 'completed' && f.run.children.length === 2 ? f : undefined;
      },
      15_000,
    );
    assert.equal(shown.run.contextValue, 'run:completed');
    assert.match(shown.run.description, /loss \d/);

    // Starting opened the run's live charts next to the editor.
    const chartsTab = vscode.window.tabGroups.all
      .flatMap((g) => g.tabs)
      .find((t) => t.input instanceof vscode.TabInputWebview && /charts/i.test(t.input.viewType));
    assert.ok(chartsTab, 'a charts panel is open');
    assert.match(chartsTab.label, /life-short/);
  });

  it('Stop Run stops a long run cooperatively: stopped, with a checkpoint', async function () {
    this.timeout(150_000);
    const { client, store } = await api();
    const dir = await queued('life-long', 200);
    const runId = path.basename(dir);

    await vscode.commands.executeCommand('contrastiveLab.startRun', dir);
    const live = await waitForStatus(dir, ['running'], 60_000);
    if (process.platform === 'linux' && live.pid) {
      // Spawned with malloc settings that reuse freed memory (trainer/backend/malloc-env.ts).
      // glibc's loader parses the variable in place (a NUL after the first tunable), so the
      // process's environment block shows only the first; ld.so's own listing is checked in
      // test/trainer/malloc-env.test.ts.
      const environ = fs.readFileSync(`/proc/${live.pid}/environ`, 'utf8').split('\0');
      const first = REUSE_FREED_MEMORY.split(':')[0];
      assert.ok(
        environ.includes(`GLIBC_TUNABLES=${first}`),
        `the trainer has the malloc settings: ${environ.filter((e) => e.startsWith('GLIBC')).join(' ')}`,
      );
    }
    if (process.platform === 'linux' && live.pid) {
      // Below the editor's priority (trainer/run/priority.ts): field 19 of /proc/PID/stat is nice.
      const stat = fs.readFileSync(`/proc/${live.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      assert.equal(Number(fields[16]), EDITOR_TRAINER_NICE, 'the trainer runs at nice 10');
      // One core left to the editor (the test host sets no thread count of its own).
      const environ = fs.readFileSync(`/proc/${live.pid}/environ`, 'utf8').split('\0');
      const threads = Math.max(1, os.cpus().length - 1);
      assert.ok(environ.includes(`CONTRASTIVE_LAB_THREADS=${threads}`), `CONTRASTIVE_LAB_THREADS=${threads}`);
    }
    // Live progress over JSON-RPC, not just files.
    const p = await waitForValue(
      'progress notifications with a step > 1',
      () => {
        const pr = client.progress.get(runId);
        return pr && pr.step > 1 ? pr : undefined;
      },
      60_000,
    );
    assert.ok(p.epoch >= 0);
    assert.ok(client.isLive(runId), 'the client holds a live connection to the run');
    await waitFor(
      'the tree to show it running',
      async () => (await findRunInTree('life-long'))?.group === 'running',
    );

    await vscode.commands.executeCommand('contrastiveLab.stopRun', dir);
    const info = await waitForStatus(dir, ['stopped', 'completed', 'failed'], 60_000);
    assert.equal(info.status, 'stopped', info.error);
    assert.ok((info.step ?? 0) < 200 * 4, 'stopped long before the end');
    assert.equal(info.pid, undefined, 'the trainer let go of the run');
    const ckpts = checkpointFiles(dir);
    assert.ok(ckpts.length >= 1, 'a checkpoint written on stop');
    assert.ok(
      ckpts.includes(`step-${String(info.step).padStart(8, '0')}.safetensors`),
      `a checkpoint at the stop step ${info.step}: ${ckpts.join(', ')}`,
    );
    await waitFor('the client to forget its progress', () => !client.progress.has(runId), 15_000);

    const shown = await waitForValue('life-long under "stopped" in the Runs tree', async () => {
      const f = await findRunInTree('life-long');
      return f?.group === 'stopped' && f.run.children.length >= 1 ? f : undefined;
    });
    assert.equal(shown.run.contextValue, 'run:stopped');
    assert.equal(store.byDir(dir)?.status, 'stopped');
  });

  // One trainer process per run: it must not linger (idle, TensorFlow.js loaded) after its run.
  it('the trainer process of a run exits once the run ended', async function () {
    this.timeout(150_000);
    const { client } = await api();
    const dir = await queued('life-exit', 2);
    await vscode.commands.executeCommand('contrastiveLab.startRun', dir);
    const { pid } = await waitForStatus(dir, ['running', 'completed'], 60_000);
    await waitForStatus(dir, ['completed'], 120_000);
    await waitFor('the client to let go of the run', () => !client.isLive(path.basename(dir)), 15_000);
    if (pid) {
      await waitFor('the trainer process to exit', () => {
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      });
    }
  });

  it('a trainer killed mid-run marks its run failed with the error and a pointer to its log', async function () {
    this.timeout(150_000);
    const { store, client } = await api();
    const dir = await queued('life-crash', 200);
    await vscode.commands.executeCommand('contrastiveLab.startRun', dir);
    const { pid } = await waitForStatus(dir, ['running'], 60_000);
    assert.ok(pid, 'run.json records the trainer pid');
    await waitFor(
      'training progress',
      () => (client.progress.get(path.basename(dir))?.step ?? 0) > 1,
      60_000,
    );
    process.kill(pid, 'SIGKILL');
    const info = await waitForStatus(dir, ['failed'], 30_000);
    assert.match(info.error ?? '', /exited unexpectedly \(code null, signal SIGKILL\)/);
    assert.match(info.error ?? '', /trainer\.log/);
    await waitFor('the tree to show the run as failed', () => store.byDir(dir)?.status === 'failed', 15_000);
    // The extension is still alive and serving commands.
    assert.ok((await vscode.commands.getCommands(true)).includes('contrastiveLab.openCharts'));
  });
});
