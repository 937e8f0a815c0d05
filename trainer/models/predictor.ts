/**
 * MLPs of the negative-free methods (BYOL, SimSiam): projectors and predictors whose bias and
 * BatchNorm placement differ from SimCLR's `projectionHead`.
 *
 * Each hidden layer is Linear + BN + ReLU; the last layer is a Linear, optionally followed by a
 * BatchNorm (affine or not). Parameter names: `<prefix>.fc1`, `<prefix>.bn1`, ..., `<prefix>.fcN`
 * (and `<prefix>.bnN` for the output BN).
 *
 * - BYOL projector and predictor (`byol/utils/networks.py` MLP): Linear(with bias) + BN + ReLU +
 *   Linear(no bias).
 * - SimSiam projector (`simsiam/builder.py`): [Linear(no bias) + BN + ReLU] x 2, Linear + BN(affine
 *   False). The official last Linear has a bias that is frozen (requires_grad False); the BN that
 *   follows subtracts it again, so it is left out here (identical outputs and gradients).
 * - SimSiam predictor: Linear(no bias) + BN + ReLU + Linear(with bias).
 */
import type * as tf from '@tensorflow/tfjs-core';
import { batchNorm, type Ctx, dense } from './layers';

export interface MlpSpec {
  /** Widths of the Linear + BN + ReLU layers. */
  hidden: number[];
  out: number;
  /** Bias on the hidden Linear layers (redundant before BN; BYOL keeps it, SimSiam does not). */
  hiddenBias: boolean;
  /** Bias on the output Linear layer. */
  outBias: boolean;
  /** BatchNorm after the output layer: none, with scale/shift ('affine'), or without ('plain'). */
  outBn: 'none' | 'affine' | 'plain';
}

export function mlp(ctx: Ctx, prefix: string, h: tf.Tensor2D, spec: MlpSpec): tf.Tensor2D {
  let x = h;
  spec.hidden.forEach((width, i) => {
    x = dense(ctx, `${prefix}.fc${i + 1}`, x, width, spec.hiddenBias);
    x = batchNorm(ctx, `${prefix}.bn${i + 1}`, x, { relu: true });
  });
  const last = spec.hidden.length + 1;
  x = dense(ctx, `${prefix}.fc${last}`, x, spec.out, spec.outBias);
  if (spec.outBn !== 'none')
    x = batchNorm(ctx, `${prefix}.bn${last}`, x, { affine: spec.outBn === 'affine' });
  return x;
}

/** BYOL's projector / predictor shape: Linear(bias) + BN + ReLU + Linear(no bias). */
export function byolMlpSpec(hidden: number[], out: number, outputBn = false): MlpSpec {
  return { hidden, out, hiddenBias: true, outBias: false, outBn: outputBn ? 'affine' : 'none' };
}

/** SimSiam's projector: bias-free hidden layers, output Linear + BN(affine False) when `outputBn`. */
export function simsiamProjectorSpec(hidden: number[], out: number, outputBn = true): MlpSpec {
  return { hidden, out, hiddenBias: false, outBias: !outputBn, outBn: outputBn ? 'plain' : 'none' };
}

/** SimSiam's predictor: Linear(no bias) + BN + ReLU + Linear(bias), a bottleneck (2048-512-2048). */
export function simsiamPredictorSpec(hidden: number, out: number): MlpSpec {
  return { hidden: [hidden], out, hiddenBias: false, outBias: true, outBn: 'none' };
}
