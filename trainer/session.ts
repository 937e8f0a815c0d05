/**
 * A RunSession owns one run in this process: it creates or reopens the run folder, keeps
 * run.json's status true, serves the run's socket so clients can attach, runs the training loop
 * and fans its events out to every listener (CLI progress bar, stdio client, socket clients).
 */

import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { type BackendInfo, describeBackend } from './backend/choose';
import { listCheckpoints, loadCheckpoint } from './checkpoint/checkpoint';
import { validateConfig } from './config/config';
import { resolveConfig } from './config/resolve';
import type { RunConfig } from './config/types';
import { loadDataset } from './data/load';
import type { Dataset } from './data/types';
import type {
  CheckpointParams,
  LogParams,
  ProgressParams,
  RunSnapshot,
  StartParams,
  StartResult,
  StatusParams,
} from './protocol';
import { RunLogger } from './run/logger';
import type { MetricRow } from './run/metrics';
import { gitInfo, hostName } from './run/provenance';
import {
  createRunFolder,
  RUN_FILES,
  type RunStatus,
  readRunConfig,
  readRunInfo,
  updateRunInfo,
} from './run/runfolder';
import { type TrainResult, train } from './train';
import { versions } from './versions';

export interface SessionEvents {
  status: [StatusParams];
  progress: [ProgressParams & { runId: string }];
  metrics: [{ runId: string; rows: MetricRow[] }];
  checkpoint: [CheckpointParams];
  log: [LogParams];
}

/** Unix sockets have a ~108-byte path limit; long run folders get a socket in the temp dir. */
export function socketPathFor(runDir: string): string {
  const inRun = path.join(runDir, 'trainer.sock');
  if (Buffer.byteLength(inRun) < 100) return inRun;
  const h = createHash('sha256').update(path.resolve(runDir)).digest('hex').slice(0, 16);
  return path.join(os.tmpdir(), `contrastive-lab-${h}.sock`);
}

export class RunSession extends EventEmitter<SessionEvents> {
  runId: string | null = null;
  runDir: string | null = null;
  status: RunStatus | null = null;
  lastProgress: ProgressParams | null = null;
  done: Promise<TrainResult | null> = Promise.resolve(null);
  private readonly control = { stop: false };
  private server: net.Server | null = null;
  private socketPath: string | null = null;
  private logger: RunLogger = new RunLogger(null);
  /** Called for each accepted socket connection (the RPC layer wires a connection to it). */
  onSocket: ((socket: net.Socket) => void) | null = null;

  constructor(
    readonly backend: BackendInfo,
    readonly command: string[],
  ) {
    super();
  }

  get active(): boolean {
    return this.status === 'running' || this.status === 'stopping';
  }

  /**
   * Validates everything that can be checked up front (config, dataset files, checkpoint), and
   * only then creates or touches the run folder, so bad input leaves existing files untouched.
   */
  async start(params: StartParams): Promise<StartResult> {
    if (this.active)
      throw new Error(`This trainer already runs ${this.runId}; start another trainer for a new run.`);
    let config: RunConfig;
    let resume: string | true | undefined;
    let data: Dataset;
    let runDir: string;
    if (params.resumeDir) {
      runDir = path.resolve(params.resumeDir);
      const info = readRunInfo(runDir);
      if (
        info.status === 'running' &&
        info.pid &&
        info.pid !== process.pid &&
        info.host === hostName() &&
        isAlive(info.pid)
      ) {
        throw new Error(`Run ${info.id} is still running (pid ${info.pid}); stop it before resuming.`);
      }
      config = validateConfig(readRunConfig(runDir));
      const file = params.checkpoint ?? listCheckpoints(runDir).at(-1)?.file;
      if (!file)
        throw new Error(
          `Run ${info.id} has no checkpoint to resume from (${path.join(runDir, RUN_FILES.checkpoints)} is empty).`,
        );
      loadCheckpoint(file); // throws CheckpointError with the reason before anything changes
      resume = file;
      data = await loadDataset(config.dataset);
    } else if (params.runDir) {
      runDir = path.resolve(params.runDir);
      const info = readRunInfo(runDir);
      if (info.status !== 'queued' || listCheckpoints(runDir).length) {
        throw new Error(`Run ${info.id} has already started (status ${info.status}); resume it instead.`);
      }
      config = validateConfig(readRunConfig(runDir));
      data = await loadDataset(config.dataset);
    } else {
      config = resolveConfig(params.config ?? {}, params.preset ?? 'laptop');
      data = await loadDataset(config.dataset);
      const created = createRunFolder(params.runsDir ?? 'runs', config, {
        name: params.name,
        tags: params.tags,
      });
      runDir = created.dir;
    }

    const info = readRunInfo(runDir);
    this.runId = info.id;
    this.runDir = runDir;
    this.control.stop = false;
    this.logger = new RunLogger(path.join(runDir, RUN_FILES.log));
    this.logger.onLog((level, message) => this.emit('log', { runId: this.runId, level, message }));
    this.socketPath = await this.listen(runDir);
    updateRunInfo(runDir, {
      status: 'running',
      startedAt: info.startedAt ?? new Date().toISOString(),
      endedAt: undefined,
      error: undefined,
      pid: process.pid,
      host: hostName(),
      socket: this.socketPath ?? undefined,
      backend: this.backend.name,
      backendDetail: describeBackend(this.backend),
      devices: [os.cpus()[0]?.model ?? 'cpu'],
      git: gitInfo(process.cwd()),
      versions: versions(),
      command: this.command,
      resumes: (info.resumes ?? 0) + (resume ? 1 : 0),
    });
    this.setStatus('running');
    this.logger.info(
      `${resume ? 'resuming' : 'starting'} run ${info.id} on ${describeBackend(this.backend)}`,
    );

    this.done = this.run(runDir, data, resume);
    return { runId: info.id, runDir, socket: this.socketPath, config };
  }

