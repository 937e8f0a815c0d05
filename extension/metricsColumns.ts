/**
 * metrics.jsonl straight into columns, for charts of long runs. Pure (bytes in, typed arrays
 * out). JSON.parse of a million lines allocates a million objects that are only taken apart
 * again; this scanner reads the `"key":number` pairs off the bytes instead, checks each line's
 * keys against the previous line's byte for byte, and converts numbers without making strings.
 * Every value is the double JSON.parse gives (see decimalToDouble); a line of another shape
 * (strings, nesting, null, escapes) goes through JSON.parse.
 */
import type { MetricRow } from '../trainer/run/metrics';
import type { ChartSeriesBlock, ChartSeriesColumns } from '../webview/charts/messages';
import { decimalToDouble } from './decimalToDouble';

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

/** How far through its bytes a parse is, so columns can grow straight to their final size. */
interface Progress {
  /** Bytes consumed / bytes in all; 0 when unknown. */
  fraction: number;
}

/**
 * A new capacity for columns holding n values: points so far over the share of bytes read so far
 * predicts the total, so a metric on every line is copied once or twice instead of log2(n) times.
 */
function grownCapacity(n: number, progress: Progress): number {
  const f = progress.fraction;
  const guess = f > 0.001 ? Math.ceil((n / f) * 1.02) + 16 : 0;
  return Math.max(guess, Math.ceil(n * 1.25) + 16, 1024);
}

function grown(a: Float64Array, cap: number): Float64Array {
  const next = new Float64Array(cap);
  next.set(a);
  return next;
}

/**
 * Columns as handed out: views when there is little spare room (a message carries a view's whole
 * buffer, so at most 1/8 extra), copies otherwise. The size estimate of a long file overshoots by
 * a few percent (its early lines, with short step numbers, are shorter than the rest): copying
 * then would cost a million-point chart ~150 ms of fresh memory for 7% fewer bytes to send.
 */
function trimmed(a: Float64Array, n: number): Float64Array {
  return a.length - n <= a.length >> 3 ? a.subarray(0, n) : a.slice(0, n);
}

/**
 * step, epoch and time of the lines of one layout. The metrics with a value on every one of those
 * lines share them, so a row of three metrics stores its axes once (half the memory and writes of
 * four columns per metric), and the block hands the same arrays to each of them.
 */
class Axes {
  n = 0;
  step: Float64Array;
  epoch: Float64Array;
  time: Float64Array;
  private final: { n: number; cols: [Float64Array, Float64Array, Float64Array] } | undefined;
  constructor(
    cap: number,
    private readonly progress: Progress,
  ) {
    this.step = new Float64Array(cap);
    this.epoch = new Float64Array(cap);
    this.time = new Float64Array(cap);
  }
  push(step: number, epoch: number, time: number): void {
    const i = this.n;
    if (i === this.step.length) {
      const cap = grownCapacity(i, this.progress);
      this.step = grown(this.step, cap);
      this.epoch = grown(this.epoch, cap);
      this.time = grown(this.time, cap);
    }
    this.step[i] = step;
    this.epoch[i] = epoch;
    this.time[i] = time;
    this.n = i + 1;
  }
  /** The first n lines' axes: the same three arrays for every metric that asks for all lines. */
  done(n: number): [Float64Array, Float64Array, Float64Array] {
    if (n !== this.n) return [this.step.slice(0, n), this.epoch.slice(0, n), this.time.slice(0, n)];
    this.final ??= {
      n,
      cols: [trimmed(this.step, n), trimmed(this.epoch, n), trimmed(this.time, n)],
    };
    return this.final.cols;
  }
}

/** Growable columns of one metric while parsing. */
class Builder {
  n = 0;
  y: Float64Array;
  /** While every point so far came from one layout's lines, one each: that layout's axes. */
  shared: Axes | null = null;
  /** Otherwise the metric's own axes. */
  step: Float64Array = new Float64Array(0);
  epoch: Float64Array = new Float64Array(0);
  time: Float64Array = new Float64Array(0);
  constructor(
    cap: number,
    private readonly progress: Progress,
  ) {
    this.y = new Float64Array(cap);
  }

