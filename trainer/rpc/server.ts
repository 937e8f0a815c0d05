/**
 * Serves the trainer's JSON-RPC contract (../protocol.ts) on a message connection: the stdio of a
 * `contrastive-lab serve` process, or a client attached through the run's socket. Every connection
 * gets the run's notifications; any of them may stop the run.
 */
import type * as net from 'node:net';
import * as path from 'node:path';
import {
  createMessageConnection,
  type MessageConnection,
  ResponseError,
  SocketMessageReader,
  SocketMessageWriter,
} from 'vscode-jsonrpc/node';
import { describeBackend } from '../backend/choose';
import { CheckpointError } from '../checkpoint/checkpoint';
import { ConfigError, configSchema } from '../config/config';
import { DatasetError } from '../data/types';
import { METHOD_INFOS } from '../methods/catalog';
import {
  type CheckpointParams,
  ErrorCodes,
  Initialize,
  LogNotification,
  type LogParams,
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
  type StatusParams,
} from '../protocol';
import { readMetricsFile } from '../run/metrics';
import { RUN_FILES } from '../run/runfolder';
import type { RunSession } from '../session';
import { TRAINER_VERSION, versions } from '../versions';

/** Maps trainer errors to JSON-RPC errors with a code a client can act on. */
export function toResponseError(e: unknown): ResponseError<unknown> {
  const err = e as Error;
  if (e instanceof ConfigError)
    return new ResponseError(ErrorCodes.InvalidConfig, err.message, { issues: e.issues });
  if (e instanceof DatasetError)
    return new ResponseError(ErrorCodes.DatasetError, err.message, { file: e.file });
  if (e instanceof CheckpointError)
    return new ResponseError(ErrorCodes.CheckpointError, err.message, { file: e.file });
  if (/^Unknown method/.test(err.message)) return new ResponseError(ErrorCodes.UnknownMethod, err.message);
  return new ResponseError(-32603, err.message ?? String(e));
}

export interface ServeOptions {
  /** Called when a client asks the process to shut down. */
  onShutdown?: () => void;
}

/** Registers the handlers and forwards session events to `conn`. Returns a disposer. */
export function serveConnection(
  conn: MessageConnection,
  session: RunSession,
  opts: ServeOptions = {},
): () => void {
  // vscode-jsonrpc turns a thrown ResponseError into an error response with its code and data.
  const wrap =
    <P, R>(fn: (p: P) => Promise<R> | R) =>
    async (p: P): Promise<R> => {
      try {
        return await fn(p);
      } catch (e) {
        throw e instanceof ResponseError ? e : toResponseError(e);
      }
    };

  conn.onRequest(
    Initialize,
    wrap(() => ({
      protocolVersion: PROTOCOL_VERSION,
      trainerVersion: TRAINER_VERSION,
      backend: {
        name: session.backend.name,
        detail: describeBackend(session.backend),
        threads: session.backend.threads,
      },
      versions: versions(),
      methods: [...METHOD_INFOS.values()],
      configSchema,
      run: session.snapshot(),
    })),
  );
  conn.onRequest(
    RunStart,
    wrap((p) => session.start(p)),
  );
  conn.onRequest(
    RunStop,
    wrap((p) => {
      if (!session.runId || p.runId !== session.runId) {
        throw new ResponseError(ErrorCodes.NoRun, `This trainer does not own run '${p.runId}'.`);
      }
      return { status: session.stop() ?? 'stopped' };
    }),
  );
  conn.onRequest(
    RunAttach,
    wrap((p) => {
      const snap = session.snapshot();
      if (!snap) throw new ResponseError(ErrorCodes.NoRun, 'This trainer has no run yet.');
      if (p.sinceStep !== undefined) {
        const rows = readMetricsFile(path.join(snap.runDir, RUN_FILES.metrics)).rows.filter(
          (r) => r.step > p.sinceStep!,
        );
        if (rows.length)
          setImmediate(() => conn.sendNotification(RunMetricsNotification, { runId: snap.runId, rows }));
      }
      return snap;
    }),
  );
  conn.onRequest(Shutdown, () => {
    session.stop();
    opts.onShutdown?.();
  });

  const swallow = () => undefined; // a client that went away is not an error
  const onStatus = (p: StatusParams) => conn.sendNotification(RunStatusNotification, p).catch(swallow);
  const onProgress = (p: RunProgressParams) =>
    conn.sendNotification(RunProgressNotification, p).catch(swallow);
  const onMetrics = (p: MetricsParams) => conn.sendNotification(RunMetricsNotification, p).catch(swallow);
  const onCheckpoint = (p: CheckpointParams) =>
    conn.sendNotification(RunCheckpointNotification, p).catch(swallow);
  const onLog = (p: LogParams) => conn.sendNotification(LogNotification, p).catch(swallow);
  session.on('status', onStatus);
  session.on('progress', onProgress);
  session.on('metrics', onMetrics);
  session.on('checkpoint', onCheckpoint);
  session.on('log', onLog);
  return () => {
    session.off('status', onStatus);
    session.off('progress', onProgress);
    session.off('metrics', onMetrics);
    session.off('checkpoint', onCheckpoint);
    session.off('log', onLog);
  };
}

/** Wires sockets accepted by the session's server to the RPC handlers. */
export function serveSockets(session: RunSession): void {
  session.onSocket = (socket: net.Socket) => {
    const conn = createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket));
    const dispose = serveConnection(conn, session);
    conn.onClose(() => dispose());
    socket.on('error', () => dispose());
    conn.listen();
  };
}
