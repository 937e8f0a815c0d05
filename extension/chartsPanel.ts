/**
 * The live charts of one run, or of several runs compared. Files are the source of truth
 * (DESIGN.md): every row comes from metrics.jsonl through a MetricsTail; rows pushed from the
 * trainer's run/metrics notifications only make the chart quicker, and are deduplicated by step.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { EVALS_FILE, type EvalRecord } from '../trainer/eval/contract';
import type { MetricRow } from '../trainer/run/metrics';
import { RUN_FILES } from '../trainer/run/runfolder';
import {
  CHARTS_VIEW_TYPE,
  type ChartSeriesBlock,
  type ChartsToWebview,
  type ChartsUiState,
  isChartsFromWebview,
} from '../webview/charts/messages';
import { Series } from '../webview/charts/series';
import { exportMetricsCsv } from './compareExport';
import { evalChartRow, evalRecordProblem } from './evals';
import { blockPoints, blockToRows, rowsToBlock } from './metricsColumns';
import { MetricsTail, RowsByStep } from './metricsTail';
import { webviewHtml } from './webviewHtml';

export interface ChartRunRef {
  id: string;
  name: string;
  /** The run folder (holds metrics.jsonl). */
  dir: string;
}

interface RunFeed {
  ref: ChartRunRef;
  /**
   * metrics.jsonl by metric, as columns: what the webview holds, kept to answer a rebuilt
   * webview's `ready`. Each step is kept once per metric, whichever path brought it first.
   */
  metrics: Map<string, Series>;
  tail: MetricsTail;
  /** evals.jsonl as chart rows (eval_<protocol>_top1, eval_alignment, ...) at their checkpoints' steps. */
  evalRows: RowsByStep;
  evalTail: MetricsTail;
}

/** Warnings about one run are capped so a file full of bad lines cannot flood the webview. */
const MAX_WARNINGS_PER_RUN = 20;

export class ChartsPanel {
  static readonly viewType = CHARTS_VIEW_TYPE;

  /** Open panels by their set of run ids, so asking again for the same runs reveals the panel. */
  private static readonly open = new Map<string, ChartsPanel>();

  /**
   * Opens (or reveals) the charts of `runs`: one run gives `Charts: <name>`, several give a
   * comparison with one colour per run.
   */
  static show(context: vscode.ExtensionContext, runs: ChartRunRef[]): ChartsPanel {
    const unique = uniqueRuns(runs);
    if (!unique.length) throw new Error('ChartsPanel.show needs at least one run.');
    const existing = ChartsPanel.open.get(setKey(unique));
    if (existing) {
      existing.panel.reveal();
      return existing;
    }
    const panel = vscode.window.createWebviewPanel(
      ChartsPanel.viewType,
      titleFor(unique),
      vscode.ViewColumn.Active,
      webviewOptions(context.extensionUri),
    );
    return new ChartsPanel(context, panel, unique);
  }

  /**
   * Brings charts back after a window reload. The webview saves its run ids in its state;
   * `resolveRuns` maps them to run folders (ids that no longer exist are left out). Needs the
   * activation event `onWebviewPanel:contrastiveLab.charts` in package.json.
   */
  static registerSerializer(
    context: vscode.ExtensionContext,
    resolveRuns: (ids: string[]) => ChartRunRef[] | Promise<ChartRunRef[]>,
  ): vscode.Disposable {
    return vscode.window.registerWebviewPanelSerializer(ChartsPanel.viewType, {
      async deserializeWebviewPanel(panel: vscode.WebviewPanel, state: unknown) {
        const ids = (state as Partial<ChartsUiState> | undefined)?.runIds;
        const wanted = Array.isArray(ids) ? ids.filter((x): x is string => typeof x === 'string') : [];
        const runs = uniqueRuns(wanted.length ? await resolveRuns(wanted) : []);
        if (!runs.length || ChartsPanel.open.has(setKey(runs))) {
          panel.dispose();
          return;
        }
        panel.title = titleFor(runs);
        panel.webview.options = webviewOptions(context.extensionUri);
        new ChartsPanel(context, panel, runs);
      },
    });
  }

