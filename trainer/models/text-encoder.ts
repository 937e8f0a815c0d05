/**
 * CLIP's text encoder (Radford et al. 2021, clip/model.py `encode_text`), without its projection:
 * token embedding + learned positional embedding, pre-norm transformer blocks with a causal mask,
 * a final LayerNorm, and the feature of each text read at its end-of-text token.
 *
 * Differences from OpenAI's module, each small: the blocks come from `transformer.ts` (exact GELU
 * instead of CLIP's QuickGELU approximation, Xavier-uniform Linears instead of CLIP's scaled
 * normals); the vocabulary is the word-level one of `tokenizer.ts`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Ctx } from './layers';
import { layerNorm, transformerBlock } from './transformer';

/** PyTorch's LayerNorm default, which CLIP keeps. */
const CLIP_LN_EPS = 1e-5;

export interface TextEncoderConfig {
  vocabSize: number;
  contextLength: number;
  width: number;
  layers: number;
  heads: number;
}

export interface TextEncoder {
  readonly dim: number;
  /**
   * Every position's output after the final LayerNorm, [B, L, width], for token ids [B, L]
   * (int32). Position i depends only on tokens 0..i.
   */
  sequence(ctx: Ctx, tokens: tf.Tensor2D): tf.Tensor3D;
  /** The output at each row's end-of-text position `eot`: [B, width]. */
  forward(ctx: Ctx, tokens: tf.Tensor2D, eot: Int32Array): tf.Tensor2D;
}

export function textEncoder(prefix: string, cfg: TextEncoderConfig): TextEncoder {
  const { vocabSize, contextLength: L, width, layers, heads } = cfg;
  if (width % heads !== 0) {
    throw new Error(
      `text encoder: width ${width} is not divisible by heads ${heads} (params.textWidth, params.textHeads)`,
    );
  }
  const sequence = (ctx: Ctx, tokens: tf.Tensor2D): tf.Tensor3D => {
    const [b, n] = tokens.shape;
    if (n !== L) throw new Error(`text encoder: tokens have length ${n}, the context length is ${L}`);
    // CLIP's initialisation of both embeddings (model.py initialize_parameters).
    const tokEmb = ctx.ps.param(
      `${prefix}.token_embedding.weight`,
      [vocabSize, width],
      { kind: 'normal', std: 0.02 },
      'weight',
    );
    const posEmb = ctx.ps.param(
      `${prefix}.positional_embedding`,
      [L, width],
      { kind: 'normal', std: 0.01 },
      'weight',
    );
    let x = tf.add(
      tf.reshape(tf.gather(tokEmb, tf.reshape(tokens, [-1])), [b, n, width]),
      posEmb,
    ) as tf.Tensor3D;
    for (let i = 0; i < layers; i++) {
      x = transformerBlock(ctx, `${prefix}.blocks.${i}`, x, {
        heads,
        causal: true,
        qkvBias: true,
        mlpRatio: 4,
        eps: CLIP_LN_EPS,
      }).y;
    }
    return layerNorm(ctx, `${prefix}.ln_final`, x, CLIP_LN_EPS);
  };
  return {
    dim: width,
    sequence,
    forward(ctx, tokens, eot) {
      const x = sequence(ctx, tokens);
      // A one-hot weighted sum picks position eot[i] of row i and has a gradient on every backend.
      const pick = tf.expandDims(tf.oneHot(tf.tensor1d(eot, 'int32'), L), 2);
      return tf.sum(tf.mul(x, pick), 1) as tf.Tensor2D;
    },
  };
}
