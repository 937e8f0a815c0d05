/**
 * Features of a split for the checkpoint tools, in batches, with progress: the same batching and
 * ops as the training loop's kNN monitor (`embedSplit`), so a tool run on the same backend
 * reproduces the monitor's numbers.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { AugmentConfig } from '../config/types';
import { augmentBatch } from '../data/augment';
import type { ImageSplit } from '../data/types';
import type { MethodModel } from '../methods/types';
import { rngFor } from '../rng';
import { imagesToTensor } from '../train';

export const FEATURE_BATCH = 256;

type OnProgress = (done: number, total: number) => void;

const yieldToEventLoop = () => new Promise((r) => setImmediate(r));

/** Backbone features (eval mode) of the first `count` images of `split` (default: all). */
export async function splitFeatures(
  model: MethodModel,
  split: ImageSplit,
  count = split.n,
  onProgress?: OnProgress,
): Promise<tf.Tensor2D> {
  const n = Math.min(count, split.n);
  const parts: tf.Tensor2D[] = [];
  try {
    for (let s = 0; s < n; s += FEATURE_BATCH) {
      const b = Math.min(FEATURE_BATCH, n - s);
      parts.push(tf.tidy(() => model.features(imagesToTensor(split, s, b))));
      onProgress?.(s + b, n);
      await yieldToEventLoop();
    }
    return tf.concat(parts, 0) as tf.Tensor2D;
  } finally {
    tf.dispose(parts);
  }
}

/**
 * Features of two augmented views of each of the first `count` images: the positive pairs of
 * alignment. Views follow the run's augmentation (and a method's per-view recipe), drawn from
 * streams keyed by the run's seed, so the numbers are reproducible.
 */
export async function viewPairFeatures(
  model: MethodModel,
  split: ImageSplit,
  augment: AugmentConfig,
  seed: number,
  count = split.n,
  onProgress?: OnProgress,
): Promise<[tf.Tensor2D, tf.Tensor2D]> {
  const n = Math.min(count, split.n);
  const parts: [tf.Tensor2D[], tf.Tensor2D[]] = [[], []];
  try {
    for (let s = 0, batch = 0; s < n; s += FEATURE_BATCH, batch++) {
      const b = Math.min(FEATURE_BATCH, n - s);
      const indices = Int32Array.from({ length: b }, (_, i) => s + i);
      for (const v of [0, 1] as const) {
        const cfg = model.viewAugment ? model.viewAugment(augment, v) : augment;
        const x = augmentBatch(split, indices, cfg, rngFor(seed, 'eval-views', batch, v));
        parts[v].push(tf.tidy(() => model.features(x)));
        x.dispose();
      }
      onProgress?.(s + b, n);
      await yieldToEventLoop();
    }
    return [tf.concat(parts[0], 0) as tf.Tensor2D, tf.concat(parts[1], 0) as tf.Tensor2D];
  } finally {
    tf.dispose([...parts[0], ...parts[1]]);
  }
}

/** Maps progress of one stage onto [from, to] of the whole task. */
export function stageProgress(
  report: ((fraction: number, message: string) => void) | undefined,
  from: number,
  to: number,
  message: string,
): OnProgress {
  return (done, total) => report?.(from + ((to - from) * done) / Math.max(total, 1), message);
}
