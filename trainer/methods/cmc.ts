/**
 * CMC, Contrastive Multiview Coding (Tian, Krishnan, Isola, ECCV 2020), with two views of one
 * augmented image: its lightness L and its colour ab (CIE Lab) for colour data, as the paper's
 * ImageNet setting; its intensity and Sobel gradient magnitude for grayscale data, where ab would
 * be empty (params.cmcViews 'intensity-gradient' uses the latter for colour data too: the built-in
 * dataset's colours are random and shared by L and ab, a class-free shortcut).
 * HobbitLong/CMC: train_CMC.py, NCE/NCEAverage.py, NCE/NCECriterion.py, dataset.py.
 *
 * Per step (one crop + flip, no colour jitter: the views are the colour channels):
 *   l = norm(head_l(encoder_l(L))),  ab = norm(head_ab(encoder_ab(ab)))   two separate networks
 *   noise: K indices uniform over [0, N) per image, shared by both terms (NCEAverage's idx)
 *   loss = L(l vs bank_ab) + L(ab vs bank_l)       positives bank_ab[i] / bank_l[i]; NCE with its
 *                                                  own frozen Z per term, or softmax (--softmax)
 *   afterStep: bank_l[i] <- norm(m bank_l[i] + (1 - m) l), same for ab (m = 0.5)
 * The official code writes the banks inside forward after computing the scores, with no gradient;
 * here they are written in afterStep with the features kept from `loss` (same values).
 * Evaluation features: both backbones' features concatenated (CMC's linear probe concatenates
 * feat_l and feat_ab).
 */
import * as tf from '@tensorflow/tfjs-core';
import { CMC_LAB_NORMALIZATION, rgbToLab, sobelMagnitude } from '../data/colorspace';
import { type Encoder, makeEncoder, type Normalization } from '../models/encoders';
import type { Ctx } from '../models/layers';
import { ParamStore } from '../models/params';
import { rngFor } from '../rng';
import { cmcInfo } from './info/cmc';
import { bankEmbedding, bankLoss, bankObjective, MemoryBank, NceConstant, sampleNoise } from './memory-bank';
import type { Method, MethodModel } from './types';

/** train_CMC.py's defaults, for params a hand-written config leaves out. */
export const CMC_DEFAULTS = { bankLoss: 'nce', nceK: 16384, bankMomentum: 0.5 } as const;

/** How an image is split into CMC's two views. */
export interface CmcSplit {
  /** View names, used in parameter and metric names: ['l', 'ab'] or ['intensity', 'gradient']. */
  names: [string, string];
  /** Input standardisation of each view's encoder. */
  norms: [Normalization, Normalization];
  /** NHWC images in [0, 1] -> the two views. */
  split(x: tf.Tensor4D): [tf.Tensor4D, tf.Tensor4D];
}

/**
 * Colour (3 channels): L and ab of Lab, standardised with train_CMC.py's constants. Grayscale
 * (1 channel): the intensity, standardised with the dataset's statistics, and its Sobel gradient
 * magnitude, left unscaled: every encoder follows its first convolution with BatchNorm, which
 * removes a constant scale of the input.
 */
export function cmcSplit(
  channels: number,
  norm: Normalization,
  views: 'auto' | 'intensity-gradient' = 'auto',
): CmcSplit {
  if (channels === 3 && views === 'intensity-gradient') {
    // ITU-R 601 luma; after grayscale augmentation R = G = B and this is the grey value itself.
    const luma = [0.299, 0.587, 0.114];
    const mean = luma.reduce((s, w, i) => s + w * norm.mean[i], 0);
    const std = luma.reduce((s, w, i) => s + w * norm.std[i], 0);
    return {
      names: ['intensity', 'gradient'],
      norms: [
        { mean: [mean], std: [std] },
        { mean: [0], std: [1] },
      ],
      split: (x) =>
        tf.tidy(() => {
          const y = tf.sum(tf.mul(x, tf.tensor1d(luma)), 3, true) as tf.Tensor4D;
          return [y, sobelMagnitude(y)];
        }),
    };
  }
  if (channels === 3) {
    const { mean, std } = CMC_LAB_NORMALIZATION;
    return {
      names: ['l', 'ab'],
      norms: [
        { mean: mean.slice(0, 1), std: std.slice(0, 1) },
        { mean: mean.slice(1), std: std.slice(1) },
      ],
      split: (x) =>
        tf.tidy(() => {
          const lab = rgbToLab(x);
          const [n, h, w] = x.shape;
          return [
            tf.slice(lab, [0, 0, 0, 0], [n, h, w, 1]) as tf.Tensor4D,
            tf.slice(lab, [0, 0, 0, 1], [n, h, w, 2]) as tf.Tensor4D,
          ];
        }),
    };
  }
  if (channels === 1) {
    return {
      names: ['intensity', 'gradient'],
      norms: [norm, { mean: [0], std: [1] }],
      split: (x) => tf.tidy(() => [tf.clone(x), sobelMagnitude(x)]),
    };
  }
  throw new Error(
    `CMC splits colour images (3 channels) into L and ab and grayscale ones (1 channel) into intensity and gradient; this dataset has ${channels} channels.`,
  );
}

