/**
 * Vision Transformer backbone (Dosovitskiy et al. 2021) as MoCo v3 and DINO use it: patch embedding
 * (a p x p stride-p convolution), a [CLS] token, position embeddings, `depth` pre-norm blocks and a
 * final LayerNorm; the representation is the [CLS] token's output.
 *
 * Position embeddings are either learned (timm, DINO) or MoCo v3's fixed 2-D sin-cos table. A
 * learned table belongs to the training grid (image size / patch); other grids (DINO's small
 * local crops) get it resized bilinearly (half-pixel centres, as PyTorch's align_corners=False).
 * DINO's official code resizes bicubically; tfjs has no bicubic resize with a gradient.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { EncoderConfig } from '../config/types';
import type { Encoder, Normalization } from './encoders';
import type { Ctx } from './layers';
import { layerNorm, transformerBlock, VIT_LN_EPS, xavierBound } from './transformer';

export interface VitSpec {
  patchSize: number;
  dim: number;
  depth: number;
  heads: number;
  mlpRatio: number;
  posEmbed: 'learned' | 'sincos';
}

export interface VitOptions {
  /**
   * Side of the images the learned position table is made for; default: the first input seen
   * (buildModel's dry run feeds view 0 first, a full-size view).
   */
  imageSize?: number;
  /**
   * MoCo v3's "random patch projection" (stop_grad_conv1): the patch embedding keeps its random
   * initial values and is never trained, which the paper found stabilises ViT training.
   */
  freezePatchEmbed?: boolean;
  /** Std of the [CLS] token's normal initialisation (MoCo v3: 1e-6; timm / DINO: 0.02). */
  clsStd?: number;
}

export interface VitEncoder extends Encoder {
  readonly spec: VitSpec;
  /** Last block's attention of [CLS] over the patches, per head: [B, heads, gh, gw]. */
  attention(ctx: Ctx, x: tf.Tensor4D): tf.Tensor4D;
}

/** Fills the optional encoder fields with ViT-S/16's shape (heads of 64 channels). */
export function vitSpec(cfg: EncoderConfig): VitSpec {
  const dim = cfg.width;
  const heads = cfg.heads ?? Math.max(1, Math.round(dim / 64));
  if (dim % heads !== 0) throw new Error(`encoder.width ${dim} must be divisible by encoder.heads ${heads}`);
  const posEmbed = cfg.posEmbed ?? 'learned';
  if (posEmbed === 'sincos' && dim % 4 !== 0)
    throw new Error(`encoder.width ${dim} must be a multiple of 4 for encoder.posEmbed 'sincos'`);
  return {
    patchSize: cfg.patchSize ?? 16,
    dim,
    depth: cfg.depth ?? 12,
    heads,
    mlpRatio: cfg.mlpRatio ?? 4,
    posEmbed,
  };
}

/**
 * MoCo v3's `build_2d_sincos_position_embedding` (temperature 10000) for a gh x gw grid, with the
 * all-zero [CLS] row first: [1 + gh*gw, dim]. Replicates the official index order exactly:
 * torch.meshgrid(arange(w), arange(h)) flattens w-major, so token t gets the w-coordinate
 * floor(t / gh) and the h-coordinate t mod gh.
 */
export function sincosPositionTable(gh: number, gw: number, dim: number): Float32Array {
  const q = dim / 4;
  const out = new Float32Array((1 + gh * gw) * dim);
  for (let t = 0; t < gh * gw; t++) {
    const cw = Math.floor(t / gh);
    const ch = t % gh;
    const row = (1 + t) * dim;
    for (let d = 0; d < q; d++) {
      const omega = 1 / 10000 ** (d / q);
      out[row + d] = Math.sin(cw * omega);
      out[row + q + d] = Math.cos(cw * omega);
      out[row + 2 * q + d] = Math.sin(ch * omega);
      out[row + 3 * q + d] = Math.cos(ch * omega);
    }
  }
  return out;
}

/**
 * Resizes the patch part of a position table [1, 1 + gh0*gw0, D] to a gh x gw grid (bilinear,
 * half-pixel centres); the [CLS] row is kept. Returns the table itself when the grid matches.
 */
export function interpolatePosEmbed(
  table: tf.Tensor3D,
  from: [number, number],
  to: [number, number],
): tf.Tensor3D {
  if (from[0] === to[0] && from[1] === to[1]) return table;
  const d = table.shape[2];
  const cls = tf.slice(table, [0, 0, 0], [1, 1, d]);
  const grid = tf.reshape(tf.slice(table, [0, 1, 0], [1, from[0] * from[1], d]), [1, from[0], from[1], d]);
  const resized = tf.image.resizeBilinear(grid as tf.Tensor4D, to, false, true);
  return tf.concat([cls, tf.reshape(resized, [1, to[0] * to[1], d])], 1) as tf.Tensor3D;
}

