/**
 * Momentum (EMA) copies of a network: MoCo's key encoder, BYOL's target, MoCo v3's and DINO's
 * teachers. The copy lives in the same ParamStore under its own prefix (frozen: no optimizer
 * touches it), so checkpoints carry it. As in the official PyTorch code, only parameters are
 * averaged; the copy's BatchNorm statistics come from its own forward passes.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ParamStore } from '../models/params';

/**
 * EMA coefficient at `step` of `totalSteps`: constant, or BYOL's cosine rise from `base` to 1:
 * tau_k = 1 - (1 - base) (cos(pi k / K) + 1) / 2.
 */
export function momentumAt(
  base: number,
  schedule: 'constant' | 'cosine',
  step: number,
  totalSteps: number,
): number {
  if (schedule === 'constant') return base;
  const k = Math.min(step, totalSteps);
  return 1 - ((1 - base) * (Math.cos((Math.PI * k) / Math.max(1, totalSteps)) + 1)) / 2;
}

export class EmaTarget {
  /** online parameter name -> target parameter name */
  private pairs: [string, string][] = [];

  constructor(
    private readonly store: ParamStore,
    private readonly onlinePrefix: string,
    private readonly targetPrefix: string,
  ) {
    store.freeze(targetPrefix);
  }

  private resolvePairs(): [string, string][] {
    if (this.pairs.length) return this.pairs;
    for (const p of this.store.allParams()) {
      if (!p.name.startsWith(this.onlinePrefix)) continue;
      const target = this.targetPrefix + p.name.slice(this.onlinePrefix.length);
      if (this.store.params.has(target)) this.pairs.push([p.name, target]);
    }
    if (!this.pairs.length) {
      throw new Error(
        `EMA: no parameters of '${this.targetPrefix}' mirror '${this.onlinePrefix}'; run a forward pass of both first.`,
      );
    }
    return this.pairs;
  }

  /** Copies the online network (parameters and BatchNorm statistics) into the target. */
  copyFromOnline(): void {
    for (const [o, t] of this.resolvePairs())
      this.store.params.get(t)!.variable.assign(this.store.params.get(o)!.variable);
    for (const [name, v] of this.store.buffers) {
      if (!name.startsWith(this.onlinePrefix)) continue;
      const t = this.store.buffers.get(this.targetPrefix + name.slice(this.onlinePrefix.length));
      t?.assign(v);
    }
  }

  /** target <- m * target + (1 - m) * online, for every parameter. */
  update(m: number): void {
    tf.tidy(() => {
      for (const [o, t] of this.resolvePairs()) {
        const tv = this.store.params.get(t)!.variable;
        tv.assign(tf.add(tf.mul(tv, m), tf.mul(this.store.params.get(o)!.variable, 1 - m)));
      }
    });
  }
}
