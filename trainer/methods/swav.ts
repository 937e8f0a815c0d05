/**
 * SwAV (Caron et al., NeurIPS 2020): online clustering with swapped prediction. Each crop's
 * embedding z = norm(head(backbone(x))) is scored against K unit prototypes C (s = z C); the codes
 * of each global crop (Sinkhorn-Knopp on its scores, an equal partition of the batch over the
 * prototypes) are predicted from every other crop's softmax(s / tau).
 *
 * Faithful details (facebookresearch/swav main_swav.py, src/resnet50.py; methods reference 1.9 and
 * tricky point 7):
 * - prototypes: a bias-free Linear on the normalised embedding ('online.prototypes.weight', [d, K],
 *   one prototype per column); each column is re-normalised to unit length before every step
 *   (`afterInit`, then `afterStep`, which is the start of the next iteration in the official code);
 * - codes: Sinkhorn (epsilon, iterations) on the detached scores of crops 0 and 1
 *   (crops_for_assign), never any gradient;
 * - multi-crop: 2 global crops + `localCrops` small ones (`multicrop.ts`); crops of one side go
 *   through the backbone together, the head sees all crops at once;
 * - queue (small batches): per assignment crop, the last `queueSize` detached embeddings, newest
 *   first; written from epoch `queueStartEpoch` on, used only once full; its scores are recomputed
 *   with the current prototypes and only the batch's rows of the codes are kept. The writes happen
 *   in `afterStep` (outside the tape) with the embeddings of the step's forward, the values the
 *   official in-forward write stores;
 * - prototypes frozen for the first `freezePrototypesSteps` iterations: their scores are computed
 *   from a detached copy, so they get no gradient at all (no momentum, no weight decay), as the
 *   official `p.grad = None`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { AugmentConfig, RunConfig } from '../config/types';
import { outputSize } from '../data/augment';
import { collapseStd, detach } from '../losses/cosine';
import { swappedPredictionLoss } from '../losses/swav';
import { makeEncoder, type Normalization } from '../models/encoders';
import { projectionHead } from '../models/heads';
import { type Ctx, l2Normalize } from '../models/layers';
import { ParamStore } from '../models/params';
import { swavInfo } from './info/swav';
import { multiCropAugment, multiCropFeatures, multiCropSpecOf, perCrop } from './multicrop';
import { sinkhorn } from './sinkhorn';
import type { Method, MethodModel, StepContext } from './types';

/** Defaults for params a hand-written config leaves out (the paper's batch-256 recipe). */
export const SWAV_DEFAULTS = {
  prototypes: 3000,
  temperature: 0.1,
  sinkhornEpsilon: 0.05,
  sinkhornIterations: 3,
  queueStartEpoch: 15,
  freezePrototypesSteps: 5005,
  localCrops: 6,
  localCropSize: 96,
  localCropScale: [0.05, 0.14] as [number, number],
};

/** Crops whose codes are computed (the global ones). */
export const SWAV_ASSIGN_CROPS = [0, 1];

export const PROTOTYPES = 'online.prototypes.weight';

/** The queue of past embeddings, one FIFO per assignment crop, newest row first. */
export class SwavQueue {
  /** [A, L, d]. */
  readonly rows: tf.Variable;
  /** [1] rows written so far, capped at L. */
  private readonly count: tf.Variable;

  constructor(
    store: ParamStore,
    readonly length: number,
    readonly dim: number,
    readonly crops: number,
    readonly batchSize: number,
  ) {
    if (!Number.isInteger(length) || length < batchSize || length % batchSize !== 0) {
      const lo = Math.max(batchSize, length - (length % batchSize));
      throw new Error(
        `SwAV queue: params.queueSize (${length}) must be a positive multiple of training.batchSize (${batchSize}) ` +
          `(the official code rounds it down to one); use e.g. ${lo}, or leave queueSize out for no queue.`,
      );
    }
    this.rows = store.buffer('swav.queue', [crops, length, dim], { kind: 'zeros' });
    this.count = store.buffer('swav.queue_count', [1], { kind: 'zeros' });
  }

  filled(): number {
    return this.count.dataSync()[0];
  }

  /** Full: the official code uses the queue once its last row is non-zero. */
  full(): boolean {
    return this.filled() >= this.length;
  }

  /** Rows of assignment crop `i`: [L, d]. */
  crop(i: number): tf.Tensor2D {
    return tf.reshape(tf.slice(this.rows, [i, 0, 0], [1, this.length, this.dim]), [this.length, this.dim]);
  }

  /** Shifts every crop's rows down by B and writes `emb[i]` ([B, d]) on top. Outside any tape. */
  push(emb: tf.Tensor2D[]): void {
    tf.tidy(() => {
      const b = this.batchSize;
      const parts = emb.map((e, i) => {
        if (e.shape[0] !== b || e.shape[1] !== this.dim)
          throw new Error(`SwAV queue: expected [${b}, ${this.dim}] embeddings, got [${e.shape}]`);
        const kept = tf.slice(this.crop(i), [0, 0], [this.length - b, this.dim]);
        return tf.expandDims(tf.concat([e, kept], 0), 0);
      });
      this.rows.assign(tf.concat(parts, 0));
      this.count.assign(tf.tensor1d([Math.min(this.length, this.filled() + b)]));
    });
  }
}

