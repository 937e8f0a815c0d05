/**
 * Runs a checkpoint tool (`contrastive-lab eval|embed ... --progress-json`) as a short-lived worker
 * process, the way the checkpoint inspector runs `inspect`: no shell, the bundled dist/trainer.js
 * under the editor's own runtime (ELECTRON_RUN_AS_NODE), stdout collected as the result, stderr
 * read line by line for ToolProgress objects (trainer/eval/contract.ts). Cancelling kills the
 * worker, so nothing it would have written at the end (an evals.jsonl line, an embeddings file)
 * is written. Pure Node (no `vscode`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { ToolProgress } from '../trainer/eval/contract';

export interface ToolWorkerOptions {
  /** The Node executable (in VS Code: `process.execPath`). */
  nodePath: string;
  /** The bundled CLI, `dist/trainer.js`. */
  script: string;
  /** Arguments after the script: the subcommand first. */
  args: string[];
  cwd?: string;
  /** Added to `process.env`. */
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  onProgress?: (p: ToolProgress) => void;
  /** Every stderr line that is not a progress line (for the output channel). */
  onLog?: (line: string) => void;
}

export class ToolCancelledError extends Error {
  override readonly name = 'ToolCancelledError';
  constructor(what: string) {
    super(`${what} was cancelled`);
  }
}

export class ToolWorkerError extends Error {
  override readonly name = 'ToolWorkerError';
  constructor(
    message: string,
    /** 2: bad input (file, options); 1: a bug; null: killed or never started. */
    readonly exitCode: number | null,
  ) {
    super(message);
  }
}

export interface ToolWorker {
  /** The worker's process id (undefined if it could not be started). */
  readonly pid: number | undefined;
  /** Resolves with everything the worker printed on stdout when it exits with 0. */
  readonly done: Promise<string>;
}

/** A stderr line that is a ToolProgress object, else undefined. */
export function parseToolProgress(line: string): ToolProgress | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const v = JSON.parse(line) as Partial<ToolProgress>;
    if (v?.type !== 'progress' || typeof v.fraction !== 'number' || !Number.isFinite(v.fraction))
      return undefined;
    return {
      type: 'progress',
      fraction: Math.min(1, Math.max(0, v.fraction)),
      message: typeof v.message === 'string' ? v.message : '',
    };
  } catch {
    return undefined;
  }
}

/** A worker that ignores SIGTERM (busy in a wasm kernel) is killed outright after this. */
const KILL_AFTER_MS = 2000;

export function startToolWorker(opts: ToolWorkerOptions): ToolWorker {
  const what = `contrastive-lab ${opts.args[0] ?? ''}`.trim();
  if (opts.signal?.aborted) return { pid: undefined, done: Promise.reject(new ToolCancelledError(what)) };
  let child: ChildProcess;
  try {
    child = spawn(opts.nodePath, [opts.script, ...opts.args], {
      cwd: opts.cwd,
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      shell: false,
      windowsHide: true,
    });
  } catch (e) {
    return {
      pid: undefined,
      done: Promise.reject(new ToolWorkerError(`cannot start ${what}: ${(e as Error).message}`, null)),
    };
  }
  const done = new Promise<string>((resolve, reject) => {
    const stdout: Buffer[] = [];
    const errorLines: string[] = [];
    const other: string[] = [];
    let pending = '';
    let cancelled = false;
    let killTimer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = () => {
      cancelled = true;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout!.on('data', (d: Buffer) => stdout.push(d));
    child.stderr!.setEncoding('utf8');
    const onLine = (line: string) => {
      if (!line.trim()) return;
      const p = parseToolProgress(line);
      if (p) {
        if (!cancelled) opts.onProgress?.(p);
        return;
      }
      opts.onLog?.(line);
      if (line.startsWith('error: ')) errorLines.push(line.slice(7));
      else if (errorLines.length) errorLines.push(line);
      else {
        other.push(line);
        if (other.length > 30) other.shift();
      }
    };
    child.stderr!.on('data', (d: string) => {
      const lines = (pending + d).split('\n');
      pending = lines.pop()!;
      for (const l of lines) onLine(l);
    });
    child.on('error', (e) => {
      opts.signal?.removeEventListener('abort', onAbort);
      clearTimeout(killTimer);
      reject(new ToolWorkerError(`cannot start ${what} (${opts.nodePath}): ${e.message}`, null));
    });
    child.on('close', (code) => {
      opts.signal?.removeEventListener('abort', onAbort);
      clearTimeout(killTimer);
      onLine(pending);
      if (cancelled) reject(new ToolCancelledError(what));
      else if (code === 0) resolve(Buffer.concat(stdout).toString('utf8'));
      else
        reject(
          new ToolWorkerError(
            errorLines.join('\n') || other.slice(-8).join('\n') || `${what} exited with code ${code}`,
            code,
          ),
        );
    });
  });
  return { pid: child.pid, done };
}

/** The last line of `stdout` that parses as a JSON object (tools may print a summary before it). */
export function lastJsonLine(stdout: string): unknown {
  const lines = stdout.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i].trim();
    if (!l.startsWith('{')) continue;
    try {
      return JSON.parse(l);
    } catch {
      // a line that only looks like JSON
    }
  }
  // A pretty-printed document spans lines.
  try {
    return JSON.parse(stdout);
  } catch {
    return undefined;
  }
}