  /** Routes rows from a run/metrics notification to every open panel that shows the run. */
  static pushRows(runId: string, rows: MetricRow[]): void {
    for (const p of ChartsPanel.open.values()) p.pushRows(runId, rows);
  }

  /** "metrics.jsonl of this run changed" (or of every run, without an id). */
  static poke(runId?: string): void {
    for (const p of ChartsPanel.open.values()) p.poke(runId);
  }

  static panelsFor(runId: string): ChartsPanel[] {
    return [...ChartsPanel.open.values()].filter((p) => p.feeds.has(runId));
  }

  readonly runs: readonly ChartRunRef[];
  private readonly key: string;
  private readonly feeds = new Map<string, RunFeed>();
  private readonly disposables: vscode.Disposable[] = [];
  private readonly warnings = new Map<string, number>();
  private readonly loaded: Promise<void>;
  /** True once the current webview instance has had its `init`; appends before that are implied. */
  private initSent = false;
  private disposed = false;

  private constructor(
    context: vscode.ExtensionContext,
    readonly panel: vscode.WebviewPanel,
    runs: ChartRunRef[],
  ) {
    this.runs = runs;
    this.key = setKey(runs);
    ChartsPanel.open.set(this.key, this);

    for (const ref of runs) {
      const file = path.join(ref.dir, RUN_FILES.metrics);
      const feed: RunFeed = {
        ref,
        metrics: new Map(),
        // Columns: a long run's million lines never become row objects here or in the message.
        tail: new MetricsTail(file, { columns: true }),
        evalRows: new RowsByStep(),
        // evals.jsonl lines carry a numeric step, so the metrics tail reads them as well.
        evalTail: new MetricsTail(path.join(ref.dir, EVALS_FILE)),
      };
      feed.tail.on('columns', (block) => this.ingest(feed, block));
      feed.tail.on('reset', () => this.resetRun(feed, 'metrics'));
      feed.tail.on('warning', (text) => this.warn(ref.id, text));
      feed.evalTail.on('rows', (rows) => this.ingestEvals(feed, rows));
      feed.evalTail.on('reset', () => this.resetRun(feed, 'evals'));
      feed.evalTail.on('warning', (text) => this.warn(ref.id, text));
      this.feeds.set(ref.id, feed);
      this.watch(ref.dir, feed);
    }
    // Evaluations are placed on the time axis by the training rows, so those are read first.
    this.loaded = Promise.all(
      [...this.feeds.values()].map((f) => f.tail.start().then(() => f.evalTail.start())),
    ).then(() => undefined);

    panel.webview.html = webviewHtml(panel.webview, context.extensionUri, {
      bundle: 'charts',
      stylesheet: 'charts.css',
      title: titleFor(runs),
      dataImages: true,
    });
    this.disposables.push(
      panel.webview.onDidReceiveMessage((msg) => this.onMessage(msg)),
      panel.onDidChangeViewState(() => {
        // Without retainContextWhenHidden a hidden webview is destroyed; the next one says `ready`.
        if (!panel.visible) this.initSent = false;
      }),
      panel.onDidDispose(() => this.dispose()),
    );
  }

  /**
   * Rows from the trainer's run/metrics notification. Steps the panel already has (from the file
   * or an earlier push) are dropped, so a row arriving by both paths is drawn once.
   */
  pushRows(runId: string, rows: MetricRow[]): void {
    const feed = this.feeds.get(runId);
    if (feed) this.ingest(feed, rowsToBlock(rows));
  }

  /** Reads what was appended to the run's metrics.jsonl (all runs without an id). */
  poke(runId?: string): void {
    for (const feed of this.feeds.values())
      if (runId === undefined || runId === feed.ref.id) feed.tail.poke();
  }

  reveal(): void {
    this.panel.reveal();
  }

  /** The rows the panel holds for a run (what the webview was sent): for tests and diagnostics. */
  rowsOf(runId: string): { metrics: readonly MetricRow[]; evals: readonly MetricRow[] } | undefined {
    const feed = this.feeds.get(runId);
    return feed && { metrics: blockToRows(seriesBlock(feed)), evals: feed.evalRows.rows };
  }

