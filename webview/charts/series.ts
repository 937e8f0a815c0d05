/**
 * The webview's data model: per run and metric, columnar typed arrays that grow as rows stream
 * in, plus the smoothed curve kept up to date incrementally. Pure (no DOM), so it is unit tested.
 */
import type { ChartRow, ChartRun, ChartSeriesBlock, ChartSeriesColumns, ChartsXAxis } from './messages';
import { CHARTS_PREFERRED_ORDER } from './messages';
import { debiasedEmaRange, type EmaState, newEmaState } from './smoothing';

class Column {
  data: Float64Array;
  constructor(capacity = 256) {
    this.data = new Float64Array(capacity);
  }
  ensure(n: number): void {
    if (n <= this.data.length) return;
    let cap = this.data.length;
    while (cap < n) cap *= 2;
    const next = new Float64Array(cap);
    next.set(this.data);
    this.data = next;
  }
}

/** One metric of one run, sorted by step, one point per step. */
export class Series {
  length = 0;
  private readonly cols = { step: new Column(), epoch: new Column(), time: new Column(), y: new Column() };
  /** The columns are a block's own arrays (addColumns with adopt), full to their length. */
  private adopted = false;
  private smooth = new Column();
  private smoothWeight = -1;
  private smoothDone = 0;
  private ema: EmaState = newEmaState();

  constructor(
    readonly runId: string,
    readonly metric: string,
  ) {}

  get step(): Float64Array {
    return this.cols.step.data;
  }
  get y(): Float64Array {
    return this.cols.y.data;
  }
  /** The x column for an axis; relative time is `time - run start`, subtracted when drawing. */
  x(axis: ChartsXAxis): Float64Array {
    return this.cols[axis].data;
  }

  get lastValue(): number | undefined {
    return this.length ? this.cols.y.data[this.length - 1] : undefined;
  }

  /** Adds a point; a step already present is ignored. Returns whether it was added. */
  add(step: number, epoch: number, time: number, y: number): boolean {
    const n = this.length;
    const { step: cs, epoch: ce, time: ct, y: cy } = this.cols;
    if (n === cs.data.length) for (const c of [cs, ce, ct, cy]) c.ensure(n + 1);
    let at = n;
    if (n > 0 && step <= cs.data[n - 1]) {
      at = lowerBoundSteps(cs.data, step, n);
      if (at < n && cs.data[at] === step) return false;
      for (const c of [cs, ce, ct, cy]) c.data.copyWithin(at + 1, at, n);
      // The EMA state is only kept for the end of the series, so an insertion (rare: a pushed row
      // overtaking the file) recomputes the smoothing from the start.
      this.smoothDone = 0;
    }
    cs.data[at] = step;
    ce.data[at] = epoch;
    ct.data[at] = time;
    cy.data[at] = y;
    this.length = n + 1;
    return true;
  }

  clear(): void {
    this.length = 0;
    this.smoothDone = 0;
    // Adopted arrays may be shared with other series (one block's metrics share their axes):
    // never write into them.
    if (this.adopted) {
      this.adopted = false;
      for (const k of ['step', 'epoch', 'time', 'y'] as const) this.cols[k] = new Column();
    }
  }

  /**
   * Adds points in bulk. The usual case (steps increasing, all after the last one) is four
   * typed-array copies; anything else goes point by point through add(). Returns the indices
   * of the points that were new, or null when all were. With `adopt`, an empty series takes the
   * arrays themselves instead of copying them (a million-point block is 32 MB a column set); it
   * never writes into them (they are full, so an add grows into new arrays, and clear() drops
   * them), so series may adopt arrays they share. Only for blocks nobody changes afterwards.
   */
  addColumns(c: ChartSeriesColumns, adopt = false): Uint32Array | null {
    const m = c.y.length;
    const n = this.length;
    let inOrder = m === 0 || n === 0 || c.step[0] > this.cols.step.data[n - 1];
    for (let i = 0; inOrder && i < m; i++) {
      if (!Number.isFinite(c.y[i]) || !Number.isFinite(c.step[i]) || (i > 0 && c.step[i] <= c.step[i - 1]))
        inOrder = false;
    }
    if (inOrder) {
      const { step: cs, epoch: ce, time: ct, y: cy } = this.cols;
      if (adopt && n === 0 && m > 0) {
        this.adopted = true;
        cs.data = c.step;
        ce.data = c.epoch;
        ct.data = c.time;
        cy.data = c.y;
        this.length = m;
        this.smoothDone = 0;
        return null;
      }
      for (const col of [cs, ce, ct, cy]) col.ensure(n + m);
      cs.data.set(c.step, n);
      ce.data.set(c.epoch, n);
      ct.data.set(c.time, n);
      cy.data.set(c.y, n);
      this.length = n + m;
      return null;
    }
    const added: number[] = [];
    for (let i = 0; i < m; i++) {
      if (!Number.isFinite(c.y[i]) || !Number.isFinite(c.step[i])) continue;
      if (this.add(c.step[i], c.epoch[i], c.time[i], c.y[i])) added.push(i);
    }
    return Uint32Array.from(added);
  }

  /** Points [from, to) as columns (copies, so a message never drags the whole buffer along). */
  columns(from = 0, to = this.length): ChartSeriesColumns {
    return {
      step: this.cols.step.data.slice(from, to),
      epoch: this.cols.epoch.data.slice(from, to),
      time: this.cols.time.data.slice(from, to),
      y: this.cols.y.data.slice(from, to),
    };
  }

