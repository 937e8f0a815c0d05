/**
 * Comparing the fixture's two real runs (tiny-a, tiny-b: same config, seeds 1 and 2) inside the real
 * extension host: the config diff, the metric summary, and "Export Metrics as CSV" to a file, each
 * checked against the runs' files read here with plain loops.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { readMetricsFile } from '../../../trainer/run/metrics';
import { bestDirection, configDiff, summarizeRows } from '../../../webview/charts/compare';
import { api, fixture, waitForValue } from './helpers';

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/** Independent reference: the dotted keys whose values differ, by walking both objects. */
function differingKeys(a: unknown, b: unknown, prefix = ''): string[] {
  const isObj = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObj(a) && isObj(b)) {
    const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
    return [...keys].flatMap((k) =>
      differingKeys(
        (a as Record<string, unknown>)[k],
        (b as Record<string, unknown>)[k],
        prefix ? `${prefix}.${k}` : k,
      ),
    );
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix];
}

describe('compare runs', function () {
  this.timeout(60_000);
  const fx = fixture();
  const dirs = [fx.runs['tiny-a'], fx.runs['tiny-b']];

  it('the config diff lists exactly the keys that differ (the seed)', () => {
    const configs = dirs.map((d) => readJson(path.join(d, 'config.json')));
    const rows = configDiff(configs);
    assert.deepEqual(
      rows.map((r) => r.key),
      differingKeys(configs[0], configs[1]).sort(),
    );
    const seed = rows.find((r) => r.key === 'seed');
    assert.deepEqual(seed?.values, ['1', '2']);
  });

  it('the summary of real metrics matches plain loops over metrics.jsonl', () => {
    for (const dir of dirs) {
      const rows = readMetricsFile(path.join(dir, 'metrics.jsonl')).rows;
      const got = summarizeRows(rows);
      assert.ok(got.has('loss') && got.has('knn_top1'), [...got.keys()].join(','));
      for (const [metric, s] of got) {
        const vals = rows.filter((r) => typeof r[metric] === 'number').map((r) => [r.step, r[metric]]);
        const min = Math.min(...vals.map((v) => v[1]));
        const max = Math.max(...vals.map((v) => v[1]));
        const maxStep = Math.max(...vals.map((v) => v[0]));
        const last = vals.filter((v) => v[0] === maxStep).at(-1)![1];
        assert.equal(s.min, min, metric);
        assert.equal(s.max, max, metric);
        assert.equal(s.last, last, metric);
        assert.equal(s.count, vals.length, metric);
        const dir = bestDirection(metric);
        assert.equal(s.best, dir === 'max' ? max : dir === 'min' ? min : undefined, metric);
      }
    }
  });

  it('opens one compare panel for both runs from the Runs view selection', async () => {
    const { store, ChartsPanel } = await api();
    const entries = dirs.map((d) => store.byDir(d)!);
    assert.ok(entries.every(Boolean), 'both runs are in the store');
    const nodes = entries.map((run) => ({ kind: 'run' as const, run }));
    await vscode.commands.executeCommand('contrastiveLab.compareRuns', nodes[0], nodes);
    const panel = await waitForValue('a compare panel', () =>
      ChartsPanel.panelsFor(entries[0].id).find((p) => p.runs.length === 2),
    );
    assert.deepEqual(panel.runs.map((r) => r.id).sort(), entries.map((e) => e.id).sort());
    panel.dispose();
  });

  it('"Export Metrics as CSV" writes every row of both runs, values exact', async () => {
    const { store } = await api();
    const ids = dirs.map((d) => store.byDir(d)!.id);
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cl-csv-')), 'metrics.csv');
    try {
      const uri = (await vscode.commands.executeCommand(
        'contrastiveLab.exportMetrics',
        ids,
        vscode.Uri.file(out),
      )) as vscode.Uri;
      assert.equal(uri.fsPath, out);
      const lines = fs.readFileSync(out, 'utf8').trimEnd().split('\n');
      const header = lines[0].split(',');
      assert.deepEqual(header.slice(0, 4), ['run', 'step', 'epoch', 'time']);
      for (const m of ['loss', 'knn_top1', 'lr']) assert.ok(header.includes(m), `column ${m}`);
      let expectedLines = 0;
      for (const [i, dir] of dirs.entries()) {
        const name = ['tiny-a', 'tiny-b'][i];
        const rows = readMetricsFile(path.join(dir, 'metrics.jsonl')).rows;
        const steps = [...new Set(rows.map((r) => r.step))];
        expectedLines += steps.length;
        for (const step of steps) {
          const line = lines.find((l) => l.startsWith(`${name},${step},`));
          assert.ok(line, `${name} step ${step}`);
          const cells = line.split(',');
          for (const [col, key] of header.entries()) {
            if (col === 0 || key === 'step') continue;
            const have = rows.filter((r) => r.step === step && typeof r[key] === 'number');
            if (!have.length) {
              assert.equal(cells[col], '', `${name} step ${step} ${key} empty`);
              continue;
            }
            // epoch and time come from the step's first row; a metric from the row that has it.
            assert.equal(Number(cells[col]), have[0][key], `${name} step ${step} ${key}`);
          }
        }
      }
      assert.equal(lines.length - 1, expectedLines, 'one line per run and step');
    } finally {
      fs.rmSync(path.dirname(out), { recursive: true, force: true });
    }
  });
});