  /** Messages posted to the webview and metric points they carried: tests count them. */
  readonly sent = { messages: 0, appends: 0, points: 0, lastAppendPoints: 0 };

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (ChartsPanel.open.get(this.key) === this) ChartsPanel.open.delete(this.key);
    for (const feed of this.feeds.values()) {
      feed.tail.dispose();
      feed.evalTail.dispose();
    }
    for (const d of this.disposables.splice(0)) d.dispose();
    this.panel.dispose();
  }

  private watch(dir: string, feed: RunFeed): void {
    // The poll inside MetricsTail is the fallback; the watcher makes updates prompt where the
    // platform delivers file events.
    try {
      const w = vscode.workspace.createFileSystemWatcher(
        new vscode.RelativePattern(vscode.Uri.file(dir), RUN_FILES.metrics),
      );
      const poke = () => feed.tail.poke();
      this.disposables.push(w, w.onDidChange(poke), w.onDidCreate(poke), w.onDidDelete(poke));
      const e = vscode.workspace.createFileSystemWatcher(
        new vscode.RelativePattern(vscode.Uri.file(dir), EVALS_FILE),
      );
      const pokeEvals = () => feed.evalTail.poke();
      this.disposables.push(e, e.onDidChange(pokeEvals), e.onDidCreate(pokeEvals), e.onDidDelete(pokeEvals));
    } catch {
      // Some remote filesystems refuse watchers; polling still works.
    }
  }

  /** Keeps the points not seen before and sends exactly those. */
  private ingest(feed: RunFeed, block: ChartSeriesBlock): void {
    const fresh: ChartSeriesBlock = {};
    for (const metric in block) {
      const c = block[metric];
      let s = feed.metrics.get(metric);
      if (!s) {
        s = new Series(feed.ref.id, metric);
        feed.metrics.set(metric, s);
      }
      // Adopted: the block goes out in this call's message (serialized at once) and is not kept.
      const added = s.addColumns(c, true);
      if (added === null) {
        if (c.y.length) fresh[metric] = c;
      } else if (added.length) {
        const pickOf = (a: Float64Array) => Float64Array.from(added, (i) => a[i]);
        fresh[metric] = {
          step: pickOf(c.step),
          epoch: pickOf(c.epoch),
          time: pickOf(c.time),
          y: pickOf(c.y),
        };
      }
    }
    if (this.initSent && blockPoints(fresh)) this.post({ type: 'append', runId: feed.ref.id, series: fresh });
  }

  /**
   * Wall time of the newest metrics row at or before `step` (evaluations are drawn there): the
   * greatest step not after it, and of its rows the latest (the kNN row after the training row).
   */
  private timeAt(feed: RunFeed, step: number): number | undefined {
    let bestStep = -Infinity;
    let bestTime: number | undefined;
    for (const s of feed.metrics.values()) {
      let lo = 0;
      let hi = s.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (s.step[mid] <= step) lo = mid + 1;
        else hi = mid;
      }
      if (lo === 0) continue;
      const st = s.step[lo - 1];
      const t = s.x('time')[lo - 1];
      if (!Number.isFinite(t)) continue;
      if (st > bestStep || (st === bestStep && t > (bestTime ?? -Infinity))) {
        bestStep = st;
        bestTime = t;
      }
    }
    return bestTime;
  }

  private ingestEvals(feed: RunFeed, rows: MetricRow[]): void {
    const converted: MetricRow[] = [];
    for (const r of rows) {
      const problem = evalRecordProblem(r);
      if (problem) {
        this.warn(feed.ref.id, `${EVALS_FILE}: a line was skipped (${problem})`);
        continue;
      }
      converted.push(evalChartRow(r as unknown as EvalRecord, (step) => this.timeAt(feed, step)));
    }
    const added = feed.evalRows.add(converted);
    if (added.length && this.initSent) this.post({ type: 'append', runId: feed.ref.id, rows: added });
  }

  /** The webview forgets all of a run's rows on `reset`, so the other file's rows are sent again. */
  private resetRun(feed: RunFeed, which: 'metrics' | 'evals'): void {
    if (which === 'metrics') feed.metrics.clear();
    else feed.evalRows.clear();
    if (!this.initSent) return;
    this.post({ type: 'reset', runId: feed.ref.id });
    if (which === 'metrics' && feed.evalRows.rows.length)
      this.post({ type: 'append', runId: feed.ref.id, rows: [...feed.evalRows.rows] });
    if (which === 'evals' && feed.metrics.size)
      this.post({ type: 'append', runId: feed.ref.id, series: seriesBlock(feed) });
  }

  private warn(runId: string, text: string): void {
    const n = (this.warnings.get(runId) ?? 0) + 1;
    this.warnings.set(runId, n);
    if (n <= MAX_WARNINGS_PER_RUN && this.initSent) this.post({ type: 'warning', runId, text });
  }

  private async onMessage(msg: unknown): Promise<void> {
    if (!isChartsFromWebview(msg)) return;
    if (msg.type === 'error') {
      console.error(`[charts webview] ${msg.text}`);
      return;
    }
    if (msg.type === 'exportCsv') {
      await exportMetricsCsv(this.runs);
      return;
    }
    // A (re)loaded webview knows nothing: send everything once the first full read is done.
    this.initSent = false;
    await this.loaded;
    if (this.disposed) return;
    const rows: Record<string, MetricRow[]> = {};
    const series: Record<string, ChartSeriesBlock> = {};
    for (const [id, feed] of this.feeds) {
      rows[id] = [...feed.evalRows.rows];
      series[id] = seriesBlock(feed);
    }
    this.post({
      type: 'init',
      runs: this.runs.map((r) => ({ id: r.id, name: r.name })),
      rows,
      series,
      ...(this.runs.length > 1 ? { configs: readConfigs(this.runs) } : {}),
    });
    this.initSent = true;
  }

  private post(msg: ChartsToWebview): void {
    if (this.disposed) return;
    this.sent.messages++;
    if (msg.type === 'append') {
      const n = (msg.series ? blockPoints(msg.series) : 0) + (msg.rows?.length ?? 0);
      this.sent.appends++;
      this.sent.points += n;
      this.sent.lastAppendPoints = n;
    }
    void this.panel.webview.postMessage(msg);
  }
}

