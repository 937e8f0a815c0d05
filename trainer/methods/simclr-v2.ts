/**
 * SimCLR v2 (Chen, Kornblith, Swersky, Norouzi, Hinton; NeurIPS 2020): SimCLR v1's two views and
 * NT-Xent with a deeper projection head (models/simclr-v2-head.ts, 3 layers in the paper) whose
 * first layer is kept as part of the representation: `features()` returns the output of head
 * layer `ftProjSelector` (paper 1: encoder + first head layer; 0 = the encoder alone, as v1).
 *
 * Optional memory (`params.memory`, the paper's ImageNet setting, off by default): a momentum copy
 * of encoder and head ('target.*', EMA of the parameters, `momentum` 0.999 in the paper, BN
 * statistics from its own training-mode passes) embeds both views without gradient; the loss uses
 * a FIFO queue of those embeddings from earlier steps as extra negatives. The positives stay the
 * online network's other view. As in MoCo (moco.ts): the step's keys are enqueued after the loss,
 * in `afterStep`, where the EMA update for the next step also runs.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { RunConfig } from '../config/types';
import { ntXentMemoryLogits } from '../losses/ntxent-memory';
import { type Encoder, makeEncoder, type Normalization } from '../models/encoders';
import { type Ctx, l2Normalize } from '../models/layers';
import { ParamStore } from '../models/params';
import { simclrV2Head } from '../models/simclr-v2-head';
import { EmaTarget, momentumAt } from './ema';
import { simclrV2Info } from './info/simclr-v2';
import { noGrad } from './moco';
import { KeyQueue } from './queue';
import type { Method, MethodModel, StepContext } from './types';

/** Defaults for params a hand-written config may leave out (the presets set them all). */
export const SIMCLR_V2_DEFAULTS = {
  ftProjSelector: 1,
  memory: false,
  queueSize: 65536,
  momentum: 0.999,
  momentumSchedule: 'constant' as const,
};

export interface SimclrV2Model extends MethodModel {
  readonly encoder: Encoder;
  /** Online encoder + head outputs [h, layer 1, ..., z] for a batch (training mode). */
  embed(x: tf.Tensor4D): tf.Tensor2D[];
  /** The memory, when `params.memory` is on. */
  queue: KeyQueue | null;
  ema: EmaTarget | null;
  /** Memory-network embeddings [N, d] (normalised, no gradient), when the memory is on. */
  keys(x: tf.Tensor4D): tf.Tensor2D;
  pendingKeys(): tf.Tensor2D | null;
}

export function buildSimclrV2(config: RunConfig, norm: Normalization): SimclrV2Model {
  const p = config.params;
  const tau = p.temperature;
  const selector = p.ftProjSelector ?? SIMCLR_V2_DEFAULTS.ftProjSelector;
  const layers = config.head.hidden.length + 1;
  if (!Number.isInteger(selector) || selector < 0 || selector > layers) {
    throw new Error(
      `SimCLR v2: params.ftProjSelector (${selector}) must be between 0 (the encoder) and ${layers} (the head's last layer; head.hidden has ${config.head.hidden.length} layers).`,
    );
  }
  const useMemory = p.memory ?? SIMCLR_V2_DEFAULTS.memory;
  const momentum = p.momentum ?? SIMCLR_V2_DEFAULTS.momentum;
  const schedule = p.momentumSchedule ?? SIMCLR_V2_DEFAULTS.momentumSchedule;
  const batch = config.training.batchSize;

  const queueSize = p.queueSize ?? SIMCLR_V2_DEFAULTS.queueSize;
  if (useMemory && queueSize % (2 * batch) !== 0) {
    throw new Error(
      `SimCLR v2 memory: params.queueSize (${queueSize}) must be a multiple of 2 x training.batchSize = ${2 * batch} (both views' keys are written each step); use e.g. ${Math.max(1, Math.round(queueSize / (2 * batch))) * 2 * batch}.`,
    );
  }
  const store = new ParamStore(config.seed);
  // Frozen before any of its parameters exist: the memory network never reaches the optimizer.
  const ema = useMemory ? new EmaTarget(store, 'online.', 'target.') : null;
  const encoder: Encoder = makeEncoder('online.encoder', config.encoder, norm);
  const memEncoder: Encoder | null = useMemory ? makeEncoder('target.encoder', config.encoder, norm) : null;
  // Both views' keys go in each step: 2B rows per write.
  const queue = useMemory ? new KeyQueue(store, 'queue', queueSize, config.head.out, 2 * batch) : null;
  let pending: tf.Tensor2D | null = null;

  const embed = (x: tf.Tensor4D): tf.Tensor2D[] => {
    const ctx: Ctx = { ps: store, training: true };
    return simclrV2Head(ctx, 'online.head', encoder.forward(ctx, x), config.head);
  };

  const keys = (x: tf.Tensor4D): tf.Tensor2D => {
    if (!memEncoder) throw new Error('SimCLR v2: keys() needs params.memory = true.');
    return noGrad(x, () => {
      // Training-mode BN, as MoCo's key encoder (reference tricky point 14).
      const ctx: Ctx = { ps: store, training: true };
      const outs = simclrV2Head(ctx, 'target.head', memEncoder.forward(ctx, x), config.head);
      return l2Normalize(outs[outs.length - 1]);
    });
  };

  return {
    store,
    views: 2,
    encoder,
    queue,
    ema,
    embed,
    keys,
    pendingKeys: () => pending,
    loss(views) {
      const b = views[0].shape[0];
      // Both views through BatchNorm together, as SimCLR's global BN over the 2B batch.
      const x = tf.concat(views, 0);
      const outs = embed(x);
      const z = outs[outs.length - 1];
      const z1 = tf.slice(z, [0, 0], [b, -1]) as tf.Tensor2D;
      const z2 = tf.slice(z, [b, 0], [b, -1]) as tf.Tensor2D;
      const k = queue ? keys(x) : null;
      const r = ntXentMemoryLogits(z1, z2, queue ? (queue.keys as tf.Tensor2D) : null, tau);
      const extra: Record<string, tf.Scalar> = tf.tidy(() => {
        const target = Int32Array.from({ length: 2 * b }, (_, i) => (i + b) % (2 * b));
        const e: Record<string, tf.Scalar> = {
          pos_sim: tf.mul(tf.mean(r.positive), tau) as tf.Scalar,
          // The positive beats every negative, in-batch and memory: SimCLR's contrast accuracy.
          contrast_acc: tf.mean(
            tf.cast(tf.equal(tf.argMax(r.logits, 1), tf.tensor1d(target, 'int32')), 'float32'),
          ) as tf.Scalar,
        };
        if (queue) e.queue_fill = queue.fillFraction();
        return e;
      });
      if (k && !store.dryRun) {
        pending?.dispose();
        pending = tf.keep(k);
      }
      return { loss: r.loss, extra };
    },
    features(x) {
      return tf.tidy(() => {
        const ctx: Ctx = { ps: store, training: false };
        const outs = simclrV2Head(ctx, 'online.head', encoder.forward(ctx, x), config.head, selector);
        return outs[selector];
      });
    },
    afterInit() {
      ema?.copyFromOnline();
    },
    afterStep(ctx: StepContext) {
      if (!queue || !ema) return;
      if (pending) {
        queue.enqueue(pending);
        pending.dispose();
        pending = null;
      }
      ema.update(momentumAt(momentum, schedule, ctx.step + 1, ctx.totalSteps));
    },
  };
}

export const simclrV2: Method = {
  info: simclrV2Info,
  build: (config, norm) => buildSimclrV2(config, norm),
};
