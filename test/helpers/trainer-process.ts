/**
 * Drives the real trainer: the bundled `dist/trainer.js` in its own process, over real JSON-RPC
 * on stdio or on the run's socket.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  createMessageConnection,
  type MessageConnection,
  SocketMessageReader,
  SocketMessageWriter,
  StreamMessageReader,
  StreamMessageWriter,
} from 'vscode-jsonrpc/node';
import {
  type CheckpointParams,
  type MetricsParams,
  RunCheckpointNotification,
  RunMetricsNotification,
  RunProgressNotification,
  type RunProgressParams,
  RunStatusNotification,
  type StatusParams,
} from '../../trainer/protocol';

export const ROOT = path.resolve(__dirname, '..', '..');
export const TRAINER = path.join(ROOT, 'dist', 'trainer.js');

/** Builds the bundles once per test process if they are missing or older than the sources. */
export function ensureBuilt(): void {
  if (fs.existsSync(TRAINER) && process.env.CL_SKIP_BUILD) return;
  const r = spawnSync(process.execPath, [path.join(ROOT, 'build.mjs')], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`build failed:\n${r.stdout}\n${r.stderr}`);
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Records every notification a connection receives. */
export class Recorder {
  progress: RunProgressParams[] = [];
  metrics: MetricsParams[] = [];
  status: StatusParams[] = [];
  checkpoints: CheckpointParams[] = [];
  private waiters: { pred: () => boolean; resolve: () => void }[] = [];

  constructor(conn: MessageConnection) {
    conn.onNotification(RunProgressNotification, (p) => this.push(this.progress, p));
    conn.onNotification(RunMetricsNotification, (p) => this.push(this.metrics, p));
    conn.onNotification(RunStatusNotification, (p) => this.push(this.status, p));
    conn.onNotification(RunCheckpointNotification, (p) => this.push(this.checkpoints, p));
  }
  private push<T>(list: T[], item: T) {
    list.push(item);
    this.waiters = this.waiters.filter((w) => {
      if (w.pred()) {
        w.resolve();
        return false;
      }
      return true;
    });
  }
  until(pred: () => boolean, timeoutMs = 60000, what = 'condition'): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
      this.waiters.push({
        pred,
        resolve: () => {
          clearTimeout(t);
          resolve();
        },
      });
    });
  }
}

export interface TrainerProc {
  child: ChildProcess;
  conn: MessageConnection;
  rec: Recorder;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Spawns `node dist/trainer.js serve` (no shell) and connects over its stdio. */
export function spawnTrainer(args: string[] = []): TrainerProc {
  const child = spawn(process.execPath, [TRAINER, 'serve', ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    cwd: ROOT,
  });
  let err = '';
  child.stderr!.on('data', (d) => {
    err += d;
  });
  const conn = createMessageConnection(
    new StreamMessageReader(child.stdout!),
    new StreamMessageWriter(child.stdin!),
  );
  const rec = new Recorder(conn);
  conn.listen();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, conn, rec, stderr: () => err, exited };
}

export function connectSocket(
  socketPath: string,
): Promise<{ conn: MessageConnection; rec: Recorder; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(socketPath, () => {
      const conn = createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket));
      const rec = new Recorder(conn);
      conn.listen();
      resolve({ conn, rec, socket });
    });
    socket.once('error', reject);
  });
}

/** Runs the CLI to completion (no shell); returns exit code and output. */
export function runCli(args: string[], cwd = ROOT): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [TRAINER, ...args], { cwd, encoding: 'utf8', timeout: 600000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
