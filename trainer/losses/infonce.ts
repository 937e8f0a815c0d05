/**
 * InfoNCE against a queue of negatives (MoCo v1/v2, moco/builder.py): for B queries q and their
 * positive keys k, the logits of query i are [q_i . k_i, q_i . Q_1, ..., q_i . Q_K] / tau and the
 * loss is the cross-entropy with label 0, averaged over the B queries (K + 1 classes).
 *
 * q and k are L2-normalised here (idempotent for unit vectors); the queue rows are used as given:
 * the queue stores keys that were normalised when they were enqueued. The loss goes through
 * log-softmax (methods reference, tricky point 5), so it is stable for small tau. The function does
 * not stop gradients itself: the caller passes keys that carry none (MoCo's no-grad key encoder).
 * Random unit embeddings give about ln(K + 1) + 1 / (2 d tau^2) (reference section 5).
 */
import * as tf from '@tensorflow/tfjs-core';

function l2n(x: tf.Tensor2D): tf.Tensor2D {
  return tf.div(x, tf.maximum(tf.norm(x, 'euclidean', 1, true), 1e-12));
}

function checkShapes(q: tf.Tensor2D, k: tf.Tensor2D, queue: tf.Tensor2D): void {
  if (q.rank !== 2 || k.rank !== 2 || queue.rank !== 2) {
    throw new Error(`infoNce: q, k and queue must be 2-D, got [${q.shape}], [${k.shape}], [${queue.shape}]`);
  }
  if (q.shape[0] !== k.shape[0] || q.shape[1] !== k.shape[1]) {
    throw new Error(`infoNce: q [${q.shape}] and k [${k.shape}] must have the same shape`);
  }
  if (queue.shape[1] !== q.shape[1]) {
    throw new Error(`infoNce: queue [${queue.shape}] must be [K, ${q.shape[1]}] to match q [${q.shape}]`);
  }
}

/**
 * The [B, K + 1] logits, positive in column 0: [q.k+, q.queue] / tau (q, k normalised here).
 */
export function infoNceLogits(
  q: tf.Tensor2D,
  k: tf.Tensor2D,
  queue: tf.Tensor2D,
  temperature: number,
): tf.Tensor2D {
  checkShapes(q, k, queue);
  return tf.tidy(() => {
    const qn = l2n(q);
    const kn = l2n(k);
    const lPos = tf.sum(tf.mul(qn, kn), 1, true); // [B, 1]
    const lNeg = tf.matMul(qn, queue, false, true); // [B, K]
    return tf.div(tf.concat([lPos, lNeg], 1), temperature) as tf.Tensor2D;
  });
}

/** Mean over the rows of -log softmax(logits)[0]: cross-entropy with label 0 for [B, K + 1] logits. */
export function infoNceFromLogits(logits: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const b = logits.shape[0];
    const pos = tf.slice(tf.logSoftmax(logits), [0, 0], [b, 1]);
    return tf.neg(tf.mean(pos)) as tf.Scalar;
  });
}

/**
 * `q`, `k`: [B, d] query and positive-key embeddings; `queue`: [K, d] unit-norm negatives.
 * Returns the scalar mean over the B queries of -log softmax(logits)[0].
 */
export function infoNce(q: tf.Tensor2D, k: tf.Tensor2D, queue: tf.Tensor2D, temperature: number): tf.Scalar {
  return tf.tidy(() => infoNceFromLogits(infoNceLogits(q, k, queue, temperature)));
}