  /**
   * The debiased EMA of y with `weight`, computed on every point (never on decimated data) and
   * extended incrementally as points are appended. weight 0 returns y itself.
   */
  smoothed(weight: number): Float64Array {
    if (weight <= 0) return this.cols.y.data;
    if (weight !== this.smoothWeight) {
      this.smoothWeight = weight;
      this.smoothDone = 0;
    }
    if (this.smoothDone < this.length) {
      if (this.smoothDone === 0) this.ema = newEmaState();
      this.smooth.ensure(this.length);
      debiasedEmaRange(this.cols.y.data, weight, this.smooth.data, this.smoothDone, this.length, this.ema);
      this.smoothDone = this.length;
    }
    return this.smooth.data;
  }
}

function lowerBoundSteps(steps: Float64Array, step: number, n: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (steps[mid] < step) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface RunData {
  run: ChartRun;
  /** Earliest wall time seen: the zero of the relative-time axis. */
  t0: number;
  series: Map<string, Series>;
}

/** Whether a row's key/value is plotted: every finite number except the axes step/epoch/time. */
function isMetric(key: string, value: unknown): value is number {
  return (
    key !== 'step' && key !== 'epoch' && key !== 'time' && typeof value === 'number' && Number.isFinite(value)
  );
}

/** The metric keys of a row. */
export function metricKeys(row: ChartRow): string[] {
  const keys: string[] = [];
  for (const k in row) if (isMetric(k, row[k])) keys.push(k);
  return keys;
}

/** loss, knn_top1, lr, images_per_sec first, then everything else alphabetically. */
export function orderMetrics(keys: Iterable<string>): string[] {
  const rank = (k: string) => {
    const i = CHARTS_PREFERRED_ORDER.indexOf(k);
    return i < 0 ? CHARTS_PREFERRED_ORDER.length : i;
  };
  return [...new Set(keys)].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

export class ChartStore {
  readonly runs = new Map<string, RunData>();
  /** Run ids in the order given by `init`, which fixes each run's colour. */
  order: string[] = [];

  init(
    runs: ChartRun[],
    rows: Record<string, ChartRow[]>,
    series: Record<string, ChartSeriesBlock> = {},
  ): void {
    this.runs.clear();
    this.order = runs.map((r) => r.id);
    for (const run of runs) this.runs.set(run.id, { run, t0: Infinity, series: new Map() });
    for (const run of runs) {
      if (series[run.id]) this.appendSeries(run.id, series[run.id]);
      this.append(run.id, rows[run.id] ?? []);
    }
  }

  /** Adds rows; returns the metrics whose series changed. Unknown runs are ignored. */
  append(runId: string, rows: ChartRow[]): Set<string> {
    const changed = new Set<string>();
    const data = this.runs.get(runId);
    if (!data) return changed;
    for (const row of rows) {
      if (typeof row?.step !== 'number' || !Number.isFinite(row.step)) continue;
      const epoch = typeof row.epoch === 'number' ? row.epoch : Number.NaN;
      const time = typeof row.time === 'number' ? row.time : Number.NaN;
      if (time < data.t0) data.t0 = time;
      for (const k in row) {
        const v = row[k];
        if (!isMetric(k, v)) continue;
        let s = data.series.get(k);
        if (!s) {
          s = new Series(runId, k);
          data.series.set(k, s);
        }
        if (s.add(row.step, epoch, time, v) && !changed.has(k)) changed.add(k);
      }
    }
    return changed;
  }

  /** Adds columnar points (metrics.jsonl of long runs); returns the metrics whose series changed. */
  appendSeries(runId: string, block: ChartSeriesBlock): Set<string> {
    const changed = new Set<string>();
    const data = this.runs.get(runId);
    if (!data) return changed;
    for (const metric in block) {
      const c = block[metric];
      for (let i = 0; i < c.time.length; i++) if (c.time[i] < data.t0) data.t0 = c.time[i];
      let s = data.series.get(metric);
      if (!s) {
        s = new Series(runId, metric);
        data.series.set(metric, s);
      }
      const before = s.length;
      // The block came in a message: nothing else holds it.
      s.addColumns(c, true);
      if (s.length !== before) changed.add(metric);
    }
    return changed;
  }

  /** Forgets a run's rows (its metrics.jsonl was truncated); returns the metrics affected. */
  reset(runId: string): Set<string> {
    const data = this.runs.get(runId);
    if (!data) return new Set();
    const affected = new Set(data.series.keys());
    data.series.clear();
    data.t0 = Infinity;
    return affected;
  }

  /** Every metric any run has, in display order. */
  metrics(): string[] {
    const keys: string[] = [];
    for (const d of this.runs.values()) for (const [k, s] of d.series) if (s.length) keys.push(k);
    return orderMetrics(keys);
  }

  series(metric: string): Series[] {
    const out: Series[] = [];
    for (const id of this.order) {
      const s = this.runs.get(id)?.series.get(metric);
      if (s) out.push(s);
    }
    return out;
  }

  /** Zero of the x axis for a run: its first wall time on the time axis, else 0. */
  xOffset(runId: string, axis: ChartsXAxis): number {
    if (axis !== 'time') return 0;
    const t0 = this.runs.get(runId)?.t0 ?? 0;
    return Number.isFinite(t0) ? t0 : 0;
  }
}
