/**
 * Training-mode batch normalisation (optionally fused with ReLU) with a hand-written gradient.
 *
 * Why not compose it from tf ops and let autodiff do the rest: on wasm, reductions over any axis but
 * the last transpose the whole tensor first, and the stock gradient materialises several full-size
 * intermediates. Here every per-channel sum is a [1,M]x[M,C] matMul against a ones row, and the
 * backward pass keeps only tensors that are alive anyway (x, and y when the ReLU is fused) plus
 * per-channel vectors. Measured on [128,32,32,64] with ReLU: forward + backward 0.65 s against 2.2 s
 * for tf.moments + tf.batchNorm + tf.relu under autodiff (wasm, one thread).
 */
import * as tf from '@tensorflow/tfjs-core';

export interface BatchNormResult {
  /** Normalised, scaled, shifted (and ReLU'd when asked) output, same shape as x. */
  y: tf.Tensor;
  /** Batch mean per channel (no gradient flows through it). */
  mean: tf.Tensor1D;
  /** Biased batch variance per channel (divided by M, not M-1; no gradient). */
  variance: tf.Tensor1D;
}

/** Ones rows are reused across calls; keyed by backend and length, a few sizes at most. */
const onesCache = new Map<string, tf.Tensor2D>();
const ONES_CACHE_LIMIT = 8;

function onesRow(m: number): tf.Tensor2D {
  const key = `${tf.getBackend()}:${m}`;
  const hit = onesCache.get(key);
  if (hit !== undefined && !hit.isDisposed) {
    // Refresh recency: Map iteration order is insertion order.
    onesCache.delete(key);
    onesCache.set(key, hit);
    return hit;
  }
  const row = tf.keep(tf.ones([1, m]) as tf.Tensor2D);
  onesCache.set(key, row);
  if (onesCache.size > ONES_CACHE_LIMIT) {
    const [oldestKey, oldest] = onesCache.entries().next().value as [string, tf.Tensor2D];
    onesCache.delete(oldestKey);
    oldest.dispose();
  }
  return row;
}

/** Frees the cached ones rows (e.g. before switching or removing a backend). */
export function clearBatchNormCache(): void {
  for (const t of onesCache.values()) t.dispose();
  onesCache.clear();
}

/** Per-channel sum of a [M, C] matrix as a [1, C] row. */
function channelSum(x2: tf.Tensor2D): tf.Tensor2D {
  return tf.matMul(onesRow(x2.shape[0]), x2);
}

/**
 * Batch norm over all axes but the last (NHWC or [N, C]) using batch statistics:
 * y = (x - mean) / sqrt(var + eps) * gamma + beta, then max(y, 0) when `relu`.
 * Gradients flow to x, gamma and beta; `mean` and `variance` are returned for running statistics
 * and carry no gradient. The caller owns all three returned tensors.
 */
export function batchNormTrain(
  x: tf.Tensor,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  eps: number,
  relu: boolean,
): BatchNormResult {
  if (x.rank < 2) throw new Error(`batchNormTrain: x must have rank >= 2, got shape [${x.shape}]`);
  const c = x.shape[x.rank - 1];
  const m = x.size / c;
  if (gamma.size !== c || beta.size !== c) {
    throw new Error(`batchNormTrain: gamma/beta must have ${c} elements, got ${gamma.size}/${beta.size}`);
  }
  let meanKept: tf.Tensor | undefined;
  let varKept: tf.Tensor | undefined;

  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, g, b] = args as [tf.Tensor, tf.Tensor1D, tf.Tensor1D];
    const save = args[3] as tf.GradSaveFunc;
    const x2 = tf.reshape(xIn, [m, c]) as tf.Tensor2D;
    const mean = tf.div(channelSum(x2), m) as tf.Tensor2D;
    // Two passes (centre, then square) rather than E[x^2]-E[x]^2, which cancels badly in float32;
    // the centred x is reused for y. (wasm's fused tf.batchNorm measured slower than mul + add.)
    const xc = tf.sub(x2, mean);
    const variance = tf.div(channelSum(tf.square(xc) as tf.Tensor2D), m) as tf.Tensor2D;
    const invStd = tf.rsqrt(tf.add(variance, eps));
    let y = tf.add(tf.mul(xc, tf.mul(invStd, g)), b);
    if (relu) y = tf.relu(y);
    // The forward runs inside an engine tidy; keep the statistics so they survive it.
    meanKept = tf.keep(mean);
    varKept = tf.keep(variance);
    // x and y are alive anyway (the caller's input, the next layer's input), so saving them costs no
    // memory; x-hat is recomputed from x, and the ReLU mask is y > 0.
    save(relu ? [xIn, mean, invStd, g, y] : [xIn, mean, invStd, g]);
    return {
      value: tf.reshape(y, xIn.shape),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, mu, inv, gs, ys] = saved as [tf.Tensor, tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.Tensor?];
        const xcB = tf.sub(tf.reshape(xs, [m, c]), mu) as tf.Tensor2D;
        const k = tf.mul(inv, gs); // slope of y in x with the batch statistics held fixed
        let g2 = tf.reshape(dy, [m, c]) as tf.Tensor2D;
        if (ys !== undefined) g2 = tf.mul(g2, tf.step(ys)) as tf.Tensor2D;
        const dBeta = channelSum(g2);
        // sum(g * x-hat) = invStd * sum(g * (x - mean))
        const dGamma = tf.mul(channelSum(tf.mul(g2, xcB) as tf.Tensor2D), inv);
        // dx = k * (g - dBeta/M - x-hat * dGamma/M), with x-hat = xc * invStd folded into
        // per-channel coefficients so it costs four elementwise passes.
        const coefXc = tf.mul(k, tf.mul(inv, tf.div(dGamma, -m)));
        const shift = tf.mul(k, tf.div(dBeta, -m));
        const dx = tf.add(tf.add(tf.mul(g2, k), tf.mul(xcB, coefXc)), shift);
        return [tf.reshape(dx, xs.shape), tf.reshape(dGamma, [c]), tf.reshape(dBeta, [c])];
      },
    };
  });

  const y = op(x, gamma, beta) as tf.Tensor;
  // Re-home the kept statistics in the caller's scope so an enclosing tidy frees them as usual.
  const mean = tf.reshape(meanKept!, [c]) as tf.Tensor1D;
  const variance = tf.reshape(varKept!, [c]) as tf.Tensor1D;
  meanKept!.dispose();
  varKept!.dispose();
  return { y, mean, variance };
}
