/**
 * The Methods and Runs trees as the views draw them: read through the extension's own
 * TreeDataProviders (the objects VS Code calls), inside the real extension host.
 */
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import {
  api,
  findRunInTree,
  fixture,
  removeRun,
  runsTreeSnapshot,
  trainWithCli,
  waitFor,
  waitForValue,
} from './helpers';

describe('Methods tree', () => {
  it('lists SimCLR v1 under "End-to-end" with its venue and year', async () => {
    const { methods } = await api();
    const families = methods.getChildren();
    const labels = families.map((f) => methods.getTreeItem(f).label);
    const e2e = families.find((f) => methods.getTreeItem(f).label === 'End-to-end');
    assert.ok(e2e, `a family "End-to-end" in ${JSON.stringify(labels)}`);
    const items = methods.getChildren(e2e).map((m) => methods.getTreeItem(m));
    const simclr = items.find((i) => i.label === 'SimCLR v1');
    assert.ok(simclr, `SimCLR v1 under End-to-end; got ${JSON.stringify(items.map((i) => i.label))}`);
    assert.equal(simclr.description, 'ICML 2020');
    assert.equal(simclr.contextValue, 'method', 'the context value the inline "New Run" action needs');
    assert.equal(simclr.command?.command, 'contrastiveLab.openMethod');
  });
});

describe('Runs tree', () => {
  let extraRun: string | undefined;

  after(async () => {
    // Back to the fixture's state: status grouping, only tiny-a and tiny-b on disk.
    await vscode.commands.executeCommand('contrastiveLab.groupRunsByStatus');
    await removeRun(extraRun);
    if (extraRun)
      await waitFor('the extra run to leave the tree', async () => !(await findRunInTree('tiny-c')));
  });

  it('lists the fixture runs under "completed" with loss and kNN in the description', async () => {
    const { runs } = fixture();
    const snap = await waitForValue('the fixture runs in the Runs tree', async () => {
      const s = await runsTreeSnapshot();
      const names = s.groups.get('completed')?.runs.map((r) => r.label) ?? [];
      return names.includes('tiny-a') && names.includes('tiny-b') ? s : undefined;
    });
    const completed = snap.groups.get('completed')!;
    assert.match(completed.item.label, /^completed \(\d+\)$/);
    for (const name of ['tiny-a', 'tiny-b']) {
      const row = completed.runs.find((r) => r.label === name)!;
      assert.match(row.description, /\bloss \d+\.\d{3}\b/, `${name}: ${row.description}`);
      assert.match(row.description, /\bkNN \d+\.\d%/, `${name}: ${row.description}`);
      assert.equal(row.contextValue, 'run:completed');
      assert.ok(row.collapsible, `${name} can be expanded to its checkpoints`);
      // Newest checkpoint first: 2 epochs of 4 steps, one checkpoint per epoch.
      assert.deepEqual(
        row.children.map((c) => c.label),
        ['step 8', 'step 4'],
      );
      for (const c of row.children) {
        assert.equal(c.contextValue, 'checkpoint');
        // Epoch and kNN top-1 at save time come from the checkpoint's header (4 steps per epoch;
        // the fixture evaluates kNN at each epoch's end, before the checkpoint).
        const m = /^epoch (\d+) · kNN (\d+\.\d)% · \d+\.\d MB$/.exec(c.description);
        assert.ok(m, `${name}/${c.label}: ${c.description}`);
        assert.equal(Number(m[1]), Number(c.label.replace('step ', '')) / 4);
      }
      const item = (await api()).runs.getTreeItem(row.node);
      assert.equal(item.resourceUri?.fsPath, runs[name], `${name} points at its run folder`);
    }
  });

  it('regroups the runs by method with "Group Runs by Method", and back', async () => {
    await vscode.commands.executeCommand('contrastiveLab.groupRunsByMethod');
    let snap = await runsTreeSnapshot();
    const statuses = ['queued', 'running', 'stopping', 'completed', 'stopped', 'failed'];
    assert.ok(
      [...snap.groups.keys()].every((k) => !statuses.includes(k)),
      `groups are methods now: ${JSON.stringify([...snap.groups.keys()])}`,
    );
    assert.ok(snap.groups.has('simclr-v1'));
    const names = snap.groups.get('simclr-v1')!.runs.map((r) => r.label);
    assert.ok(names.includes('tiny-a') && names.includes('tiny-b'), JSON.stringify(names));
    assert.equal((await api()).runs.grouping, 'method');

    await vscode.commands.executeCommand('contrastiveLab.groupRunsByStatus');
    snap = await runsTreeSnapshot();
    assert.ok(snap.groups.has('completed'), JSON.stringify([...snap.groups.keys()]));
    assert.ok(!snap.groups.has('simclr-v1'));
  });

  it('shows a run trained from the command line while the window is open, without a reload', async function () {
    this.timeout(90_000);
    const { runsDir } = fixture();
    const seen = new Set<string>();
    const { runs } = await api();
    const sub = runs.onDidChangeTreeData(() => seen.add('changed'));
    try {
      extraRun = await trainWithCli(runsDir, 'tiny-c');
      const found = await waitForValue(
        'tiny-c under "completed" in the Runs tree',
        async () => {
          const f = await findRunInTree('tiny-c');
          return f?.group === 'completed' && f.run.children.length === 2 ? f : undefined;
        },
        30_000,
      );
      assert.match(found.run.description, /loss .* · kNN /);
      assert.deepEqual(
        found.run.children.map((c) => c.label),
        ['step 8', 'step 4'],
      );
      assert.ok(seen.has('changed'), 'the tree told VS Code to redraw');
    } finally {
      sub.dispose();
    }
  });
});
