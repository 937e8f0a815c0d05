/**
 * Objectives over memory-bank scores (InstDisc, Wu et al. 2018; CMC, Tian et al. 2020).
 *
 * Every function takes the scores of B anchors as a [B, M] matrix `logits` = v . f / tau with two
 * weight matrices of the same shape: `pos` (one 1 per row: the anchor's own bank entry) and `neg`
 * (how many times each column was drawn as a noise sample). This one form covers the official
 * codes' [B, K + 1] layout (positive in column 0, K sampled entries after it; columns drawn twice
 * count twice, and the positive index may be drawn as a noise sample too, as with their alias
 * sampler) and a dense [B, N] layout over the whole bank (full softmax, or counts of the sampled
 * indices), so both give the same loss.
 *
 * NCE (lemniscate.pytorch lib/NCECriterion.py, CMC NCE/NCECriterion.py): P = exp(logit) / Z,
 * noise probability P_n = 1 / N, K noise samples, eps = 1e-7,
 *   L = -(1/B) sum_rows [ log(P_pos / (P_pos + K P_n + eps))
 *                          + sum_noise log(K P_n / (P_neg + K P_n + eps)) ].
 * With c = K P_n + eps and u = logit - log Z - log c this is
 *   log(P / (P + c)) = -softplus(-u),   log(K P_n / (P + c)) = log(K P_n / c) - softplus(u),
 * which never forms exp(logit) (1/tau = 14 at tau 0.07 is fine in float32, 1/tau = 100 is not).
 *
 * Softmax (lemniscate's LinearAverage + CrossEntropyLoss, CMC --softmax NCESoftmaxLoss):
 *   L = (1/B) sum_rows [ -logit_pos + log sum_cols (pos + neg) exp(logit) ].
 */
import * as tf from '@tensorflow/tfjs-core';

/** The official codes' epsilon in the NCE ratios. */
export const NCE_EPS = 1e-7;

function checkShapes(what: string, logits: tf.Tensor2D, pos: tf.Tensor2D, neg: tf.Tensor2D): void {
  const s = logits.shape;
  if (logits.rank !== 2 || pos.shape.join() !== s.join() || neg.shape.join() !== s.join()) {
    throw new Error(
      `${what}: logits [${logits.shape}], pos [${pos.shape}] and neg [${neg.shape}] must be the same [B, M] shape`,
    );
  }
}

/**
 * log sum_j w_ij exp(x_ij) per row, [B], for weights w >= 0 with at least one positive weight per
 * row. The shift m is taken over weighted entries only and clamps the rest, so a large score in a
 * column of weight 0 can neither overflow nor leak into the sum.
 */
export function weightedLogSumExp(x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const selected = tf.greater(w, 0);
    const m = tf.max(tf.where(selected, x, tf.fill(x.shape, -Infinity)), 1, true);
    // d/dm of m + log sum w exp(x - m) is exactly zero, so m may carry gradient without effect.
    const shifted = tf.exp(tf.minimum(tf.sub(x, m), 0));
    return tf.reshape(tf.add(m, tf.log(tf.sum(tf.mul(w, shifted), 1, true))), [-1]) as tf.Tensor1D;
  });
}

/**
 * log Z for NCE, estimated as the official codes do on their first batch: Z = N mean(exp(logits))
 * over the B (K + 1) sampled entries (the positives included), i.e. weighted by pos + neg.
 */
export function nceLogZ(logits: tf.Tensor2D, pos: tf.Tensor2D, neg: tf.Tensor2D, n: number): tf.Scalar {
  checkShapes('nceLogZ', logits, pos, neg);
  return tf.tidy(() => {
    const w = tf.add(pos, neg) as tf.Tensor2D;
    const perRow = weightedLogSumExp(logits, w); // log sum_j w exp(x), [B]
    const total = tf.logSumExp(perRow);
    return tf.add(tf.sub(total, tf.log(tf.sum(w))), Math.log(n)) as tf.Scalar;
  });
}

/**
 * NCE loss (see the header): `k` noise samples per anchor, bank size `n`, frozen `logZ`.
 * Returns the mean over the B anchors of the per-anchor NCE loss.
 */
export function nceLoss(
  logits: tf.Tensor2D,
  pos: tf.Tensor2D,
  neg: tf.Tensor2D,
  logZ: number,
  k: number,
  n: number,
): tf.Scalar {
  checkShapes('nceLoss', logits, pos, neg);
  if (!(k >= 1)) throw new Error(`nceLoss: needs at least one noise sample per anchor, got K = ${k}`);
  return tf.tidy(() => {
    const kPn = k / n;
    const c = kPn + NCE_EPS;
    const u = tf.sub(logits, logZ + Math.log(c));
    const logDPos = tf.neg(tf.softplus(tf.neg(u)));
    const logDNeg = tf.sub(Math.log(kPn / c), tf.softplus(u));
    const total = tf.add(tf.sum(tf.mul(pos, logDPos)), tf.sum(tf.mul(neg, logDNeg)));
    return tf.div(tf.neg(total), logits.shape[0]) as tf.Scalar;
  });
}

/** Softmax cross-entropy of each anchor's own entry among its weighted columns, mean over anchors. */
export function bankSoftmaxLoss(logits: tf.Tensor2D, pos: tf.Tensor2D, neg: tf.Tensor2D): tf.Scalar {
  checkShapes('bankSoftmaxLoss', logits, pos, neg);
  return tf.tidy(() => {
    const lse = weightedLogSumExp(logits, tf.add(pos, neg) as tf.Tensor2D);
    const posLogit = tf.sum(tf.mul(pos, logits), 1);
    return tf.mean(tf.sub(lse, posLogit)) as tf.Scalar;
  });
}