export interface SwavModel extends MethodModel {
  /** null when params.queueSize is not set. */
  queue: SwavQueue | null;
  /** Normalised embeddings [V B, d] of every crop, in view order (training-mode BatchNorm). */
  embed(ctx: Ctx, views: tf.Tensor4D[]): tf.Tensor2D;
  /** Re-normalises every prototype to unit length. */
  normalizePrototypes(): void;
}

/** `imageSize`: side of the global crops (a ViT's learned position table is made for it). */
export function buildSwav(config: RunConfig, norm: Normalization, imageSize?: number): SwavModel {
  const p = config.params;
  const k = p.prototypes ?? SWAV_DEFAULTS.prototypes;
  const tau = p.temperature ?? SWAV_DEFAULTS.temperature;
  const eps = p.sinkhornEpsilon ?? SWAV_DEFAULTS.sinkhornEpsilon;
  const iters = p.sinkhornIterations ?? SWAV_DEFAULTS.sinkhornIterations;
  const queueStart = p.queueStartEpoch ?? SWAV_DEFAULTS.queueStartEpoch;
  const freezeSteps = p.freezePrototypesSteps ?? SWAV_DEFAULTS.freezePrototypesSteps;
  const crops = multiCropSpecOf(config, {
    globals: 2,
    locals: SWAV_DEFAULTS.localCrops,
    localSize: SWAV_DEFAULTS.localCropSize,
    localScale: SWAV_DEFAULTS.localCropScale,
  });
  const views = crops.globals + crops.locals;
  const d = config.head.out;
  const batch = config.training.batchSize;

  const store = new ParamStore(config.seed);
  const encoder = makeEncoder('online.encoder', config.encoder, norm, imageSize);
  const queue = p.queueSize ? new SwavQueue(store, p.queueSize, d, SWAV_ASSIGN_CROPS.length, batch) : null;
  // nn.Linear's default initialisation; normalised in afterInit before any use in training.
  const prototypes = () =>
    store.param(PROTOTYPES, [d, k], { kind: 'uniform', bound: 1 / Math.sqrt(d) }, 'weight');
  let pending: tf.Tensor2D[] | null = null;

  const embed = (ctx: Ctx, xs: tf.Tensor4D[]): tf.Tensor2D =>
    l2Normalize(
      projectionHead(
        ctx,
        'online.head',
        multiCropFeatures(xs, (x) => encoder.forward(ctx, x)),
        config.head,
      ),
    );

  const normalizePrototypes = () =>
    tf.tidy(() => {
      const c = prototypes();
      c.assign(tf.div(c, tf.maximum(tf.norm(c, 'euclidean', 0, true), 1e-12)));
    });

  return {
    store,
    views,
    queue,
    embed,
    normalizePrototypes,
    loss(xs, step) {
      if (xs.length !== views) throw new Error(`SwAV: expected ${views} crops, got ${xs.length}`);
      const ctx: Ctx = { ps: store, training: true };
      const b = xs[0].shape[0];
      const z = embed(ctx, xs);
      const c = prototypes();
      const frozen = step.step < freezeSteps;
      const scores = perCrop(tf.matMul(z, frozen ? detach(c) : c), views);
      const zs = perCrop(z, views);
      // Checked before this step's write, as the official code does.
      const useQueue = queue !== null && step.epoch >= queueStart && queue.full();
      const codes = SWAV_ASSIGN_CROPS.map((a, i) => {
        let s = detach(scores[a]);
        if (useQueue) s = tf.concat([tf.matMul(queue!.crop(i), detach(c)), s], 0);
        const q = sinkhorn(s, eps, iters);
        return useQueue ? tf.slice(q, [s.shape[0] - b, 0], [b, k]) : q;
      });
      const loss = swappedPredictionLoss(scores, codes, SWAV_ASSIGN_CROPS, tau);
      if (!store.dryRun && queue !== null && step.epoch >= queueStart) {
        for (const t of pending ?? []) t.dispose();
        pending = SWAV_ASSIGN_CROPS.map((a) => tf.keep(detach(zs[a])));
      }
      const extra = {
        collapse_std: tf.tidy(() =>
          collapseStd(
            tf.concat(
              SWAV_ASSIGN_CROPS.map((a) => zs[a]),
              0,
            ),
          ),
        ),
        queue_in_use: tf.scalar(useQueue ? 1 : 0),
        prototypes_frozen: tf.scalar(frozen ? 1 : 0),
      };
      return { loss, extra };
    },
    features(x) {
      return encoder.forward({ ps: store, training: false }, x);
    },
    afterInit: normalizePrototypes,
    afterStep(_ctx: StepContext) {
      if (pending && queue) {
        queue.push(pending);
        for (const t of pending) t.dispose();
        pending = null;
      }
      normalizePrototypes();
    },
    viewAugment(base: AugmentConfig, view: number): AugmentConfig {
      return multiCropAugment(base, view, crops);
    },
  };
}

export const swav: Method = {
  info: swavInfo,
  build: (config, norm, [h, w]) => buildSwav(config, norm, outputSize(config.augment, h, w)),
};
