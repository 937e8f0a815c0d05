/** Test helpers: backend selection and float64 reference arithmetic. */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { initBackend } from '../../trainer/backend/choose';
import type { Rng } from '../../trainer/rng';

export async function useBackend(name: 'cpu' | 'wasm'): Promise<void> {
  if (name === 'wasm') {
    await initBackend('wasm');
  } else {
    await tf.setBackend('cpu');
    await tf.ready();
  }
}

/** Gaussian random matrix as nested float64 arrays (independent of tfjs). */
export function randn(rng: Rng, rows: number, cols: number, scale = 1): number[][] {
  return Array.from({ length: rows }, () => Array.from({ length: cols }, () => rng.normal() * scale));
}
