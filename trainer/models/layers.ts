/**
 * Layer functions over a ParamStore. Each call creates its parameters on first use (so a model is
 * defined by running it once) and reuses them afterwards.
 */
import * as tf from '@tensorflow/tfjs-core';
import { batchNormTrain } from '../backend/batchnorm';
import type { ParamStore } from './params';

export interface Ctx {
  ps: ParamStore;
  training: boolean;
}

/** PyTorch's BatchNorm momentum 0.1 expressed as the running-average decay. */
const BN_DECAY = 0.9;
const BN_EPS = 1e-5;

export function conv2d(
  ctx: Ctx,
  name: string,
  x: tf.Tensor4D,
  opts: { out: number; k: number; stride?: number; bias?: boolean },
): tf.Tensor4D {
  const cin = x.shape[3];
  const { out, k } = opts;
  // He (fan-out) normal initialisation, as torchvision's ResNet.
  const w = ctx.ps.param(
    `${name}.weight`,
    [k, k, cin, out],
    { kind: 'normal', std: Math.sqrt(2 / (k * k * out)) },
    'weight',
  );
  let y = tf.conv2d(x, w as tf.Tensor4D, opts.stride ?? 1, 'same');
  if (opts.bias) {
    const bound = 1 / Math.sqrt(k * k * cin);
    const b = ctx.ps.param(`${name}.bias`, [out], { kind: 'uniform', bound }, 'bias');
    y = tf.add(y, b) as tf.Tensor4D;
  }
  return y;
}

export function dense(ctx: Ctx, name: string, x: tf.Tensor2D, out: number, bias = true): tf.Tensor2D {
  const cin = x.shape[1];
  // PyTorch nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  const bound = 1 / Math.sqrt(cin);
  const w = ctx.ps.param(`${name}.weight`, [cin, out], { kind: 'uniform', bound }, 'weight');
  let y: tf.Tensor2D = tf.matMul(x, w as tf.Tensor2D);
  if (bias)
    y = tf.add(y, ctx.ps.param(`${name}.bias`, [out], { kind: 'uniform', bound }, 'bias')) as tf.Tensor2D;
  return y;
}

/**
 * BatchNorm over all axes but the last, optionally fused with ReLU. In training mode it normalises
 * with batch statistics and updates the running averages; in eval mode it uses the running ones.
 */
export function batchNorm<T extends tf.Tensor>(
  ctx: Ctx,
  name: string,
  x: T,
  opts: { relu?: boolean; affine?: boolean } = {},
): T {
  const c = x.shape[x.shape.length - 1];
  const affine = opts.affine ?? true;
  const gamma = affine
    ? (ctx.ps.param(`${name}.weight`, [c], { kind: 'ones' }, 'norm') as tf.Tensor1D)
    : tf.ones([c]);
  const beta = affine
    ? (ctx.ps.param(`${name}.bias`, [c], { kind: 'zeros' }, 'norm') as tf.Tensor1D)
    : tf.zeros([c]);
  const runMean = ctx.ps.buffer(`${name}.running_mean`, [c], { kind: 'zeros' });
  const runVar = ctx.ps.buffer(`${name}.running_var`, [c], { kind: 'ones' });
  if (ctx.training) {
    const { y, mean, variance } = batchNormTrain(
      x,
      gamma as tf.Tensor1D,
      beta as tf.Tensor1D,
      BN_EPS,
      opts.relu ?? false,
    );
    // Running variance uses the unbiased estimate, as PyTorch does.
    const m = x.size / c;
    const unbiased = tf.mul(variance, m / Math.max(1, m - 1));
    if (ctx.ps.dryRun) return y as T;
    runMean.assign(tf.add(tf.mul(runMean, BN_DECAY), tf.mul(mean, 1 - BN_DECAY)));
    runVar.assign(tf.add(tf.mul(runVar, BN_DECAY), tf.mul(unbiased, 1 - BN_DECAY)));
    return y as T;
  }
  const inv = tf.mul(tf.rsqrt(tf.add(runVar, BN_EPS)), gamma);
  let y = tf.add(tf.mul(tf.sub(x, runMean), inv), beta);
  if (opts.relu) y = tf.relu(y);
  return y as T;
}

/** Mean over the spatial axes of an NHWC tensor. */
export function globalAvgPool(x: tf.Tensor4D): tf.Tensor2D {
  return tf.mean(x, [1, 2]) as tf.Tensor2D;
}

export function l2Normalize(x: tf.Tensor2D, eps = 1e-12): tf.Tensor2D {
  return tf.div(x, tf.maximum(tf.norm(x, 'euclidean', 1, true), eps));
}
