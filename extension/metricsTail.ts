/**
 * Follows one run's metrics.jsonl the way `tail -f` would, but parsed: a full read at start, then
 * only the bytes appended since the last complete line. Pure Node (no vscode) so it is unit
 * tested against real files; the extension pokes it from a FileSystemWatcher or an RPC
 * notification, and a slow stat poll covers watchers that miss events (network filesystems).
 */
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { type MetricRow, parseMetrics } from '../trainer/run/metrics';
import { blockPoints, MetricColumnsParser, type SeriesBlock } from './metricsColumns';

export interface MetricsTailEvents {
  /** Newly read complete rows, in file order. */
  rows: [rows: MetricRow[]];
  /** With `columns: true`, instead of `rows`: the new points by metric (no row objects made). */
  columns: [block: SeriesBlock];
  /** The file was truncated or replaced: forget every row; rows from offset 0 follow. */
  reset: [];
  /** A skipped line or an unreadable file; the tail keeps going. */
  warning: [message: string];
}

export interface MetricsTailOptions {
  /** Fallback stat poll interval in ms; 0 turns polling off (tests poke by hand). Default 1000. */
  pollMs?: number;
  /** Largest read in one call after the first; a longer line grows it. Default 4 MiB. */
  chunkBytes?: number;
  /** Emit `columns` (typed arrays per metric) instead of `rows`: for charts of long runs. */
  columns?: boolean;
}

/**
 * Bytes just before the resume offset that are read again and compared on every read. The
 * trainer truncates metrics.jsonl on resume and rewrites it; if that happens between two polls
 * and the file regrows past our offset, the size alone cannot tell, but these bytes (which hold
 * the last row's wall time) will differ.
 */
const SIGNATURE_BYTES = 64;
const NEWLINE = 0x0a;

export class MetricsTail extends EventEmitter<MetricsTailEvents> {
  /** Byte offset just past the last complete line consumed: where the next read resumes. */
  offset = 0;
  /** Bytes read from disk so far, so tests (and curious users) can see that reads are incremental. */
  bytesRead = 0;
  readCalls = 0;

  private signature: Buffer = Buffer.alloc(0);
  private ino = 0;
  private running: Promise<void> | null = null;
  private again = false;
  private disposed = false;
  private polling = false;
  private readonly pollMs: number;
  private chunkBytes: number;
  private readonly columns: boolean;
  private readonly onStat = (curr: fs.Stats, prev: fs.Stats) => {
    if (curr.mtimeMs !== prev.mtimeMs || curr.size !== prev.size || curr.ino !== prev.ino) this.poke();
  };

  constructor(
    readonly file: string,
    opts: MetricsTailOptions = {},
  ) {
    super();
    this.pollMs = opts.pollMs ?? 1000;
    this.chunkBytes = Math.max(1024, opts.chunkBytes ?? 4 * 1024 * 1024);
    this.columns = opts.columns ?? false;
  }

  /** Reads the whole file (emitting `rows`), then starts the fallback poll. */
  async start(): Promise<void> {
    await this.refresh();
    if (this.pollMs > 0 && !this.disposed && !this.polling) {
      this.polling = true;
      // persistent: false so an open chart never keeps a test process or the host alive.
      fs.watchFile(this.file, { interval: this.pollMs, persistent: false }, this.onStat);
    }
  }

  /** "The file changed": schedules a read. Cheap to call often; reads coalesce. */
  poke(): void {
    void this.refresh();
  }

