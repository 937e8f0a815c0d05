/**
 * Compact number formatting shared by the `inspect` command's table and the checkpoint webview.
 * Pure and DOM-free (the webview bundle imports it).
 */

/** Shown for a value that does not exist (no finite elements, a header-only inspection). */
export const MISSING = '–';

/** Strips the mantissa's trailing zeros and the exponent's plus sign: 1.50e+5 → 1.5e5. */
function tidyExponential(s: string): string {
  return s.replace(/\.?0+e/, 'e').replace('e+', 'e');
}

/**
 * A statistic in 3 significant digits: plain between 1e-3 and 1e4 (0.0123, 0.5, 123, 1230),
 * exponent outside (1.5e-5, 2.35e6); 0 as "0", NaN, ±∞.
 */
export function formatNumber(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined) return MISSING;
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '-∞';
  if (v === 0) return '0';
  const r = Number(v.toPrecision(digits));
  const a = Math.abs(r);
  if (a < 1e-3 || a >= 1e4) return tidyExponential(r.toExponential(digits - 1));
  return String(r);
}

/** An element count with thousands separators: 1,234,567. */
export function formatInt(n: number): string {
  if (!Number.isFinite(n)) return formatNumber(n);
  const s = String(Math.round(Math.abs(n)));
  return (n < 0 ? '-' : '') + s.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** A count for totals: 950, 12.3k, 4.56M, 1.2B. */
export function formatCompactCount(n: number): string {
  const a = Math.abs(n);
  const units: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'B'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [size, suffix] of units) {
    // 999,950 reads as 1M, not 1000k.
    if (a >= size * 0.9995) return `${Number((n / size).toPrecision(3))}${suffix}`;
  }
  return String(Math.round(n));
}

/** A byte size in binary units with 3 significant digits: 512 B, 9.13 KiB, 465 KiB, 1.2 GiB. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1023.5 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${Math.round(v)} B` : `${Number(v.toPrecision(3))} ${units[u]}`;
}

/** A fraction as a percentage: 0%, <0.01%, 3.12%, 100%. */
export function formatPercent(fraction: number | null | undefined): string {
  if (fraction === null || fraction === undefined || Number.isNaN(fraction)) return MISSING;
  if (fraction === 0) return '0%';
  const p = fraction * 100;
  if (Math.abs(p) < 0.01) return '<0.01%';
  return `${Number(p.toPrecision(3))}%`;
}

/** A shape as the table shows it: [64, 256] → "64×256", a scalar → "scalar". */
export function formatShape(shape: readonly number[], times = '×'): string {
  return shape.length ? shape.join(times) : 'scalar';
}
