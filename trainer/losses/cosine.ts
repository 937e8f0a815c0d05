/**
 * Negative-free objectives: BYOL's normalised regression and SimSiam's negative cosine, plus the
 * collapse monitor both papers (and lightly's `std_of_l2_normalized`) use.
 *
 * Stop-gradient (methods reference, tricky point 1) is applied here to the *target* arguments only,
 * never to the predictor outputs. `detach` makes a tensor that shares the input's data but is not
 * the output of any recorded op, so the gradient tape has no path through it: the producer of the
 * target receives no gradient at all (not a zero gradient computed the long way), as PyTorch's
 * `.detach()`.
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * Same values as `x`, no gradient path (tfjs-core has no `stopGradient` op): a new tensor over the
 * same backend buffer, whose reference count is raised so either may be disposed first. No copy.
 */
export function detach<T extends tf.Tensor>(x: T): T {
  const engine = tf.engine();
  const out = engine.makeTensorFromDataId(x.dataId, x.shape, x.dtype) as T;
  engine.backend.incRef(x.dataId);
  return out;
}

/** Row-wise cosine similarity of two [B, d] matrices: [B]. `eps` guards zero rows. */
export function rowCosine(a: tf.Tensor2D, b: tf.Tensor2D, eps = 1e-12): tf.Tensor1D {
  return tf.tidy(() => {
    const an = tf.div(a, tf.maximum(tf.norm(a, 'euclidean', 1, true), eps));
    const bn = tf.div(b, tf.maximum(tf.norm(b, 'euclidean', 1, true), eps));
    return tf.sum(tf.mul(an, bn), 1) as tf.Tensor1D;
  });
}

/**
 * BYOL (Grill et al. 2020): `mean_b [ (2 - 2 cos(p1, sg t2)) + (2 - 2 cos(p2, sg t1)) ]`, where
 * `p1`, `p2` are the online predictions of views 1 and 2 and `t1`, `t2` the target projections of
 * the same views. Each term is `||norm(p) - norm(t)||^2`; the symmetric *sum* lies in [0, 8]:
 * about 4 for unrelated outputs, 0 at perfect alignment (or collapse). Targets are always detached.
 */
export function byolLoss(p1: tf.Tensor2D, p2: tf.Tensor2D, t1: tf.Tensor2D, t2: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const c12 = rowCosine(p1, detach(t2));
    const c21 = rowCosine(p2, detach(t1));
    return tf.mean(tf.sub(4, tf.mul(tf.add(c12, c21), 2))) as tf.Scalar;
  });
}

/**
 * SimSiam (Chen & He 2021): `-1/2 mean_b cos(p1, sg z2) - 1/2 mean_b cos(p2, sg z1)`, in [-1, 1]:
 * about 0 for unrelated outputs, -1 at perfect alignment and equally at complete collapse.
 * `stopGradient = false` is the paper's ablation (gradient also flows into z).
 */
export function simsiamLoss(
  p1: tf.Tensor2D,
  p2: tf.Tensor2D,
  z1: tf.Tensor2D,
  z2: tf.Tensor2D,
  stopGradient = true,
): tf.Scalar {
  return tf.tidy(() => {
    const sg = <T extends tf.Tensor>(x: T) => (stopGradient ? detach(x) : x);
    const c12 = tf.mean(rowCosine(p1, sg(z2)));
    const c21 = tf.mean(rowCosine(p2, sg(z1)));
    return tf.mul(tf.add(c12, c21), -0.5) as tf.Scalar;
  });
}

/**
 * Collapse monitor: the per-dimension standard deviation over the batch of the L2-normalised
 * outputs, averaged over dimensions (lightly's `std_of_l2_normalized`; SimSiam figure 2). About
 * 1/sqrt(d) for outputs spread over the sphere, 0 when every output is the same vector. Uses the
 * unbiased (B - 1) estimate, as `torch.std`. Carries no gradient.
 */
export function collapseStd(z: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const b = z.shape[0];
    const zd = detach(z);
    const zn = tf.div(zd, tf.maximum(tf.norm(zd, 'euclidean', 1, true), 1e-12));
    const centred = tf.sub(zn, tf.mean(zn, 0, true));
    const variance = tf.div(tf.sum(tf.square(centred), 0), Math.max(1, b - 1));
    return tf.mean(tf.sqrt(variance)) as tf.Scalar;
  });
}
