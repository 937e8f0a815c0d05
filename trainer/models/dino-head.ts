/**
 * DINO's projection head (facebookresearch/dino, vision_transformer.py `DINOHead`):
 *
 *   MLP: Linear(in, h) GELU [Linear(h, h) GELU ...] Linear(h, bottleneck)   (no BatchNorm, the default)
 *   L2-normalise the bottleneck
 *   weight-normalised Linear(bottleneck, K, no bias): W[:, k] = g_k v[:, k] / ||v[:, k]||
 *
 * With `normLastLayer` (the paper's default) the gain g is fixed to 1 and is not a parameter: every
 * output is then the cosine between the bottleneck and a unit prototype. Otherwise g is a trained
 * parameter initialised to 1 (the official code fills weight_g with 1 in both cases).
 *
 * Initialisation as the official `_init_weights`: MLP weights N(0, 0.02) (trunc_normal_ with bounds
 * +-2, which at std 0.02 never truncates), biases 0; the last layer keeps nn.Linear's default
 * U(-1/sqrt(in), 1/sqrt(in)) for v. Parameter names follow the official state dict (`mlp.0`,
 * `mlp.2`, ..., `last_layer.weight_v`, `last_layer.weight_g`); weights are stored [in, out] as
 * everywhere in this project (the transpose of PyTorch's).
 */
import * as tf from '@tensorflow/tfjs-core';
import { detach } from '../losses/cosine';
import { type Ctx, l2Normalize } from './layers';
import { gelu } from './transformer';

export interface DinoHeadSpec {
  /** Widths of the hidden Linear + GELU layers (the paper: [2048, 2048], i.e. nlayers 3). */
  hidden: number[];
  bottleneck: number;
  /** Output dimension K (65536 in the paper). */
  out: number;
  normLastLayer: boolean;
}

function linear(ctx: Ctx, name: string, x: tf.Tensor2D, out: number): tf.Tensor2D {
  const cin = x.shape[1];
  const w = ctx.ps.param(`${name}.weight`, [cin, out], { kind: 'normal', std: 0.02 }, 'weight');
  const b = ctx.ps.param(`${name}.bias`, [out], { kind: 'zeros' }, 'bias');
  return tf.add(tf.matMul(x, w as tf.Tensor2D), b);
}

/** The bottleneck before normalisation: the MLP part of the head. */
export function dinoHeadMlp(ctx: Ctx, prefix: string, x: tf.Tensor2D, spec: DinoHeadSpec): tf.Tensor2D {
  let h = x;
  spec.hidden.forEach((width, i) => {
    h = gelu(linear(ctx, `${prefix}.mlp.${2 * i}`, h, width));
  });
  return linear(ctx, `${prefix}.mlp.${2 * spec.hidden.length}`, h, spec.bottleneck);
}

/**
 * The weight-normalised last layer's effective weight [bottleneck, K]. `frozen`: same values but no
 * gradient path to v (or g), so the optimizer skips them entirely this step (DINO's
 * `cancel_gradients_last_layer` sets their .grad to None).
 */
export function lastLayerWeight(ctx: Ctx, prefix: string, spec: DinoHeadSpec, frozen = false): tf.Tensor2D {
  const bound = 1 / Math.sqrt(spec.bottleneck);
  const v0 = ctx.ps.param(
    `${prefix}.last_layer.weight_v`,
    [spec.bottleneck, spec.out],
    { kind: 'uniform', bound },
    'weight',
  );
  const v = frozen ? detach(v0) : v0;
  const unit = tf.div(v, tf.maximum(tf.norm(v, 'euclidean', 0, true), 1e-12)) as tf.Tensor2D;
  if (spec.normLastLayer) return unit;
  const g0 = ctx.ps.param(`${prefix}.last_layer.weight_g`, [spec.out], { kind: 'ones' }, 'weight');
  return tf.mul(unit, frozen ? detach(g0) : g0);
}

/** Head outputs [B, K] (the logits of DINO's softmax, before centring and temperature). */
export function dinoHead(
  ctx: Ctx,
  prefix: string,
  x: tf.Tensor2D,
  spec: DinoHeadSpec,
  opts: { freezeLastLayer?: boolean } = {},
): tf.Tensor2D {
  const z = l2Normalize(dinoHeadMlp(ctx, prefix, x, spec));
  return tf.matMul(z, lastLayerWeight(ctx, prefix, spec, opts.freezeLastLayer ?? false));
}
