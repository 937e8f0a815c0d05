/**
 * The extension at scale: each figure next to its target and a baseline measured in the same run
 * (the naive way: full rescan, full re-parse into row objects, every point to chart.js). Wall
 * time is printed with the process's CPU time, since these machines are often shared.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MetricsTail, RowsByStep } from '../../extension/metricsTail';
import { type RunEntry, readRunEntry, readRunListing } from '../../extension/runScan';
import { type MetricRow, parseMetrics } from '../../trainer/run/metrics';
import { bucketsForWidth, minMaxDecimate } from '../../webview/charts/decimate';
import type { ChartSeriesBlock } from '../../webview/charts/messages';
import { ChartStore, Series } from '../../webview/charts/series';
import type { BenchSection } from '../section';
import { measureRedraw } from './chartRedraw';
import { metricRow, writeMetricsFile, writeRunsFixture } from './fixtures';
import { type HostBenchResult, measureInCodeServer } from './hostBench';

/** The workbench's side of the round trip, when traced (CL_BENCH_RPC_TRACE=1). */
function workbench(a: HostBenchResult['activation']): string {
  if (a.workbenchRegisteredMs === undefined) return '';
  return `the workbench got the view at ${ms(a.workbenchRegisteredMs)} and asked at ${ms(a.workbenchAskedMs ?? Number.NaN)}, the host `;
}

export interface ExtensionBenchOptions {
  json?: boolean;
  runs?: number;
  lines?: number;
  /** Skip the chromium redraw (no browser on this machine). */
  noBrowser?: boolean;
  /**
   * Skip the code-server part (activation to tree listed in the real extension host, live-run
   * latency); it takes a few minutes. Implied by noBrowser.
   */
  noCodeServer?: boolean;
  /** Only the code-server part. */
  codeServerOnly?: boolean;
  log?: (msg: string) => void;
}

interface Timed<T> {
  value: T;
  wallMs: number;
  cpuMs: number;
}

function timed<T>(f: () => T): Timed<T> {
  const c = process.cpuUsage();
  const t = performance.now();
  const value = f();
  const wallMs = performance.now() - t;
  const d = process.cpuUsage(c);
  return { value, wallMs, cpuMs: (d.user + d.system) / 1000 };
}

async function timedAsync<T>(f: () => Promise<T>): Promise<Timed<T>> {
  const c = process.cpuUsage();
  const t = performance.now();
  const value = await f();
  const wallMs = performance.now() - t;
  const d = process.cpuUsage(c);
  return { value, wallMs, cpuMs: (d.user + d.system) / 1000 };
}

/** The scan as it was before: every file of every run read at once, 64 KB of metrics parsed. */
function eagerEntry(dir: string): RunEntry | null {
  const e = readRunEntry(dir);
  if (!e) return null;
  void e.config;
  void e.checkpoints;
  const file = path.join(dir, 'metrics.jsonl');
  const size = fs.statSync(file).size;
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(Math.min(size, 64 * 1024));
  fs.readSync(fd, buf, 0, buf.length, size - buf.length);
  fs.closeSync(fd);
  const text = buf.toString('utf8');
  parseMetrics(text.slice(text.indexOf('\n') + 1));
  return e;
}

function scanAll(runsDir: string, read: (d: string) => RunEntry | null): number {
  let n = 0;
  for (const e of fs.readdirSync(runsDir, { withFileTypes: true }))
    if (e.isDirectory() && read(path.join(runsDir, e.name))) n++;
  return n;
}

function distinctBytes(series: Iterable<Series>): number {
  const seen = new Set<ArrayBufferLike>();
  let bytes = 0;
  for (const s of series)
    for (const a of [s.x('step'), s.x('epoch'), s.x('time'), s.y])
      if (!seen.has(a.buffer)) {
        seen.add(a.buffer);
        bytes += a.buffer.byteLength;
      }
  return bytes;
}

