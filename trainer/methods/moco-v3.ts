/**
 * MoCo v3 (Chen, Xie & He, ICCV 2021), after facebookresearch/moco-v3 (moco/builder.py, vits.py,
 * main_moco.py):
 *
 *   q_i = predictor(projector(f(x_i)))          online ('online.*'), with gradient
 *   k_i = projector_m(f_m(x_i))                 momentum copy ('target.*'), no gradient
 *   ctr(q, k) = 2 tau * CE(norm(q) norm(k)^T / tau, labels = own index)
 *   L = ctr(q1, k2) + ctr(q2, k1)
 *
 * No queue: the negatives are the other keys of the batch. Details kept from the official code:
 * - Every MLP Linear is bias-free; hidden layers Linear + BN + ReLU; the projector ends with
 *   BN(affine=False) (`head.outputBn`); the predictor (query side only) ends with BN(affine=False)
 *   for a ViT (MoCo_ViT) and without BN otherwise (MoCo_ResNet).
 * - Each view goes through BatchNorm on its own (the network is called once per view); the momentum
 *   network runs in training mode as well.
 * - Momentum m rises by a half cosine from `momentum` to 1 over training, per iteration
 *   (`--moco-m-cos`). The official forward updates the momentum network *before* computing keys;
 *   here the update for step t + 1 runs in `afterStep` of step t, on the parameters step t + 1
 *   sees: the same arithmetic (the step-0 update is a no-op after the initial copy).
 * - ViT backbone: fixed 2-D sin-cos positions (`encoder.posEmbed: 'sincos'`), [CLS] init std 1e-6,
 *   Xavier-uniform Linears; `freezePatchEmbed` is `--stop-grad-conv1`, the paper's random patch
 *   projection.
 * - Asymmetric views as BYOL: blur p 1.0 / 0.1, solarize p 0 / 0.2.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { AugmentConfig, RunConfig } from '../config/types';
import { outputSize } from '../data/augment';
import { type Encoder, makeEncoder, type Normalization } from '../models/encoders';
import { type Ctx, l2Normalize } from '../models/layers';
import { ParamStore } from '../models/params';
import { type MlpSpec, mlp } from '../models/predictor';
import { vit } from '../models/vit';
import { EmaTarget, momentumAt } from './ema';
import { mocoV3Info } from './info/moco-v3';
import { noGrad } from './moco';
import type { Method, MethodModel } from './types';

/** main_moco.py augmentation1 / augmentation2: blur and solarize probabilities per view. */
export const MOCO_V3_VIEW_AUGMENT = [
  { blur: 1.0, solarize: 0.0 },
  { blur: 0.1, solarize: 0.2 },
] as const;

/** Defaults when params leave them out (main_moco.py with the ViT recipe of CONFIG.md). */
export const MOCO_V3_DEFAULTS = {
  temperature: 0.2,
  momentum: 0.99,
  momentumSchedule: 'cosine',
  predictorHidden: 4096,
  freezePatchEmbed: false,
} as const;

/** [CLS] token init of MoCo v3's ViT (vits.py: normal, std 1e-6). */
const CLS_STD = 1e-6;

/**
 * One direction of the loss, 2 tau * mean_i -log softmax_j(q_i . k_j / tau)[i] with q and k
 * L2-normalised (keys as given: the caller passes keys without gradient). Also returns the logits.
 */
export function mocoV3Contrastive(
  q: tf.Tensor2D,
  k: tf.Tensor2D,
  tau: number,
): { loss: tf.Scalar; logits: tf.Tensor2D } {
  if (q.shape[0] !== k.shape[0] || q.shape[1] !== k.shape[1])
    throw new Error(`MoCo v3 loss: q [${q.shape}] and k [${k.shape}] must have the same shape`);
  const logits = tf.div(tf.matMul(l2Normalize(q), l2Normalize(k), false, true), tau) as tf.Tensor2D;
  const b = q.shape[0];
  const diag = tf.mul(tf.logSoftmax(logits), tf.eye(b));
  const ce = tf.neg(tf.div(tf.sum(diag), b));
  return { loss: tf.mul(ce, 2 * tau) as tf.Scalar, logits };
}

/** The MLPs of moco/builder.py `_build_mlp`: bias-free Linears, BN + ReLU between, optional last BN. */
export function mocoV3MlpSpec(hidden: number[], out: number, lastBn: boolean): MlpSpec {
  return { hidden, out, hiddenBias: false, outBias: false, outBn: lastBn ? 'plain' : 'none' };
}

export interface MocoV3Model extends MethodModel {
  ema: EmaTarget;
  /** Momentum coefficient the update after step `step` uses. */
  momentumAfter(step: number, totalSteps: number): number;
}

