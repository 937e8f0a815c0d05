/**
 * The extension in the real extension host (code-server 4.100.3, headless Debian chromium):
 * activation to the Runs tree listed on a workspace of many run folders, and a live run's
 * notification-to-chart latency as the charts webview measures it (`__charts.latencies()`: from
 * the wall time the trainer stamped on a row to the redraw that shows it).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { launchBrowser } from '../../test/vscode/browser';
import { ROOT, startCodeServer } from '../../test/vscode/codeServer';
import { ensureBuilt } from '../../test/vscode/fixture';
import { activeWebview, activityBarEntry } from '../../test/vscode/workbench';
import { writeRunsFixture } from './fixtures';
import { RPC_TRACE_PAYLOAD, traceRunsViewRpc } from './rpcTrace';

export interface HostBenchResult {
  activation: {
    runs: number;
    /** When the scan's first pass (run.json of every run) had listed the runs. */
    listedMs: number;
    scanMs: number;
    scanCpuMs: number;
    /** From the extension bundle's first line to activate() (loading the bundle). */
    loadMs: number;
    activationToListedMs: number;
    activationToAskedMs: number;
    answerMs: number;
    /** Until the first expanded group's run rows were made (getChildren + getTreeItem). */
    activationToRowsMs: number;
    /** When the view asked for that group's runs. */
    groupAskedMs: number;
    groupRuns: number;
    activateReturnedMs: number;
    viewShownByProbe: boolean;
    activationEpochMs: number;
    /** When the bench's click on the activity bar entry returned, from activation's start. */
    viewClickedMs: number;
    /** With CL_BENCH_RPC_TRACE: when the workbench got the view's registration and asked for it. */
    workbenchRegisteredMs?: number;
    workbenchAskedMs?: number;
  };
  /** Absent in the settled-window measurement, which stops after the listing. */
  latency?: { samples: number; p50: number; p95: number; max: number; status: string; steps: number };
  wallS: number;
}

/** How long the settled-window measurement leaves the workbench alone before opening the view. */
const SETTLE_MS = 8000;

