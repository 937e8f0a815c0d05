/**
 * Alignment and uniformity (Wang and Isola, "Understanding Contrastive Representation Learning
 * through Alignment and Uniformity on the Hypersphere", ICML 2020), on L2-normalised features:
 *
 *   alignment  = E over positive pairs ||f(x) - f(x')||^alpha            (alpha = 2)
 *   uniformity = log E over pairs x != y of exp(-t ||f(x) - f(y)||^2)     (t = 2)
 *
 * Lower is better for both. Alignment ranges over [0, 4] with alpha 2; uniformity over [-4, 0]:
 * 0 means every feature is the same point (collapse).
 *
 * Pure: tensors in, numbers out; the inputs are not disposed.
 */
import * as tf from '@tensorflow/tfjs-core';

function l2n(x: tf.Tensor2D): tf.Tensor2D {
  return tf.div(x, tf.maximum(tf.norm(x, 'euclidean', 1, true), 1e-12));
}

/** Mean ||z1_i - z2_i||^alpha over the rows of two [n, d] tensors (row i of each is a positive pair). */
export async function alignment(z1: tf.Tensor2D, z2: tf.Tensor2D, alpha = 2): Promise<number> {
  if (z1.shape.join() !== z2.shape.join())
    throw new RangeError(`alignment needs paired rows: shapes [${z1.shape}] and [${z2.shape}] differ`);
  if (z1.shape[0] === 0) return Number.NaN;
  const dist = tf.tidy(() => tf.norm(tf.sub(l2n(z1), l2n(z2)), 'euclidean', 1));
  const d = (await dist.data()) as Float32Array;
  dist.dispose();
  let s = 0;
  // Accumulated in float64: thousands of pairs would lose digits in a float32 reduction.
  for (let i = 0; i < d.length; i++) s += d[i] ** alpha;
  return s / d.length;
}

/**
 * log of the mean of exp(-t ||z_i - z_j||^2) over all pairs i != j of the rows of `z` ([n, d]).
 * The pairwise distances come from the Gram matrix (||a - b||^2 = 2 - 2 a.b for unit vectors) in
 * blocks of `chunk` rows, so the [n, n] matrix never exists at once.
 */
export async function uniformity(z: tf.Tensor2D, t = 2, chunk = 512): Promise<number> {
  const n = z.shape[0];
  if (n < 2) return Number.NaN;
  const zn = tf.tidy(() => l2n(z));
  let total = 0;
  try {
    for (let start = 0; start < n; start += chunk) {
      const size = Math.min(chunk, n - start);
      const rowSums = tf.tidy(() => {
        const q = tf.slice(zn, [start, 0], [size, -1]);
        const d2 = tf.relu(tf.sub(2, tf.mul(2, tf.matMul(q, zn, false, true))));
        const e = tf.exp(tf.mul(-t, d2));
        const rows = tf.reshape(tf.range(start, start + size, 1, 'int32'), [size, 1]);
        const cols = tf.reshape(tf.range(0, n, 1, 'int32'), [1, n]);
        return tf.sum(tf.where(tf.notEqual(rows, cols), e, tf.zerosLike(e)), 1);
      });
      const sums = (await rowSums.data()) as Float32Array;
      rowSums.dispose();
      for (let i = 0; i < sums.length; i++) total += sums[i];
    }
  } finally {
    zn.dispose();
  }
  return Math.log(total / (n * (n - 1)));
}
