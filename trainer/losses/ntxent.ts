/**
 * NT-Xent (SimCLR): for 2B L2-normalised views, each anchor's positive is the other view of the
 * same image and its negatives are the 2B-2 other views. The self-similarity is masked with a large
 * negative logit *before* the softmax (methods reference, tricky point 5), and the loss is computed
 * through log-softmax for stability. Convention: mean over the 2B anchors (lightly and most
 * PyTorch code), so a random start is about ln(2B-1); SimCLR's TF code reports twice that.
 */
import * as tf from '@tensorflow/tfjs-core';

const LARGE_NUM = 1e9;

/** `z1`, `z2`: [B, d] embeddings of the two views (normalised here). Returns a scalar. */
export function ntXent(z1: tf.Tensor2D, z2: tf.Tensor2D, temperature: number): tf.Scalar {
  return tf.tidy(() => {
    const b = z1.shape[0];
    const z = l2n(tf.concat([z1, z2], 0));
    const logits = tf.div(tf.matMul(z, z, false, true), temperature);
    const masked = tf.sub(logits, tf.mul(tf.eye(2 * b), LARGE_NUM));
    const logProb = tf.logSoftmax(masked);
    // Positive of row i is row (i + B) mod 2B.
    const pos = new Int32Array(2 * b);
    for (let i = 0; i < 2 * b; i++) pos[i] = (i + b) % (2 * b);
    const posMask = tf.oneHot(tf.tensor1d(pos, 'int32'), 2 * b);
    return tf.neg(tf.div(tf.sum(tf.mul(logProb, posMask)), 2 * b)) as tf.Scalar;
  });
}

function l2n(x: tf.Tensor2D): tf.Tensor2D {
  return tf.div(x, tf.maximum(tf.norm(x, 'euclidean', 1, true), 1e-12));
}