function quantile(sorted: number[], q: number): number {
  if (!sorted.length) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function bundleProbe(outDir: string): Promise<string> {
  await esbuild.build({
    entryPoints: [path.join(__dirname, 'hostProbe.ts')],
    outfile: path.join(outDir, 'hostProbe.js'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode'],
    logLevel: 'warning',
  });
  return path.join(outDir, 'hostProbe.js');
}

/**
 * `settled`: the window is left to finish starting, and then the user opens the Contrastive Lab
 * view; stops after the listing. 'inactive': the runs folder is one the activation event does not
 * match (a setting points at it), so the click activates the extension, and activation and
 * listing happen without the window's start-up competing for the two cores. 'active': the usual
 * workspace (runs/ activates the extension as the window starts); the click finds it listed.
 */
export async function measureInCodeServer(
  opts: { runs?: number; log?: (m: string) => void; settled?: 'inactive' | 'active' } = {},
): Promise<HostBenchResult> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const t0 = Date.now();
  ensureBuilt();
  // Inside the repository, like the test suite's bundle: the workbench loads it by path.
  const out = path.join(ROOT, 'dist', 'bench', `host-${process.pid}`);
  fs.rmSync(out, { recursive: true, force: true });
  const probe = await bundleProbe(out);
  const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-bench-host-'));
  const report = path.join(os.tmpdir(), `${path.basename(ws)}-report.jsonl`);
  const nRuns = opts.runs ?? 1000;
  log(`extension (code-server): writing ${nRuns} run folders`);
  // Not named `runs` when the click must activate: `workspaceContains:**/runs/*/run.json`.
  const elsewhere = opts.settled === 'inactive';
  const runsDir = path.join(ws, elsewhere ? 'results' : 'runs');
  writeRunsFixture(runsDir, nRuns, { rowsPerRun: 500 });
  const cs = await startCodeServer({
    workspace: ws,
    env: { CL_BENCH_REPORT: report, ...(opts.settled ? { CL_BENCH_ACTIVATION_ONLY: '1' } : {}) },
    settings: elsewhere ? { 'contrastiveLab.runsDirectory': runsDir } : {},
  });
  let browser: Awaited<ReturnType<typeof launchBrowser>> | undefined;
  const seen: Record<string, Record<string, unknown>> = {};
  const read = () => {
    if (!fs.existsSync(report)) return;
    for (const l of fs.readFileSync(report, 'utf8').split('\n'))
      if (l.trim()) {
        const o = JSON.parse(l);
        seen[o.kind] = o;
      }
    if (seen.error) throw new Error(`in the extension host: ${seen.error.message}`);
  };
  const waitKind = async (kind: string, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      read();
      if (seen[kind]) return seen[kind];
      if (Date.now() > deadline)
        throw new Error(`no '${kind}' from the extension host within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  try {
    browser = await launchBrowser();
    const { page } = browser;
    await page.exposeFunction('codeAutomationLog', () => {});
    await page.exposeFunction('codeAutomationExit', () => {});
    const trace = process.env.CL_BENCH_RPC_TRACE;
    const rpc = trace ? await traceRunsViewRpc(page, 'contrastiveLab.runs') : undefined;
    log('extension (code-server): workbench opening; the probe runs in the extension host');
    await page.goto(
      cs.url([
        ['extensionDevelopmentPath', cs.remoteUri(ROOT)],
        ['extensionTestsPath', cs.remoteUri(probe)],
        ...(trace ? [RPC_TRACE_PAYLOAD] : []),
      ]),
    );
    // A user with the view open: click it as soon as the activity bar shows it, so the tree is
    // asked for as early as the workbench allows (the probe opens it otherwise). Settled: the
    // user opens it once the window has finished starting.
    let clickedAt = Number.NaN;
    const entry = activityBarEntry(page, 'Contrastive Lab');
    if (opts.settled) {
      await entry.waitFor({ timeout: 120_000 });
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      log('extension (code-server): window settled; opening the Contrastive Lab view');
    }
    const clickStart = Date.now();
    await entry
      .click({ timeout: 120_000 })
      .then(() => {
        clickedAt = opts.settled ? clickStart : Date.now();
      })
      .catch(() => {});
    const activation = (await waitKind('activation', 180_000)) as unknown as HostBenchResult['activation'];
    // Same machine, same wall clock: when the view was opened, relative to activation's start.
    const sinceActivation = (t: number | undefined) =>
      t === undefined ? undefined : t - Number(activation.activationEpochMs);
    activation.viewClickedMs = clickedAt - Number(activation.activationEpochMs);
    activation.workbenchRegisteredMs = sinceActivation(rpc?.registeredAt);
    activation.workbenchAskedMs = sinceActivation(rpc?.askedAt);
    log(
      `extension (code-server): tree listed ${activation.activationToListedMs.toFixed(0)} ms after activation`,
    );
    if (opts.settled) return { activation, wallS: (Date.now() - t0) / 1000 };
    await waitKind('live-started', 60_000);
    log('extension (code-server): live run started, charts open');
    const done = await waitKind('live-done', 300_000);
    // The last rows' redraw: give the chart its streaming interval to catch up.
    await new Promise((r) => setTimeout(r, 1000));
    const lat = (await activeWebview(page)
      .locator('#app')
      .evaluate(() =>
        (window as unknown as { __charts: { latencies(): number[] } }).__charts.latencies(),
      )) as number[];
    fs.writeFileSync(`${report}.done`, '');
    const sorted = [...lat].sort((a, b) => a - b);
    return {
      activation,
      latency: {
        samples: sorted.length,
        p50: quantile(sorted, 0.5),
        p95: quantile(sorted, 0.95),
        max: sorted[sorted.length - 1] ?? Number.NaN,
        status: String(done.status),
        steps: Number(done.step),
      },
      wallS: (Date.now() - t0) / 1000,
    };
  } finally {
    fs.writeFileSync(`${report}.done`, '');
    await browser?.close();
    await cs.stop();
    // Runs outlive the window by design: a live run left training after a failure is ended here.
    const live = seen['live-started']?.dir;
    if (typeof live === 'string') {
      try {
        const info = JSON.parse(fs.readFileSync(path.join(live, 'run.json'), 'utf8'));
        if ((info.status === 'running' || info.status === 'stopping') && info.pid)
          process.kill(info.pid, 'SIGKILL');
      } catch {
        // no run.json, or the process is gone
      }
    }
    for (const p of [ws, out, report, `${report}.done`]) fs.rmSync(p, { recursive: true, force: true });
  }
}
