/**
 * The checkpoint table's model, without the DOM: filtering by name, sorting by a column, grouping
 * by network, and the histogram sparkline's geometry. Pure, so it is unit-tested in Node.
 */
import { compareGroups, compareNames } from '../../trainer/inspect/stats';
import type { CheckpointGroupTotals, CheckpointHistogram, CheckpointTensor } from './messages';

export type SortKey =
  | 'file'
  | 'name'
  | 'shape'
  | 'dtype'
  | 'parameters'
  | 'mean'
  | 'std'
  | 'min'
  | 'max'
  | 'l2'
  | 'zeros';
export type SortDir = 'asc' | 'desc';

export interface SortState {
  key: SortKey;
  dir: SortDir;
}

/** The default: names in natural order within each group. */
export const DEFAULT_SORT: SortState = { key: 'name', dir: 'asc' };

/** Clicking a header: a new column sorts ascending (numbers: descending first, largest on top), the same column flips. */
export function nextSort(current: SortState, key: SortKey): SortState {
  if (current.key === key) return { key, dir: current.dir === 'asc' ? 'desc' : 'asc' };
  const numeric = key !== 'name' && key !== 'dtype' && key !== 'file';
  return { key, dir: numeric ? 'desc' : 'asc' };
}

/** The value a column sorts by; null (no statistics) always sorts last. */
export function sortValue(t: CheckpointTensor, key: SortKey): number | string | null {
  const s = t.stats;
  switch (key) {
    case 'file':
    case 'name':
      return t.name;
    case 'dtype':
      return t.dtype;
    case 'shape':
    case 'parameters':
      return t.parameters;
    case 'mean':
      return s?.mean ?? null;
    case 'std':
      return s?.std ?? null;
    case 'min':
      return s?.min ?? null;
    case 'max':
      return s?.max ?? null;
    case 'l2':
      return s ? s.l2 : null;
    case 'zeros':
      return s ? s.zeroFraction : null;
  }
}

/**
 * Stable sort by one column. Ties keep the name order; rows without a value (no statistics) go
 * last in both directions; `file` keeps the input order (or reverses it).
 */
export function sortTensors(tensors: readonly CheckpointTensor[], sort: SortState): CheckpointTensor[] {
  const sign = sort.dir === 'asc' ? 1 : -1;
  const indexed = tensors.map((t, i) => ({ t, i, v: sortValue(t, sort.key) }));
  indexed.sort((a, b) => {
    if (sort.key === 'file') return sign * (a.i - b.i);
    if (a.v === null || b.v === null) {
      if (a.v !== b.v) return a.v === null ? 1 : -1;
    } else {
      let c: number;
      if (typeof a.v === 'string' && typeof b.v === 'string') c = compareNames(a.v, b.v);
      else c = (a.v as number) - (b.v as number);
      if (c !== 0 && !Number.isNaN(c)) return sign * c;
      // Equal element counts: the shape column then orders by the shape itself.
      if (sort.key === 'shape') {
        const d = compareShapes(a.t.shape, b.t.shape);
        if (d) return sign * d;
      }
    }
    return compareNames(a.t.name, b.t.name) || a.i - b.i;
  });
  return indexed.map((x) => x.t);
}

