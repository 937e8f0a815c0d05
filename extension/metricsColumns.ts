/**
 * metrics.jsonl straight into columns, for charts of long runs. Pure (bytes in, typed arrays
 * out). JSON.parse of a million lines allocates a million objects that are only taken apart
 * again; this scanner reads the `"key":number` pairs off the bytes instead. Numbers of up to 15
 * significant digits (steps, epochs, most settings) come out exactly as JSON.parse gives them,
 * longer ones within 2 ulp. A line it does not expect (strings, nesting, null, escapes) goes
 * through JSON.parse.
 */
import type { MetricRow } from '../trainer/run/metrics';
import type { ChartSeriesBlock, ChartSeriesColumns } from '../webview/charts/messages';

/** Per metric, its points in file order: four columns of equal length. */
export type SeriesColumns = ChartSeriesColumns;
export type SeriesBlock = ChartSeriesBlock;

export interface ParsedColumns {
  block: SeriesBlock;
  /** Complete lines read (blank lines included). */
  lines: number;
  warnings: string[];
}

const AXES = new Set(['step', 'epoch', 'time']);

/** Growable columns of one metric while parsing. */
class Builder {
  n = 0;
  step: Float64Array;
  epoch: Float64Array;
  time: Float64Array;
  y: Float64Array;
  constructor(cap: number) {
    this.step = new Float64Array(cap);
    this.epoch = new Float64Array(cap);
    this.time = new Float64Array(cap);
    this.y = new Float64Array(cap);
  }
  push(step: number, epoch: number, time: number, y: number): void {
    if (this.n === this.step.length) {
      const cap = this.n * 2;
      for (const k of ['step', 'epoch', 'time', 'y'] as const) {
        const next = new Float64Array(cap);
        next.set(this[k]);
        this[k] = next;
      }
    }
    const i = this.n++;
    this.step[i] = step;
    this.epoch[i] = epoch;
    this.time[i] = time;
    this.y[i] = y;
  }
  done(): SeriesColumns {
    const n = this.n;
    return {
      step: this.step.slice(0, n),
      epoch: this.epoch.slice(0, n),
      time: this.time.slice(0, n),
      y: this.y.slice(0, n),
    };
  }
}

/** Collects points by metric; shared by the byte scanner and the row path. */
export class BlockBuilder {
  private readonly metrics = new Map<string, Builder>();
  constructor(private readonly capacity = 1024) {}

  add(metric: string, step: number, epoch: number, time: number, y: number): void {
    let b = this.metrics.get(metric);
    if (!b) this.metrics.set(metric, (b = new Builder(this.capacity)));
    b.push(step, epoch, time, y);
  }

  /** Every finite metric of a row (not step, epoch or time). */
  addRow(r: MetricRow): void {
    if (typeof r?.step !== 'number' || !Number.isFinite(r.step)) return;
    const epoch = typeof r.epoch === 'number' ? r.epoch : Number.NaN;
    const time = typeof r.time === 'number' ? r.time : Number.NaN;
    for (const k in r) {
      const v = r[k];
      if (!AXES.has(k) && typeof v === 'number' && Number.isFinite(v)) this.add(k, r.step, epoch, time, v);
    }
  }

  get empty(): boolean {
    return this.metrics.size === 0;
  }

  done(): SeriesBlock {
    const out: SeriesBlock = {};
    for (const [k, b] of this.metrics) out[k] = b.done();
    return out;
  }
}

export function rowsToBlock(rows: readonly MetricRow[]): SeriesBlock {
  const b = new BlockBuilder(Math.max(16, rows.length));
  for (const r of rows) b.addRow(r);
  return b.done();
}

/** Number of points in a block (all metrics). */
export function blockPoints(block: SeriesBlock): number {
  let n = 0;
  for (const k in block) n += block[k].y.length;
  return n;
}

/**
 * The block as rows again: points with the same step and time share a row (the trainer writes a
 * training row and, at an epoch's end, a kNN row at the same step but a later time). Sorted by
 * step, then time. For tests and diagnostics.
 */
export function blockToRows(block: SeriesBlock): MetricRow[] {
  const byKey = new Map<string, MetricRow>();
  for (const k in block) {
    const c = block[k];
    for (let i = 0; i < c.y.length; i++) {
      const key = `${c.step[i]}|${c.time[i]}`;
      let r = byKey.get(key);
      if (!r) byKey.set(key, (r = { step: c.step[i], epoch: c.epoch[i], time: c.time[i] }));
      r[k] = c.y[i];
    }
  }
  return [...byKey.values()].sort((a, b) => a.step - b.step || a.time - b.time);
}

