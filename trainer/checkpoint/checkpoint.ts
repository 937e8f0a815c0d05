/**
 * Trainer checkpoints: one safetensors file holding every network's weights and buffers, the
 * optimizer's slots and method state (queues, banks, centres), with the config, position and
 * format in the header metadata. Written atomically, so a crash leaves the previous one intact.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { RunConfig } from '../config/types';
import { writeFileAtomic } from './atomic';
import { checkpointFileName, listCheckpoints } from './files';
import { decodeSafetensors, encodeSafetensors, SafetensorsError, type TensorInput } from './safetensors';

export const CHECKPOINT_FORMAT = 'contrastive-lab/checkpoint';
export const CHECKPOINT_FORMAT_VERSION = 1;

export interface CheckpointMeta {
  format: typeof CHECKPOINT_FORMAT;
  formatVersion: number;
  method: string;
  step: number;
  epoch: number;
  /** Size of metrics.jsonl when the checkpoint was taken: rows past it are redone on resume. */
  metricsBytes: number;
  createdAt: string;
  backend: string;
  /** Input standardisation the encoder was trained with. */
  normalization: { mean: number[]; std: number[] };
  knnTop1?: number;
  config: RunConfig;
}

export class CheckpointError extends Error {
  constructor(
    message: string,
    readonly file: string,
  ) {
    super(message);
    this.name = 'CheckpointError';
  }
}

/** Reads tensors back from the backend and writes the file atomically. */
export async function saveCheckpoint(
  file: string,
  tensors: Map<string, tf.Tensor>,
  meta: CheckpointMeta,
): Promise<number> {
  const entries = new Map<string, TensorInput>();
  for (const [name, t] of tensors) {
    entries.set(name, { dtype: 'F32', shape: t.shape, data: (await t.data()) as Float32Array });
  }
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(meta)) {
    // Optional fields (knnTop1 before the first evaluation) are left out, not written as "undefined".
    if (v === undefined) continue;
    metadata[k] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  const bytes = encodeSafetensors(entries, metadata);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeFileAtomic(file, bytes);
  return bytes.byteLength;
}

export interface LoadedCheckpoint {
  meta: CheckpointMeta;
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
}

function parseMeta(file: string, raw: Record<string, string>): CheckpointMeta {
  if (raw.format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(
      `${file} is a safetensors file but not a Contrastive Lab checkpoint (metadata 'format' is ${JSON.stringify(raw.format)}).`,
      file,
    );
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (k === 'format' || k === 'createdAt' || k === 'backend' || k === 'method') out[k] = v;
    else {
      try {
        out[k] = JSON.parse(v);
      } catch {
        throw new CheckpointError(`${file}: metadata field '${k}' is not valid JSON.`, file);
      }
    }
  }
  const meta = out as unknown as CheckpointMeta;
  if (meta.formatVersion > CHECKPOINT_FORMAT_VERSION) {
    throw new CheckpointError(
      `${file} has checkpoint format version ${meta.formatVersion}; this trainer reads up to ${CHECKPOINT_FORMAT_VERSION}. Update Contrastive Lab.`,
      file,
    );
  }
  if (!Number.isInteger(meta.step) || meta.step < 0) {
    throw new CheckpointError(`${file}: metadata 'step' is missing or invalid.`, file);
  }
  return meta;
}

export function loadCheckpoint(file: string): LoadedCheckpoint {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new CheckpointError(`Cannot read checkpoint ${file}: ${(e as Error).message}`, file);
  }
  let decoded: ReturnType<typeof decodeSafetensors>;
  try {
    decoded = decodeSafetensors(buf, { copy: true });
  } catch (e) {
    if (e instanceof SafetensorsError) {
      throw new CheckpointError(`Checkpoint ${file} is corrupt: ${e.message}`, file);
    }
    throw e;
  }
  const meta = parseMeta(file, decoded.metadata);
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, t] of decoded.tensors) {
    if (t.dtype !== 'F32')
      throw new CheckpointError(`${file}: tensor '${name}' is ${t.dtype}, expected F32.`, file);
    tensors.set(name, { shape: t.shape, data: t.data as Float32Array });
  }
  return { meta, tensors };
}

/**
 * Assigns checkpoint values to live variables. Every variable must be present with the same
 * shape; a mismatch means the checkpoint belongs to another config, which is refused.
 */
export function restoreVariables(file: string, ckpt: LoadedCheckpoint, vars: Map<string, tf.Variable>): void {
  for (const [name, v] of vars) {
    const t = ckpt.tensors.get(name);
    if (!t)
      throw new CheckpointError(`${file} has no tensor '${name}' (was it written by another config?).`, file);
    if (t.shape.join('x') !== v.shape.join('x')) {
      throw new CheckpointError(
        `${file}: tensor '${name}' has shape [${t.shape}] but the model expects [${v.shape}].`,
        file,
      );
    }
  }
  for (const [name, v] of vars) {
    const t = ckpt.tensors.get(name)!;
    const value = tf.tensor(t.data, t.shape, 'float32');
    v.assign(value);
    value.dispose();
  }
}

export { checkpointFileName, listCheckpoints };
