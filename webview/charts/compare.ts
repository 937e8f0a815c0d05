/**
 * What the compare view shows beside the overlaid curves, as pure functions shared by the webview
 * and the extension (CSV export): the config keys that differ between runs, last/best/min/max of
 * each metric per run, and the runs' metrics as one CSV table.
 */
import type { ChartRow } from './messages';
import { orderMetrics } from './series';

// ---- config diff ----------------------------------------------------------------------------

/** Leaves of a JSON value by dotted path; arrays are leaves (a list of augmentations is one setting). */
export function flattenConfig(
  value: unknown,
  prefix = '',
  out = new Map<string, string>(),
): Map<string, string> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const entries = Object.entries(value as Record<string, unknown>);
    if (!entries.length && prefix) out.set(prefix, '{}');
    for (const [k, v] of entries) flattenConfig(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) {
    out.set(prefix, JSON.stringify(value) ?? 'undefined');
  }
  return out;
}

export interface ConfigDiffRow {
  key: string;
  /** Per run, in the order given: the value as JSON, or undefined where the run lacks the key. */
  values: (string | undefined)[];
}

/** Keys whose values are not the same in every run (a key missing in some run counts as differing). */
export function configDiff(configs: readonly unknown[]): ConfigDiffRow[] {
  const flat = configs.map((c) => flattenConfig(c));
  const keys = new Set<string>();
  for (const f of flat) for (const k of f.keys()) keys.add(k);
  const rows: ConfigDiffRow[] = [];
  for (const key of [...keys].sort()) {
    const values = flat.map((f) => f.get(key));
    if (values.some((v) => v !== values[0])) rows.push({ key, values });
  }
  return rows;
}

// ---- summary --------------------------------------------------------------------------------

/**
 * Which extreme is "best" for a metric: accuracies and throughput are higher-is-better, losses and
 * the alignment/uniformity measures lower-is-better; the learning rate and unknown metrics have no best.
 */
export function bestDirection(metric: string): 'max' | 'min' | undefined {
  if (/(^|_)(top\d|acc|accuracy|knn)(_|$)|images_per_sec/.test(metric)) return 'max';
  if (/(^|_)(loss|alignment|uniformity|error)(_|$)/.test(metric)) return 'min';
  return undefined;
}

export interface MetricSummary {
  /** Value at the highest step (the last written, for equal steps). */
  last: number;
  lastStep: number;
  min: number;
  max: number;
  /** min or max by bestDirection; undefined where there is no best. */
  best?: number;
  bestStep?: number;
  count: number;
}

/** Summary of one series given as parallel step/value arrays (the first `n` entries), finite values only. */
export function summarizeSeries(
  steps: ArrayLike<number>,
  values: ArrayLike<number>,
  n: number,
  direction: 'max' | 'min' | undefined,
): MetricSummary | undefined {
  let s: MetricSummary | undefined;
  let minStep = 0;
  let maxStep = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    const step = steps[i];
    if (!Number.isFinite(v)) continue;
    if (!s) {
      s = { last: v, lastStep: step, min: v, max: v, count: 1 };
      minStep = maxStep = step;
      continue;
    }
    s.count++;
    if (step >= s.lastStep) {
      s.last = v;
      s.lastStep = step;
    }
    if (v < s.min) {
      s.min = v;
      minStep = step;
    }
    if (v > s.max) {
      s.max = v;
      maxStep = step;
    }
  }
  if (s && direction) {
    s.best = direction === 'max' ? s.max : s.min;
    s.bestStep = direction === 'max' ? maxStep : minStep;
  }
  return s;
}

/** Summary of every metric in a run's rows (metrics.jsonl rows in file order). */
export function summarizeRows(rows: readonly ChartRow[]): Map<string, MetricSummary> {
  const byMetric = new Map<string, { steps: number[]; values: number[] }>();
  for (const r of rows) {
    for (const k in r) {
      if (k === 'step' || k === 'epoch' || k === 'time') continue;
      const v = r[k];
      if (typeof v !== 'number') continue;
      let m = byMetric.get(k);
      if (!m) {
        m = { steps: [], values: [] };
        byMetric.set(k, m);
      }
      m.steps.push(r.step);
      m.values.push(v);
    }
  }
  const out = new Map<string, MetricSummary>();
  for (const k of orderMetrics(byMetric.keys())) {
    const m = byMetric.get(k)!;
    const s = summarizeSeries(m.steps, m.values, m.steps.length, bestDirection(k));
    if (s) out.set(k, s);
  }
  return out;
}

// ---- CSV ------------------------------------------------------------------------------------

export function csvField(v: string | number | undefined): string {
  if (v === undefined) return '';
  const s = typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : v;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export interface CsvRun {
  name: string;
  rows: readonly ChartRow[];
}

/**
 * One CSV table: columns run, step, epoch, time, then every metric of any run (charts order).
 * Rows of one run at the same step (the training row and the epoch's kNN row) become one line, with
 * the epoch and time of the first; numbers keep full precision.
 */
export function metricsCsv(runs: readonly CsvRun[]): string {
  const metrics = new Set<string>();
  for (const run of runs)
    for (const r of run.rows)
      for (const k in r) if (k !== 'step' && k !== 'epoch' && k !== 'time') metrics.add(k);
  const cols = orderMetrics(metrics);
  const lines = [['run', 'step', 'epoch', 'time', ...cols].map(csvField).join(',')];
  for (const run of runs) {
    const bySteps = new Map<number, ChartRow>();
    for (const r of run.rows) {
      if (typeof r?.step !== 'number') continue;
      const prev = bySteps.get(r.step);
      bySteps.set(r.step, prev ? { ...r, ...prev, ...withoutAxes(r) } : r);
    }
    for (const step of [...bySteps.keys()].sort((a, b) => a - b)) {
      const r = bySteps.get(step)!;
      const cells = [run.name, r.step, r.epoch, r.time, ...cols.map((c) => r[c])];
      lines.push(
        cells.map((c) => csvField(typeof c === 'number' || typeof c === 'string' ? c : undefined)).join(','),
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

function withoutAxes(r: ChartRow): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k in r) if (k !== 'step' && k !== 'epoch' && k !== 'time') out[k] = r[k];
  return out;
}