const Q = 0x22; // "
const COLON = 0x3a;
const COMMA = 0x2c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const BACKSLASH = 0x5c;
const NL = 0x0a;

/** 10^k for k <= 22: exactly representable, so m / 10^k is one correctly rounded division. */
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k);

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d;
}

/**
 * Interns key bytes: rows repeat the same few keys, so each distinct key is decoded once.
 * Keys are looked up by a hash of their bytes and confirmed byte for byte.
 */
class KeyTable {
  private readonly slots = new Map<number, { bytes: Uint8Array; name: string }[]>();
  get(buf: Uint8Array, start: number, end: number): string {
    let h = 0x811c9dc5;
    for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i], 0x01000193);
    const list = this.slots.get(h);
    if (list) {
      outer: for (const e of list) {
        if (e.bytes.length !== end - start) continue;
        for (let i = 0; i < e.bytes.length; i++) if (e.bytes[i] !== buf[start + i]) continue outer;
        return e.name;
      }
    }
    const bytes = buf.slice(start, end);
    const name = new TextDecoder().decode(bytes);
    if (list) list.push({ bytes, name });
    else this.slots.set(h, [{ bytes, name }]);
    return name;
  }
}

function sameBytes(buf: Uint8Array, at: number, bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (buf[at + i] !== bytes[i]) return false;
  return true;
}

const UNEXPECTED = Symbol('unexpected');

/**
 * Parses the complete lines of `buf[start, end)` (end just past a newline, or the text's end
 * when it is complete). `lineNo0` numbers the first line in warnings.
 */
