/**
 * CPC's autoregressive context network over the patch grid: PixelCNN-style masked convolutions,
 * causal top to bottom, so the context at row i sees the encodings of rows 0..i (every column)
 * and nothing below. CPC predicts rows below from it, so a single leak from a lower row would let
 * the predictor copy its target.
 *
 * Each block is residual (as CPC v2's context network): c <- c + W_b relu(masked_conv(relu(c))),
 * where the masked 3 x 3 convolution reads rows i-2..i (zero padding above, none below) and W_b is
 * a 1 x 1 convolution. Every block widens the rows seen above by 2.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Ctx } from './layers';

/** Rows above a context row that `blocks` blocks can see (the receptive field). */
export function contextRowsAbove(blocks: number): number {
  return 2 * blocks;
}

/**
 * A causal convolution: output row i depends on input rows i-kh+1..i only (top padding kh - 1,
 * no bottom padding); columns are padded on both sides ('same'). With bias.
 */
export function causalConv(
  ctx: Ctx,
  name: string,
  x: tf.Tensor4D,
  opts: { out: number; kh: number; kw: number },
): tf.Tensor4D {
  const cin = x.shape[3];
  const { out, kh, kw } = opts;
  const fanIn = kh * kw * cin;
  const w = ctx.ps.param(
    `${name}.weight`,
    [kh, kw, cin, out],
    { kind: 'normal', std: Math.sqrt(2 / fanIn) },
    'weight',
  );
  const b = ctx.ps.param(`${name}.bias`, [out], { kind: 'zeros' }, 'bias');
  const left = Math.floor((kw - 1) / 2);
  const padded = tf.pad(x, [
    [0, 0],
    [kh - 1, 0],
    [left, kw - 1 - left],
    [0, 0],
  ]);
  return tf.add(tf.conv2d(padded, w as tf.Tensor4D, 1, 'valid'), b) as tf.Tensor4D;
}

/**
 * `z` [B, rows, cols, d] patch encodings -> context [B, rows, cols, d] after `blocks` residual
 * masked-convolution blocks (0 blocks: c = z, Greedy InfoMax's "no autoregressor").
 */
export function maskedConvContext(ctx: Ctx, prefix: string, z: tf.Tensor4D, blocks: number): tf.Tensor4D {
  const d = z.shape[3];
  let c = z;
  for (let i = 0; i < blocks; i++) {
    const name = `${prefix}.block${i + 1}`;
    const h = tf.relu(causalConv(ctx, `${name}.masked`, tf.relu(c), { out: d, kh: 3, kw: 3 }));
    const w = ctx.ps.param(
      `${name}.proj.weight`,
      [1, 1, d, d],
      { kind: 'normal', std: Math.sqrt(2 / d) },
      'weight',
    );
    const b = ctx.ps.param(`${name}.proj.bias`, [d], { kind: 'zeros' }, 'bias');
    c = tf.add(c, tf.add(tf.conv2d(h, w as tf.Tensor4D, 1, 'valid'), b)) as tf.Tensor4D;
  }
  return c;
}