  /** A point from the line `axes` just took (its index axes.n - 1). */
  pushOnLine(axes: Axes, y: number): void {
    const i = this.n;
    if (this.shared === axes && i === axes.n - 1) {
      if (i === this.y.length) this.y = grown(this.y, grownCapacity(i, this.progress));
      this.y[i] = y;
      this.n = i + 1;
      return;
    }
    if (i === 0 && axes.n === 1) {
      this.shared = axes;
      this.y[0] = y;
      this.n = 1;
      return;
    }
    const r = axes.n - 1;
    this.push(axes.step[r], axes.epoch[r], axes.time[r], y);
  }

  push(step: number, epoch: number, time: number, y: number): void {
    if (this.shared) this.unshare();
    const i = this.n;
    if (i === this.y.length) this.y = grown(this.y, grownCapacity(i, this.progress));
    if (i >= this.step.length) {
      const cap = this.y.length;
      this.step = grown(this.step, cap);
      this.epoch = grown(this.epoch, cap);
      this.time = grown(this.time, cap);
    }
    this.step[i] = step;
    this.epoch[i] = epoch;
    this.time[i] = time;
    this.y[i] = y;
    this.n = i + 1;
  }

  /** The points stop lining up with one layout's lines: copy its axes so far. */
  private unshare(): void {
    const a = this.shared!;
    this.shared = null;
    const cap = this.y.length;
    this.step = grown(a.step.subarray(0, this.n), cap);
    this.epoch = grown(a.epoch.subarray(0, this.n), cap);
    this.time = grown(a.time.subarray(0, this.n), cap);
  }

  done(): SeriesColumns {
    const n = this.n;
    if (this.shared) {
      const [step, epoch, time] = this.shared.done(n);
      return { step, epoch, time, y: trimmed(this.y, n) };
    }
    return {
      step: trimmed(this.step, n),
      epoch: trimmed(this.epoch, n),
      time: trimmed(this.time, n),
      y: trimmed(this.y, n),
    };
  }
}

/** Collects points by metric; shared by the byte scanner and the row path. */
export class BlockBuilder {
  private readonly metrics = new Map<string, Builder>();
  /** Updated by the byte scanner as it goes. */
  readonly progress: Progress = { fraction: 0 };
  constructor(private readonly capacity = 1024) {}

  add(metric: string, step: number, epoch: number, time: number, y: number): void {
    this.builder(metric).push(step, epoch, time, y);
  }

  /** The columns of one metric, made on first use. */
  builder(metric: string): Builder {
    let b = this.metrics.get(metric);
    if (!b) {
      b = new Builder(this.capacity, this.progress);
      this.metrics.set(metric, b);
    }
    return b;
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
      if (!r) {
        r = { step: c.step[i], epoch: c.epoch[i], time: c.time[i] };
        byKey.set(key, r);
      }
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
const ZERO = 0x30;
const NINE = 0x39;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d;
}

/**
 * Interns key bytes: rows repeat the same few keys, so each distinct key is decoded once.
 * Keys are looked up by a hash of their bytes and confirmed byte for byte.
 */
class KeyTable {
  private readonly slots = new Map<number, { bytes: Uint8Array; name: string }[]>();
  get(buf: Uint8Array, start: number, end: number): { bytes: Uint8Array; name: string } {
    let h = 0x811c9dc5;
    for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i], 0x01000193);
    const list = this.slots.get(h);
    if (list) {
      outer: for (const e of list) {
        if (e.bytes.length !== end - start) continue;
        for (let i = 0; i < e.bytes.length; i++) if (e.bytes[i] !== buf[start + i]) continue outer;
        return e;
      }
    }
    // A copy: Buffer's slice() is a view, and the tail reuses its read buffer.
    const bytes = Uint8Array.prototype.slice.call(buf, start, end);
    const entry = { bytes, name: new TextDecoder().decode(bytes) };
    if (list) list.push(entry);
    else this.slots.set(h, [entry]);
    return entry;
  }
}

/**
 * The keys of a line, in order, resolved once: which position holds step, epoch and time, and
 * which column builder every other position feeds. Rows repeat one or two layouts, so a line is
 * checked against the previous line's layout byte by byte and never hashed or decoded.
 */
interface Layout {
  keys: Uint8Array[];
  stepAt: number;
  epochAt: number;
  timeAt: number;
  /** Positions of metrics and their builders. */
  metricAt: Int32Array;
  builders: Builder[];
  axes: Axes;
}

