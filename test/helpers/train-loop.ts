/** Shared pieces of the tests that drive `train()` in-process (resume-equality checks). */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { BackendInfo } from '../../trainer/backend/choose';
import { readMetricsFile } from '../../trainer/run/metrics';

/** The stock cpu backend, as `train()` expects it described. */
export const CPU_BACKEND: BackendInfo = {
  name: 'cpu',
  tfBackend: 'cpu',
  version: tf.version_core,
  threads: 1,
  reason: 'test',
  tried: [],
};

/** A run's metric rows that carry a loss, keyed by step. */
export function lossByStep(dir: string): Map<number, Record<string, number>> {
  return new Map(
    readMetricsFile(path.join(dir, 'metrics.jsonl'))
      .rows.filter((r) => typeof r.loss === 'number')
      .map((r) => [r.step, r as Record<string, number>]),
  );
}
