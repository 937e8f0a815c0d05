/**
 * SGD with momentum and LARS, with per-tensor rules and checkpointable slots.
 *
 * SGD follows PyTorch: v <- m v + (g + wd w); w <- w - lr v.
 * LARS follows SimCLR's `lars_optimizer.py` ("classic momentum"): g' = g + wd w;
 * trust = eta ||w|| / ||g'|| (1 when either norm is 0); v <- m v + lr trust g'; w <- w - v.
 * Biases and BatchNorm parameters (ndim <= 1) are excluded from weight decay and from the trust
 * ratio when `excludeBiasAndNorm` is set, as in SimCLR, BYOL and MoCo v3.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { OptimizerConfig } from '../config/types';
import type { Param } from '../models/params';

export class Optimizer {
  /** Momentum slot per parameter, keyed by parameter name. */
  readonly slots = new Map<string, tf.Variable>();

  constructor(
    readonly cfg: OptimizerConfig,
    params: Param[],
  ) {
    for (const p of params) {
      const zeros = tf.zerosLike(p.variable);
      this.slots.set(p.name, tf.variable(zeros, false, `${p.variable.name}/momentum`));
      zeros.dispose();
    }
  }

  private excluded(p: Param): boolean {
    return this.cfg.excludeBiasAndNorm && p.role !== 'weight';
  }

  /**
   * Applies one update with learning rate `lr` (`fixedLr` for parameters marked `fixedLr`).
   * `grads` is keyed by variable name.
   */
  apply(params: Param[], grads: Record<string, tf.Tensor>, scheduledLr: number, fixedLr = scheduledLr): void {
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

  /** Slots for checkpointing, named `optimizer/<param>/momentum`. */
  state(): Map<string, tf.Variable> {
    const m = new Map<string, tf.Variable>();
    for (const [name, v] of this.slots) m.set(`optimizer/${name}/momentum`, v);
    return m;
  }

  dispose(): void {
    for (const v of this.slots.values()) v.dispose();
    this.slots.clear();
  }
}