/** Stays below the sizes where a line could hold more keys than this buffer of values. */
const MAX_KEYS = 256;

/**
 * One pass over the bytes of complete lines. Numbers become doubles without strings
 * (decimalToDouble); a line of any other shape (strings, null, nesting, escapes, duplicate keys,
 * anything JSON.parse would reject) goes to JSON.parse, so every line reads as JSON.parse reads it.
 */
class ColumnsScanner {
  private readonly keys = new KeyTable();
  private readonly layouts = new Map<string, Layout>();
  private readonly vals = new Float64Array(MAX_KEYS);
  private readonly entries: { bytes: Uint8Array; name: string }[] = [];
  private layout: Layout | null = null;
  /** The value of the number readNumber() just read. */
  private num = 0;
  /** Set by each parse (never reset to another kind of array: element loads stay monomorphic). */
  buf!: Uint8Array;

  constructor(private out: BlockBuilder) {}

  /** Continues into fresh columns (layouts point at the old ones' builders). */
  restart(out: BlockBuilder): void {
    this.out = out;
    this.layouts.clear();
    this.layout = null;
  }

  /**
   * The usual case: a line with the previous line's keys, starting at p. Emits its points and
   * returns the index of its newline (which is before `end`); -1, emitting nothing, otherwise.
   */
  knownLine(p: number, end: number): number {
    const L = this.layout;
    if (L === null) return -1;
    const nl = this.scanKnown(p, L);
    if (nl < 0 || nl >= end) return -1;
    this.emit(L);
    return nl;
  }

  /** Parses the line [p, e) (buf[e] is its newline); a message when it is skipped. */
  line(p: number, e: number): string | undefined {
    let L = this.layout;
    if (L === null || this.scanKnown(p, L) !== e) {
      L = this.scanNew(p, e);
      if (L === null) return this.slowLine(p, e);
      this.layout = L;
    }
    if (L.stepAt < 0) return 'no numeric "step"';
    this.emit(L);
    return undefined;
  }

  private emit(L: Layout): void {
    if (L.stepAt < 0) return;
    const vals = this.vals;
    const step = vals[L.stepAt];
    if (!Number.isFinite(step)) return;
    const epoch = L.epochAt >= 0 ? vals[L.epochAt] : Number.NaN;
    const time = L.timeAt >= 0 ? vals[L.timeAt] : Number.NaN;
    const at = L.metricAt;
    const axes = L.axes;
    axes.push(step, epoch, time);
    for (let i = 0; i < at.length; i++) {
      const y = vals[at[i]];
      if (Number.isFinite(y)) L.builders[i].pushOnLine(axes, y);
    }
  }

  /**
   * A line with exactly the keys of L, in order, each with a number: values to vals, the index
   * of the line's newline returned; -1 otherwise. Whitespace is looked for only where the
   * expected byte is not found (the trainer writes none).
   */
  private scanKnown(p: number, L: Layout): number {
    const buf = this.buf;
    const keys = L.keys;
    const n = keys.length;
    if (buf[p] !== LBRACE) {
      while (isSpace(buf[p])) p++;
      if (buf[p] !== LBRACE) return -1;
    }
    if (n === 0) return -1;
    p++;
    for (let k = 0; k < n; k++) {
      if (buf[p] !== Q) {
        while (isSpace(buf[p])) p++;
        if (buf[p] !== Q) return -1;
      }
      p++;
      const key = keys[k];
      const len = key.length;
      // A newline differs from every key byte, so this never runs past the line.
      for (let j = 0; j < len; j++) if (buf[p + j] !== key[j]) return -1;
      p += len;
      if (buf[p] !== Q) return -1;
      p++;
      if (buf[p] !== COLON) {
        while (isSpace(buf[p])) p++;
        if (buf[p] !== COLON) return -1;
      }
      p++;
      while (isSpace(buf[p])) p++;
      p = this.readNumber(p);
      if (p < 0) return -1;
      this.vals[k] = this.num;
      const want = k === n - 1 ? RBRACE : COMMA;
      if (buf[p] !== want) {
        while (isSpace(buf[p])) p++;
        if (buf[p] !== want) return -1;
      }
      p++;
    }
    while (isSpace(buf[p])) p++;
    return buf[p] === NL ? p : -1;
  }

