/**
 * CPC's InfoNCE over a patch grid (van den Oord et al. 2018, eq. 4, image version). The context
 * c[i, j] of row i predicts the encoding of the patch `o = k + skip` rows below it, z[i + o, j],
 * through one linear map per step: score = z^T W_k c (no normalisation, no temperature, as in the
 * paper). For step k every prediction is scored against every target patch of that step in the
 * batch (other columns, other rows and other images are the negatives: CPC v2's choice; v1 leaves
 * the negative set open), cross-entropy with the true patch as the class; the loss is the mean over
 * predictions, then over the K steps.
 *
 * `skip` rows are left out between the context row and the first predicted row: with 50 % overlap
 * the next row shares half its pixels with the context row (reference tricky point 12; Greedy
 * InfoMax skips one). Random, unrelated encodings give about ln(M) per step, M the number of targets.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface CpcLossResult {
  loss: tf.Scalar;
  /** Loss of each prediction step k = 1..K. */
  perStep: tf.Scalar[];
  /** Fraction of predictions whose own target scores highest (CPC's contrastive accuracy). */
  accuracy: tf.Scalar;
}

/** Row offset of step k (1-based) with `skip` rows skipped. */
export function cpcOffset(k: number, skip: number): number {
  return k + skip;
}

/**
 * `c` [B, n, n, dc] contexts, `z` [B, n, n, d] patch encodings, `w[k-1]` [dc, d] the predictor of
 * step k. Needs K + skip <= n - 1 so that every step has at least one context row.
 */
export function cpcLoss(c: tf.Tensor4D, z: tf.Tensor4D, w: tf.Tensor2D[], skip: number): CpcLossResult {
  const [b, n, cols, dc] = c.shape;
  const d = z.shape[3];
  if (z.shape[0] !== b || z.shape[1] !== n || z.shape[2] !== cols) {
    throw new Error(`cpcLoss: context [${c.shape}] and encodings [${z.shape}] must share the grid`);
  }
  const steps = w.length;
  if (steps < 1 || cpcOffset(steps, skip) > n - 1) {
    throw new Error(
      `CPC: params.predictionSteps (${steps}) + params.skipRows (${skip}) must be between 1 and patchGrid - 1 = ${n - 1}, so that every step has a row to predict.`,
    );
  }
  return tf.tidy(() => {
    const perStep: tf.Scalar[] = [];
    const correct: tf.Tensor[] = [];
    let total = 0;
    w.forEach((wk, i) => {
      const o = cpcOffset(i + 1, skip);
      const rows = n - o;
      const m = b * rows * cols;
      const ctxRows = tf.reshape(tf.slice(c, [0, 0, 0, 0], [b, rows, cols, dc]), [m, dc]) as tf.Tensor2D;
      const targets = tf.reshape(tf.slice(z, [0, o, 0, 0], [b, rows, cols, d]), [m, d]) as tf.Tensor2D;
      const pred = tf.matMul(ctxRows, wk);
      const logits = tf.matMul(pred, targets, false, true);
      // -log softmax at the diagonal, without an [M, M] mask: lse(row) - positive score.
      const pos = tf.sum(tf.mul(pred, targets), 1);
      perStep.push(tf.mean(tf.sub(tf.logSumExp(logits, 1), pos)) as tf.Scalar);
      correct.push(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), tf.range(0, m, 1, 'int32')), 'float32')));
      total += m;
    });
    const loss = tf.div(tf.addN(perStep), steps) as tf.Scalar;
    const accuracy = tf.div(tf.addN(correct), total) as tf.Scalar;
    return { loss, perStep, accuracy };
  });
}
