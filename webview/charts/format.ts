/** Small pure helpers for the charts webview: colours and axis labels. */

/** Parses `#rgb`, `#rrggbb`, `#rrggbbaa`, `rgb(...)` and `rgba(...)` into [r, g, b, a]. */
export function parseColor(color: string): [number, number, number, number] | null {
  const s = color.trim();
  let m = /^#([0-9a-f]{3,8})$/i.exec(s);
  if (m) {
    let h = m[1];
    if (h.length === 3 || h.length === 4) h = [...h].map((c) => c + c).join('');
    if (h.length !== 6 && h.length !== 8) return null;
    const n = (i: number) => Number.parseInt(h.slice(i, i + 2), 16);
    return [n(0), n(2), n(4), h.length === 8 ? n(6) / 255 : 1];
  }
  m = /^rgba?\(\s*([\d.]+)[\s,]+([\d.]+)[\s,]+([\d.]+)(?:[\s,/]+([\d.]+%?))?\s*\)$/i.exec(s);
  if (m) {
    const a = m[4] === undefined ? 1 : m[4].endsWith('%') ? Number.parseFloat(m[4]) / 100 : Number(m[4]);
    return [Number(m[1]), Number(m[2]), Number(m[3]), a];
  }
  return null;
}

/** The colour with its alpha multiplied by `alpha`; colours it cannot parse come back unchanged. */
export function withAlpha(color: string, alpha: number): string {
  const c = parseColor(color);
  if (!c) return color;
  const a = Math.round(c[3] * alpha * 1000) / 1000;
  return `rgba(${c[0]}, ${c[1]}, ${c[2]}, ${a})`;
}

/** Seconds as a short duration for the relative-time axis: 45s, 12m 30s, 3h 05m, 2d 4h. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '';
  const sign = seconds < 0 ? '-' : '';
  let s = Math.abs(seconds);
  if (s < 60) return `${sign}${Number.isInteger(s) ? s : s.toFixed(s < 10 ? 1 : 0)}s`;
  s = Math.round(s);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const two = (n: number) => String(n).padStart(2, '0');
  if (d > 0) return `${sign}${d}d ${h}h`;
  if (h > 0) return `${sign}${h}h ${two(m)}m`;
  return `${sign}${m}m ${two(sec)}s`;
}

/** A metric value for titles and tooltips: 4 significant digits, exponent for tiny/huge. */
export function formatValue(v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return '–';
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '-∞';
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3).replace(/\.?0+e/, 'e');
  return String(Number(v.toPrecision(4)));
}

/** 1, 2 or 5 times a power of ten: the smallest such step >= `raw`. */
function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

/** Steps that read as whole units of time: seconds, minutes, hours, days. */
const TIME_STEPS = [
  1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800,
];

/**
 * Tick values inside [min, max] at a round spacing, at most about `maxTicks` of them. chart.js
 * with `bounds: 'data'` would count ticks from the data's first x (4,990, 54,990, ...) instead.
 */
export function niceTicks(min: number, max: number, maxTicks: number, time = false): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max) || max < min) return [];
  if (max === min) return [min];
  const raw = (max - min) / Math.max(1, maxTicks);
  let step = niceStep(raw);
  if (time && raw > 1) step = TIME_STEPS.find((s) => s >= raw) ?? niceStep(raw / 86400) * 86400;
  const out: number[] = [];
  // Multiply rather than accumulate so 0.1 + 0.2 style drift never shows up in labels.
  for (let k = Math.ceil(min / step); k * step <= max + step * 1e-9; k++) {
    out.push(Number((k * step).toPrecision(12)));
  }
  return out;
}
