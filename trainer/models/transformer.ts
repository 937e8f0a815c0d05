/**
 * Transformer building blocks over a ParamStore (pre-norm, as ViT and CLIP): LayerNorm, multi-head
 * self-attention (optionally causal, for CLIP's text encoder), a GELU MLP and the block that
 * chains them. Parameter names follow timm's ViT (`norm1`, `attn.qkv`, `attn.proj`, `norm2`,
 * `mlp.fc1`, `mlp.fc2`) so that a state dict maps across by name; Linear weights are stored
 * [in, out] as everywhere in this project.
 *
 * Every op here has a gradient on the wasm backend (softmax, batchMatMul, erf, mean over the last
 * axis, reshape/transpose of rank 4); test/trainer/transformer.test.ts checks it against the cpu
 * backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Ctx } from './layers';
import type { Init } from './params';

/** timm's ViT LayerNorm epsilon; CLIP uses PyTorch's default 1e-5. */
export const VIT_LN_EPS = 1e-6;

/** Large negative added to masked attention logits (not -Infinity: 0 * Infinity is NaN in the gradient). */
const MASK_NEG = -1e9;

/** Swaps the last two axes. */
function transposeLast2(x: tf.Tensor): tf.Tensor {
  const perm = x.shape.map((_, i) => i);
  const r = perm.length;
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  return tf.transpose(x, perm);
}

/**
 * a @ b (any rank >= 2, equal batch axes) whose gradient never asks for a transposed matMul:
 * tf.matMul's own gradient uses transposeA/transposeB, which the wasm backend runs on a slow path
 * (about 6x slower than transposing the operand first: 45 ms against 7 ms for [4160,128]x[128,64]).
 */
export const matMulNT = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved;
      return [tf.matMul(dy, transposeLast2(sb)), tf.matMul(transposeLast2(sa), dy)];
    },
  };
}) as <T extends tf.Tensor>(a: T, b: tf.Tensor) => T;

/** Xavier/Glorot uniform bound, the initialisation of MoCo v3's and DINO's transformer Linears. */
export function xavierBound(fanIn: number, fanOut: number): number {
  return Math.sqrt(6 / (fanIn + fanOut));
}

/**
 * Linear layer over the last axis of any-rank input: y = x W + b, W [in, out], zero bias (timm and
 * MoCo v3 zero every Linear bias). `init` defaults to Xavier uniform.
 */
export function linear<T extends tf.Tensor>(
  ctx: Ctx,
  name: string,
  x: T,
  out: number,
  opts: { bias?: boolean; init?: Init } = {},
): T {
  const shape = x.shape;
  const cin = shape[shape.length - 1];
  const init = opts.init ?? { kind: 'uniform', bound: xavierBound(cin, out) };
  const w = ctx.ps.param(`${name}.weight`, [cin, out], init, 'weight') as tf.Tensor2D;
  let y: tf.Tensor = matMulNT(tf.reshape(x, [-1, cin]), w);
  if (opts.bias ?? true) y = tf.add(y, ctx.ps.param(`${name}.bias`, [out], { kind: 'zeros' }, 'bias'));
  return tf.reshape(y, [...shape.slice(0, -1), out]) as T;
}

/** LayerNorm over the last axis with learnable gain (ones) and bias (zeros); biased variance, as PyTorch. */
export function layerNorm<T extends tf.Tensor>(ctx: Ctx, name: string, x: T, eps = VIT_LN_EPS): T {
  const d = x.shape[x.shape.length - 1];
  const gain = ctx.ps.param(`${name}.weight`, [d], { kind: 'ones' }, 'norm');
  const bias = ctx.ps.param(`${name}.bias`, [d], { kind: 'zeros' }, 'norm');
  return tf.add(tf.mul(layerNormPlain(x, eps), gain), bias) as T;
}

/** (x - mean) / sqrt(var + eps) over the last axis, without gain or bias. */
export function layerNormPlain<T extends tf.Tensor>(x: T, eps = VIT_LN_EPS): T {
  const axis = x.shape.length - 1;
  const centred = tf.sub(x, tf.mean(x, axis, true));
  const variance = tf.mean(tf.square(centred), axis, true);
  return tf.mul(centred, tf.rsqrt(tf.add(variance, eps))) as T;
}

/** Exact GELU, x * Phi(x) = x (1 + erf(x / sqrt 2)) / 2 (PyTorch's nn.GELU default). */
export function gelu<T extends tf.Tensor>(x: T): T {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)) as T;
}