  private async run(
    runDir: string,
    data: Dataset,
    resume: string | true | undefined,
  ): Promise<TrainResult | null> {
    try {
      const result = await train({
        runDir,
        backend: this.backend,
        logger: this.logger,
        control: this.control,
        resume,
        data,
        events: {
          progress: (p) => {
            this.lastProgress = p;
            this.emit('progress', { runId: this.runId!, ...p });
          },
          metrics: (rows) => this.emit('metrics', { runId: this.runId!, rows }),
          checkpoint: (c) => this.emit('checkpoint', { runId: this.runId!, ...c }),
        },
      });
      this.finish(result.status);
      return result;
    } catch (e) {
      const err = e as Error;
      this.logger.error(`run failed: ${err.stack ?? err.message}`);
      this.finish('failed', err.message);
      return null;
    }
  }

  private finish(status: RunStatus, error?: string): void {
    if (this.runDir) {
      try {
        updateRunInfo(this.runDir, {
          status,
          endedAt: new Date().toISOString(),
          error,
          pid: undefined,
          socket: undefined,
        });
      } catch (e) {
        this.logger.error(`could not update run.json: ${(e as Error).message}`);
      }
    }
    this.setStatus(status, error);
    this.closeSocket();
  }

  private setStatus(status: RunStatus, error?: string): void {
    this.status = status;
    if (this.runId) this.emit('status', { runId: this.runId, status, error });
  }

  /** Cooperative stop: the loop finishes its step, checkpoints and ends as `stopped`. */
  stop(): RunStatus | null {
    if (this.active) {
      this.control.stop = true;
      if (this.runDir) updateRunInfo(this.runDir, { status: 'stopping' });
      this.setStatus('stopping');
      this.logger.info('stop requested');
    }
    return this.status;
  }

  snapshot(): RunSnapshot | null {
    if (!this.runId || !this.runDir || !this.status) return null;
    return {
      runId: this.runId,
      runDir: this.runDir,
      status: this.status,
      info: readRunInfo(this.runDir),
      progress: this.lastProgress,
    };
  }

  private listen(runDir: string): Promise<string | null> {
    const sock = socketPathFor(runDir);
    try {
      fs.rmSync(sock, { force: true }); // stale socket of a killed trainer
    } catch {
      // ignore: listen reports the real problem
    }
    return new Promise((resolve) => {
      const server = net.createServer((s) => this.onSocket?.(s));
      server.once('error', (e) => {
        this.logger.warn(`cannot listen on ${sock}: ${e.message}; clients cannot attach to this run`);
        resolve(null);
      });
      server.listen(sock, () => {
        this.server = server;
        resolve(sock);
      });
    });
  }

  private closeSocket(): void {
    this.server?.close();
    this.server = null;
    if (this.socketPath) fs.rmSync(this.socketPath, { force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
