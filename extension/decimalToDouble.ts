/**
 * Decimal significand and exponent to the double JSON.parse would give, without making a string:
 * the number half of the metrics.jsonl scanner. Pure arithmetic.
 *
 * JSON.stringify writes most doubles with 16 or 17 significant digits, beyond the 15 that fit a
 * double exactly, so the textbook fast path (Clinger: exact significand times an exact power of
 * ten, one rounding) covers only steps, epochs and short settings. For 16 to 19 digits the
 * quotient is computed in double-double arithmetic (error below 2^-100 relative) and accepted
 * only when that whole error interval rounds to one double; otherwise (about one number in 2^27,
 * and every exact halfway case) the caller parses the text. Either way the result is the
 * correctly rounded double, bit for bit what JSON.parse returns.
 */

/** 10^k for k <= 22: exactly representable. */
export const POW10: readonly number[] = Array.from({ length: 23 }, (_, k) => 10 ** k);

/** Dekker's splitter for doubles: 2^27 + 1. */
const SPLIT = 134217729;
/** Margin around the double-double estimate, far above its error (< 2^-100 relative). */
const TOLERANCE = 2 ** -80;

/** The rounding error of a * b, exactly (Dekker's two-product; no FMA in JS). */
function productError(a: number, b: number, p: number): number {
  let t = SPLIT * a;
  const ah = t - (t - a);
  const al = a - ah;
  t = SPLIT * b;
  const bh = t - (t - b);
  const bl = b - bh;
  return ah * bh - p + ah * bl + al * bh + al * bl;
}

/**
 * The double nearest to (hi * 10^extra + lo) * 10^e10, or NaN when this path cannot decide
 * (the caller then parses the text). `hi` holds the first up to 15 significant digits
 * (< 10^15), `lo` the `extra` (0..4) digits after them; positive magnitudes only.
 */
export function decimalToDouble(hi: number, lo: number, extra: number, e10: number): number {
  if (extra === 0) {
    // Clinger: hi < 2^53 and 10^|e10| exact, so one IEEE operation rounds correctly.
    if (e10 < 0) return e10 >= -22 ? hi / POW10[-e10] : Number.NaN;
    return e10 <= 22 ? hi * POW10[e10] : Number.NaN;
  }
  if (extra > 4 || e10 > 0 || e10 < -22) return Number.NaN;
  // M = hi * 10^extra + lo exactly, as the unevaluated sum mh + ml.
  const scale = POW10[extra];
  const p = hi * scale;
  const pe = productError(hi, scale, p);
  const mh = p + lo;
  const bb = mh - p;
  // Both error terms are integers below 2^12 (M < 2^64), so their sum is exact.
  const ml = pe + (p - (mh - bb) + (lo - bb));
  if (e10 === 0) return mh + ml; // one rounding of the exact sum
  const d = POW10[-e10];
  const q1 = mh / d;
  const t = q1 * d;
  const te = productError(q1, d, t);
  // mh - t is exact (Sterbenz: t is within a factor 2 of mh); the rest is two small roundings.
  const r = mh - t + (ml - te);
  const q2 = r / d;
  const x = q1 + q2;
  const e = q2 - (x - q1); // exact: x + e = q1 + q2
  const tol = x * TOLERANCE;
  // Rounding is monotonic: if both ends of the interval round to x, the true quotient does.
  if (x + (e + tol) !== x || x + (e - tol) !== x) return Number.NaN;
  return x;
}
