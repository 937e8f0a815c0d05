/**
 * SGD with momentum, LARS and AdamW, with per-tensor rules and checkpointable slots.
 *
 * SGD follows PyTorch: v <- m v + (g + wd w); w <- w - lr v.
 * LARS follows SimCLR's `lars_optimizer.py` ("classic momentum"): g' = g + wd w;
 * trust = eta ||w|| / ||g'|| (1 when either norm is 0); v <- m v + lr trust g'; w <- w - v.
 * Biases and BatchNorm parameters (ndim <= 1) are excluded from weight decay and from the trust
 * ratio when `excludeBiasAndNorm` is set, as in SimCLR, BYOL and MoCo v3.
 * AdamW follows torch.optim.AdamW (MoCo v3 ViT, DINO), with beta1 = `momentum`, beta2 = `beta2`,
 * eps 1e-8 and decoupled weight decay: w <- w (1 - lr wd); m <- b1 m + (1 - b1) g;
 * v <- b2 v + (1 - b2) g^2; w <- w - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
 * `excludeBiasAndNorm` exempts biases and norms from its decay (MoCo v3 decays every tensor).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { OptimizerConfig } from '../config/types';
import type { Param } from '../models/params';

/** torch.optim.AdamW's defaults, which MoCo v3 and DINO keep. */
export const ADAMW_BETA2 = 0.999;
export const ADAMW_EPS = 1e-8;

export class Optimizer {
  /** Momentum slot per parameter, keyed by parameter name. */
  readonly slots = new Map<string, tf.Variable>();
  /** AdamW only: second-moment slot per parameter. */
  readonly secondSlots = new Map<string, tf.Variable>();
  /** AdamW only: updates applied so far (bias correction), checkpointed with the slots. */
  private readonly stepCount: tf.Variable | null = null;

  constructor(
    readonly cfg: OptimizerConfig,
    params: Param[],
  ) {
    for (const p of params) {
      const zeros = tf.zerosLike(p.variable);
      this.slots.set(p.name, tf.variable(zeros, false, `${p.variable.name}/momentum`));
      if (cfg.kind === 'adamw')
        this.secondSlots.set(p.name, tf.variable(zeros, false, `${p.variable.name}/second_moment`));
      zeros.dispose();
    }
    if (cfg.kind === 'adamw') this.stepCount = tf.variable(tf.scalar(0), false);
  }

  private excluded(p: Param): boolean {
    return this.cfg.excludeBiasAndNorm && p.role !== 'weight';
  }

  /**
   * Applies one update with learning rate `lr` (`fixedLr` for parameters marked `fixedLr`).
   * `grads` is keyed by variable name.
   */
  apply(params: Param[], grads: Record<string, tf.Tensor>, scheduledLr: number, fixedLr = scheduledLr): void {
    if (this.cfg.kind === 'adamw') {
      this.applyAdamW(params, grads, scheduledLr, fixedLr);
      return;
    }
    const { momentum, weightDecay, kind, trustCoefficient } = this.cfg;
    tf.tidy(() => {
      for (const p of params) {
        const g0 = grads[p.variable.name];
        if (!g0) continue;
        const lr = p.fixedLr ? fixedLr : scheduledLr;
        const w = p.variable;
        const slot = this.slots.get(p.name)!;
        const excluded = this.excluded(p);
        const g = !excluded && weightDecay > 0 ? tf.add(g0, tf.mul(w, weightDecay)) : g0;
        if (kind === 'sgd') {
          const v = tf.add(tf.mul(slot, momentum), g);
          slot.assign(v);
          w.assign(tf.sub(w, tf.mul(v, lr)));
        } else {
          let scaled: tf.Tensor = tf.scalar(lr);
          if (!excluded) {
            const wn = tf.norm(w);
            const gn = tf.norm(g);
            const ratio = tf.div(tf.mul(wn, trustCoefficient), gn);
            const trust = tf.where(
              tf.logicalAnd(tf.greater(wn, 0), tf.greater(gn, 0)),
              ratio,
              tf.onesLike(ratio),
            );
            scaled = tf.mul(trust, lr);
          }
          const v = tf.add(tf.mul(slot, momentum), tf.mul(g, scaled));
          slot.assign(v);
          w.assign(tf.sub(w, v));
        }
      }
    });
  }

  private applyAdamW(
    params: Param[],
    grads: Record<string, tf.Tensor>,
    scheduledLr: number,
    fixedLr: number,
  ): void {
    const { momentum: beta1, weightDecay } = this.cfg;
    const beta2 = this.cfg.beta2 ?? ADAMW_BETA2;
    const counter = this.stepCount as tf.Variable;
    // Shared by every parameter, as every parameter with a gradient is updated each step.
    const t = counter.dataSync()[0] + 1;
    const bc1 = 1 - beta1 ** t;
    const sqrtBc2 = Math.sqrt(1 - beta2 ** t);
    tf.tidy(() => {
      for (const p of params) {
        const g = grads[p.variable.name];
        if (!g) continue;
        const lr = p.fixedLr ? fixedLr : scheduledLr;
        const w = p.variable;
        const m1 = this.slots.get(p.name)!;
        const m2 = this.secondSlots.get(p.name)!;
        const decayed = !this.excluded(p) && weightDecay > 0 ? tf.mul(w, 1 - lr * weightDecay) : w;
        const m = tf.add(tf.mul(m1, beta1), tf.mul(g, 1 - beta1));
        const v = tf.add(tf.mul(m2, beta2), tf.mul(tf.square(g), 1 - beta2));
        m1.assign(m);
        m2.assign(v);
        const denom = tf.add(tf.div(tf.sqrt(v), sqrtBc2), ADAMW_EPS);
        w.assign(tf.sub(decayed, tf.mul(tf.div(m, denom), lr / bc1)));
      }
      counter.assign(tf.scalar(t));
    });
  }

  /**
   * Slots for checkpointing, named `optimizer/<param>/momentum` (AdamW: the first moment), and for
   * AdamW `optimizer/<param>/second_moment` and `optimizer/step`.
   */
  state(): Map<string, tf.Variable> {
    const m = new Map<string, tf.Variable>();
    for (const [name, v] of this.slots) m.set(`optimizer/${name}/momentum`, v);
    for (const [name, v] of this.secondSlots) m.set(`optimizer/${name}/second_moment`, v);
    if (this.stepCount) m.set('optimizer/step', this.stepCount);
    return m;
  }

  dispose(): void {
    for (const v of this.slots.values()) v.dispose();
    for (const v of this.secondSlots.values()) v.dispose();
    this.stepCount?.dispose();
    this.slots.clear();
    this.secondSlots.clear();
  }
}
