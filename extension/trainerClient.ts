/**
 * Starts trainer processes and talks to them over the JSON-RPC contract in trainer/protocol.ts.
 *
 * One trainer process per run (DESIGN principle 3). A trainer is spawned detached, without a
 * shell, so a window reload does not kill the run; on activation the extension re-attaches to
 * live runs through the socket recorded in their run.json. A trainer that dies without a word
 * marks its run failed (with the tail of its stderr) and never takes the extension down.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import {
  createMessageConnection,
  type MessageConnection,
  SocketMessageReader,
  SocketMessageWriter,
  StreamMessageReader,
  StreamMessageWriter,
} from 'vscode-jsonrpc/node';
import { mallocEnv } from '../trainer/backend/malloc-env';
import {
  type CheckpointParams,
  Initialize,
  type InitializeResult,
  LogNotification,
  type MetricsParams,
  PROTOCOL_VERSION,
  RunAttach,
  RunCheckpointNotification,
  RunMetricsNotification,
  RunProgressNotification,
  type RunProgressParams,
  RunStart,
  RunStatusNotification,
  RunStop,
  Shutdown,
  type StartParams,
  type StartResult,
  type StatusParams,
} from '../trainer/protocol';
import { editorTrainerEnv } from '../trainer/run/priority';
import { readRunInfo, updateRunInfo } from '../trainer/run/runfolder';
import { modulesPath } from './backendPackages';

interface Live {
  runId: string;
  runDir: string;
  conn: MessageConnection;
  child?: ChildProcess;
  socket?: net.Socket;
}

export class TrainerClient implements vscode.Disposable {
  private readonly live = new Map<string, Live>();
  readonly onProgress = new vscode.EventEmitter<RunProgressParams>();
  readonly onMetrics = new vscode.EventEmitter<MetricsParams>();
  readonly onStatus = new vscode.EventEmitter<StatusParams>();
  readonly onCheckpoint = new vscode.EventEmitter<CheckpointParams>();
  /** Latest progress per run, for the status bar. */
  readonly progress = new Map<string, RunProgressParams>();

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  private trainerPath(): string {
    return path.join(this.context.extensionPath, 'dist', 'trainer.js');
  }

  private nodePath(): string {
    const configured = vscode.workspace.getConfiguration('contrastiveLab').get<string>('nodePath');
    return configured || process.execPath;
  }

  private cwd(): string {
    return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? this.context.extensionPath;
  }

  private spawnTrainer(): { child: ChildProcess; conn: MessageConnection; stderrTail: () => string } {
    if (!vscode.workspace.isTrusted)
      throw new Error('Contrastive Lab does not start trainers in an untrusted workspace.');
    const backend = vscode.workspace.getConfiguration('contrastiveLab').get<string>('backend') ?? 'auto';
    // No shell: arguments go to the executable as they are. ELECTRON_RUN_AS_NODE lets the desktop
    // editor's own runtime act as Node; detached keeps the run alive across window reloads.
    const child = spawn(this.nodePath(), [this.trainerPath(), 'serve', '--backend', backend], {
      cwd: this.cwd(),
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: {
        ...process.env,
        ELECTRON_RUN_AS_NODE: '1',
        // Reuse freed memory instead of faulting fresh pages in every step (malloc-env.ts).
        ...mallocEnv(),
        // Below the editor's priority and off one core, so the UI stays responsive (priority.ts).
        ...editorTrainerEnv(process.env, os.cpus().length),
        // Where "Install GPU Backend" / "Install Native CPU Kernels" put their packages; the
        // trainer's backend chooser requires them from here.
        NODE_PATH: modulesPath(this.context),
      },
    });
    const tail: string[] = [];
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      for (const line of d.split('\n')) {
        if (!line) continue;
        tail.push(line);
        if (tail.length > 200) tail.shift();
        this.log.info(`[trainer ${child.pid}] ${line}`);
      }
    });
    const conn = createMessageConnection(
      new StreamMessageReader(child.stdout!),
      new StreamMessageWriter(child.stdin!),
    );
    return { child, conn, stderrTail: () => tail.slice(-20).join('\n') };
  }

  private wire(conn: MessageConnection): void {
    conn.onNotification(RunProgressNotification, (p) => {
      this.progress.set(p.runId, p);
      this.onProgress.fire(p);
    });
    conn.onNotification(RunMetricsNotification, (p) => this.onMetrics.fire(p));
    conn.onNotification(RunStatusNotification, (p) => {
      if (p.status !== 'running' && p.status !== 'stopping') this.progress.delete(p.runId);
      this.onStatus.fire(p);
    });
    conn.onNotification(RunCheckpointNotification, (p) => this.onCheckpoint.fire(p));
    conn.onNotification(LogNotification, (p) => {
      const msg = `${p.runId ? `[${p.runId}] ` : ''}${p.message}`;
      if (p.level === 'error') this.log.error(msg);
      else if (p.level === 'warn') this.log.warn(msg);
      else this.log.info(msg);
    });
  }

  /** Metadata of the methods, from a short-lived trainer's `initialize`. */
  async describe(): Promise<InitializeResult> {
    const { child, conn } = this.spawnTrainer();
    conn.listen();
    try {
      return await conn.sendRequest(Initialize, { clientName: 'vscode', protocolVersion: PROTOCOL_VERSION });
    } finally {
      await conn.sendRequest(Shutdown).catch(() => undefined);
      conn.dispose();
      child.kill();
    }
  }

  /** Starts (or resumes) a run in a new trainer process. */
  async start(params: StartParams, token?: vscode.CancellationToken): Promise<StartResult> {
    const { child, conn, stderrTail } = this.spawnTrainer();
    this.wire(conn);
    conn.listen();
    let result: StartResult | undefined;
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code, signal) =>
        reject(
          new Error(
            `The trainer exited before the run started (code ${code}, signal ${signal}).\n${stderrTail()}`,
          ),
        ),
      ),
    );
    token?.onCancellationRequested(() => child.kill());
    try {
      await Promise.race([
        conn.sendRequest(Initialize, { clientName: 'vscode', protocolVersion: PROTOCOL_VERSION }),
        exited,
      ]);
      result = await Promise.race([conn.sendRequest(RunStart, params), exited]);
    } catch (e) {
      conn.dispose();
      child.kill();
      throw e;
    }
    const live: Live = { runId: result.runId, runDir: result.runDir, conn, child };
    this.live.set(result.runId, live);
    child.on('exit', (code, signal) => this.onExit(live, code, signal, stderrTail()));
    // The trainer keeps running if the editor goes away; let the editor exit without waiting for it.
    child.unref();
    return result;
  }

  private onExit(live: Live, code: number | null, signal: NodeJS.Signals | null, stderr: string): void {
    this.live.delete(live.runId);
    this.progress.delete(live.runId);
    live.conn.dispose();
    try {
      const info = readRunInfo(live.runDir);
      if (info.status === 'running' || info.status === 'stopping') {
        const error = `The trainer exited unexpectedly (code ${code}, signal ${signal}). See ${path.join(live.runDir, 'trainer.log')}.${stderr ? `\n${stderr}` : ''}`;
        updateRunInfo(live.runDir, {
          status: 'failed',
          error,
          endedAt: new Date().toISOString(),
          pid: undefined,
          socket: undefined,
        });
        this.onStatus.fire({ runId: live.runId, status: 'failed', error });
        void vscode.window
          .showErrorMessage(`Run ${info.name} failed: the trainer exited unexpectedly.`, 'Show Log')
          .then((pick) => {
            if (pick)
              void vscode.window.showTextDocument(vscode.Uri.file(path.join(live.runDir, 'trainer.log')));
          });
      }
    } catch (e) {
      this.log.error(`after trainer exit: ${(e as Error).message}`);
    }
  }

  /** Connects to a live run through its socket (after a window reload, or a CLI-started run). */
  async attach(runId: string, runDir: string, socketPath: string): Promise<boolean> {
    if (this.live.has(runId)) return true;
    if (!fs.existsSync(socketPath)) return false;
    return new Promise((resolve) => {
      const socket = net.createConnection(socketPath);
      socket.once('error', () => resolve(false));
      socket.once('connect', async () => {
        const conn = createMessageConnection(
          new SocketMessageReader(socket),
          new SocketMessageWriter(socket),
        );
        this.wire(conn);
        conn.listen();
        const live: Live = { runId, runDir, conn, socket };
        conn.onClose(() => {
          if (this.live.get(runId) === live) this.live.delete(runId);
        });
        try {
          const snap = await conn.sendRequest(RunAttach, {});
          if (snap.progress) {
            const p = { runId, ...snap.progress };
            this.progress.set(runId, p);
            this.onProgress.fire(p);
          }
          this.live.set(runId, live);
          resolve(true);
        } catch {
          conn.dispose();
          socket.destroy();
          resolve(false);
        }
      });
    });
  }

  isLive(runId: string): boolean {
    return this.live.has(runId);
  }

  /** Cooperative stop (finish the step, checkpoint, exit). Falls back to SIGTERM, which the trainer treats the same. */
  async stop(runId: string, runDir: string): Promise<void> {
    let live = this.live.get(runId);
    if (!live) {
      const info = readRunInfo(runDir);
      if (info.socket && (await this.attach(runId, runDir, info.socket))) live = this.live.get(runId);
      else if (info.pid) {
        process.kill(info.pid, 'SIGTERM');
        return;
      } else throw new Error(`Run ${runId} is not running.`);
    }
    await live!.conn.sendRequest(RunStop, { runId });
  }

  dispose(): void {
    for (const l of this.live.values()) {
      l.conn.dispose();
      l.socket?.destroy();
      // Children are detached and keep training: closing their stdio is the "client went away" signal.
      l.child?.stdin?.end();
      l.child?.stdout?.destroy();
    }
    this.live.clear();
    this.onProgress.dispose();
    this.onMetrics.dispose();
    this.onStatus.dispose();
    this.onCheckpoint.dispose();
  }
}