function compareShapes(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

export type NameFilter =
  | { ok: true; test: (name: string) => boolean; regex: boolean }
  | { ok: false; error: string };

/**
 * The filter box: plain text matches a case-insensitive substring of the name; `/pattern/flags`
 * is a regular expression (also without the closing slash while it is being typed). Words
 * separated by spaces must all match.
 */
export function compileFilter(text: string): NameFilter {
  const t = text.trim();
  if (!t) return { ok: true, test: () => true, regex: false };
  if (t.startsWith('/') && t.length > 1) {
    const m = /^\/(.*?)(?:\/([a-z]*))?$/s.exec(t)!;
    try {
      const re = new RegExp(m[1]!, (m[2] ?? '').replace(/[gy]/g, ''));
      return { ok: true, test: (name) => re.test(name), regex: true };
    } catch (e) {
      return { ok: false, error: (e as Error).message };
    }
  }
  const words = t.toLowerCase().split(/\s+/);
  return { ok: true, test: (name) => words.every((w) => name.toLowerCase().includes(w)), regex: false };
}

export interface GroupRow {
  type: 'group';
  group: string;
  totals: CheckpointGroupTotals;
  /** Tensors of the group that pass the filter. */
  shown: number;
  collapsed: boolean;
}

export interface TensorRow {
  type: 'tensor';
  tensor: CheckpointTensor;
}

export type TableRow = GroupRow | TensorRow;

/**
 * The rows to draw: for each group (display order) a header row with its totals, then its tensors
 * that pass the filter, sorted; a collapsed group keeps its header. Groups with no match are left out.
 */
export function buildRows(
  tensors: readonly CheckpointTensor[],
  groups: readonly CheckpointGroupTotals[],
  filter: (name: string) => boolean,
  sort: SortState,
  collapsed: ReadonlySet<string> = new Set(),
): TableRow[] {
  const byGroup = new Map<string, CheckpointTensor[]>();
  for (const t of tensors) {
    if (!filter(t.name)) continue;
    let list = byGroup.get(t.group);
    if (!list) {
      list = [];
      byGroup.set(t.group, list);
    }
    list.push(t);
  }
  const order = [...groups].sort((a, b) => compareGroups(a.group, b.group));
  const rows: TableRow[] = [];
  for (const g of order) {
    const list = byGroup.get(g.group);
    if (!list?.length) continue;
    const isCollapsed = collapsed.has(g.group);
    rows.push({ type: 'group', group: g.group, totals: g, shown: list.length, collapsed: isCollapsed });
    if (!isCollapsed) for (const t of sortTensors(list, sort)) rows.push({ type: 'tensor', tensor: t });
  }
  return rows;
}

/**
 * The part of a name its group already says (`online.encoder.`, `optimizer/`), which the table
 * shows dimmed; '' when the name does not start with it.
 */
export function groupPrefix(name: string, group: string): string {
  if (name.startsWith('optimizer/')) return 'optimizer/';
  const online = /^online \/ (.+)$/.exec(group);
  const candidates = online
    ? [`online.${online[1]}.`, `${online[1]}.`]
    : [`${group}.`, `${group.replace(/ /g, '_')}.`];
  return candidates.find((p) => name.startsWith(p) && name.length > p.length) ?? '';
}

/**
 * An SVG path drawing the histogram as bars in a `width` × `height` box (y down), one `M…Z`
 * rectangle per non-empty bin, heights proportional to the counts. Empty for no counts.
 */
export function sparklinePath(h: CheckpointHistogram, width: number, height: number): string {
  const peak = Math.max(0, ...h.counts);
  if (!h.counts.length || peak === 0) return '';
  const w = width / h.counts.length;
  const parts: string[] = [];
  const r = (x: number) => Math.round(x * 100) / 100;
  h.counts.forEach((c, i) => {
    if (c <= 0) return;
    // At least one pixel, so a lone outlier stays visible next to a tall bin.
    const bar = Math.max(1, (c / peak) * height);
    parts.push(`M${r(i * w)} ${height}V${r(height - bar)}H${r((i + 1) * w)}V${height}Z`);
  });
  return parts.join('');
}

/** The bins' value ranges, for the sparkline's tooltip: "[-0.1, -0.05): 12". */
export function histogramBins(h: CheckpointHistogram): { from: number; to: number; count: number }[] {
  const n = h.counts.length;
  const step = (h.max - h.min) / n;
  return h.counts.map((count, i) => ({
    from: step > 0 ? h.min + i * step : h.min,
    to: step > 0 ? (i === n - 1 ? h.max : h.min + (i + 1) * step) : h.max,
    count,
  }));
}

/**
 * Rows `[first, end)` of a list with fixed row height `rowH`, whose first row is drawn at `top`
 * (viewport coordinates: negative once scrolled past), that intersect a viewport `height` tall.
 */
export function visibleRows(top: number, height: number, count: number, rowH: number): [number, number] {
  const first = Math.min(count, Math.max(0, Math.floor(-top / rowH)));
  const end = Math.min(count, Math.max(first, Math.ceil((height - top) / rowH)));
  return [first, end];
}
