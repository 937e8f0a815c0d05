/**
 * Per-tensor statistics and the grouping of checkpoint tensors by network. Pure: numbers and names
 * in, plain JSON-safe objects out (no I/O, no TensorFlow.js), so the extension host, the worker
 * process and the tests all use the same code.
 *
 * Moments use the two-pass algorithm, in float64: pass 1 finds count, sum, sum of squares (for the
 * L2 norm), min, max and the exact zeros; pass 2 sums squared deviations from the pass-1 mean and
 * fills the histogram, whose bins need min and max anyway. Two passes are numerically better than
 * the textbook one-pass E[x²]−E[x]² (no cancellation) and as good as Welford, and the second pass
 * is needed for the histogram regardless. `StatsAccumulator` runs the passes over chunks, so a
 * tensor larger than memory can be read twice from disk instead of held whole.
 *
 * NaN and ±Inf are counted separately and left out of every other statistic (mean, std, min, max,
 * norm, histogram); exact zeros (+0 and −0) are counted among the finite values.
 */

export const DEFAULT_BINS = 24;

export interface Histogram {
  /** The range the bins split evenly: the finite min and max. */
  min: number;
  max: number;
  /**
   * Finite values per bin. Value x falls in bin `min(bins - 1, floor((x - min) / (max - min) * bins))`
   * (evaluated in that order, in float64): half-open bins, the last one closed on the right. When
   * min = max every value lies in bin `floor(bins / 2)`.
   * Empty when there are no finite values.
   */
  counts: number[];
}

export interface TensorStats {
  /** Elements, including non-finite ones. */
  count: number;
  /** Finite elements: the population of every statistic below. */
  finite: number;
  nan: number;
  posInf: number;
  negInf: number;
  /** null when there are no finite values (an empty tensor, or all NaN/Inf). */
  mean: number | null;
  /** Population standard deviation (divides by `finite`, not `finite - 1`). */
  std: number | null;
  min: number | null;
  max: number | null;
  /** sqrt(Σ x²) over the finite values; 0 for none. */
  l2: number;
  /** Exact zeros (±0). */
  zeros: number;
  /** zeros / count; 0 for an empty tensor. */
  zeroFraction: number;
  histogram: Histogram;
}

/** Accumulates `TensorStats` over one or more chunks per pass: pass1 × n, then pass2 × n, then result. */
export class StatsAccumulator {
  private count = 0;
  private finite = 0;
  private nan = 0;
  private posInf = 0;
  private negInf = 0;
  private sum = 0;
  private sumSq = 0;
  private min = Number.POSITIVE_INFINITY;
  private max = Number.NEGATIVE_INFINITY;
  private zeros = 0;
  private m2 = 0;
  private mean = 0;
  private counts: number[] = [];
  private phase: 1 | 2 | 3 = 1;

  constructor(readonly bins: number = DEFAULT_BINS) {
    if (!Number.isInteger(bins) || bins < 1)
      throw new RangeError(`bins must be a positive integer, got ${bins}`);
  }

  pass1(values: ArrayLike<number>): void {
    if (this.phase !== 1) throw new Error('StatsAccumulator: pass1 after pass2 began');
    let { finite, nan, posInf, negInf, sum, sumSq, min, max, zeros } = this;
    const n = values.length;
    for (let i = 0; i < n; i++) {
      const x = values[i]!;
      if (x - x !== 0) {
        // Only NaN and ±Inf give a non-zero (NaN) difference with themselves.
        if (Number.isNaN(x)) nan++;
        else if (x > 0) posInf++;
        else negInf++;
        continue;
      }
      finite++;
      sum += x;
      sumSq += x * x;
      if (x < min) min = x;
      if (x > max) max = x;
      if (x === 0) zeros++;
    }
    this.count += n;
    Object.assign(this, { finite, nan, posInf, negInf, sum, sumSq, min, max, zeros });
  }

  pass2(values: ArrayLike<number>): void {
    if (this.phase === 1) {
      this.phase = 2;
      this.mean = this.finite ? this.sum / this.finite : 0;
      this.counts = new Array<number>(this.finite ? this.bins : 0).fill(0);
    }
    if (this.phase !== 2) throw new Error('StatsAccumulator: pass2 after result');
    if (!this.finite) return;
    const { mean, min, bins, counts } = this;
    const range = this.max - min;
    const middle = Math.floor(bins / 2);
    let m2 = this.m2;
    const n = values.length;
    for (let i = 0; i < n; i++) {
      const x = values[i]!;
      if (x - x !== 0) continue;
      const d = x - mean;
      m2 += d * d;
      const b = range > 0 ? Math.min(bins - 1, Math.floor(((x - min) / range) * bins)) : middle;
      counts[b]!++;
    }
    this.m2 = m2;
  }