/** A run's metrics as one block of columns (copies). */
function seriesBlock(feed: RunFeed): ChartSeriesBlock {
  const out: ChartSeriesBlock = {};
  for (const [k, s] of feed.metrics) if (s.length) out[k] = s.columns();
  return out;
}

function readConfigs(runs: readonly ChartRunRef[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const r of runs) {
    try {
      out[r.id] = JSON.parse(fs.readFileSync(path.join(r.dir, RUN_FILES.config), 'utf8'));
    } catch {
      // a run without a readable config is left out of the diff
    }
  }
  return out;
}

function uniqueRuns(runs: ChartRunRef[]): ChartRunRef[] {
  const seen = new Set<string>();
  return runs.filter((r) => !seen.has(r.id) && seen.add(r.id));
}

/** Order-independent, so "compare A and B" and "compare B and A" reuse one panel. */
function setKey(runs: readonly ChartRunRef[]): string {
  return runs
    .map((r) => r.id)
    .sort()
    .join('\n');
}

function titleFor(runs: readonly ChartRunRef[]): string {
  return runs.length === 1 ? `Charts: ${runs[0].name}` : `Compare: ${runs.length} runs`;
}

function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewPanelOptions & vscode.WebviewOptions {
  return {
    enableScripts: true,
    // The webview saves its UI state (smoothing, zoom, ...) and is rebuilt from `init` when shown.
    retainContextWhenHidden: false,
    localResourceRoots: [
      vscode.Uri.joinPath(extensionUri, 'dist', 'webview'),
      vscode.Uri.joinPath(extensionUri, 'media'),
    ],
  };
}
