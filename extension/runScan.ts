/**
 * Reading one run folder into what the Runs view shows. No vscode import, so the scan is unit
 * tested and benchmarked in plain Node (bench/extension) and RunStore only adds the watching.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { listCheckpoints } from '../trainer/checkpoint/files';
import { parseHeaderLength, parseSafetensorsHeader } from '../trainer/checkpoint/safetensors';
import type { RunConfig } from '../trainer/config/types';
import type { EvalRecord } from '../trainer/eval/contract';
import { RUN_FILES, type RunInfo } from '../trainer/run/runfolder';
import { evalsOfCheckpoint, latestByProtocol, readEvals } from './evals';

export interface CheckpointEntry {
  file: string;
  step: number;
  bytes: number;
  /** From the checkpoint's header metadata (absent for a file that is not ours or is corrupt). */
  epoch?: number;
  knnTop1?: number;
  createdAt?: string;
  /** Why the header could not be read, when it could not. */
  problem?: string;
  /** The newest evaluation per protocol from the run's evals.jsonl. */
  evals?: EvalRecord[];
}

/** Reads only a checkpoint's header (a few KB) for the tree: epoch, kNN at save time, date. */
function checkpointSummary(
  file: string,
): Pick<CheckpointEntry, 'epoch' | 'knnTop1' | 'createdAt' | 'problem'> {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const size = fs.fstatSync(fd).size;
    const prefix = Buffer.alloc(8);
    fs.readSync(fd, prefix, 0, 8, 0);
    const n = parseHeaderLength(prefix, size);
    const head = Buffer.alloc(8 + n);
    fs.readSync(fd, head, 0, 8 + n, 0);
    const meta = parseSafetensorsHeader(head, size).metadata;
    const num = (k: string) =>
      meta[k] !== undefined && Number.isFinite(Number(meta[k])) ? Number(meta[k]) : undefined;
    return { epoch: num('epoch'), knnTop1: num('knnTop1'), createdAt: meta.createdAt };
  } catch (e) {
    return { problem: (e as Error).message };
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

export interface RunEntry {
  id: string;
  dir: string;
  info: RunInfo;
  /** config.json, read on first access (the tooltip, duplicating); null when unreadable. */
  config: RunConfig | null;
  /** Status as the user should see it: a `running` run whose process is gone is `failed`. */
  status: RunInfo['status'];
  /** True when run.json says running but its trainer process is gone. */
  stale: boolean;
  lastLoss?: number;
  lastKnn?: number;
  lastStep?: number;
  /** How many checkpoint files the run has (known without reading them). */
  checkpointCount: number;
  /** False while only run.json was read: last metrics and checkpoint count not known yet. */
  summarized: boolean;
  /** Read on first access: each checkpoint's size, header summary and newest evaluations. */
  checkpoints: CheckpointEntry[];
  /** Every record of the run's evals.jsonl, in file order (read on first access). */
  evals: EvalRecord[];
}

export interface LastMetrics {
  loss?: number;
  knn?: number;
  step?: number;
  /** Bytes read from disk: a few KB for a run of any length (benchmarks and tests check it). */
  bytesRead: number;
}

const NEWLINE = 0x0a;
const KNN_KEY = Buffer.from('"knn_top1"');

/**
 * The newest loss, kNN top-1 and step of a metrics.jsonl, read backwards from its end: lines are
 * parsed newest first and reading stops once loss and kNN are known, so a 1,000-run folder costs
 * a few KB per run instead of a parse of each file's tail. kNN rows are rare (one per epoch), so
 * the window grows (4 KB, doubling, at most `maxBytes`) and older lines are only searched for
 * the kNN key before any JSON.parse.
 */
export function lastMetrics(file: string, maxBytes = 8 * 1024 * 1024): LastMetrics {
  const out: LastMetrics = { bytesRead: 0 };
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const size = fs.fstatSync(fd).size;
    let end = size;
    let window = 4096;
    // Bytes after the window's first newline that belong to a line cut by the window's start.
    let carry: Buffer = Buffer.alloc(0);
    let lastLine = true;
    while (end > 0 && size - end < maxBytes) {
      const start = Math.max(0, end - window);
      const chunk = Buffer.allocUnsafe(end - start);
      fs.readSync(fd, chunk, 0, chunk.length, start);
      out.bytesRead += chunk.length;
      const buf = carry.length ? Buffer.concat([chunk, carry]) : chunk;
      // A line is complete when a newline ends it; the text after the file's last newline is a
      // line still being written (or torn by a crash) and is skipped.
      let stop = buf.length;
      if (lastLine) {
        stop = buf.lastIndexOf(NEWLINE);
        if (stop < 0) stop = start === 0 ? -1 : buf.length;
      }
      const firstNl = start > 0 ? buf.indexOf(NEWLINE) : -1;
      const floor = start > 0 ? firstNl : -1;
      if (start > 0 && firstNl < 0) {
        // No complete line yet in this window: read further back.
        carry = buf;
        end = start;
        window *= 2;
        continue;
      }
      if (lastLine && stop >= 0) lastLine = false;
      let lineEnd = stop;
      while (lineEnd > floor) {
        const lineStart = lineEnd > 0 ? buf.lastIndexOf(NEWLINE, lineEnd - 1) + 1 : 0;
        if (lineStart <= floor) break;
        const needLoss = out.loss === undefined || out.step === undefined;
        if (needLoss || buf.subarray(lineStart, lineEnd).includes(KNN_KEY)) {
          try {
            const row = JSON.parse(buf.toString('utf8', lineStart, lineEnd));
            if (typeof row?.step === 'number') {
              out.step = Math.max(out.step ?? row.step, row.step);
              if (out.loss === undefined && typeof row.loss === 'number') out.loss = row.loss;
              if (out.knn === undefined && typeof row.knn_top1 === 'number') out.knn = row.knn_top1;
            }
          } catch {
            // a bad line: the charts report it; the tree just looks further back
          }
        }
        if (out.loss !== undefined && out.knn !== undefined) return out;
        lineEnd = lineStart - 1;
      }
      if (start === 0) break;
      carry = Buffer.from(buf.subarray(0, Math.max(0, floor)));
      end = start;
      window *= 2;
    }
    return out;
  } catch {
    return out;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Reads what the Runs view lists for a run folder: run.json (readRunListing), then the newest loss
 * and kNN from the end of metrics.jsonl and the number of checkpoints (summarizeRun). The rest
 * (config.json for the tooltip, checkpoint headers and evals.jsonl for the children) is read on
 * first access, so listing 1,000 runs costs three small reads each.
 */
export function readRunEntry(dir: string): RunEntry | null {
  const entry = readRunListing(dir);
  if (entry) summarizeRun(entry);
  return entry;
}

/**
 * A run as far as run.json alone tells it: name, status, method. One small read per folder, so
 * a 1,000-run folder is listed in a fraction of a full scan; `summarized` is false until
 * summarizeRun has added the last metrics and the checkpoint count.
 */
export function readRunListing(dir: string): RunEntry | null {
  let info: RunInfo;
  try {
    info = JSON.parse(fs.readFileSync(path.join(dir, RUN_FILES.run), 'utf8'));
  } catch {
    return null;
  }
  const live = info.status === 'running' || info.status === 'stopping';
  const stale = live && !!info.pid && info.host === os.hostname() && !isAlive(info.pid);
  const entry = {
    id: info.id ?? path.basename(dir),
    dir,
    info,
    status: stale ? 'failed' : info.status,
    stale,
    checkpointCount: 0,
    summarized: false,
  } as RunEntry;
  lazy(entry, 'config', () => readConfig(dir));
  lazy(entry, 'evals', () => readEvals(dir).records);
  lazy(entry, 'checkpoints', () =>
    listCheckpoints(dir).map((c) => {
      let bytes = 0;
      try {
        bytes = fs.statSync(c.file).size;
      } catch {
        // removed meanwhile (checkpoint rotation)
      }
      const mine = latestByProtocol(evalsOfCheckpoint(dir, entry.evals, c.file));
      return { ...c, bytes, ...checkpointSummary(c.file), ...(mine.length ? { evals: mine } : {}) };
    }),
  );
  return entry;
}

/** Adds the newest loss, kNN and step and the checkpoint count to a listed run. */
export function summarizeRun(entry: RunEntry): void {
  const tail = lastMetrics(path.join(entry.dir, RUN_FILES.metrics));
  entry.lastLoss = tail.loss;
  entry.lastKnn = tail.knn;
  entry.lastStep = tail.step;
  entry.checkpointCount = listCheckpoints(entry.dir).length;
  entry.summarized = true;
}

function readConfig(dir: string): RunConfig | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, RUN_FILES.config), 'utf8'));
  } catch {
    return null;
  }
}

/** Defines `obj[key]` as computed once, on first read (enumerable, so spreads and logs see it). */
function lazy<T extends object, K extends keyof T>(obj: T, key: K, compute: () => T[K]): void {
  let done = false;
  let value: T[K];
  Object.defineProperty(obj, key, {
    enumerable: true,
    configurable: true,
    get() {
      if (!done) {
        value = compute();
        done = true;
      }
      return value;
    },
  });
}
