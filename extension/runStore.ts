/**
 * RunStore: the extension's view of the runs folder, rebuilt from files alone (DESIGN principle 1),
 * so runs started from the CLI, on a cluster or before a reload show up and update.
 *
 * A change to one run folder refreshes only that run; the whole folder is scanned once at start
 * and when a run folder appears or disappears.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { listCheckpoints } from '../trainer/checkpoint/files';
import { parseHeaderLength, parseSafetensorsHeader } from '../trainer/checkpoint/safetensors';
import type { RunConfig } from '../trainer/config/types';
import type { EvalRecord } from '../trainer/eval/contract';
import { parseMetrics } from '../trainer/run/metrics';
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
  config: RunConfig | null;
  /** Status as the user should see it: a `running` run whose process is gone is `failed`. */
  status: RunInfo['status'];
  /** True when run.json says running but its trainer process is gone. */
  stale: boolean;
  lastLoss?: number;
  lastKnn?: number;
  lastStep?: number;
  checkpoints: CheckpointEntry[];
  /** Every record of the run's evals.jsonl, in file order. */
  evals: EvalRecord[];
}

/** Reads the last `bytes` of metrics.jsonl: enough for the newest loss and kNN without a full parse. */
function tailMetrics(file: string, bytes = 64 * 1024): { loss?: number; knn?: number; step?: number } {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const size = fs.fstatSync(fd).size;
    const start = Math.max(0, size - bytes);
    const buf = Buffer.alloc(size - start);
    fs.readSync(fd, buf, 0, buf.length, start);
    let text = buf.toString('utf8');
    if (start > 0) text = text.slice(text.indexOf('\n') + 1);
    const { rows } = parseMetrics(text);
    const out: { loss?: number; knn?: number; step?: number } = {};
    for (const r of rows) {
      if (typeof r.loss === 'number') out.loss = r.loss;
      if (typeof r.knn_top1 === 'number') out.knn = r.knn_top1;
      out.step = Math.max(out.step ?? 0, r.step);
    }
    // kNN rows are rare: look further back when the tail had none.
    if (out.knn === undefined && start > 0 && bytes < 8 * 1024 * 1024) {
      out.knn = tailMetrics(file, bytes * 8).knn;
    }
    return out;
  } catch {
    return {};
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

export function readRunEntry(dir: string): RunEntry | null {
  let info: RunInfo;
  try {
    info = JSON.parse(fs.readFileSync(path.join(dir, RUN_FILES.run), 'utf8'));
  } catch {
    return null;
  }
  let config: RunConfig | null = null;
  try {
    config = JSON.parse(fs.readFileSync(path.join(dir, RUN_FILES.config), 'utf8'));
  } catch {
    config = null;
  }
  const live = info.status === 'running' || info.status === 'stopping';
  const stale = live && !!info.pid && info.host === os.hostname() && !isAlive(info.pid);
  const tail = tailMetrics(path.join(dir, RUN_FILES.metrics));
  const evals = readEvals(dir).records;
  const checkpoints = listCheckpoints(dir).map((c) => {
    let bytes = 0;
    try {
      bytes = fs.statSync(c.file).size;
    } catch {
      // removed meanwhile (checkpoint rotation)
    }
    const mine = latestByProtocol(evalsOfCheckpoint(dir, evals, c.file));
    return { ...c, bytes, ...checkpointSummary(c.file), ...(mine.length ? { evals: mine } : {}) };
  });
  return {
    id: info.id ?? path.basename(dir),
    dir,
    info,
    config,
    status: stale ? 'failed' : info.status,
    stale,
    lastLoss: tail.loss,
    lastKnn: tail.knn,
    lastStep: tail.step,
    checkpoints,
    evals,
  };
}

export class RunStore implements vscode.Disposable {
  private readonly runs = new Map<string, RunEntry>();
  private readonly emitter = new vscode.EventEmitter<RunEntry | undefined>();
  /** Fires with the changed run, or undefined when the set of runs changed. */
  readonly onDidChange = this.emitter.event;
  private watcher: vscode.FileSystemWatcher | undefined;
  private readonly pending = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private poll: NodeJS.Timeout | undefined;

  constructor(private dir: string | undefined) {
    this.rescan();
    this.watch();
  }

  get runsDir(): string | undefined {
    return this.dir;
  }

  setRunsDir(dir: string | undefined): void {
    if (dir === this.dir) return;
    this.dir = dir;
    this.watcher?.dispose();
    this.rescan();
    this.watch();
  }

  all(): RunEntry[] {
    return [...this.runs.values()].sort((a, b) =>
      (b.info.createdAt ?? '').localeCompare(a.info.createdAt ?? ''),
    );
  }

  get(id: string): RunEntry | undefined {
    return this.runs.get(id);
  }

  byDir(dir: string): RunEntry | undefined {
    const d = path.resolve(dir);
    return this.all().find((r) => path.resolve(r.dir) === d);
  }

  /** Full scan: once at start, and when folders appear or disappear. */
  rescan(): void {
    this.runs.clear();
    if (this.dir && fs.existsSync(this.dir)) {
      for (const e of fs.readdirSync(this.dir, { withFileTypes: true })) {
        if (!e.isDirectory() || e.name.startsWith('.')) continue;
        const entry = readRunEntry(path.join(this.dir, e.name));
        if (entry) this.runs.set(entry.id, entry);
      }
    }
    this.emitter.fire(undefined);
  }

  /** Re-reads one run folder (coalesced: many file events in a burst cost one read). */
  refresh(runDir: string): void {
    this.pending.add(path.resolve(runDir));
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const dirs = [...this.pending];
      this.pending.clear();
      let setChanged = false;
      for (const d of dirs) {
        const entry = readRunEntry(d);
        const old = [...this.runs.values()].find((r) => path.resolve(r.dir) === d);
        if (!entry) {
          if (old) {
            this.runs.delete(old.id);
            setChanged = true;
          }
          continue;
        }
        if (!old) setChanged = true;
        this.runs.set(entry.id, entry);
        if (old) this.emitter.fire(entry);
      }
      if (setChanged) this.emitter.fire(undefined);
    }, 150);
  }

  private watch(): void {
    if (!this.dir) return;
    const pattern = new vscode.RelativePattern(vscode.Uri.file(this.dir), '**/*');
    this.watcher = vscode.workspace.createFileSystemWatcher(pattern);
    const onEvent = (uri: vscode.Uri) => {
      const rel = path.relative(this.dir!, uri.fsPath);
      if (rel.startsWith('..') || rel === '') return;
      const runDir = path.join(this.dir!, rel.split(path.sep)[0]);
      this.refresh(runDir);
    };
    this.watcher.onDidCreate(onEvent);
    this.watcher.onDidChange(onEvent);
    this.watcher.onDidDelete(onEvent);
    // File events can be missed (network filesystems, runs written by a cluster): a slow poll of
    // the live runs' run.json keeps status and progress honest.
    clearInterval(this.poll);
    this.poll = setInterval(() => {
      for (const r of this.runs.values())
        if (r.status === 'running' || r.status === 'stopping') this.refresh(r.dir);
    }, 5000);
  }

  dispose(): void {
    this.watcher?.dispose();
    clearInterval(this.poll);
    clearTimeout(this.timer);
    this.emitter.dispose();
  }
}
