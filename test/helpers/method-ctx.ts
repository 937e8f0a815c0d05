/** Step contexts and dataset descriptions for tests that drive a method model directly. */
import type { DatasetInfo, StepContext } from '../../trainer/methods/types';

/**
 * A step context for a batch of `batch` images with training-set indices 0..batch-1 and labels
 * `i % classes` (label-free methods ignore both).
 */
export function stepCtx(step: number, totalSteps: number, batch = 0, epoch = 0, classes = 10): StepContext {
  const indices = Int32Array.from({ length: batch }, (_, i) => i);
  return { step, epoch, totalSteps, indices, labels: indices.map((i) => i % classes) };
}

/** The built-in dataset's shape of information, for `Method.build` in tests. */
export function dataInfo(trainSize = 64, classes = 10): DatasetInfo {
  return { trainSize, classNames: Array.from({ length: classes }, (_, i) => `class ${i}`) };
}