const ms = (x: number) => `${x.toFixed(x < 10 ? 2 : 0)} ms`;
const ratio = (a: number, b: number) => `${(a / b).toFixed(a / b < 10 ? 1 : 0)}x`;

function line(name: string, value: string, target: string, baseline: string, note = ''): string {
  return `  ${name.padEnd(44)} ${value.padEnd(22)} ${target.padEnd(12)} ${baseline}${note ? `  ${note}` : ''}`;
}

export async function runExtensionBench(opts: ExtensionBenchOptions = {}): Promise<{
  data: Record<string, unknown>;
  text: string;
}> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const nRuns = opts.runs ?? 1000;
  const nLines = opts.lines ?? 1_000_000;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-bench-ext-'));
  const data: Record<string, unknown> = { loadAverage: os.loadavg()[0], cores: os.cpus().length };
  const out: string[] = [
    `  ${'figure'.padEnd(44)} ${'measured'.padEnd(22)} ${'target'.padEnd(12)} baseline (same run)`,
  ];
  try {
    if (!opts.codeServerOnly) await nodeFigures();
    if (!opts.noBrowser && !opts.noCodeServer) {
      // ---- the real extension host (code-server) -----------------------------------------
      const h = await measureInCodeServer({ runs: nRuns, log });
      data.host = h;
      const a = h.activation;
      out.push(
        line(
          `Activation -> Runs tree listed, ${a.runs} runs (window start)`,
          `${ms(a.loadMs + a.activationToListedMs)}`,
          '< 300 ms',
          `from the bundle's first line: loaded in ${ms(a.loadMs)}; from activate(): listed by the scan at ${ms(a.listedMs)}, scan ${ms(a.scanMs)} (cpu ${ms(a.scanCpuMs)}), ${workbench(a)}asked at ${ms(a.activationToAskedMs)}, answered in ${ms(a.answerMs)} (${ms(a.activationToListedMs)}), ${a.groupRuns} rows asked at ${ms(a.groupAskedMs)}, made at ${ms(a.activationToRowsMs)}`,
          `(activate() returned at ${ms(a.activateReturnedMs)}, view clicked at ${ms(a.viewClickedMs)}${a.viewShownByProbe ? ', shown by the probe' : ''})`,
        ),
      );
      if (h.latency)
        out.push(
          line(
            'Live run: row -> drawn in the chart, p95',
            `${ms(h.latency.p95)} (p50 ${ms(h.latency.p50)})`,
            '< 250 ms',
            `${h.latency.samples} points, max ${ms(h.latency.max)}`,
            `(${h.latency.steps} steps, ${h.latency.status})`,
          ),
        );
      const settled = await measureInCodeServer({ runs: nRuns, log, settled: 'inactive' });
      data.hostSettled = settled;
      const b = settled.activation;
      const active = await measureInCodeServer({ runs: nRuns, log, settled: 'active' });
      data.hostSettledActive = active;
      const c = active.activation;
      out.push(
        line(
          `View opened -> Runs tree listed, ${b.runs} runs (settled window, click activates)`,
          `${ms(b.activationToListedMs - b.viewClickedMs)}`,
          '< 300 ms',
          `the click activates the extension: bundle at ${ms(-b.viewClickedMs - b.loadMs)}, activate() at ${ms(-b.viewClickedMs)} (loaded in ${ms(b.loadMs)}); from activate(): listed by the scan at ${ms(b.listedMs)}, ${workbench(b)}asked at ${ms(b.activationToAskedMs)}, answered in ${ms(b.answerMs)} (${ms(b.activationToListedMs)})`,
          `(from the bundle's first line: ${ms(b.loadMs + b.activationToListedMs)})`,
        ),
        line(
          `View opened -> Runs tree listed, ${c.runs} runs (settled window, already active)`,
          `${ms(c.activationToListedMs - c.viewClickedMs)}`,
          '',
          `activated as the window started (runs/ in the workspace), listed by the scan at ${ms(c.listedMs)}; the view asked ${ms(c.activationToAskedMs - c.viewClickedMs)} after the click`,
        ),
      );
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  out.push(`  (load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores while measuring)`);
  return { data, text: out.join('\n') };

  async function nodeFigures(): Promise<void> {
    // ---- Runs tree ------------------------------------------------------------------------
    log(`extension: writing ${nRuns} run folders`);
    const fx = writeRunsFixture(path.join(tmp, 'runs'), nRuns);
    scanAll(fx.runsDir, readRunEntry); // warm the page cache for both sides alike
    const eager = timed(() => scanAll(fx.runsDir, eagerEntry));
    const lazy = timed(() => scanAll(fx.runsDir, readRunEntry));
    const listing = timed(() => scanAll(fx.runsDir, readRunListing));
    const one = timed(() => {
      for (let i = 0; i < 20; i++) readRunEntry(fx.runDirs[i * 7]);
    });
    const perChange = one.wallMs / 20;
    data.tree = {
      runs: nRuns,
      scanMs: lazy.wallMs,
      scanCpuMs: lazy.cpuMs,
      listMs: listing.wallMs,
      listCpuMs: listing.cpuMs,
      eagerScanMs: eager.wallMs,
      eagerScanCpuMs: eager.cpuMs,
      refreshOneRunMs: perChange,
      fullRescanMs: lazy.wallMs,
    };
    out.push(
      line(
        `Runs scan, ${nRuns} runs (plain Node)`,
        `${ms(lazy.wallMs)} (cpu ${ms(lazy.cpuMs)})`,
        '< 300 ms',
        `eager scan ${ms(eager.wallMs)} (${ratio(eager.wallMs, lazy.wallMs)} slower)`,
        `(first pass, run.json only: ${ms(listing.wallMs)})`,
      ),
      line(
        'A change in one run folder',
        ms(perChange),
        'no rescan',
        `full rescan ${ms(lazy.wallMs)} (${ratio(lazy.wallMs, perChange)})`,
      ),
    );

    // ---- metrics.jsonl of 1M lines ------------------------------------------------------
    log(`extension: writing metrics.jsonl of ${nLines} lines`);
    const mfile = path.join(tmp, 'metrics.jsonl');
    writeMetricsFile(mfile, nLines, 1000);
    const fileBytes = fs.statSync(mfile).size;
    const buckets = bucketsForWidth(1200);
    const decimateAll = (series: Iterable<Series>) => {
      let drawn = 0;
      for (const s of series) {
        drawn += minMaxDecimate(s.step, s.y, buckets, { to: s.length }).length;
        drawn += minMaxDecimate(s.step, s.smoothed(0.6), buckets, { to: s.length }).length;
      }
      return drawn;
    };
    log('extension: columns pipeline (file -> columns -> panel store -> decimated)');
    const columnsPipeline = () =>
      timedAsync(async () => {
        const store = new Map<string, Series>();
        const tail = new MetricsTail(mfile, { pollMs: 0, columns: true });
        tail.on('columns', (block: ChartSeriesBlock) => {
          for (const k in block) {
            let s = store.get(k);
            if (!s) {
              s = new Series('r', k);
              store.set(k, s);
            }
            s.addColumns(block[k], true);
          }
        });
        await tail.refresh();
        tail.dispose();
        return {
          drawn: decimateAll(store.values()),
          points: [...store.values()].reduce((a, s) => a + s.length, 0),
          // What an init message carries: each distinct buffer once, whole (metrics share axes).
          bytes: distinctBytes(store.values()),
        };
      });
    // The first chart of a session pays for compiling the parser and for fresh memory; the
    // second shows the steady state.
    const cols = await columnsPipeline();
    const again = await columnsPipeline();
    log('extension: baseline pipeline (file -> row objects -> dedupe -> chart store -> decimated)');
    const rows = await timedAsync(async () => {
      const dedupe = new RowsByStep();
      const store = new ChartStore();
      store.init([{ id: 'r', name: 'r' }], { r: [] });
      const tail = new MetricsTail(mfile, { pollMs: 0 });
      tail.on('rows', (r: MetricRow[]) => store.append('r', dedupe.add(r)));
      await tail.refresh();
      tail.dispose();
      return { drawn: decimateAll(store.runs.get('r')!.series.values()), rows: dedupe.rows };
    });
    const jsonBytes = Buffer.byteLength(JSON.stringify(rows.value.rows));
    const binaryBytes = cols.value.bytes;
    rows.value.rows = [];

    // Appends: a live run adds lines; a refresh reads the new bytes only.
    const tail = new MetricsTail(mfile, { pollMs: 0, columns: true });
    let appended = 0;
    tail.on('columns', (b: ChartSeriesBlock) => {
      appended += b.loss?.y.length ?? 0;
    });
    await tail.refresh();
    const before = tail.bytesRead;
    const extra = `${Array.from({ length: 100 }, (_, i) => JSON.stringify(metricRow(nLines + 1 + i, 1000, 1.7e9))).join('\n')}\n`;
    fs.appendFileSync(mfile, extra);
    appended = 0;
    await tail.refresh();
    const appendBytesRead = tail.bytesRead - before;
    tail.dispose();

    data.metrics = {
      lines: nLines,
      fileBytes,
      columnsMs: cols.wallMs,
      columnsCpuMs: cols.cpuMs,
      columnsAgainMs: again.wallMs,
      columnsAgainCpuMs: again.cpuMs,
      rowsMs: rows.wallMs,
      rowsCpuMs: rows.cpuMs,
      drawnPoints: cols.value.drawn,
      messageBytesJson: jsonBytes,
      messageBytesColumns: binaryBytes,
      appendLines: 100,
      appendBytes: Buffer.byteLength(extra),
      appendBytesRead,
      appendPointsSeen: appended,
    };
    out.push(
      line(
        `metrics.jsonl ${(nLines / 1e6).toFixed(1)}M lines: parse + decimate`,
        `${ms(cols.wallMs)} (cpu ${ms(cols.cpuMs)})`,
        '< 1 s',
        `rows ${ms(rows.wallMs)} (cpu ${ms(rows.cpuMs)}; ${ratio(rows.cpuMs, cols.cpuMs)} the cpu)`,
      ),
      line(
        '  the same, a second time (parser compiled)',
        `${ms(again.wallMs)} (cpu ${ms(again.cpuMs)})`,
        '< 1 s',
        '',
      ),
      line(
        'init message for the webview',
        `${(binaryBytes / 1e6).toFixed(0)} MB typed arrays`,
        '',
        `${(jsonBytes / 1e6).toFixed(0)} MB of JSON rows`,
      ),
      line(
        'Tail: 100 lines appended to that file',
        `${appendBytesRead} bytes read`,
        'new only',
        `file ${(fileBytes / 1e6).toFixed(0)} MB; appended ${Buffer.byteLength(extra)} bytes`,
        '(+64 B signature)',
      ),
    );

    // ---- redraw in chromium -------------------------------------------------------------
    if (!opts.noBrowser) {
      log('extension: chart redraw with 1M points in chromium (real charts bundle)');
      const r = await measureRedraw(1_000_000, 5);
      data.redraw = r;
      out.push(
        line(
          'Chart redraw, 1M points (chromium)',
          `${ms(r.decimatedMs)} (${r.drawnPoints.join('+')} drawn)`,
          '< 100 ms',
          `every point ${ms(r.fullMs)} (${ratio(r.fullMs, r.decimatedMs)})`,
        ),
        line('Webview init with 1M points (columns)', ms(r.initMs), '', ''),
      );
    }
  }
}

export const extensionSection: BenchSection = {
  name: 'extension',
  description: 'the extension at scale: 1,000 runs, 1M-line metrics, 1M-point charts',
  async run(_opts, log) {
    return runExtensionBench({
      log,
      noBrowser: !!process.env.CL_BENCH_NO_BROWSER,
      noCodeServer: !!process.env.CL_BENCH_NO_CODE_SERVER,
    });
  },
};
