/**
 * Messages between the checkpoint editor (`extension/checkpointEditor.ts`, a read-only custom
 * editor for `.safetensors` files) and its webview (`webview/checkpoint/main.ts`). Types only, plus
 * guards: the webview bundle pulls in nothing from Node. Names carry a `Checkpoint` prefix because
 * `webview/contract.ts` re-exports every webview's messages into one namespace.
 */
import type { GroupTotals, Inspection, TensorEntry } from '../../trainer/inspect/inspect';
import type { Histogram, TensorStats } from '../../trainer/inspect/stats';

export type CheckpointInspection = Inspection;
export type CheckpointTensor = TensorEntry;
export type CheckpointGroupTotals = GroupTotals;
export type CheckpointTensorStats = TensorStats;
export type CheckpointHistogram = Histogram;

export const CHECKPOINT_VIEW_TYPE = 'contrastiveLab.checkpoint';

// ---- extension -> webview -------------------------------------------------------------------

/**
 * What is known about the file. Sent first from the header alone (`data.statsComputed` false),
 * then again with statistics once the worker process is done.
 */
export interface CheckpointInspectionMessage {
  type: 'inspection';
  data: CheckpointInspection;
  /** Statistics are being computed; another `inspection` follows. */
  pending: boolean;
  /** Why there are no statistics, when there will be none (untrusted workspace, cancelled). */
  note?: string;
  /** The note comes with a button that asks for statistics again (`compute`). */
  canCompute?: boolean;
  /** The file lies in a run folder with a config.json (`openRunConfig` opens it). */
  hasRunConfig?: boolean;
}

/** Progress of the statistics, in data bytes. */
export interface CheckpointProgressMessage {
  type: 'progress';
  done: number;
  total: number;
}

/** The file cannot be read (malformed, missing) or the worker failed. */
export interface CheckpointErrorMessage {
  type: 'error';
  message: string;
}

export type CheckpointToWebview =
  | CheckpointInspectionMessage
  | CheckpointProgressMessage
  | CheckpointErrorMessage;

// ---- webview -> extension -------------------------------------------------------------------

export type CheckpointFromWebview =
  /** The script listens: the editor answers with what it has. */
  | { type: 'ready' }
  /** Compute statistics (again): after a cancel, a failure, or once the workspace is trusted. */
  | { type: 'compute' }
  /** Open the checkpoint's run config, when the file lies in a run folder. */
  | { type: 'openRunConfig' }
  /** Run "Evaluate Checkpoint" / "Show Embeddings" on this file. */
  | { type: 'evaluate' }
  | { type: 'embed' }
  /** An uncaught error inside the webview, for the extension's log. */
  | { type: 'webviewError'; text: string };

export function isCheckpointFromWebview(msg: unknown): msg is CheckpointFromWebview {
  if (typeof msg !== 'object' || msg === null) return false;
  const m = msg as { type?: unknown; text?: unknown };
  switch (m.type) {
    case 'ready':
    case 'compute':
    case 'openRunConfig':
    case 'evaluate':
    case 'embed':
      return true;
    case 'webviewError':
      return typeof m.text === 'string';
    default:
      return false;
  }
}

export function isCheckpointToWebview(msg: unknown): msg is CheckpointToWebview {
  if (typeof msg !== 'object' || msg === null) return false;
  const m = msg as { type?: unknown; data?: unknown; done?: unknown; total?: unknown; message?: unknown };
  switch (m.type) {
    case 'inspection': {
      const d = m.data as Partial<CheckpointInspection> | null | undefined;
      return typeof d === 'object' && d !== null && Array.isArray(d.tensors) && Array.isArray(d.groups);
    }
    case 'progress':
      return typeof m.done === 'number' && typeof m.total === 'number';
    case 'error':
      return typeof m.message === 'string';
    default:
      return false;
  }
}
