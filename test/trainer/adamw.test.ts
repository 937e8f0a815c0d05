/**
 * AdamW against a float64 transcription of torch.optim.AdamW's update (decoupled weight decay, bias
 * correction, eps added after the bias-corrected square root), over several steps with changing
 * gradients and learning rates; the bias/norm exclusion; fixed-lr parameters; checkpoint state.
 */
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import type { OptimizerConfig } from '../../trainer/config/types';
import { ParamStore } from '../../trainer/models/params';
import { Optimizer } from '../../trainer/optim/optimizer';
import { Rng } from '../../trainer/rng';
import { useBackend } from '../helpers/tf';

const cfg: OptimizerConfig = {
  kind: 'adamw',
  lr: 1.5e-4,
  lrScaling: 'linear',
  momentum: 0.9,
  weightDecay: 0.1,
  trustCoefficient: 0.001,
  excludeBiasAndNorm: false,
  beta2: 0.95,
};

/** One tensor's AdamW state in float64, updated as torch.optim.AdamW (foreach=False) does. */
class AdamW64 {
  m: number[];
  v: number[];
  t = 0;
  constructor(
    public w: number[],
    private readonly b1: number,
    private readonly b2: number,
    private readonly wd: number,
    private readonly eps = 1e-8,
  ) {
    this.m = w.map(() => 0);
    this.v = w.map(() => 0);
  }
  step(g: number[], lr: number): void {
    this.t += 1;
    const bc1 = 1 - this.b1 ** this.t;
    const bc2 = 1 - this.b2 ** this.t;
    for (let i = 0; i < this.w.length; i++) {
      this.w[i] *= 1 - lr * this.wd;
      this.m[i] = this.b1 * this.m[i] + (1 - this.b1) * g[i];
      this.v[i] = this.b2 * this.v[i] + (1 - this.b2) * g[i] * g[i];
      const denom = Math.sqrt(this.v[i]) / Math.sqrt(bc2) + this.eps;
      this.w[i] -= (lr / bc1) * (this.m[i] / denom);
    }
  }
}

function close(got: ArrayLike<number>, ref: number[], tol: number, what: string): void {
  for (let i = 0; i < ref.length; i++)
    assert.ok(Math.abs(got[i] - ref[i]) <= tol, `${what}[${i}]: ${got[i]} vs ${ref[i]}`);
}

describe('AdamW', () => {
  before(() => useBackend('cpu'));

  it('matches a float64 AdamW over 6 steps (weights and biases both decayed)', () => {
    const ps = new ParamStore(0);
    const rng = new Rng(1);
    const w0 = Array.from({ length: 5 }, () => rng.normal());
    const b0 = Array.from({ length: 3 }, () => rng.normal());
    ps.param('w', [5], { kind: 'zeros' }, 'weight').assign(tf.tensor1d(w0));
    ps.param('b', [3], { kind: 'zeros' }, 'bias').assign(tf.tensor1d(b0));
    const lrs = [0.1, 0.05, 0.2, 0.01, 0.3, 0.07];
    const opt = new Optimizer(cfg, ps.trainable());
    const refW = new AdamW64([...w0], 0.9, 0.95, 0.1);
    const refB = new AdamW64([...b0], 0.9, 0.95, 0.1);
    for (const lr of lrs) {
      // Gradients of varied sign and scale (1e-3 .. 1), including an exact zero.
      const gw = Array.from({ length: 5 }, (_, i) => (i === 2 ? 0 : rng.normal() * 10 ** -(i % 4)));
      const gb = Array.from({ length: 3 }, () => rng.normal());
      const params = ps.trainable();
      const grads = {
        [ps.params.get('w')!.variable.name]: tf.tensor1d(gw),
        [ps.params.get('b')!.variable.name]: tf.tensor1d(gb),
      };
      opt.apply(params, grads, lr);
      refW.step(gw, lr);
      refB.step(gb, lr);
    }
    close(ps.params.get('w')!.variable.dataSync(), refW.w, 1e-5, 'w');
    close(ps.params.get('b')!.variable.dataSync(), refB.w, 1e-5, 'b');
    // The moments and step counter are what a checkpoint restores.
    const state = opt.state();
    assert.deepEqual([...state.keys()].sort(), [
      'optimizer/b/momentum',
      'optimizer/b/second_moment',
      'optimizer/step',
      'optimizer/w/momentum',
      'optimizer/w/second_moment',
    ]);
    assert.equal(state.get('optimizer/step')!.dataSync()[0], lrs.length);
    close(state.get('optimizer/w/momentum')!.dataSync(), refW.m, 1e-6, 'm');
    close(state.get('optimizer/w/second_moment')!.dataSync(), refW.v, 1e-6, 'v');
    opt.dispose();
    ps.dispose();
  });

  it('the first step moves each weight by about lr (Adam is scale-free), decay aside', () => {
    const ps = new ParamStore(0);
    const w = ps.param('w', [2], { kind: 'zeros' }, 'weight');
    w.assign(tf.tensor1d([1, 1]));
    const opt = new Optimizer({ ...cfg, weightDecay: 0 }, ps.trainable());
    opt.apply(ps.trainable(), { [w.name]: tf.tensor1d([1e-3, -50]) }, 0.01);
    close(w.dataSync(), [0.99, 1.01], 1e-6, 'w');
  });

  it('excludeBiasAndNorm exempts biases and norms from the decay only', () => {
    const ps = new ParamStore(0);
    const b = ps.param('b', [1], { kind: 'ones' }, 'bias');
    const n = ps.param('n', [1], { kind: 'ones' }, 'norm');
    const w = ps.param('w', [1], { kind: 'ones' }, 'weight');
    const opt = new Optimizer({ ...cfg, excludeBiasAndNorm: true, beta2: 0.999 }, ps.trainable());
    const zero = () => tf.tensor1d([0]);
    opt.apply(ps.trainable(), { [b.name]: zero(), [n.name]: zero(), [w.name]: zero() }, 0.5);
    close(b.dataSync(), [1], 0, 'b');
    close(n.dataSync(), [1], 0, 'n');
    close(w.dataSync(), [1 - 0.5 * 0.1], 1e-7, 'w');
  });

  it('fixed-lr parameters use the fixed rate for both the step and the decay', () => {
    const ps = new ParamStore(0);
    const w = ps.param('w', [1], { kind: 'ones' }, 'weight');
    ps.params.get('w')!.fixedLr = true;
    const opt = new Optimizer(cfg, ps.trainable());
    opt.apply(ps.trainable(), { [w.name]: tf.tensor1d([2]) }, 0.001, 0.2);
    const ref = new AdamW64([1], 0.9, 0.95, 0.1);
    ref.step([2], 0.2);
    close(w.dataSync(), ref.w, 1e-6, 'w');
  });
});
