/**
 * The trainer's JSON-RPC contract (vscode-jsonrpc, LSP base protocol framing). Imported by the
 * trainer and by the extension's TrainerClient: this file is the single truth for both sides.
 *
 * Transport: stdio of a trainer started with `contrastive-lab serve`, or the Unix socket whose
 * path is in the run's run.json (`socket`), which outlives any one client.
 */
import { NotificationType, RequestType, RequestType0 } from 'vscode-jsonrpc';
import type { PartialConfig } from './config/config';
import type { RunConfig } from './config/types';
import type { MethodInfo } from './methods/types';
import type { MetricRow } from './run/metrics';
import type { RunInfo, RunStatus } from './run/runfolder';

export const PROTOCOL_VERSION = 1;

export interface InitializeParams {
  clientName: string;
  protocolVersion: number;
}

export interface InitializeResult {
  protocolVersion: number;
  trainerVersion: string;
  backend: { name: string; detail: string; threads: number };
  versions: Record<string, string>;
  methods: MethodInfo[];
  /** JSON schema of config.json. */
  configSchema: unknown;
  /** The run this process owns, when it already has one (attach after a reload). */
  run: RunSnapshot | null;
}

export interface StartParams {
  /** New run: a (partial) config, merged over the method preset. */
  config?: PartialConfig;
  preset?: 'laptop' | 'paper';
  runsDir?: string;
  name?: string;
  tags?: string[];
  /** Start a queued run folder created beforehand (config.json already written). */
  runDir?: string;
  /** Resume an existing run folder from its newest checkpoint (or `checkpoint`). */
  resumeDir?: string;
  checkpoint?: string;
}

export interface StartResult {
  runId: string;
  runDir: string;
  socket: string | null;
  config: RunConfig;
}

export interface RunRef {
  runId: string;
}

export interface AttachParams {
  /** Replay metric rows after this step (omit for none; the files have the history). */
  sinceStep?: number;
}

export interface RunSnapshot {
  runId: string;
  runDir: string;
  status: RunStatus;
  info: RunInfo;
  progress: ProgressParams | null;
}

export interface StatusParams {
  runId: string;
  status: RunStatus;
  error?: string;
}

export interface ProgressParams {
  step: number;
  totalSteps: number;
  /** Fractional epoch (step / steps per epoch). */
  epoch: number;
  epochs: number;
  /** Source images per second (each gives `views` augmented views). */
  imagesPerSec: number;
  etaSeconds: number | null;
  loss: number;
  lr: number;
}

export interface RunProgressParams extends ProgressParams {
  runId: string;
}

export interface MetricsParams {
  runId: string;
  rows: MetricRow[];
}

export interface CheckpointParams {
  runId: string;
  file: string;
  step: number;
  epoch: number;
  bytes: number;
  knnTop1?: number;
}

export interface LogParams {
  runId: string | null;
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
}

/** Error codes beyond JSON-RPC's own. */
export const ErrorCodes = {
  InvalidConfig: -32001,
  UnknownMethod: -32002,
  RunActive: -32003,
  NoRun: -32004,
  DatasetError: -32005,
  CheckpointError: -32006,
} as const;

export const Initialize = new RequestType<InitializeParams, InitializeResult, void>('initialize');
export const RunStart = new RequestType<StartParams, StartResult, void>('run/start');
export const RunStop = new RequestType<RunRef, { status: RunStatus }, void>('run/stop');
export const RunAttach = new RequestType<AttachParams, RunSnapshot, void>('run/attach');
export const Shutdown = new RequestType0<void, void>('shutdown');

export const RunStatusNotification = new NotificationType<StatusParams>('run/status');
export const RunProgressNotification = new NotificationType<RunProgressParams>('run/progress');
export const RunMetricsNotification = new NotificationType<MetricsParams>('run/metrics');
export const RunCheckpointNotification = new NotificationType<CheckpointParams>('run/checkpoint');
export const LogNotification = new NotificationType<LogParams>('log');