  result(): TensorStats {
    if (this.phase === 1) this.pass2([]);
    this.phase = 3;
    const has = this.finite > 0;
    return {
      count: this.count,
      finite: this.finite,
      nan: this.nan,
      posInf: this.posInf,
      negInf: this.negInf,
      mean: has ? this.mean : null,
      std: has ? Math.sqrt(this.m2 / this.finite) : null,
      min: has ? this.min : null,
      max: has ? this.max : null,
      l2: Math.sqrt(this.sumSq),
      zeros: this.zeros,
      zeroFraction: this.count ? this.zeros / this.count : 0,
      histogram: { min: has ? this.min : 0, max: has ? this.max : 0, counts: this.counts },
    };
  }
}

/** Statistics of an in-memory array (any numeric typed array or number[]). */
export function tensorStats(values: ArrayLike<number>, bins: number = DEFAULT_BINS): TensorStats {
  const acc = new StatsAccumulator(bins);
  acc.pass1(values);
  acc.pass2(values);
  return acc.result();
}

// ---------------------------------------------------------------------------------------------
// Grouping
// ---------------------------------------------------------------------------------------------

/**
 * parameter: learned weights (also a target network's, which follow by EMA); buffer: batch-norm
 * running statistics; optimizer: an optimizer slot; state: method state such as a queue or a
 * memory bank.
 */
export type TensorKind = 'parameter' | 'buffer' | 'optimizer' | 'state';

export interface TensorGroupInfo {
  /** "online / encoder", "online / head", "online / predictor", "target", "prototypes", "memory bank", "queue", "optimizer", "other". */
  group: string;
  kind: TensorKind;
}

const BUFFER_LEAF = /(^|[._/])(running_mean|running_var|num_batches_tracked|moving_mean|moving_variance)$/;
const BANK = /^(memory[ _.-]?bank|mem[_-]?bank|bank)([./]|$)/i;

/** The network (group) a checkpoint tensor belongs to, from its name alone. */
export function groupOf(name: string): TensorGroupInfo {
  const buffer = BUFFER_LEAF.test(name);
  const kind = (k: TensorKind): TensorKind => (buffer && k === 'parameter' ? 'buffer' : k);
  if (name.startsWith('optimizer/')) return { group: 'optimizer', kind: 'optimizer' };
  const dot = name.indexOf('.');
  const head = dot < 0 ? name : name.slice(0, dot);
  if (head === 'online') {
    const rest = name.slice(dot + 1);
    const part = rest.split('.', 1)[0]!;
    return { group: part && rest.includes('.') ? `online / ${part}` : 'online', kind: kind('parameter') };
  }
  if (head === 'target') return { group: 'target', kind: kind('parameter') };
  if (head === 'predictor') return { group: 'online / predictor', kind: kind('parameter') };
  if (head === 'prototypes') return { group: 'prototypes', kind: kind('parameter') };
  if (head === 'queue') return { group: 'queue', kind: 'state' };
  if (BANK.test(name)) return { group: 'memory bank', kind: 'state' };
  return { group: 'other', kind: kind('parameter') };
}

/** Display order of groups: the online network first, state last, unknown groups alphabetically between. */
const GROUP_ORDER = [
  'online / encoder',
  'online / projector',
  'online / head',
  'online / predictor',
  'online',
  'target',
  'prototypes',
  'memory bank',
  'queue',
  'other',
  'optimizer',
];

export function compareGroups(a: string, b: string): number {
  const rank = (g: string) => {
    const i = GROUP_ORDER.indexOf(g);
    if (i >= 0) return i;
    // Other online parts sit with the online network, before the bare "online" group.
    return g.startsWith('online / ')
      ? GROUP_ORDER.indexOf('online') - 0.5
      : GROUP_ORDER.indexOf('other') - 0.5;
  };
  return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
}

/** Elements of a tensor: the product of its shape (1 for a scalar, 0 when any dimension is 0). */
export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Tensor names in natural order: digit runs compare as numbers, so `layer2` sorts before `layer10`
 * and `blocks.9` before `blocks.10`. Ties (`a01` and `a1`) fall back to plain code-unit order.
 */
export function compareNames(a: string, b: string): number {
  const ra = a.match(/\d+|\D+/g) ?? [];
  const rb = b.match(/\d+|\D+/g) ?? [];
  const n = Math.min(ra.length, rb.length);
  for (let i = 0; i < n; i++) {
    const x = ra[i]!;
    const y = rb[i]!;
    if (x === y) continue;
    const dx = x.charCodeAt(0) >= 48 && x.charCodeAt(0) <= 57;
    const dy = y.charCodeAt(0) >= 48 && y.charCodeAt(0) <= 57;
    if (dx && dy) {
      // Compare as numbers without overflow: strip leading zeros, then by length, then lexically.
      const sx = x.replace(/^0+(?=\d)/, '');
      const sy = y.replace(/^0+(?=\d)/, '');
      if (sx.length !== sy.length) return sx.length - sy.length;
      if (sx !== sy) return sx < sy ? -1 : 1;
      continue;
    }
    return x < y ? -1 : 1;
  }
  if (ra.length !== rb.length) return ra.length - rb.length;
  return a < b ? -1 : a > b ? 1 : 0;
}