  /** A line `{"key": number, ...}` with keys not seen in this order before; null otherwise. */
  private scanNew(p: number, e: number): Layout | null {
    const buf = this.buf;
    const entries = this.entries;
    entries.length = 0;
    while (isSpace(buf[p])) p++;
    if (buf[p] !== LBRACE) return null;
    p++;
    while (isSpace(buf[p])) p++;
    if (buf[p] === RBRACE) p++;
    else
      for (;;) {
        while (isSpace(buf[p])) p++;
        if (buf[p] !== Q) return null;
        const ks = ++p;
        while (p < e && buf[p] !== Q) {
          // Escapes and control characters: JSON.parse decides what they mean.
          if (buf[p] === BACKSLASH || buf[p] < 0x20) return null;
          p++;
        }
        if (p >= e || entries.length === MAX_KEYS) return null;
        entries.push(this.keys.get(buf, ks, p));
        p++;
        while (isSpace(buf[p])) p++;
        if (buf[p] !== COLON) return null;
        p++;
        while (isSpace(buf[p])) p++;
        p = this.readNumber(p);
        if (p < 0) return null;
        this.vals[entries.length - 1] = this.num;
        while (isSpace(buf[p])) p++;
        if (buf[p] === COMMA) {
          p++;
          continue;
        }
        if (buf[p] !== RBRACE) return null;
        p++;
        break;
      }
    while (isSpace(buf[p])) p++;
    if (p !== e) return null;
    const names = entries.map((x) => x.name);
    const id = names.join('\n');
    let L = this.layouts.get(id);
    if (L) return L;
    // A repeated key: JSON.parse keeps the last value; leave such lines to it.
    if (new Set(names).size !== names.length) return null;
    const metricAt: number[] = [];
    const builders: Builder[] = [];
    names.forEach((name, i) => {
      if (!AXES.has(name)) {
        metricAt.push(i);
        builders.push(this.out.builder(name));
      }
    });
    L = {
      keys: entries.map((x) => x.bytes),
      stepAt: names.indexOf('step'),
      epochAt: names.indexOf('epoch'),
      timeAt: names.indexOf('time'),
      metricAt: Int32Array.from(metricAt),
      builders,
      axes: new Axes(1024, this.out.progress),
    };
    this.layouts.set(id, L);
    return L;
  }

  /** Anything else valid JSON can be (null values, strings, nesting, escapes). */
  private slowLine(p: number, e: number): string | undefined {
    try {
      const obj = JSON.parse(new TextDecoder().decode(this.buf.subarray(p, e)));
      if (typeof obj?.step !== 'number') return 'no numeric "step"';
      this.out.addRow(obj as MetricRow);
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  }

  /**
   * A JSON number at p (strictly JSON's grammar: no leading zeros, digits on both sides of the
   * point): its value to `num`, its end returned; -1 when there is none.
   */
  private readNumber(p: number): number {
    const buf = this.buf;
    const s = p;
    let c = buf[p];
    const neg = c === MINUS;
    if (neg) c = buf[++p];
    // Significant digits: the first 15 to hi (exact below 2^53), up to 4 more to lo. `d >>> 0`
    // tests 0 <= d <= 9 in one comparison; every line ends in a newline, which stops the loops.
    let hi = 0;
    let lo = 0;
    let sig = 0;
    let frac = 0;
    let d = c - ZERO;
    if (d === 0) {
      d = buf[++p] - ZERO;
      if (d >>> 0 <= 9) return -1;
    } else if (d >>> 0 <= 9) {
      do {
        hi = hi * 10 + d;
        sig++;
        d = buf[++p] - ZERO;
      } while (d >>> 0 <= 9 && sig < 15);
      while (d >>> 0 <= 9) {
        lo = lo * 10 + d;
        sig++;
        d = buf[++p] - ZERO;
      }
    } else return -1;
    if (d === DOT - ZERO) {
      d = buf[++p] - ZERO;
      if (d >>> 0 > 9) return -1;
      // Zeros before the first significant digit only move the decimal point.
      while (d === 0 && sig === 0) {
        frac++;
        d = buf[++p] - ZERO;
      }
      while (d >>> 0 <= 9 && sig < 15) {
        hi = hi * 10 + d;
        sig++;
        frac++;
        d = buf[++p] - ZERO;
      }
      while (d >>> 0 <= 9) {
        lo = lo * 10 + d;
        sig++;
        frac++;
        d = buf[++p] - ZERO;
      }
    }
    c = d + ZERO;
    let exp = 0;
    if (c === 0x65 || c === 0x45) {
      c = buf[++p];
      let eneg = false;
      if (c === MINUS || c === PLUS) {
        eneg = c === MINUS;
        c = buf[++p];
      }
      if (c < ZERO || c > NINE) return -1;
      do {
        if (exp < 1e6) exp = exp * 10 + (c - ZERO);
        c = buf[++p];
      } while (c >= ZERO && c <= NINE);
      if (eneg) exp = -exp;
    }
    let v = sig <= 19 ? decimalToDouble(hi, lo, sig > 15 ? sig - 15 : 0, exp - frac) : Number.NaN;
    if (Number.isNaN(v)) {
      // Too many digits, an extreme exponent, or too close to a halfway point to tell here.
      v = Number(String.fromCharCode.apply(null, buf.subarray(neg ? s + 1 : s, p) as unknown as number[]));
    }
    this.num = neg ? -v : v;
    return p;
  }
}

/**
 * Parses metrics.jsonl as it is read, chunk after chunk, into one set of columns: the chunks'
 * points leave as one block (take()), so a long file needs no concatenation afterwards.
 */
export class MetricColumnsParser {
  private out: BlockBuilder;
  private readonly scanner: ColumnsScanner;
  /** Complete lines read (blank lines included), over all chunks. */
  lines = 0;

