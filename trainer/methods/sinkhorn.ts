/**
 * SwAV's Sinkhorn-Knopp (facebookresearch/swav, main_swav.py `distributed_sinkhorn`): turns the
 * prototype scores of N samples into soft codes that split the samples equally among the K
 * prototypes (the equal-partition constraint that keeps SwAV from collapsing).
 *
 * Layout: samples are rows ([N, K]), where the official code works on the transpose Q (K x N).
 * Arithmetic, in that code's order:
 *   Q = exp(scores / eps), divided by its total;
 *   `iterations` times: each prototype's column scaled to sum 1/K, then each sample's row to 1/N;
 *   finally multiplied by N, so every sample's codes sum to exactly 1 (an assignment) and each
 *   prototype receives about N/K of the mass (exactly in the limit of many iterations).
 * The global maximum is subtracted before exp (methods reference, tricky point 7): scores of unit
 * vectors reach 1 and exp(1 / 0.05) is near float16's range; the division by the total makes the
 * shift cancel exactly.
 */
import * as tf from '@tensorflow/tfjs-core';

export function sinkhorn(scores: tf.Tensor2D, epsilon: number, iterations: number): tf.Tensor2D {
  if (scores.rank !== 2)
    throw new Error(`sinkhorn: scores must be [samples, prototypes], got [${scores.shape}]`);
  if (!(epsilon > 0)) throw new Error(`sinkhorn: epsilon must be positive, got ${epsilon}`);
  if (!Number.isInteger(iterations) || iterations < 0)
    throw new Error(`sinkhorn: iterations must be a non-negative integer, got ${iterations}`);
  const [n, k] = scores.shape;
  return tf.tidy(() => {
    let q: tf.Tensor2D = tf.exp(tf.div(tf.sub(scores, tf.max(scores)), epsilon));
    q = tf.div(q, tf.sum(q));
    for (let it = 0; it < iterations; it++) {
      q = tf.div(q, tf.mul(tf.sum(q, 0, true), k));
      q = tf.div(q, tf.mul(tf.sum(q, 1, true), n));
    }
    return tf.mul(q, n);
  });
}
