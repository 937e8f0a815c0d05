/**
 * SwAV's swapped prediction (facebookresearch/swav, main_swav.py `train`): the codes of each
 * assignment crop a (Sinkhorn on its scores, no gradient) are predicted from every *other* crop v's
 * scores through softmax(s_v / tau):
 *
 *   loss = 1/|A| sum_{a in A} 1/(V - 1) sum_{v != a} mean_b ( -sum_k q_a[b, k] log softmax(s_v[b] / tau)_k )
 *
 * with V crops in all (global and small) and A the assignment crops (the two global ones). The
 * codes are detached here as well, so a caller cannot let gradient reach them by mistake.
 */
import * as tf from '@tensorflow/tfjs-core';
import { detach } from './cosine';

export function swappedPredictionLoss(
  scores: tf.Tensor2D[],
  codes: tf.Tensor2D[],
  assignCrops: number[],
  temperature: number,
): tf.Scalar {
  if (codes.length !== assignCrops.length)
    throw new Error(`swav loss: ${codes.length} code matrices for ${assignCrops.length} assignment crops`);
  const v = scores.length;
  if (v < 2) throw new Error(`swav loss: needs at least 2 crops, got ${v}`);
  return tf.tidy(() => {
    const logProbs = scores.map((s) => tf.logSoftmax(tf.div(s, temperature)) as tf.Tensor2D);
    let total: tf.Scalar = tf.scalar(0);
    assignCrops.forEach((a, i) => {
      if (a < 0 || a >= v) throw new Error(`swav loss: assignment crop ${a} outside 0..${v - 1}`);
      const q = detach(codes[i]);
      let sub: tf.Scalar = tf.scalar(0);
      for (let c = 0; c < v; c++) {
        if (c === a) continue;
        sub = tf.sub(sub, tf.mean(tf.sum(tf.mul(q, logProbs[c]), 1)));
      }
      total = tf.add(total, tf.div(sub, v - 1));
    });
    return tf.div(total, assignCrops.length) as tf.Scalar;
  });
}
