/**
 * DINO (Caron et al., ICCV 2021): self-distillation with no labels. A student network (backbone +
 * DINO head) sees every crop; a teacher, the EMA of the student, sees only the global crops; the
 * student's softmax(g_s / tau_s) is trained to match the teacher's centred, sharpened
 * softmax((g_t - C) / tau_t) across different crops.
 *
 * Faithful details (facebookresearch/dino main_dino.py, vision_transformer.py, utils.py; methods
 * reference 1.13 and tricky point 8):
 * - multi-crop: 2 global + `localCrops` small crops (`multicrop.ts`); the teacher's input is the
 *   two global crops, the student's all of them; no pair of a crop with itself;
 * - per-crop augmentation: global crop 1 blur p 1.0; global crop 2 blur p 0.1 and solarize p 0.2;
 *   small crops blur p 0.5 (replacing augment.blur.p and augment.solarize.p);
 * - centre: a buffer ('dino.center', [K], zeros at start), updated in `afterStep`, i.e. after this
 *   step's loss used the old value: C <- m C + (1 - m) mean of the raw teacher outputs of both
 *   global crops;
 * - teacher temperature: linear warm-up from warmupTeacherTemperature to teacherTemperature over
 *   warmupTeacherEpochs (np.linspace, per epoch), student temperature `temperature` (0.1);
 * - head: `dino-head.ts`; its last layer gets no gradient during the first freezeLastLayerEpochs;
 * - teacher: parameters 'teacher.*' frozen, copied from the student in `afterInit`, then EMA after
 *   each optimizer step with the cosine momentum schedule (momentum -> 1), per iteration; the
 *   teacher runs in training mode without gradient (BatchNorm backbones use its own batch
 *   statistics, as the official teacher, which is never put in eval mode);
 * - kNN features and attention maps come from the teacher (eval_knn.py and visualize_attention.py
 *   load the teacher by default).
 * Not reproduced: the weight-decay cosine schedule (0.04 -> 0.4: the optimizer has one weight
 * decay), per-tensor gradient clipping at 3.0 and drop-path, which the training loop and ViT lack.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { AugmentConfig, RunConfig } from '../config/types';
import { outputSize } from '../data/augment';
import { dinoLoss, meanEntropy, nextCenter, teacherTemperatureAt } from '../losses/dino';
import { type DinoHeadSpec, dinoHead } from '../models/dino-head';
import { type Encoder, makeEncoder, type Normalization } from '../models/encoders';
import type { Ctx } from '../models/layers';
import { ParamStore } from '../models/params';
import { EmaTarget, momentumAt } from './ema';
import { dinoInfo } from './info/dino';
import { noGrad } from './moco';
import { multiCropAugment, multiCropFeatures, multiCropSpecOf, perCrop } from './multicrop';
import type { Method, MethodModel, StepContext } from './types';

/** Defaults for params a hand-written config leaves out (main_dino.py's defaults). */
export const DINO_DEFAULTS = {
  prototypes: 65536,
  temperature: 0.1,
  teacherTemperature: 0.04,
  warmupTeacherTemperature: 0.04,
  warmupTeacherEpochs: 0,
  centerMomentum: 0.9,
  momentum: 0.996,
  momentumSchedule: 'cosine' as const,
  normLastLayer: true,
  freezeLastLayerEpochs: 1,
  localCrops: 8,
  localCropSize: 96,
  localCropScale: [0.05, 0.4] as [number, number],
};

/** Blur / solarize probabilities of global crop 1, global crop 2 and every small crop. */
export const DINO_VIEW_AUGMENT = [
  { blur: 1.0, solarize: 0.0 },
  { blur: 0.1, solarize: 0.2 },
  { blur: 0.5, solarize: 0.0 },
] as const;

/** An encoder that can show its last block's [CLS] attention (the ViT). */
interface AttentionEncoder extends Encoder {
  attention(ctx: Ctx, x: tf.Tensor4D): tf.Tensor4D;
}

function hasAttention(e: Encoder): e is AttentionEncoder {
  return typeof (e as Partial<AttentionEncoder>).attention === 'function';
}

export interface DinoModel extends MethodModel {
  ema: EmaTarget;
  /** [K] centre of the teacher outputs. */
  center: tf.Variable;
  /** Student head outputs [V B, K] of every crop (training mode, with gradient). */
  student(views: tf.Tensor4D[], epoch: number): tf.Tensor2D;
  /** Teacher head outputs [2 B, K] of the global crops, without gradient. */
  teacher(views: tf.Tensor4D[]): tf.Tensor2D;
  /** Teacher outputs of the current step, waiting for `afterStep`'s centre update. */
  pendingTeacher(): tf.Tensor2D | null;
}

