/**
 * The extension at scale, counted rather than timed, in the real extension host: a change in one
 * run folder re-reads that run only and re-renders its row only; a streamed update carries only
 * the new points. (How long things take is in the benchmark, bench/extension.)
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { writeRunsFixture } from '../../../bench/extension/fixtures';
import { RunStore } from '../../../extension/runStore';
import { type RunsNode, RunsTree } from '../../../extension/runsTree';
import { api, fixture, waitFor, waitForValue } from './helpers';

describe('extension at scale', () => {
  let tmp: string | undefined;
  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('a change in one run folder re-reads that run only and refreshes only its row', async () => {
    // Inside the workspace: VS Code watches folders outside it only on some hosts.
    tmp = fs.mkdtempSync(path.join(fixture().workspace, 'scale-'));
    const fx = writeRunsFixture(path.join(tmp, 'runs'), 6, { rowsPerRun: 50, checkpointsPerRun: 1 });
    const store = new RunStore(fx.runsDir);
    const tree = new RunsTree(store);
    try {
      // The scan starts after the turn that made the store (activate() returns first), and the
      // view asking meanwhile gets the runs once they are listed, not an empty tree.
      assert.equal(store.reads, 0, 'nothing read inside the constructor');
      const early = tree.getChildren();
      await store.ready;
      assert.equal(store.reads, 6, 'one read per run folder at start');
      const groups = await early;
      const rows = (await Promise.all(groups.map((g) => tree.getChildren(g)))).flat();
      assert.equal(rows.length, 6);
      assert.ok(
        rows.every((r) => r.kind === 'run' && r.run.summarized && r.run.lastStep === 50),
        'every run summarized (last metrics read) once the store is ready',
      );
      // The watcher may still report the fixture's own writes: wait until the store is quiet.
      let seen = -1;
      await waitFor('the store to settle', async () => {
        const quiet = store.reads === seen;
        seen = store.reads;
        await new Promise((r) => setTimeout(r, 1000));
        return quiet && store.reads === seen;
      });
      const base = store.reads;
      const events: (RunsNode | undefined)[] = [];
      tree.onDidChangeTreeData((n) => events.push(n));

      const target = fx.runDirs[3];
      const id = path.basename(target);
      fs.appendFileSync(
        path.join(target, 'metrics.jsonl'),
        `${JSON.stringify({ step: 51, epoch: 0.51, time: 1.8e9, loss: 0.125 })}\n`,
      );
      // What the folder watcher does with any file event under a run folder (called here too,
      // since file events on a just-made folder can take long to arrive on this host).
      store.refresh(target);
      const entry = await waitForValue('the store to pick up the append', () => {
        const e = store.get(id);
        return e?.lastStep === 51 ? e : undefined;
      });
      assert.equal(entry.lastLoss, 0.125);
      // A watcher may deliver more than one event for one write; each re-reads this run alone.
      assert.ok(store.reads > base);
      assert.deepEqual(store.lastRefreshed, [path.resolve(target)]);
      await waitFor('the tree change event', () => events.length > 0);
      for (const e of events) {
        assert.ok(e, 'no whole-tree refresh for a change inside one run');
        assert.equal(e.kind === 'run' && e.run.id, id);
        assert.ok(rows.includes(e), 'the event carries the node object the view already has');
      }
      assert.equal(store.reads - base, events.length, 'one read per refresh of the row');
    } finally {
      store.dispose();
    }
  });

  it('summarizes the listed runs only once the deferral it was given has settled', async () => {
    const dir = fs.mkdtempSync(path.join(fixture().workspace, 'scale-defer-'));
    const fx = writeRunsFixture(path.join(dir, 'runs'), 3, { rowsPerRun: 20, checkpointsPerRun: 1 });
    const store = new RunStore(fx.runsDir);
    let go!: () => void;
    store.deferSummaries(new Promise<void>((r) => (go = r)));
    let ready = false;
    void store.ready.then(() => (ready = true));
    try {
      await store.listed;
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(store.all().length, 3, 'listed');
      assert.ok(!ready && store.all().every((r) => !r.summarized && r.lastStep === undefined));
      go();
      await store.ready;
      assert.ok(store.all().every((r) => r.summarized && r.lastStep === 20 && r.checkpointCount === 1));
    } finally {
      store.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a streamed update posts only the new points; repeated rows post nothing', async () => {
    const { ChartsPanel } = await api();
    const runDir = fixture().runs['tiny-b'];
    const runId = path.basename(runDir);
    await vscode.commands.executeCommand('contrastiveLab.openCharts', runId);
    const panel = await waitForValue('the charts panel of tiny-b', () => ChartsPanel.panelsFor(runId)[0]);
    try {
      await waitFor(
        'the init message',
        () => panel.sent.messages > 0 && (panel.rowsOf(runId)?.metrics.length ?? 0) > 0,
      );
      const last = Math.max(...(panel.rowsOf(runId)?.metrics.map((r) => r.step) ?? [0]));
      const appends = panel.sent.appends;
      const rows = [
        { step: last + 1, epoch: 9, time: 1.9e9, loss: 1.5, lr: 0.01 },
        { step: last + 2, epoch: 9, time: 1.9e9 + 1, loss: 1.25, lr: 0.01 },
      ];
      ChartsPanel.pushRows(runId, rows);
      assert.equal(panel.sent.appends, appends + 1);
      assert.equal(panel.sent.lastAppendPoints, 4, 'two rows of two metrics, nothing already sent');
      // The same rows again (the file tail bringing what the notification brought): no message.
      ChartsPanel.pushRows(runId, rows);
      ChartsPanel.pushRows(runId, [rows[0]]);
      assert.equal(panel.sent.appends, appends + 1);
    } finally {
      panel.dispose();
    }
  });
});
