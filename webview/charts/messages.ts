/**
 * Messages between the extension's ChartsPanel and the charts webview. Both sides import this
 * file (through `webview/contract.ts`); it holds types only, so the webview bundle pulls in
 * nothing from Node. Names carry a `Charts` prefix because contract.ts re-exports every
 * webview's messages into one namespace.
 */
import type { MetricRow } from '../../trainer/run/metrics';

/** One metrics.jsonl line, already parsed: `{step, epoch, time, ...values}`. */
export type ChartRow = MetricRow;

/**
 * One metric's points as columns of equal length, in step order. Long runs travel this way: a
 * million points are four typed arrays (posted as binary) instead of a million row objects.
 */
export interface ChartSeriesColumns {
  step: Float64Array;
  epoch: Float64Array;
  time: Float64Array;
  y: Float64Array;
}

/** Points by metric name. */
export type ChartSeriesBlock = Record<string, ChartSeriesColumns>;

export interface ChartRun {
  id: string;
  /** Shown in the legend and the tooltip. */
  name: string;
}

// ---- extension -> webview -------------------------------------------------------------------

/** Everything known so far, sent in answer to every `ready` (a hidden webview is rebuilt). */
export interface ChartsInitMessage {
  type: 'init';
  runs: ChartRun[];
  /** Rows per run id (evaluations; small), sorted by step. */
  rows: Record<string, ChartRow[]>;
  /** metrics.jsonl per run id, as columns (absent for a run with no metrics yet). */
  series?: Record<string, ChartSeriesBlock>;
  /** Compare view: each run's config.json (absent where unreadable), for the diff of differing keys. */
  configs?: Record<string, unknown>;
}

/** Points that the webview has not seen yet: never the whole series again. */
export interface ChartsAppendMessage {
  type: 'append';
  runId: string;
  rows?: ChartRow[];
  series?: ChartSeriesBlock;
}

/** metrics.jsonl was truncated or replaced (a resume): drop the run's rows; appends follow. */
export interface ChartsResetMessage {
  type: 'reset';
  runId: string;
}

/** Something the researcher should see (an unreadable file, skipped lines). */
export interface ChartsWarningMessage {
  type: 'warning';
  runId?: string;
  text: string;
}

export type ChartsToWebview =
  | ChartsInitMessage
  | ChartsAppendMessage
  | ChartsResetMessage
  | ChartsWarningMessage;

// ---- webview -> extension -------------------------------------------------------------------

/** The webview's script is listening; the panel answers with `init`. */
export interface ChartsReadyMessage {
  type: 'ready';
}

/** An uncaught error inside the webview, for the extension's log. */
export interface ChartsErrorMessage {
  type: 'error';
  text: string;
}

/** "Export CSV": the panel asks where and writes the shown runs' metrics. */
export interface ChartsExportCsvMessage {
  type: 'exportCsv';
}

export type ChartsFromWebview = ChartsReadyMessage | ChartsErrorMessage | ChartsExportCsvMessage;

// ---- persisted UI state (webview setState / getState; read by the panel serializer) ----------

export type ChartsXAxis = 'step' | 'epoch' | 'time';

/** A chart's zoom, valid only for the x axis and y scale it was made on. */
export interface ChartsZoom {
  xAxis: ChartsXAxis;
  logScale: boolean;
  x?: [number, number];
  y?: [number, number];
}

export interface ChartsUiState {
  version: 1;
  /** Debiased-EMA weight, 0 (off) .. 0.99. */
  smoothing: number;
  logScale: boolean;
  xAxis: ChartsXAxis;
  /** Per metric key. */
  zoom: Record<string, ChartsZoom>;
  /** Runs switched off in the compare legend. */
  hiddenRuns: string[];
  /** The runs shown, so a panel can be revived after a window reload. */
  runIds: string[];
}

export const CHARTS_VIEW_TYPE = 'contrastiveLab.charts';

/** Keys of a row that are axes, not metrics. */
export const CHARTS_AXIS_KEYS: readonly string[] = ['step', 'epoch', 'time'];

/** Charts shown first, in this order; other metrics follow alphabetically. */
export const CHARTS_PREFERRED_ORDER: readonly string[] = ['loss', 'knn_top1', 'lr', 'images_per_sec'];

export function isChartsFromWebview(msg: unknown): msg is ChartsFromWebview {
  if (typeof msg !== 'object' || msg === null) return false;
  const m = msg as { type?: unknown; text?: unknown };
  return m.type === 'ready' || m.type === 'exportCsv' || (m.type === 'error' && typeof m.text === 'string');
}

function isSeriesBlock(b: unknown): boolean {
  if (typeof b !== 'object' || b === null) return false;
  for (const c of Object.values(b)) {
    const s = c as Partial<ChartSeriesColumns>;
    if (!(s?.y instanceof Float64Array && s.step instanceof Float64Array)) return false;
    if (s.step.length !== s.y.length) return false;
  }
  return true;
}

export function isChartsToWebview(msg: unknown): msg is ChartsToWebview {
  if (typeof msg !== 'object' || msg === null) return false;
  const m = msg as { type?: unknown; runId?: unknown; rows?: unknown; runs?: unknown; text?: unknown };
  switch (m.type) {
    case 'init':
      return Array.isArray(m.runs) && typeof m.rows === 'object' && m.rows !== null;
    case 'append':
      return (
        typeof m.runId === 'string' &&
        (Array.isArray(m.rows) || (m.rows === undefined && isSeriesBlock((m as { series?: unknown }).series)))
      );
    case 'reset':
      return typeof m.runId === 'string';
    case 'warning':
      return typeof m.text === 'string';
    default:
      return false;
  }
}
