/**
 * BYOL (Grill et al., NeurIPS 2020): an online network (encoder -> projector -> predictor) learns to
 * predict, for each view, the target network's projection of the other view. The target network
 * (encoder -> projector) is an exponential moving average of the online one and receives no
 * gradient; there are no negatives.
 *
 * Faithful details (methods reference 1.10 and tricky points 1, 2, 14):
 * - loss: mean over the batch of the symmetric *sum* of `2 - 2 cos(p, sg z')`, range [0, 8];
 * - target outputs are detached (`byolLoss`) and the `target.` prefix is frozen (no optimizer);
 * - EMA after the optimizer step (`afterStep`), tau_k rising from tau_base to 1 by the cosine
 *   schedule, per iteration; only parameters are averaged, the target's BatchNorm statistics come
 *   from its own forward passes, in training mode like the online network's;
 * - each view goes through BatchNorm on its own (the official code calls the network per view);
 * - asymmetric augmentation: view 0 blur p 1.0, solarize p 0; view 1 blur p 0.1, solarize p 0.2.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { AugmentConfig } from '../config/types';
import { byolLoss, collapseStd } from '../losses/cosine';
import { makeEncoder } from '../models/encoders';
import type { Ctx } from '../models/layers';
import { ParamStore } from '../models/params';
import { byolMlpSpec, mlp } from '../models/predictor';
import { EmaTarget, momentumAt } from './ema';
import { byolInfo } from './info/byol';
import type { Method } from './types';

/** BYOL's per-view blur / solarize probabilities (byol/configs/byol.py `augmentation`). */
export const BYOL_VIEW_AUGMENT = [
  { blur: 1.0, solarize: 0.0 },
  { blur: 0.1, solarize: 0.2 },
] as const;

/** Defaults when the config's params leave them out (the paper's 1000-epoch values). */
export const BYOL_DEFAULTS = { momentum: 0.996, momentumSchedule: 'cosine', predictorHidden: 4096 } as const;

export const byol: Method = {
  info: byolInfo,
  build(config, norm) {
    const store = new ParamStore(config.seed);
    // Created before any forward pass so every `target.` parameter is made frozen.
    const ema = new EmaTarget(store, 'online.', 'target.');
    const onlineEncoder = makeEncoder('online.encoder', config.encoder, norm);
    const targetEncoder = makeEncoder('target.encoder', config.encoder, norm);
    const tauBase = config.params.momentum ?? BYOL_DEFAULTS.momentum;
    const schedule = config.params.momentumSchedule ?? BYOL_DEFAULTS.momentumSchedule;
    const projector = byolMlpSpec(config.head.hidden, config.head.out, config.head.outputBn);
    const predictor = byolMlpSpec(
      [config.params.predictorHidden ?? BYOL_DEFAULTS.predictorHidden],
      config.head.out,
    );

    const online = (ctx: Ctx, x: tf.Tensor4D) => {
      const z = mlp(ctx, 'online.projector', onlineEncoder.forward(ctx, x), projector);
      return { z, p: mlp(ctx, 'online.predictor', z, predictor) };
    };
    const target = (ctx: Ctx, x: tf.Tensor4D) =>
      mlp(ctx, 'target.projector', targetEncoder.forward(ctx, x), projector);

    return {
      store,
      views: 2,
      loss(views, step) {
        const ctx: Ctx = { ps: store, training: true };
        const [v1, v2] = views;
        const o1 = online(ctx, v1);
        const o2 = online(ctx, v2);
        const t1 = target(ctx, v1);
        const t2 = target(ctx, v2);
        const loss = byolLoss(o1.p, o2.p, t1, t2);
        const std = tf.div(tf.add(collapseStd(o1.z), collapseStd(o2.z)), 2) as tf.Scalar;
        // The coefficient this step's afterStep will use.
        const m = momentumAt(tauBase, schedule, step.step, step.totalSteps);
        return { loss, extra: { collapse_std: std, ema_momentum: tf.scalar(m) } };
      },
      features(x) {
        return onlineEncoder.forward({ ps: store, training: false }, x);
      },
      afterInit() {
        ema.copyFromOnline();
      },
      afterStep(step) {
        ema.update(momentumAt(tauBase, schedule, step.step, step.totalSteps));
      },
      viewAugment(base: AugmentConfig, view: number): AugmentConfig {
        const v = BYOL_VIEW_AUGMENT[view % 2];
        return {
          ...base,
          blur: { ...base.blur, p: v.blur },
          solarize: { ...base.solarize, p: v.solarize },
        };
      },
    };
  },
};