export interface AttentionOptions {
  heads: number;
  /** Token i attends only to tokens 0..i (CLIP's text encoder). */
  causal?: boolean;
  /** Bias on the qkv projection (ViT: yes). */
  qkvBias?: boolean;
  /** Also return the attention probabilities [B, heads, N, N]. */
  returnAttention?: boolean;
}

/** [N, N] additive mask: 0 on and below the diagonal, a large negative above it. */
export function causalMask(n: number): tf.Tensor2D {
  const m = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) m[i * n + j] = MASK_NEG;
  return tf.tensor2d(m, [n, n]);
}

/**
 * Multi-head self-attention on tokens [B, N, D]: softmax(q k^T / sqrt(d_head)) v per head, heads
 * concatenated and projected. The qkv Linear is one [D, 3D] matrix laid out (q | k | v), each split
 * into heads in order, as timm's `Attention`.
 */
export function multiHeadAttention(
  ctx: Ctx,
  name: string,
  x: tf.Tensor3D,
  opts: AttentionOptions,
): { y: tf.Tensor3D; attention?: tf.Tensor4D } {
  const [b, n, d] = x.shape;
  const h = opts.heads;
  if (d % h !== 0) throw new Error(`attention '${name}': dim ${d} is not divisible by heads ${h}`);
  const dh = d / h;
  // Each of q, k, v: [B, N, D] -> [B, heads, N, dh].
  const qkv = linear(ctx, `${name}.qkv`, x, 3 * d, {
    bias: opts.qkvBias ?? true,
    // MoCo v3 (vits.py) initialises qkv as three separate D x D Xavier matrices.
    init: { kind: 'uniform', bound: xavierBound(d, d) },
  });
  const [q, k, v] = tf.split(qkv, 3, 2).map((t) => tf.reshape(t, [b, n, h, dh]));
  // q [B, heads, N, dh], k^T [B, heads, dh, N], v [B, heads, N, dh].
  const qh = tf.transpose(q, [0, 2, 1, 3]);
  const kT = tf.transpose(k, [0, 2, 3, 1]);
  const vh = tf.transpose(v, [0, 2, 1, 3]);
  let logits = tf.mul(matMulNT(qh, kT), 1 / Math.sqrt(dh)) as tf.Tensor4D;
  if (opts.causal) logits = tf.add(logits, causalMask(n)) as tf.Tensor4D;
  const attention = tf.softmax(logits) as tf.Tensor4D;
  const heads = matMulNT(attention, vh) as tf.Tensor4D;
  const merged = tf.reshape(tf.transpose(heads, [0, 2, 1, 3]), [b, n, d]) as tf.Tensor3D;
  const y = linear(ctx, `${name}.proj`, merged, d);
  return opts.returnAttention ? { y, attention } : { y };
}

/** Transformer MLP: Linear(D -> hidden) + GELU + Linear(hidden -> D). */
export function transformerMlp(ctx: Ctx, name: string, x: tf.Tensor3D, hidden: number): tf.Tensor3D {
  const d = x.shape[2];
  return linear(ctx, `${name}.fc2`, gelu(linear(ctx, `${name}.fc1`, x, hidden)), d);
}

export interface BlockOptions extends AttentionOptions {
  /** MLP hidden width as a multiple of the token dimension (ViT: 4). */
  mlpRatio: number;
  /** LayerNorm epsilon (default timm's 1e-6). */
  eps?: number;
}

/** Pre-norm block: x + attn(LN(x)), then + mlp(LN(x)). */
export function transformerBlock(
  ctx: Ctx,
  name: string,
  x: tf.Tensor3D,
  opts: BlockOptions,
): { y: tf.Tensor3D; attention?: tf.Tensor4D } {
  const eps = opts.eps ?? VIT_LN_EPS;
  const a = multiHeadAttention(ctx, `${name}.attn`, layerNorm(ctx, `${name}.norm1`, x, eps), opts);
  const x1 = tf.add(x, a.y) as tf.Tensor3D;
  const hidden = Math.round(x.shape[2] * opts.mlpRatio);
  const m = transformerMlp(ctx, `${name}.mlp`, layerNorm(ctx, `${name}.norm2`, x1, eps), hidden);
  const y = tf.add(x1, m) as tf.Tensor3D;
  return a.attention ? { y, attention: a.attention } : { y };
}