function standardize(x: tf.Tensor4D, norm: Normalization): tf.Tensor4D {
  return tf.div(tf.sub(x, tf.tensor1d(norm.mean)), tf.tensor1d(norm.std));
}

export function vit(
  prefix: string,
  cfg: EncoderConfig,
  norm: Normalization,
  opts: VitOptions = {},
): VitEncoder {
  const spec = vitSpec(cfg);
  const { patchSize: p, dim, depth, heads, mlpRatio } = spec;
  let trainGrid: [number, number] | undefined =
    opts.imageSize !== undefined
      ? [Math.floor(opts.imageSize / p), Math.floor(opts.imageSize / p)]
      : undefined;

  const run = (ctx: Ctx, input: tf.Tensor4D, wantAttention: boolean) => {
    const [b, hIn, wIn, c] = input.shape;
    if (hIn % p !== 0 || wIn % p !== 0)
      throw new Error(`ViT: input ${hIn}x${wIn} is not a multiple of encoder.patchSize ${p}`);
    const grid: [number, number] = [hIn / p, wIn / p];
    trainGrid ??= grid;
    // Must precede the parameters' creation: ParamStore marks a variable trainable when made.
    if (opts.freezePatchEmbed && !ctx.ps.isFrozen(`${prefix}.patch_embed.`))
      ctx.ps.freeze(`${prefix}.patch_embed.`);
    const x = standardize(input, norm);
    const bound = xavierBound(p * p * c, dim);
    const w = ctx.ps.param(
      `${prefix}.patch_embed.proj.weight`,
      [p, p, c, dim],
      { kind: 'uniform', bound },
      'weight',
    );
    const bias = ctx.ps.param(`${prefix}.patch_embed.proj.bias`, [dim], { kind: 'zeros' }, 'bias');
    const patches = tf.add(tf.conv2d(x, w as tf.Tensor4D, p, 'valid'), bias);
    let tokens = tf.reshape(patches, [b, grid[0] * grid[1], dim]) as tf.Tensor3D;
    const cls = ctx.ps.param(
      `${prefix}.cls_token`,
      [1, 1, dim],
      { kind: 'normal', std: opts.clsStd ?? 0.02 },
      'norm',
    );
    tokens = tf.concat([tf.tile(cls, [b, 1, 1]), tokens], 1) as tf.Tensor3D;
    let pos: tf.Tensor3D;
    if (spec.posEmbed === 'sincos') {
      pos = tf.tensor3d(sincosPositionTable(grid[0], grid[1], dim), [1, 1 + grid[0] * grid[1], dim]);
    } else {
      const [g0, g1] = trainGrid;
      const table = ctx.ps.param(
        `${prefix}.pos_embed`,
        [1, 1 + g0 * g1, dim],
        { kind: 'normal', std: 0.02 },
        'norm',
      );
      pos = interpolatePosEmbed(table as tf.Tensor3D, [g0, g1], grid);
    }
    tokens = tf.add(tokens, pos) as tf.Tensor3D;
    let attention: tf.Tensor4D | undefined;
    for (let i = 0; i < depth; i++) {
      const last = i === depth - 1;
      const r = transformerBlock(ctx, `${prefix}.blocks.${i}`, tokens, {
        heads,
        mlpRatio,
        eps: VIT_LN_EPS,
        returnAttention: wantAttention && last,
      });
      tokens = r.y;
      if (r.attention) attention = r.attention;
    }
    tokens = layerNorm(ctx, `${prefix}.norm`, tokens, VIT_LN_EPS);
    return { tokens, attention, grid };
  };

  return {
    dim,
    spec,
    forward(ctx, x) {
      const { tokens } = run(ctx, x, false);
      return tf.reshape(tf.slice(tokens, [0, 0, 0], [-1, 1, -1]), [x.shape[0], dim]) as tf.Tensor2D;
    },
    attention(ctx, x) {
      const { attention, grid } = run(ctx, x, true);
      const a = attention as tf.Tensor4D;
      const [b, h, n] = a.shape;
      const clsRow = tf.slice(a, [0, 0, 0, 1], [b, h, 1, n - 1]);
      return tf.reshape(clsRow, [b, h, grid[0], grid[1]]) as tf.Tensor4D;
    },
  };
}