  constructor(private readonly capacity = 1024) {
    this.out = new BlockBuilder(capacity);
    this.scanner = new ColumnsScanner(this.out);
  }

  /**
   * Parses the complete lines of `buf[start, end)` (end just past a newline, or the text's end
   * when it is complete); returns warnings, lines numbered from `lineNo0`. `share` is where
   * these bytes lie in everything this parser will see before take(), as fractions [from, to),
   * so columns can grow straight to their final size.
   */
  parse(
    buf: Uint8Array,
    start = 0,
    end = buf.length,
    lineNo0 = 1,
    share: [number, number] = [0, 1],
  ): string[] {
    const scanner = this.scanner;
    const progress = this.out.progress;
    const scale = (share[1] - share[0]) / Math.max(1, end - start);
    scanner.buf = buf;
    const warnings: string[] = [];
    let lineNo = lineNo0 - 1;
    let pos = start;
    // The scanner's loops stop at a newline (and at nothing else past a line's end), so starting
    // before the last newline they never read past it, into a torn line or beyond the buffer.
    const lastNl = end > start ? buf.lastIndexOf(NL, end - 1) : -1;
    while (pos < end) {
      lineNo++;
      // Every 1024 lines (a column's first size) is enough for the estimate.
      if ((lineNo & 1023) === 0) progress.fraction = share[0] + (pos - start) * scale;
      const known = pos < lastNl ? scanner.knownLine(pos, end) : -1;
      if (known >= 0) {
        this.lines++;
        pos = known + 1;
        continue;
      }
      const nl = buf.indexOf(NL, pos);
      if (nl < 0 || nl >= end) {
        warnings.push(`line ${lineNo}: incomplete last line skipped (${end - pos} bytes)`);
        break;
      }
      this.lines++;
      let from = pos;
      pos = nl + 1;
      while (from < nl && isSpace(buf[from])) from++;
      if (from === nl) continue;
      const problem = scanner.line(from, nl);
      if (problem) warnings.push(`line ${lineNo}: skipped (${problem})`);
    }
    return warnings;
  }

  /** The points parsed since the last take(). */
  take(): SeriesBlock {
    const block = this.out.done();
    this.out = new BlockBuilder(this.capacity);
    this.scanner.restart(this.out);
    return block;
  }
}

/** Parses the complete lines of `buf[start, end)`; see MetricColumnsParser.parse. */
export function parseMetricColumns(
  buf: Uint8Array,
  start = 0,
  end = buf.length,
  lineNo0 = 1,
  capacity = 1024,
): ParsedColumns {
  const parser = new MetricColumnsParser(capacity);
  const warnings = parser.parse(buf, start, end, lineNo0);
  return { block: parser.take(), lines: parser.lines, warnings };
}