export function buildMocoV3(config: RunConfig, norm: Normalization, imageSize: number): MocoV3Model {
  const p = config.params;
  const tau = p.temperature ?? MOCO_V3_DEFAULTS.temperature;
  const m0 = p.momentum ?? MOCO_V3_DEFAULTS.momentum;
  const schedule = p.momentumSchedule ?? MOCO_V3_DEFAULTS.momentumSchedule;
  const isVit = config.encoder.arch === 'vit';
  const freezePatchEmbed = p.freezePatchEmbed ?? MOCO_V3_DEFAULTS.freezePatchEmbed;
  if (freezePatchEmbed && !isVit)
    throw new Error(
      `params.freezePatchEmbed needs encoder.arch 'vit' (it freezes the ViT's patch projection); got '${config.encoder.arch}'.`,
    );

  const store = new ParamStore(config.seed);
  // Before any parameter exists, so every 'target.' parameter is created frozen.
  const ema = new EmaTarget(store, 'online.', 'target.');
  const backbone = (prefix: string): Encoder =>
    isVit
      ? vit(prefix, config.encoder, norm, { imageSize, freezePatchEmbed, clsStd: CLS_STD })
      : makeEncoder(prefix, config.encoder, norm, imageSize);
  const onlineEncoder = backbone('online.encoder');
  const targetEncoder = backbone('target.encoder');
  const projector = mocoV3MlpSpec(config.head.hidden, config.head.out, config.head.outputBn);
  const predictor = mocoV3MlpSpec(
    [p.predictorHidden ?? MOCO_V3_DEFAULTS.predictorHidden],
    config.head.out,
    isVit,
  );

  const query = (ctx: Ctx, x: tf.Tensor4D) =>
    mlp(
      ctx,
      'online.predictor',
      mlp(ctx, 'online.projector', onlineEncoder.forward(ctx, x), projector),
      predictor,
    );
  const key = (x: tf.Tensor4D) =>
    noGrad(x, () => {
      const ctx: Ctx = { ps: store, training: true };
      return mlp(ctx, 'target.projector', targetEncoder.forward(ctx, x), projector);
    });
  const momentumAfter = (step: number, totalSteps: number) => momentumAt(m0, schedule, step + 1, totalSteps);

  const model: MocoV3Model = {
    store,
    views: 2,
    ema,
    momentumAfter,
    loss(views, step) {
      const ctx: Ctx = { ps: store, training: true };
      const [x1, x2] = views;
      const q1 = query(ctx, x1);
      const q2 = query(ctx, x2);
      const k1 = key(x1);
      const k2 = key(x2);
      const a = mocoV3Contrastive(q1, k2, tau);
      const b = mocoV3Contrastive(q2, k1, tau);
      const loss = tf.add(a.loss, b.loss) as tf.Scalar;
      const extra = tf.tidy(() => {
        const n = q1.shape[0];
        const eye = tf.eye(n);
        const both = tf.concat([a.logits, b.logits], 0);
        const diagMean = (l: tf.Tensor2D) => tf.div(tf.sum(tf.mul(l, eye)), n);
        return {
          // Mean cosine of a query and its positive key.
          pos_sim: tf.mul(tf.div(tf.add(diagMean(a.logits), diagMean(b.logits)), 2), tau) as tf.Scalar,
          // Fraction of queries whose own key is the most similar of the batch.
          inst_acc: tf.mean(
            tf.cast(
              tf.equal(
                tf.argMax(both, 1),
                tf.concat([tf.range(0, n, 1, 'int32'), tf.range(0, n, 1, 'int32')]),
              ),
              'float32',
            ),
          ) as tf.Scalar,
          ema_momentum: tf.scalar(momentumAfter(step.step, step.totalSteps)),
        };
      });
      return { loss, extra };
    },
    features(x) {
      return onlineEncoder.forward({ ps: store, training: false }, x);
    },
    afterInit() {
      ema.copyFromOnline();
    },
    afterStep(step) {
      // The update the official forward of step t + 1 starts with (see the header).
      ema.update(momentumAfter(step.step, step.totalSteps));
    },
    viewAugment(base: AugmentConfig, view: number): AugmentConfig {
      const v = MOCO_V3_VIEW_AUGMENT[view % 2];
      return { ...base, blur: { ...base.blur, p: v.blur }, solarize: { ...base.solarize, p: v.solarize } };
    },
  };
  if (isVit) {
    const enc = onlineEncoder as ReturnType<typeof vit>;
    model.attentionMaps = (x) => enc.attention({ ps: store, training: false }, x);
  }
  return model;
}

export const mocoV3: Method = {
  info: mocoV3Info,
  // The views' side, which a learned ViT position table is made for.
  build: (config, norm, imageShape) =>
    buildMocoV3(config, norm, outputSize(config.augment, imageShape[0], imageShape[1])),
};
