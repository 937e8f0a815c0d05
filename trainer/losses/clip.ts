/**
 * CLIP's symmetric contrastive loss (Radford et al. 2021, figure 3; open_clip loss.py ClipLoss):
 *
 *   logits = exp(t) * norm(I) norm(T)^T          [B, B], t the learnable log scale
 *   L = (CE(logits, arange B) + CE(logits^T, arange B)) / 2
 *
 * Image i's positive is caption i; the other B - 1 captions are its negatives, and likewise for
 * each caption over the images. For uncorrelated unit embeddings of dimension d at scale s the
 * loss starts near ln B + s^2 / (2d) (methods reference, section 5).
 */
import * as tf from '@tensorflow/tfjs-core';

/** Upper bound of the logit scale: CLIP clamps it so that it never exceeds 100. */
export const MAX_LOGIT_SCALE = 100;

function l2n(x: tf.Tensor2D): tf.Tensor2D {
  return tf.div(x, tf.maximum(tf.norm(x, 'euclidean', 1, true), 1e-12));
}

/** [B, B] image-to-text logits exp(logScale) * cos(image_i, text_j); the text-to-image ones are the transpose. */
export function clipLogits(image: tf.Tensor2D, text: tf.Tensor2D, logScale: tf.Tensor): tf.Tensor2D {
  if (
    image.rank !== 2 ||
    text.rank !== 2 ||
    image.shape[0] !== text.shape[0] ||
    image.shape[1] !== text.shape[1]
  ) {
    throw new Error(
      `clipLogits: image [${image.shape}] and text [${text.shape}] embeddings must both be [B, d]`,
    );
  }
  return tf.tidy(
    () => tf.mul(tf.matMul(l2n(image), l2n(text), false, true), tf.exp(logScale)) as tf.Tensor2D,
  );
}

/** Mean of the two cross-entropies with the diagonal as targets, for square logits. */
export function clipLossFromLogits(logits: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const b = logits.shape[0];
    const eye = tf.eye(b);
    const rows = tf.sum(tf.mul(tf.logSoftmax(logits), eye));
    const cols = tf.sum(tf.mul(tf.logSoftmax(tf.transpose(logits)), eye));
    return tf.div(tf.add(rows, cols), -2 * b) as tf.Scalar;
  });
}

export function clipLoss(image: tf.Tensor2D, text: tf.Tensor2D, logScale: tf.Tensor): tf.Scalar {
  return tf.tidy(() => clipLossFromLogits(clipLogits(image, text, logScale)));
}

/** The log scale clamped to [0, ln 100], as open_clip does after every optimiser step. */
export function clampLogScale(logScale: tf.Tensor): tf.Tensor {
  return tf.clipByValue(logScale, 0, Math.log(MAX_LOGIT_SCALE));
}
