import type * as tf from '@tensorflow/tfjs-core';
import type { HeadConfig } from '../config/types';
import { batchNorm, type Ctx, dense } from './layers';

/**
 * Projection MLP: hidden layers Linear + BN + ReLU, then Linear to `out` (bias-free and followed by
 * BN when `outputBn`, as SimCLR v1's head; with a bias otherwise).
 */
export function projectionHead(ctx: Ctx, prefix: string, h: tf.Tensor2D, cfg: HeadConfig): tf.Tensor2D {
  let x = h;
  cfg.hidden.forEach((width, i) => {
    x = dense(ctx, `${prefix}.fc${i + 1}`, x, width);
    x = batchNorm(ctx, `${prefix}.bn${i + 1}`, x, { relu: true });
  });
  const last = cfg.hidden.length + 1;
  x = dense(ctx, `${prefix}.fc${last}`, x, cfg.out, !cfg.outputBn);
  if (cfg.outputBn) x = batchNorm(ctx, `${prefix}.bn${last}`, x);
  return x;
}
