/**
 * SimSiam (Chen & He, CVPR 2021): one network, two views; the predictor output of each view
 * regresses the other view's projection, which is treated as a constant (stop-gradient). No
 * negatives, no momentum encoder, no large batch.
 *
 * Faithful details (methods reference 1.11 and tricky points 1, 14):
 * - loss `-1/2 cos(p1, sg z2) - 1/2 cos(p2, sg z1)`, range [-1, 1];
 * - projector: [Linear(no bias) + BN + ReLU] per `head.hidden` entry, then Linear + BN(affine
 *   False) when `head.outputBn` (the official 3-layer 2048-d projector is hidden [2048, 2048]);
 * - predictor: Linear(no bias) + BN + ReLU -> Linear(bias), bottleneck `params.predictorHidden`;
 * - `params.fixPredictorLr` (--fix-pred-lr): predictor parameters are trained at the peak lr
 *   throughout (`Param.fixedLr`);
 * - `params.stopGradient: false` is the paper's ablation that collapses (figure 2);
 * - each view goes through BatchNorm on its own, as the official forward(x1, x2).
 */
import * as tf from '@tensorflow/tfjs-core';
import { collapseStd, simsiamLoss } from '../losses/cosine';
import { makeEncoder } from '../models/encoders';
import type { Ctx } from '../models/layers';
import { ParamStore } from '../models/params';
import { mlp, simsiamPredictorSpec, simsiamProjectorSpec } from '../models/predictor';
import { simsiamInfo } from './info/simsiam';
import type { Method } from './types';

/** Defaults when the config's params leave them out (main_simsiam.py's recommended command). */
export const SIMSIAM_DEFAULTS = { predictorHidden: 512, stopGradient: true, fixPredictorLr: true } as const;

export const PREDICTOR_PREFIX = 'online.predictor.';

export const simsiam: Method = {
  info: simsiamInfo,
  build(config, norm) {
    const store = new ParamStore(config.seed);
    const encoder = makeEncoder('online.encoder', config.encoder, norm);
    const projector = simsiamProjectorSpec(config.head.hidden, config.head.out, config.head.outputBn);
    const predictor = simsiamPredictorSpec(
      config.params.predictorHidden ?? SIMSIAM_DEFAULTS.predictorHidden,
      config.head.out,
    );
    const stopGradient = config.params.stopGradient ?? SIMSIAM_DEFAULTS.stopGradient;
    const fixPredictorLr = config.params.fixPredictorLr ?? SIMSIAM_DEFAULTS.fixPredictorLr;

    const markFixedLr = () => {
      for (const p of store.allParams()) if (p.name.startsWith(PREDICTOR_PREFIX)) p.fixedLr = fixPredictorLr;
    };
    const forward = (ctx: Ctx, x: tf.Tensor4D) => {
      const z = mlp(ctx, 'online.projector', encoder.forward(ctx, x), projector);
      return { z, p: mlp(ctx, 'online.predictor', z, predictor) };
    };

    return {
      store,
      views: 2,
      loss(views) {
        const ctx: Ctx = { ps: store, training: true };
        const a = forward(ctx, views[0]);
        const b = forward(ctx, views[1]);
        // Cheap (a walk over the parameter list); covers callers that skip afterInit.
        markFixedLr();
        const loss = simsiamLoss(a.p, b.p, a.z, b.z, stopGradient);
        const std = tf.div(tf.add(collapseStd(a.z), collapseStd(b.z)), 2) as tf.Scalar;
        return { loss, extra: { collapse_std: std } };
      },
      features(x) {
        return encoder.forward({ ps: store, training: false }, x);
      },
      afterInit: markFixedLr,
    };
  },
};
