/**
 * Min/max decimation for line charts. Pure. A bucket is a slice of the x range a couple of pixels
 * wide; keeping each bucket's first, min, max and last point draws the same envelope as the full
 * series (spikes included) with at most 4 points per bucket, so a 1,000,000-point run stays
 * interactive. `xs` must be non-decreasing (step, epoch and wall time all are within one run).
 */

export interface DecimateOptions {
  /** First index to consider (default 0). */
  from?: number;
  /** One past the last index to consider (default xs.length; arrays may have spare capacity). */
  to?: number;
  /** x range the buckets span (default: xs[from]..xs[to-1]); the visible range when zoomed. */
  xMin?: number;
  xMax?: number;
}

/**
 * Indices (ascending, unique) of the points to draw: per bucket the first, the min, the max and
 * the last point whose x and y are finite. At most `4 * buckets` indices; fewer points than that are
 * returned unchanged, since decimating them would only lose detail.
 */
export function minMaxDecimate(
  xs: ArrayLike<number>,
  ys: ArrayLike<number>,
  buckets: number,
  opts: DecimateOptions = {},
): Uint32Array {
  const from = Math.max(0, opts.from ?? 0);
  const to = Math.min(opts.to ?? xs.length, xs.length, ys.length);
  const nb = Math.max(1, Math.floor(buckets));
  if (to <= from) return new Uint32Array(0);

  if (to - from <= 4 * nb) {
    const all = new Uint32Array(to - from);
    let k = 0;
    for (let i = from; i < to; i++) if (Number.isFinite(ys[i]) && Number.isFinite(xs[i])) all[k++] = i;
    return all.slice(0, k);
  }

  const xMin = opts.xMin ?? xs[from];
  const xMax = opts.xMax ?? xs[to - 1];
  const span = xMax - xMin;
  const scale = span > 0 && Number.isFinite(span) ? nb / span : 0;

  const out = new Uint32Array(4 * nb);
  let k = 0;
  let bucket = -1;
  let first = -1;
  let last = -1;
  let iMin = -1;
  let iMax = -1;
  let yMin = Infinity;
  let yMax = -Infinity;

  for (let i = from; i < to; i++) {
    const y = ys[i];
    const x = xs[i];
    if (!Number.isFinite(y) || !Number.isFinite(x)) continue;
    let b = Math.floor((x - xMin) * scale);
    if (b >= nb) b = nb - 1;
    // Clamping below and never stepping back keeps the 4*buckets bound even for points just
    // outside the visible range or an x that goes backwards (a wall clock set back).
    if (b < bucket) b = bucket;
    if (b < 0) b = 0;
    if (b !== bucket) {
      if (first >= 0) k = emitBucket(out, k, first, iMin, iMax, last);
      bucket = b;
      first = i;
      iMin = i;
      iMax = i;
      yMin = y;
      yMax = y;
    } else {
      if (y < yMin) {
        yMin = y;
        iMin = i;
      }
      if (y > yMax) {
        yMax = y;
        iMax = i;
      }
    }
    last = i;
  }
  if (first >= 0) k = emitBucket(out, k, first, iMin, iMax, last);
  return out.slice(0, k);
}

/**
 * Writes a bucket's first, min, max and last indices in ascending order without repeats;
 * returns the new fill. A function of its arguments rather than a closure over the loop's state,
 * which would move that state out of registers (a closure made the loop three times slower).
 */
function emitBucket(out: Uint32Array, k: number, first: number, a: number, b: number, last: number): number {
  // first <= min(a, b) and max(a, b) <= last, so only a and b need ordering.
  let lo = a;
  let hi = b;
  if (hi < lo) {
    lo = b;
    hi = a;
  }
  out[k++] = first;
  if (lo !== first) out[k++] = lo;
  if (hi !== lo) out[k++] = hi;
  if (last !== hi) out[k++] = last;
  return k;
}

/** First index in [from, to) with xs[i] >= x (to when none). */
export function lowerBound(xs: ArrayLike<number>, x: number, from = 0, to = xs.length): number {
  let lo = from;
  let hi = to;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index in [from, to) with xs[i] > x (to when none). */
export function upperBound(xs: ArrayLike<number>, x: number, from = 0, to = xs.length): number {
  let lo = from;
  let hi = to;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Index range [from, to) of the points inside [xMin, xMax] plus one neighbour on each side, so
 * the line still runs to the chart's edge when the view is zoomed between two points.
 */
export function visibleRange(
  xs: ArrayLike<number>,
  xMin: number,
  xMax: number,
  length = xs.length,
): { from: number; to: number } {
  const from = Math.max(0, lowerBound(xs, xMin, 0, length) - 1);
  const to = Math.min(length, upperBound(xs, xMax, 0, length) + 1);
  return { from, to: Math.max(from, to) };
}

/**
 * Buckets for a plot area `pixels` wide: one per two pixels, so at most about 2x the width in
 * points are drawn; the envelope is still exact to within two pixels.
 */
export function bucketsForWidth(pixels: number): number {
  return Math.max(16, Math.ceil(pixels / 2));
}
