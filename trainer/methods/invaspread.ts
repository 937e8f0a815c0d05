/**
 * InvaSpread (Ye, Zhang, Yuen, Chang, CVPR 2019): invariant and spreading instance features from
 * the batch alone, no memory bank. Each image gives two augmented views; the 2B normalised
 * features go through one network (BatchNorm sees all 2B, as the official `net(cat(x1, x2))`).
 * mangye16/Unsupervised_Embedding_Learning: BatchAverage.py, demo_seen.py.
 *
 * Loss (BatchCriterion with negM = 1; methods reference 1.2 and tricky point 11): with s_ij =
 * x_i . sg(x_j) / tau, D_i = sum_{j != i} exp(s_ij), p_ij = exp(s_ij) / D_i and i' the other view
 * of row i's image,
 *   L = -(1 / 2B) sum_i [ log p_ii' + sum_{j not in {i, i'}} log(1 - p_ij) ].
 * The column operand is detached (`feat.data` in the official code): each feature gets gradient
 * only as an anchor. Computed through log-softmax (self-similarity masked before it) and
 * log1p(-p), which stays accurate when p is near 1.
 */
import * as tf from '@tensorflow/tfjs-core';
import { makeEncoder } from '../models/encoders';
import { projectionHead } from '../models/heads';
import { type Ctx, l2Normalize } from '../models/layers';
import { ParamStore } from '../models/params';
import { invaspreadInfo } from './info/invaspread';
import { noGrad } from './moco';
import type { Method } from './types';

const LARGE_NUM = 1e9;

/**
 * The loss above for `x` = [2B, d] normalised features, rows 0..B-1 the first views and B..2B-1
 * the second views of the same images. `detachColumns: false` lets gradient reach the column
 * operand too (not the paper's; kept to show that the detachment matters).
 */
export function invaSpreadLoss(x: tf.Tensor2D, temperature: number, detachColumns = true): tf.Scalar {
  const n = x.shape[0];
  if (n % 2 !== 0 || n < 4)
    throw new Error(`invaSpreadLoss: needs 2B rows (B >= 2 images, two views each), got ${n}`);
  return tf.tidy(() => {
    const b = n / 2;
    const cols = detachColumns ? noGrad(x, () => tf.clone(x)) : x;
    const s = tf.div(tf.matMul(x, cols, false, true), temperature);
    const logP = tf.logSoftmax(tf.sub(s, tf.mul(tf.eye(n), LARGE_NUM)));
    const partner = new Int32Array(n);
    for (let i = 0; i < n; i++) partner[i] = (i + b) % n;
    const posMask = tf.oneHot(tf.tensor1d(partner, 'int32'), n);
    const logPos = tf.sum(tf.mul(logP, posMask));
    // The diagonal's p is exp(-1e9) = 0, so log(1 - p) = 0 there: only the positive is removed.
    const logOneMinus = tf.log1p(tf.neg(tf.exp(logP)));
    const logNeg = tf.sum(tf.mul(logOneMinus, tf.sub(1, posMask)));
    return tf.div(tf.neg(tf.add(logPos, logNeg)), n) as tf.Scalar;
  });
}

export const invaspread: Method = {
  info: invaspreadInfo,
  build(config, norm) {
    const store = new ParamStore(config.seed);
    const encoder = makeEncoder('online.encoder', config.encoder, norm);
    const tau = config.params.temperature;
    return {
      store,
      views: 2,
      loss(views) {
        const ctx: Ctx = { ps: store, training: true };
        const b = views[0].shape[0];
        const x = l2Normalize(
          projectionHead(ctx, 'online.head', encoder.forward(ctx, tf.concat(views, 0)), config.head),
        );
        const loss = invaSpreadLoss(x, tau);
        const posSim = tf.tidy(() => {
          const x1 = tf.slice(x, [0, 0], [b, -1]);
          const x2 = tf.slice(x, [b, 0], [b, -1]);
          // Mean cosine of the two views of an image (invariance).
          return tf.mean(tf.sum(tf.mul(x1, x2), 1)) as tf.Scalar;
        });
        return { loss, extra: { pos_sim: posSim } };
      },
      features(x) {
        return encoder.forward({ ps: store, training: false }, x);
      },
    };
  },
};
