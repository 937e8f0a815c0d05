/**
 * Runs inside the real extension host (code-server), loaded as `extensionTestsPath` by
 * hostBench.ts: reads the activation-to-Runs-tree-listed times the extension recorded, then starts
 * a live run, opens its charts and waits for it to end while the bench reads the webview's
 * notification-to-drawn latencies. Reports JSON lines to CL_BENCH_REPORT; returns once the bench
 * writes `<report>.done`, so the workbench stays up while it reads.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ContrastiveLabApi } from '../../extension/extension';
import { resolveConfig } from '../../trainer/config/resolve';
import { createRunFolder } from '../../trainer/run/runfolder';

const EXTENSION_ID = 'contrastive-lab.contrastive-lab';

async function until<T>(what: string, f: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function run(): Promise<void> {
  const report = process.env.CL_BENCH_REPORT;
  if (!report) throw new Error('CL_BENCH_REPORT is not set: run through bench/extension/hostBench.ts');
  const put = (o: Record<string, unknown>) => fs.appendFileSync(report, `${JSON.stringify(o)}\n`);
  try {
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    if (!ext) throw new Error(`extension ${EXTENSION_ID} is not loaded`);
    // Activated by its own event (workspaceContains runs/*/run.json), not by this probe.
    await until('the extension to activate', () => ext.isActive, 60_000);
    const api = ext.exports as ContrastiveLabApi;
    const probeAt = performance.now();
    const activationOnly = !!process.env.CL_BENCH_ACTIVATION_ONLY;
    // The workbench asks for the tree only while the view is visible: show it if nobody has
    // (activation-only: the bench's click on the view is what activated the extension).
    if (!api.runs.firstListed && !activationOnly)
      await vscode.commands.executeCommand('contrastiveLab.runs.focus');
    const listed = await until('the Runs tree to list runs', () => api.runs.firstListed, 60_000);
    await api.store.ready;
    const group = await until(
      "a group's runs listed",
      () => (Number.isFinite(api.runs.firstGroupListed?.itemsAt) ? api.runs.firstGroupListed : undefined),
      60_000,
    );
    const created = api.store.createdAt;
    put({
      kind: 'activation',
      runs: listed.runs,
      // The scan reports when its first pass ended; the tree was listed from then on.
      listedMs: api.store.listedAt - created,
      scanMs: api.store.scanMs,
      scanCpuMs: api.store.scanCpuMs,
      activationToListedMs: listed.at - created,
      activationToAskedMs: listed.askedAt - created,
      answerMs: listed.at - listed.askedAt,
      activationToRowsMs: group.itemsAt - created,
      groupAskedMs: group.askedAt - created,
      groupRuns: group.runs,
      activateReturnedMs: (api.runs.activatedAt ?? Number.NaN) - created,
      loadMs: created - api.loadedAt,
      probeStartedAfterMs: probeAt - created,
      activationEpochMs: performance.timeOrigin + created,
      viewShownByProbe: listed.askedAt >= probeAt,
    });
    if (activationOnly) {
      await until('the bench to read the report', () => fs.existsSync(`${report}.done`), 120_000);
      return;
    }

    const steps = Number(process.env.CL_BENCH_LIVE_EPOCHS ?? 12);
    const runsDir = api.store.runsDir;
    if (!runsDir) throw new Error('the store has no runs folder');
    const config = resolveConfig(
      {
        dataset: { kind: 'synthetic', syntheticTrain: 256, syntheticTest: 32 },
        encoder: { arch: 'convnet', width: 4 },
        head: { hidden: [8], out: 8 },
        training: { epochs: steps, batchSize: 16 },
        eval: { knn: { every: 4, k: 10 } },
      },
      'laptop',
    );
    const dir = createRunFolder(runsDir, config, { name: 'bench-live' }).dir;
    const entry = await until('the store to list the live run', () => api.store.byDir(dir), 30_000);
    await vscode.commands.executeCommand('contrastiveLab.openCharts', entry.id);
    await until('the charts panel', () => api.ChartsPanel.panelsFor(entry.id)[0], 30_000);
    await vscode.commands.executeCommand('contrastiveLab.startRun', dir);
    put({ kind: 'live-started', runId: entry.id, dir });
    const info = await until(
      'the live run to end',
      () => {
        try {
          const s = JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8'));
          return ['completed', 'failed', 'stopped'].includes(s.status) ? s : undefined;
        } catch {
          return undefined;
        }
      },
      300_000,
    );
    put({ kind: 'live-done', status: info.status, step: info.step, error: info.error });
    await until('the bench to read the charts', () => fs.existsSync(`${report}.done`), 120_000);
  } catch (e) {
    put({ kind: 'error', message: (e as Error).stack ?? String(e) });
    throw e;
  }
}
