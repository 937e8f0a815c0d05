/**
 * RunStore: the extension's view of the runs folder, rebuilt from files alone (DESIGN principle 1),
 * so runs started from the CLI, on a cluster or before a reload show up and update.
 *
 * A change to one run folder refreshes only that run; the whole folder is scanned at start, when
 * the runs folder setting changes and on Refresh. The extension host runs every extension on one
 * thread, and its messages to the workbench (the Runs view's registration, the answer to the
 * view's request) wait while that thread works, so the scan never runs inside activate() and
 * goes a slice per event-loop turn, in two passes: every run.json (the tree can list), then, once
 * the view has its runs (deferSummaries), each run's last metrics and checkpoint count (the rows'
 * descriptions).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { type RunEntry, readRunEntry, readRunListing, summarizeRun } from './runScan';

export type { CheckpointEntry, RunEntry } from './runScan';
export { readRunEntry } from './runScan';

/** Runs summarized per turn of the event loop in the scan's second pass (a few ms each). */
const SUMMARY_SLICE = 50;
/** Run folders listed per turn in the first pass (run.json only, ~0.05 ms each). */
const LIST_SLICE = 250;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
/** After this turn's timers: the extension host writes its outgoing messages on a timer. */
const afterTimers = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

export class RunStore implements vscode.Disposable {
  private readonly runs = new Map<string, RunEntry>();
  private readonly emitter = new vscode.EventEmitter<RunEntry | undefined>();
  /** Fires with the changed run, or undefined when the set of runs changed. */
  readonly onDidChange = this.emitter.event;
  private watcher: vscode.FileSystemWatcher | undefined;
  private readonly pending = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private poll: NodeJS.Timeout | undefined;
  /** Resolved run folder -> run id, so a file event finds its run without a pass over all runs. */
  private readonly ids = new Map<string, string>();
  /** all()'s order, kept until the set of runs or a run changes (the tree asks often). */
  private sorted: RunEntry[] | null = null;
  /** Run folders read since the store was made, and by the last refresh: tests count them. */
  reads = 0;
  /**
   * performance.now() when the store was made (the start of activate()) and the last full scan's
   * duration (both passes): the benchmark's "activation to Runs tree listed" starts here.
   */
  readonly createdAt = performance.now();
  scanMs = 0;
  /** performance.now() when the latest scan had listed every run (NaN before the first). */
  listedAt = Number.NaN;
  /** The same scan's CPU time: on a busy machine the wall time mostly measures the others. */
  scanCpuMs = 0;
  lastRefreshed: string[] = [];
  /** Resolves once the latest scan has read every run.json (what the tree and commands list). */
  listed: Promise<void>;
  /** Resolves once the latest scan has also summarized every run. */
  ready: Promise<void>;
  private summariesAfter: Promise<unknown> = Promise.resolve();
  /** Bumped by each scan, so an older scan still in its second pass stops. */
  private generation = 0;

  /** True once the first scan has listed the runs (the tree answers at once from then on). */
  get isListed(): boolean {
    return Number.isFinite(this.listedAt);
  }

  constructor(private dir: string | undefined) {
    [this.listed, this.ready] = this.rescan();
    this.watch();
  }

  /**
   * The scan's second pass starts only once `until` settles. The extension passes "the Runs view
   * has its runs, or 1.5 s": meanwhile the extension host's thread, shared by every extension,
   * stays free for the workbench's round trip that shows the listed runs.
   */
  deferSummaries(until: Promise<unknown>): void {
    this.summariesAfter = until;
  }

  get runsDir(): string | undefined {
    return this.dir;
  }

  setRunsDir(dir: string | undefined): void {
    if (dir === this.dir) return;
    this.dir = dir;
    this.watcher?.dispose();
    [this.listed, this.ready] = this.rescan();
    this.watch();
  }

  all(): RunEntry[] {
    this.sorted ??= [...this.runs.values()].sort((a, b) =>
      (b.info.createdAt ?? '').localeCompare(a.info.createdAt ?? ''),
    );
    return [...this.sorted];
  }

  get(id: string): RunEntry | undefined {
    return this.runs.get(id);
  }

  byDir(dir: string): RunEntry | undefined {
    const id = this.ids.get(path.resolve(dir));
    return id === undefined ? undefined : this.runs.get(id);
  }

  /**
   * Full scan: once at start, when the runs folder setting changes and on Refresh. Returns when
   * the runs are listed and when they are summarized.
   */
  rescan(): [listed: Promise<void>, ready: Promise<void>] {
    const generation = ++this.generation;
    let listed!: () => void;
    const listedP = new Promise<void>((resolve) => {
      listed = resolve;
    });
    const ready = this.scan(generation, listed).finally(listed);
    return [listedP, ready];
  }

  private async scan(generation: number, listed: () => void): Promise<void> {
    await afterTimers();
    if (generation !== this.generation) return;
    const t0 = performance.now();
    let cpuMicros = 0;
    // CPU of this scan's own slices: between them the host runs other work.
    const slice = (f: () => void) => {
      const c0 = process.cpuUsage();
      f();
      const c = process.cpuUsage(c0);
      cpuMicros += c.user + c.system;
    };
    const dir = this.dir;
    let folders: string[] = [];
    slice(() => {
      if (!dir || !fs.existsSync(dir)) return;
      folders = fs
        .readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
        .map((e) => path.join(dir, e.name));
    });
    // Swapped in whole once read: the tree never lists a partial folder.
    const found: RunEntry[] = [];
    for (let from = 0; from < folders.length; from += LIST_SLICE) {
      if (from > 0) {
        await nextTurn();
        if (generation !== this.generation) return;
      }
      slice(() => {
        for (const f of folders.slice(from, from + LIST_SLICE)) {
          this.reads++;
          const entry = readRunListing(f);
          if (entry) found.push(entry);
        }
      });
    }
    slice(() => {
      this.runs.clear();
      this.ids.clear();
      this.sorted = null;
      for (const entry of found) this.put(entry);
    });
    this.listedAt = performance.now();
    listed();
    this.emitter.fire(undefined);
    const listedRuns = [...this.runs.values()];
    await this.summariesAfter;
    for (let from = 0; from < listedRuns.length; from += SUMMARY_SLICE) {
      await nextTurn();
      if (generation !== this.generation) return;
      // A run refreshed meanwhile was replaced by a summarized entry: only the listed ones remain.
      slice(() => {
        for (const r of listedRuns.slice(from, from + SUMMARY_SLICE))
          if (this.runs.get(r.id) === r) summarizeRun(r);
      });
    }
    this.scanMs = performance.now() - t0;
    this.scanCpuMs = cpuMicros / 1000;
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
      this.lastRefreshed = dirs;
      let setChanged = false;
      for (const d of dirs) {
        const entry = this.read(d);
        const old = this.byDir(d);
        if (old) {
          this.runs.delete(old.id);
          this.ids.delete(d);
        }
        this.sorted = null;
        if (!entry) {
          if (old) setChanged = true;
          continue;
        }
        if (!old) setChanged = true;
        this.put(entry);
        if (old) this.emitter.fire(entry);
      }
      if (setChanged) this.emitter.fire(undefined);
    }, 150);
  }

  private read(dir: string): RunEntry | null {
    this.reads++;
    return readRunEntry(dir);
  }

  private put(entry: RunEntry): void {
    this.runs.set(entry.id, entry);
    this.ids.set(path.resolve(entry.dir), entry.id);
    this.sorted = null;
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
