/**
 * Opens a checkpoint for the tools: reads it, rebuilds its method's model from the config in its
 * header (the same `buildModel` training starts from), loads the dataset that config names and
 * restores the model's variables (optimizer slots are not needed and not read).
 */
import * as path from 'node:path';
import {
  CheckpointError,
  type CheckpointMeta,
  loadCheckpoint,
  restoreVariables,
} from '../checkpoint/checkpoint';
import { validateConfig } from '../config/config';
import type { RunConfig } from '../config/types';
import { loadDataset } from '../data/load';
import type { Dataset } from '../data/types';
import type { MethodModel } from '../methods/types';
import { buildModel } from '../train';

export interface OpenedCheckpoint {
  file: string;
  meta: CheckpointMeta;
  config: RunConfig;
  data: Dataset;
  model: MethodModel;
  /** True when the variables were left as initialised (the run's epoch-0 state). */
  randomInit: boolean;
  dispose(): void;
}

export interface OpenOptions {
  /** Replaces the config's dataset path (the data lives elsewhere on this machine). */
  dataPath?: string;
  /**
   * Keep the freshly built parameters instead of the checkpoint's: the exact state the run started
   * from (same config, seed and normalisation), the baseline a trained checkpoint should beat.
   */
  randomInit?: boolean;
}

export async function openCheckpoint(file: string, opts: OpenOptions = {}): Promise<OpenedCheckpoint> {
  const abs = path.resolve(file);
  const ckpt = loadCheckpoint(abs);
  const { meta } = ckpt;
  if (!meta.config || typeof meta.config !== 'object')
    throw new CheckpointError(
      `${abs} has no run config in its metadata, so its model cannot be rebuilt.`,
      abs,
    );
  if (!meta.normalization?.mean || !meta.normalization?.std)
    throw new CheckpointError(`${abs}: metadata 'normalization' is missing.`, abs);
  const config = validateConfig(meta.config);
  if (opts.dataPath !== undefined) config.dataset = { ...config.dataset, path: path.resolve(opts.dataPath) };
  const data = await loadDataset(config.dataset);
  const model = buildModel(config, meta.normalization, data);
  try {
    if (!opts.randomInit) restoreVariables(abs, ckpt, model.store.state());
  } catch (e) {
    model.store.dispose();
    throw e;
  }
  return {
    file: abs,
    meta,
    config,
    data,
    model,
    randomInit: !!opts.randomInit,
    dispose: () => model.store.dispose(),
  };
}
