/**
 * SimCLR v2's projection head (google-research/simclr tf2/model.py, ProjectionHead with
 * proj_head_mode 'nonlinear', num_proj_layers = hidden.length + 1):
 * - middle layers: Linear without bias (LinearLayer drops the dense bias when BN follows), BN with
 *   scale and centre, ReLU;
 * - last layer: Linear without bias, BN with scale but no centre (use_bias=False), no ReLU;
 * - every Linear initialised N(0, 0.01^2), as the official code.
 * It returns every layer's output, input included (the official `hiddens_list`), so fine-tuning and
 * probes can start from a middle layer (`ft_proj_selector`: 0 = encoder output, 1 = first layer).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { HeadConfig } from '../config/types';
import { batchNorm, type Ctx } from './layers';

const INIT_STD = 0.01;

function linearNoBias(ctx: Ctx, name: string, x: tf.Tensor2D, out: number): tf.Tensor2D {
  const w = ctx.ps.param(`${name}.weight`, [x.shape[1], out], { kind: 'normal', std: INIT_STD }, 'weight');
  return tf.matMul(x, w as tf.Tensor2D);
}

/**
 * `h` [N, dim] encoder features -> [h, layer 1, ..., output]; `layers` (default all) stops early,
 * so features() computes only up to the selected layer.
 */
export function simclrV2Head(
  ctx: Ctx,
  prefix: string,
  h: tf.Tensor2D,
  cfg: HeadConfig,
  layers = cfg.hidden.length + 1,
): tf.Tensor2D[] {
  const outs: tf.Tensor2D[] = [h];
  let x = h;
  const last = cfg.hidden.length + 1;
  for (let i = 1; i <= Math.min(layers, last); i++) {
    if (i < last) {
      x = linearNoBias(ctx, `${prefix}.fc${i}`, x, cfg.hidden[i - 1]);
      x = batchNorm(ctx, `${prefix}.bn${i}`, x, { relu: true });
    } else {
      x = linearNoBias(ctx, `${prefix}.fc${i}`, x, cfg.out);
      const gamma = ctx.ps.param(`${prefix}.bn${i}.weight`, [cfg.out], { kind: 'ones' }, 'norm');
      x = tf.mul(batchNorm(ctx, `${prefix}.bn${i}`, x, { affine: false }), gamma);
    }
    outs.push(x);
  }
  return outs;
}
