/**
 * CPC (van den Oord, Li, Vinyals 2018), image version: one augmented view per image is cut into a
 * grid of half-overlapping patches (models/patches.ts), the encoder runs on every patch as one
 * batch, a PixelCNN-style masked-convolution context network runs top to bottom over the grid of
 * encodings (models/cpc-context.ts), one linear predictor per step k predicts the encodings k
 * (+ skip) rows below, scored with InfoNCE against every other target patch of the batch
 * (losses/cpc.ts). Features for kNN and linear probes: the patch encodings, mean-pooled.
 *
 * From CPC v2 (Hénaff et al. 2020) where v1 is vague: residual blocks in the context network,
 * negatives = all other patches of the batch, and the option to skip the overlapping row. The
 * encoder is the run's backbone with its BatchNorm (v2 replaced BN by LayerNorm because batch
 * statistics mix patches; with B x grid^2 patches per batch the shared statistics carry almost
 * nothing about any one target).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { RunConfig } from '../config/types';
import { outputSize } from '../data/augment';
import { cpcLoss } from '../losses/cpc';
import { maskedConvContext } from '../models/cpc-context';
import { type Encoder, makeEncoder, type Normalization } from '../models/encoders';
import type { Ctx } from '../models/layers';
import { ParamStore } from '../models/params';
import { extractPatches, patchGeometry } from '../models/patches';
import { cpcInfo } from './info/cpc';
import type { Method, MethodModel } from './types';

/** Defaults for params a hand-written config may leave out (the presets set them all). */
export const CPC_DEFAULTS = { patchGrid: 7, predictionSteps: 5, skipRows: 0, contextBlocks: 3 };

export interface CpcModel extends MethodModel {
  readonly encoder: Encoder;
  /** Side of the views the patches are cut from; `features` resizes other inputs to it. */
  readonly side: number;
  /** Patch encodings [B, grid, grid, d] in the given mode. */
  encodeGrid(x: tf.Tensor4D, training: boolean): tf.Tensor4D;
  /** Context [B, grid, grid, d] of encodings `z` (training mode). */
  context(z: tf.Tensor4D): tf.Tensor4D;
  /** The K predictor matrices W_k [d, d] (created on the first `loss`). */
  predictors(): tf.Variable[];
}

export function buildCpc(
  config: RunConfig,
  norm: Normalization,
  imageShape: [number, number, number],
): CpcModel {
  const p = {
    patchGrid: config.params.patchGrid ?? CPC_DEFAULTS.patchGrid,
    predictionSteps: config.params.predictionSteps ?? CPC_DEFAULTS.predictionSteps,
    skipRows: config.params.skipRows ?? CPC_DEFAULTS.skipRows,
    contextBlocks: config.params.contextBlocks ?? CPC_DEFAULTS.contextBlocks,
  };
  const side = outputSize(config.augment, imageShape[0], imageShape[1]);
  const geom = patchGeometry(side, p.patchGrid);
  const n = geom.grid;
  if (p.predictionSteps < 1 || p.predictionSteps + p.skipRows > n - 1) {
    throw new Error(
      `CPC: params.predictionSteps (${p.predictionSteps}) + params.skipRows (${p.skipRows}) must be between 1 and patchGrid - 1 = ${n - 1}, so that every step has a row to predict.`,
    );
  }
  const store = new ParamStore(config.seed);
  const encoder = makeEncoder('online.encoder', config.encoder, norm);
  const d = encoder.dim;
  const bound = 1 / Math.sqrt(d);
  const predictor = (k: number) =>
    store.param(`online.predictor.step${k}.weight`, [d, d], { kind: 'uniform', bound }, 'weight');

  const toSide = (x: tf.Tensor4D): tf.Tensor4D =>
    x.shape[1] === side && x.shape[2] === side
      ? x
      : (tf.image.resizeBilinear(x, [side, side]) as tf.Tensor4D);

  const encodeGrid = (x: tf.Tensor4D, training: boolean): tf.Tensor4D =>
    tf.tidy(() => {
      const ctx: Ctx = { ps: store, training };
      const h = encoder.forward(ctx, extractPatches(toSide(x), n));
      return tf.reshape(h, [x.shape[0], n, n, d]) as tf.Tensor4D;
    });

  const context = (z: tf.Tensor4D): tf.Tensor4D =>
    maskedConvContext({ ps: store, training: true }, 'online.context', z, p.contextBlocks);

  return {
    store,
    views: 1,
    encoder,
    side,
    encodeGrid,
    context,
    predictors: () => Array.from({ length: p.predictionSteps }, (_, i) => predictor(i + 1)),
    loss(views) {
      const z = encodeGrid(views[0], true);
      const c = context(z);
      const w = Array.from({ length: p.predictionSteps }, (_, i) => predictor(i + 1) as tf.Tensor2D);
      const r = cpcLoss(c, z, w, p.skipRows);
      const extra: Record<string, tf.Scalar> = { cpc_acc: r.accuracy };
      extra.loss_step1 = r.perStep[0];
      if (r.perStep.length > 1) extra[`loss_step${r.perStep.length}`] = r.perStep[r.perStep.length - 1];
      return { loss: r.loss, extra };
    },
    features(x) {
      return tf.tidy(() => tf.mean(encodeGrid(x, false), [1, 2]) as tf.Tensor2D);
    },
  };
}

export const cpc: Method = {
  info: cpcInfo,
  build: (config, norm, imageShape) => buildCpc(config, norm, imageShape),
};