  /**
   * Reads everything appended since the last call. Concurrent calls share one read, and a call
   * made while a read is running causes one more pass, so nothing written before the call is
   * missed when the returned promise resolves.
   */
  refresh(): Promise<void> {
    if (this.disposed) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.readNew();
        } while (this.again && !this.disposed);
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.polling) fs.unwatchFile(this.file, this.onStat);
    this.polling = false;
    this.removeAllListeners();
  }

  private reset(): void {
    this.offset = 0;
    this.signature = Buffer.alloc(0);
    this.emit('reset');
  }

  private async readNew(): Promise<void> {
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(this.file, 'r');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // Not written yet (a queued run) is normal; vanishing after we read it means it was replaced.
      if (code === 'ENOENT') {
        if (this.offset > 0) this.reset();
        this.ino = 0;
        return;
      }
      this.emit('warning', `Cannot open ${this.file}: ${(e as Error).message}`);
      return;
    }
    try {
      const st = await fh.stat();
      const replaced = this.ino !== 0 && st.ino !== 0 && st.ino !== this.ino;
      this.ino = st.ino;
      if (st.size < this.offset || replaced) this.reset();
      await this.readFrom(fh, st.size);
    } catch (e) {
      this.emit('warning', `Cannot read ${this.file}: ${(e as Error).message}`);
    } finally {
      await fh.close();
    }
  }

  private async readFrom(fh: fsp.FileHandle, size: number): Promise<void> {
    let chunk = this.chunkBytes;
    // Columns: every chunk of this read goes into one set of columns, sent as one block at the
    // end, so a chart adopts a long run's arrays instead of growing them chunk by chunk.
    const parser = this.columns ? new MetricColumnsParser() : null;
    const first = this.offset;
    // One buffer for all chunks: a long file is read without touching fresh memory per chunk.
    let buf = Buffer.alloc(0);
    try {
      while (this.offset < size && !this.disposed) {
        const sigLen = this.signature.length;
        const start = this.offset - sigLen;
        const want = Math.min(chunk, size - start);
        if (buf.length < want) buf = Buffer.allocUnsafe(want);
        const { bytesRead } = await fh.read(buf, 0, want, start);
        this.bytesRead += bytesRead;
        this.readCalls++;
        if (sigLen > 0 && (bytesRead < sigLen || !buf.subarray(0, sigLen).equals(this.signature))) {
          // The bytes we already parsed are not there any more: the file was rewritten.
          parser?.take();
          this.reset();
          continue;
        }
        const data = buf.subarray(sigLen, bytesRead);
        const nl = data.lastIndexOf(NEWLINE);
        if (nl < 0) {
          // Only a partial line: either still being written (stop; the next poke resumes here)
          // or longer than one chunk (read more at once).
          if (start + bytesRead >= size || bytesRead < want) break;
          chunk *= 2;
          continue;
        }
        const end = this.offset + nl + 1;
        const sigStart = Math.max(0, sigLen + nl + 1 - SIGNATURE_BYTES);
        this.signature = Buffer.from(buf.subarray(sigStart, sigLen + nl + 1));
        const from = this.offset;
        this.offset = end;
        if (parser) {
          const span = Math.max(1, size - first);
          const share: [number, number] = [(from - first) / span, (end - first) / span];
          for (const w of parser.parse(buf, sigLen, sigLen + nl + 1, 1, share))
            this.emit('warning', `${this.file} (from byte ${from}): ${w}`);
          continue;
        }
        // '\n' never occurs inside a multi-byte UTF-8 sequence, so cutting there decodes cleanly.
        const parsed = parseMetrics(data.toString('utf8', 0, nl + 1), from);
        for (const w of parsed.warnings) this.emit('warning', `${this.file} (from byte ${from}): ${w}`);
        if (parsed.rows.length) this.emit('rows', parsed.rows);
      }
    } finally {
      // Also when a read fails midway: the offset has moved past what was parsed.
      if (parser && !this.disposed) {
        const block = parser.take();
        if (blockPoints(block)) this.emit('columns', block);
      }
    }
  }
}

/**
 * The rows of one run, sorted by step with each step kept once. Rows reach a chart by two paths
 * (the file tail and the trainer's run/metrics notifications, which are faster); whichever brings
 * a step first wins and the other copy is dropped, so nothing is drawn twice.
 */
export class RowsByStep {
  readonly rows: MetricRow[] = [];
  /**
   * Identity of a row: its step and the metrics it carries. The trainer writes several rows per
   * step (the training row, then a kNN row at an epoch's end), so the step alone is not enough.
   */
  private readonly seen = new Set<string>();

  private static key(r: MetricRow): string {
    const names: string[] = [];
    for (const k in r) if (k !== 'step' && k !== 'epoch' && k !== 'time') names.push(k);
    return `${r.step}|${names.sort().join(',')}`;
  }

  /** Adds the rows not seen before and returns exactly those, in the order they were added. */
  add(rows: readonly MetricRow[]): MetricRow[] {
    const added: MetricRow[] = [];
    const all = this.rows;
    for (const r of rows) {
      if (typeof r?.step !== 'number' || !Number.isFinite(r.step)) continue;
      const key = RowsByStep.key(r);
      if (this.seen.has(key)) continue;
      this.seen.add(key);
      const n = all.length;
      if (n === 0 || r.step >= all[n - 1].step) {
        all.push(r);
        added.push(r);
        continue;
      }
      // Out of order (a notification overtook the file): insert in place, rarely, so O(n) is fine.
      let lo = 0;
      let hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (all[mid].step <= r.step) lo = mid + 1;
        else hi = mid;
      }
      all.splice(lo, 0, r);
      added.push(r);
    }
    return added;
  }

  clear(): void {
    this.rows.length = 0;
    this.seen.clear();
  }
}
