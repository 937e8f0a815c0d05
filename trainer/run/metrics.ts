/**
 * metrics.jsonl: one JSON object per line, `{step, epoch, time, ...values}`, appended only.
 * A crash can leave a torn last line; readers skip it with a warning rather than failing.
 */
import * as fs from 'node:fs';

export interface MetricRow {
  step: number;
  epoch: number;
  /** Unix time in seconds. */
  time: number;
  [metric: string]: number;
}

export interface ParsedMetrics {
  rows: MetricRow[];
  warnings: string[];
  /** Bytes consumed up to the end of the last complete line (where a tail reader resumes). */
  offset: number;
}

/** Parses metrics.jsonl text. Pure, so the extension and the trainer share it. */
export function parseMetrics(text: string, startOffset = 0): ParsedMetrics {
  const rows: MetricRow[] = [];
  const warnings: string[] = [];
  let pos = 0;
  let lineNo = 0;
  while (pos < text.length) {
    const nl = text.indexOf('\n', pos);
    lineNo++;
    if (nl < 0) {
      // No newline yet: a line still being written, or torn by a crash.
      warnings.push(`line ${lineNo}: incomplete last line skipped (${text.length - pos} bytes)`);
      break;
    }
    const line = text.slice(pos, nl).trim();
    pos = nl + 1;
    if (!line) continue;
    try {
      const obj = JSON.parse(line);
      if (typeof obj?.step !== 'number') throw new Error('no numeric "step"');
      rows.push(obj as MetricRow);
    } catch (e) {
      warnings.push(`line ${lineNo}: skipped (${(e as Error).message})`);
    }
  }
  return { rows, warnings, offset: startOffset + Buffer.byteLength(text.slice(0, pos)) };
}

export function readMetricsFile(file: string): ParsedMetrics {
  if (!fs.existsSync(file)) return { rows: [], warnings: [], offset: 0 };
  return parseMetrics(fs.readFileSync(file, 'utf8'));
}

/** Appends rows to metrics.jsonl with one write per batch of rows (a line is never split). */
export class MetricsWriter {
  private fd: number;
  constructor(readonly file: string) {
    this.fd = fs.openSync(file, 'a');
  }
  append(rows: MetricRow[]): void {
    if (!rows.length) return;
    fs.writeSync(this.fd, rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
  }
  /** Flushes to disk; called before a checkpoint records the file's size. */
  sync(): number {
    fs.fsyncSync(this.fd);
    return fs.fstatSync(this.fd).size;
  }
  close(): void {
    fs.closeSync(this.fd);
  }
}
