/**
 * NT-Xent with an optional memory of extra negatives (SimCLR v2, section 2: "a memory network ...
 * whose output will be buffered as negative examples"). Each of the 2B anchors has the other view
 * of its image as positive, the 2B - 2 other views of the batch and the K memory rows as
 * negatives; self-similarity is masked before the softmax. Mean over the 2B anchors (the
 * convention of `ntXent`, which this equals when there is no memory), so random embeddings start
 * near ln(2B - 1 + K) + 1/(2 d tau^2).
 */
import * as tf from '@tensorflow/tfjs-core';

const LARGE_NUM = 1e9;

function l2n(x: tf.Tensor2D): tf.Tensor2D {
  return tf.div(x, tf.maximum(tf.norm(x, 'euclidean', 1, true), 1e-12));
}

/**
 * `z1`, `z2` [B, d] embeddings of the two views (normalised here); `memory` [K, d] unit rows used
 * as given (no gradient expected), or null. Returns the loss and the [2B, 2B + K] logits.
 */
export function ntXentMemoryLogits(
  z1: tf.Tensor2D,
  z2: tf.Tensor2D,
  memory: tf.Tensor2D | null,
  temperature: number,
): { loss: tf.Scalar; logits: tf.Tensor2D; positive: tf.Tensor1D } {
  if (memory && memory.shape[1] !== z1.shape[1]) {
    throw new Error(
      `ntXentMemory: memory [${memory.shape}] must be [K, ${z1.shape[1]}] to match z [${z1.shape}]`,
    );
  }
  return tf.tidy(() => {
    const b = z1.shape[0];
    const n1 = l2n(z1);
    const n2 = l2n(z2);
    const z = tf.concat([n1, n2], 0);
    const batch = tf.sub(tf.div(tf.matMul(z, z, false, true), temperature), tf.mul(tf.eye(2 * b), LARGE_NUM));
    const logits = (
      memory ? tf.concat([batch, tf.div(tf.matMul(z, memory, false, true), temperature)], 1) : batch
    ) as tf.Tensor2D;
    // Positive of anchor i is view (i + B) mod 2B: the same image's other view.
    const positive = tf.div(tf.sum(tf.mul(z, tf.concat([n2, n1], 0)), 1), temperature) as tf.Tensor1D;
    const loss = tf.mean(tf.sub(tf.logSumExp(logits, 1), positive)) as tf.Scalar;
    return { loss, logits, positive };
  });
}

export function ntXentMemory(
  z1: tf.Tensor2D,
  z2: tf.Tensor2D,
  memory: tf.Tensor2D | null,
  temperature: number,
): tf.Scalar {
  return tf.tidy(() => ntXentMemoryLogits(z1, z2, memory, temperature).loss);
}