/** `imageSize`: side of the global crops (a ViT's learned position table is made for it). */
export function buildDino(config: RunConfig, norm: Normalization, imageSize?: number): DinoModel {
  const p = config.params;
  const k = p.prototypes ?? DINO_DEFAULTS.prototypes;
  const tauS = p.temperature ?? DINO_DEFAULTS.temperature;
  const tauT = p.teacherTemperature ?? DINO_DEFAULTS.teacherTemperature;
  const tauT0 = p.warmupTeacherTemperature ?? DINO_DEFAULTS.warmupTeacherTemperature;
  const warmup = p.warmupTeacherEpochs ?? DINO_DEFAULTS.warmupTeacherEpochs;
  const centerM = p.centerMomentum ?? DINO_DEFAULTS.centerMomentum;
  const tauBase = p.momentum ?? DINO_DEFAULTS.momentum;
  const schedule = p.momentumSchedule ?? DINO_DEFAULTS.momentumSchedule;
  const freezeLast = p.freezeLastLayerEpochs ?? DINO_DEFAULTS.freezeLastLayerEpochs;
  const crops = multiCropSpecOf(config, {
    globals: 2,
    locals: DINO_DEFAULTS.localCrops,
    localSize: DINO_DEFAULTS.localCropSize,
    localScale: DINO_DEFAULTS.localCropScale,
  });
  const views = crops.globals + crops.locals;
  const head: DinoHeadSpec = {
    hidden: config.head.hidden,
    bottleneck: config.head.out,
    out: k,
    normLastLayer: p.normLastLayer ?? DINO_DEFAULTS.normLastLayer,
  };

  const store = new ParamStore(config.seed);
  // Before any parameter exists, so every 'teacher.' parameter is made frozen.
  const ema = new EmaTarget(store, 'student.', 'teacher.');
  const studentEnc = makeEncoder('student.encoder', config.encoder, norm, imageSize);
  const teacherEnc = makeEncoder('teacher.encoder', config.encoder, norm, imageSize);
  const center = store.buffer('dino.center', [k], { kind: 'zeros' });
  let pending: tf.Tensor2D | null = null;

  const student = (xs: tf.Tensor4D[], epoch: number): tf.Tensor2D => {
    const ctx: Ctx = { ps: store, training: true };
    const h = multiCropFeatures(xs, (x) => studentEnc.forward(ctx, x));
    return dinoHead(ctx, 'student.head', h, head, { freezeLastLayer: epoch < freezeLast });
  };
  const teacher = (xs: tf.Tensor4D[]): tf.Tensor2D =>
    noGrad(xs[0], () => {
      const ctx: Ctx = { ps: store, training: true };
      const globals = xs.slice(0, crops.globals);
      return dinoHead(
        ctx,
        'teacher.head',
        multiCropFeatures(globals, (x) => teacherEnc.forward(ctx, x)),
        head,
      );
    });

  const model: DinoModel = {
    store,
    views,
    ema,
    center,
    student,
    teacher,
    pendingTeacher: () => pending,
    loss(xs, step) {
      if (xs.length !== views) throw new Error(`DINO: expected ${views} crops, got ${xs.length}`);
      const s = perCrop(student(xs, step.epoch), views);
      const tOut = teacher(xs);
      const t = perCrop(tOut, crops.globals);
      const temp = teacherTemperatureAt(step.epoch, tauT0, tauT, warmup);
      const loss = dinoLoss(s, t, center, tauS, temp);
      if (!store.dryRun) {
        pending?.dispose();
        pending = tf.keep(tOut);
      }
      const extra = tf.tidy(() => {
        // The collapse diagnostics of the paper's figure 7: teacher entropy and KL(P_t || P_s).
        const entropy = meanEntropy(tf.div(tf.sub(tOut, tf.reshape(center, [1, k])), temp) as tf.Tensor2D);
        return {
          teacher_entropy: entropy,
          kl: tf.sub(loss, entropy) as tf.Scalar,
          teacher_temp: tf.scalar(temp),
          ema_momentum: tf.scalar(momentumAt(tauBase, schedule, step.step, step.totalSteps)),
        };
      });
      return { loss, extra };
    },
    features(x) {
      return teacherEnc.forward({ ps: store, training: false }, x);
    },
    afterInit() {
      ema.copyFromOnline();
    },
    afterStep(step: StepContext) {
      if (pending) {
        const c = nextCenter(center, [pending], centerM);
        center.assign(c);
        c.dispose();
        pending.dispose();
        pending = null;
      }
      ema.update(momentumAt(tauBase, schedule, step.step, step.totalSteps));
    },
    viewAugment(base: AugmentConfig, view: number): AugmentConfig {
      const a = DINO_VIEW_AUGMENT[Math.min(view, 2)];
      return multiCropAugment(
        { ...base, blur: { ...base.blur, p: a.blur }, solarize: { ...base.solarize, p: a.solarize } },
        view,
        crops,
      );
    },
  };
  if (hasAttention(teacherEnc)) {
    model.attentionMaps = (x) => teacherEnc.attention({ ps: store, training: false }, x);
  }
  return model;
}

export const dino: Method = {
  info: dinoInfo,
  build: (config, norm, [h, w]) => buildDino(config, norm, outputSize(config.augment, h, w)),
};