export interface CmcModel extends MethodModel {
  split: CmcSplit;
  banks: [MemoryBank, MemoryBank];
  /** Z of the term whose anchors are view 0 (scored against bank 1), and of view 1's term. */
  z: [NceConstant, NceConstant];
  /** Normalised embeddings of both views [B, d] each (training-mode BatchNorm). */
  embed(x: tf.Tensor4D): [tf.Tensor2D, tf.Tensor2D];
}

export const cmc: Method = {
  info: cmcInfo,
  build(config, norm, imageShape, data): CmcModel {
    const obj = bankObjective(config.params, CMC_DEFAULTS);
    const split = cmcSplit(imageShape[2], norm, config.params.cmcViews);
    const [n0, n1] = split.names;
    const store = new ParamStore(config.seed);
    const encoders: [Encoder, Encoder] = [
      makeEncoder(`online.${n0}.encoder`, config.encoder, split.norms[0]),
      makeEncoder(`online.${n1}.encoder`, config.encoder, split.norms[1]),
    ];
    const banks: [MemoryBank, MemoryBank] = [
      new MemoryBank(store, `bank.${n0}`, data.trainSize, config.head.out, obj.init),
      new MemoryBank(store, `bank.${n1}`, data.trainSize, config.head.out, obj.init),
    ];
    const z: [NceConstant, NceConstant] = [
      new NceConstant(store, `bank.log_z_${n0}`),
      new NceConstant(store, `bank.log_z_${n1}`),
    ];
    let pending: { f: [tf.Tensor2D, tf.Tensor2D]; indices: Int32Array } | null = null;

    const embed = (x: tf.Tensor4D): [tf.Tensor2D, tf.Tensor2D] =>
      tf.tidy(() => {
        const ctx: Ctx = { ps: store, training: true };
        const views = split.split(x);
        return [0, 1].map((v) =>
          bankEmbedding(
            ctx,
            `online.${split.names[v]}.head`,
            encoders[v].forward(ctx, views[v]),
            config.head,
          ),
        ) as [tf.Tensor2D, tf.Tensor2D];
      });

    return {
      store,
      views: 1,
      split,
      banks,
      z,
      embed,
      loss([x], ctx) {
        const f = embed(x);
        const b = x.shape[0];
        const noise =
          obj.k > 0 ? sampleNoise(rngFor(config.seed, 'nce', ctx.step), b, obj.k, data.trainSize) : null;
        // View 0's anchors against view 1's bank and the reverse (out_l and out_ab in NCEAverage).
        const t0 = bankLoss(f[0], banks[1], ctx.indices, noise, obj, z[0]);
        const t1 = bankLoss(f[1], banks[0], ctx.indices, noise, obj, z[1]);
        if (!store.dryRun) {
          if (pending) tf.dispose(pending.f);
          pending = { f: [tf.keep(f[0]), tf.keep(f[1])], indices: Int32Array.from(ctx.indices) };
        }
        return {
          loss: tf.add(t0.loss, t1.loss) as tf.Scalar,
          extra: {
            [`${n0}_loss`]: t0.loss,
            [`${n1}_loss`]: t1.loss,
            // Cosine of each view's feature and the other view's bank entry of the same image.
            [`${n0}_pos_sim`]: t0.posSim,
            [`${n1}_pos_sim`]: t1.posSim,
            [`${n0}_neg_sim`]: t0.negSim,
            [`${n1}_neg_sim`]: t1.negSim,
          },
        };
      },
      features(x) {
        return tf.tidy(() => {
          const ctx: Ctx = { ps: store, training: false };
          const views = split.split(x);
          return tf.concat(
            [encoders[0].forward(ctx, views[0]), encoders[1].forward(ctx, views[1])],
            1,
          ) as tf.Tensor2D;
        });
      },
      afterStep() {
        if (!pending) return;
        banks[0].update(pending.indices, pending.f[0], obj.momentum);
        banks[1].update(pending.indices, pending.f[1], obj.momentum);
        tf.dispose(pending.f);
        pending = null;
      },
    };
  },
};