export function parseMetricColumns(
  buf: Uint8Array,
  start = 0,
  end = buf.length,
  lineNo0 = 1,
  capacity = 1024,
): ParsedColumns {
  const out = new BlockBuilder(capacity);
  const warnings: string[] = [];
  const keys = new KeyTable();
  const layout: { bytes: Uint8Array; name: string }[] = [];
  const names: string[] = [];
  const vals: number[] = [];
  let lineNo = lineNo0 - 1;
  let lines = 0;
  let pos = start;

  // Reads a number at p; returns its end or UNEXPECTED (then the line goes to JSON.parse).
  let num = 0;
  let text: string | undefined;
  const readNumber = (p: number): number | typeof UNEXPECTED => {
    const s = p;
    let neg = false;
    if (buf[p] === MINUS) {
      neg = true;
      p++;
    }
    // The first 15 significant digits go to m (exact below 2^53), up to 4 more to lo.
    let m = 0;
    let lo = 0;
    let digits = 0;
    let extra = 0;
    let frac = 0;
    let c = buf[p];
    if (c < 0x30 || c > 0x39) return UNEXPECTED;
    while (c >= 0x30 && c <= 0x39) {
      if (digits < 15) m = m * 10 + (c - 0x30);
      else {
        lo = lo * 10 + (c - 0x30);
        extra++;
      }
      digits++;
      c = buf[++p];
    }
    if (c === DOT) {
      c = buf[++p];
      while (c >= 0x30 && c <= 0x39) {
        if (digits < 15) m = m * 10 + (c - 0x30);
        else {
          lo = lo * 10 + (c - 0x30);
          extra++;
        }
        digits++;
        frac++;
        c = buf[++p];
      }
    }
    let exp = 0;
    if (c === 0x65 || c === 0x45) {
      c = buf[++p];
      let eneg = false;
      if (c === MINUS || c === PLUS) {
        eneg = c === MINUS;
        c = buf[++p];
      }
      while (c >= 0x30 && c <= 0x39) {
        exp = exp * 10 + (c - 0x30);
        c = buf[++p];
      }
      if (eneg) exp = -exp;
    }
    const e10 = exp - frac;
    if (extra === 0 && e10 >= -22 && e10 <= 22) {
      // Exact: m < 2^53 and 10^|e10| exact, so one IEEE operation rounds correctly (Clinger).
      num = e10 < 0 ? m / POW10[-e10] : m * POW10[e10];
    } else if (extra <= 4 && e10 >= -22 && e10 <= 22) {
      // 16-19 digits (what JSON.stringify writes for most doubles): three roundings, so within
      // 2 ulp of the correctly rounded value; a chart cannot show the difference, and V8's
      // exact conversion of a substring costs about as much as the rest of the line.
      const v = m * POW10[extra] + lo;
      num = e10 < 0 ? v / POW10[-e10] : v * POW10[e10];
    } else {
      text ??= Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('latin1');
      num = Number(text.substring(s - start, p - start));
      return p;
    }
    if (neg) num = -num;
    return p;
  };

  // Scans one line `{ "k": number, ... }`; fills names/vals; UNEXPECTED when it is anything else.
  const scanLine = (p: number, e: number): true | typeof UNEXPECTED => {
    names.length = 0;
    vals.length = 0;
    while (p < e && isSpace(buf[p])) p++;
    if (buf[p] !== LBRACE) return UNEXPECTED;
    p++;
    for (;;) {
      while (p < e && isSpace(buf[p])) p++;
      if (buf[p] === RBRACE && names.length === 0) {
        p++;
        break;
      }
      if (buf[p] !== Q) return UNEXPECTED;
      const ks = ++p;
      while (p < e && buf[p] !== Q) {
        if (buf[p] === BACKSLASH) return UNEXPECTED;
        p++;
      }
      if (p >= e) return UNEXPECTED;
      // Rows repeat one layout: compare with the key at this position in the previous line
      // before hashing.
      const k = names.length;
      const prev = layout[k];
      let name: string;
      if (prev !== undefined && prev.bytes.length === p - ks && sameBytes(buf, ks, prev.bytes))
        name = prev.name;
      else {
        name = keys.get(buf, ks, p);
        layout[k] = { bytes: buf.slice(ks, p), name };
      }
      p++;
      while (p < e && isSpace(buf[p])) p++;
      if (buf[p] !== COLON) return UNEXPECTED;
      p++;
      while (p < e && isSpace(buf[p])) p++;
      const q = readNumber(p);
      if (q === UNEXPECTED || q > e) return UNEXPECTED;
      p = q;
      names.push(name);
      vals.push(num);
      while (p < e && isSpace(buf[p])) p++;
      if (buf[p] === COMMA) {
        p++;
        continue;
      }
      if (buf[p] === RBRACE) {
        p++;
        break;
      }
      return UNEXPECTED;
    }
    while (p < e && isSpace(buf[p])) p++;
    return p === e ? true : UNEXPECTED;
  };

  const emit = (): string | undefined => {
    let step = Number.NaN;
    let epoch = Number.NaN;
    let time = Number.NaN;
    for (let i = 0; i < names.length; i++) {
      if (names[i] === 'step') step = vals[i];
      else if (names[i] === 'epoch') epoch = vals[i];
      else if (names[i] === 'time') time = vals[i];
    }
    if (!names.includes('step')) return 'no numeric "step"';
    for (let i = 0; i < names.length; i++) {
      const k = names[i];
      if (!AXES.has(k) && Number.isFinite(vals[i])) out.add(k, step, epoch, time, vals[i]);
    }
    return undefined;
  };

  while (pos < end) {
    let nl = buf.indexOf(NL, pos);
    if (nl < 0 || nl >= end) nl = -1;
    lineNo++;
    if (nl < 0) {
      warnings.push(`line ${lineNo}: incomplete last line skipped (${end - pos} bytes)`);
      break;
    }
    lines++;
    const lineEnd = nl;
    const from = pos;
    pos = nl + 1;
    let blank = true;
    for (let i = from; i < lineEnd; i++)
      if (!isSpace(buf[i])) {
        blank = false;
        break;
      }
    if (blank) continue;
    if (scanLine(from, lineEnd) === true) {
      const problem = emit();
      if (problem) warnings.push(`line ${lineNo}: skipped (${problem})`);
      continue;
    }
    // Anything else valid JSON can be (null values, strings, nesting, escapes): the slow path.
    try {
      const obj = JSON.parse(new TextDecoder().decode(buf.subarray(from, lineEnd)));
      if (typeof obj?.step !== 'number') throw new Error('no numeric "step"');
      out.addRow(obj as MetricRow);
    } catch (err) {
      warnings.push(`line ${lineNo}: skipped (${(err as Error).message})`);
    }
  }
  return { block: out.done(), lines, warnings };
}
