import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import type { OptimizerConfig } from '../../trainer/config/types';
import { ParamStore } from '../../trainer/models/params';
import { Optimizer } from '../../trainer/optim/optimizer';
import { learningRate, scaledLr } from '../../trainer/optim/schedule';
import { useBackend } from '../helpers/tf';

const base: OptimizerConfig = {
  kind: 'sgd',
  lr: 0.3,
  lrScaling: 'linear',
  momentum: 0.9,
  weightDecay: 0.01,
  trustCoefficient: 0.001,
  excludeBiasAndNorm: true,
};

describe('learning-rate schedule', () => {
  it('scales the base lr with the batch size (linear and sqrt rules)', () => {
    assert.equal(scaledLr({ ...base, lrScaling: 'linear' }, 4096), 0.3 * 16);
    assert.ok(Math.abs(scaledLr({ ...base, lr: 0.075, lrScaling: 'sqrt' }, 4096) - 4.8) < 1e-12);
    assert.equal(scaledLr({ ...base, lrScaling: 'none' }, 4096), 0.3);
  });

  it('warms up linearly to the peak and decays by cosine to 0', () => {
    const spe = 10;
    const total = 100;
    const s = { kind: 'cosine' as const, warmupEpochs: 2 };
    assert.ok(Math.abs(learningRate(0, 1, s, spe, total) - 1 / 20) < 1e-12);
    assert.ok(Math.abs(learningRate(19, 1, s, spe, total) - 1) < 1e-12);
    assert.ok(Math.abs(learningRate(20, 1, s, spe, total) - 1) < 1e-12);
    // Halfway through the cosine part (steps 20..100) the lr is half the peak.
    assert.ok(Math.abs(learningRate(60, 1, s, spe, total) - 0.5) < 1e-12);
    assert.ok(learningRate(100, 1, s, spe, total) < 1e-12);
    for (let t = 21; t < 100; t++)
      assert.ok(learningRate(t, 1, s, spe, total) < learningRate(t - 1, 1, s, spe, total));
  });
});

describe('optimizers', () => {
  before(() => useBackend('cpu'));

  function setup(cfg: OptimizerConfig) {
    const ps = new ParamStore(0);
    const w = ps.param('w', [3], { kind: 'ones' }, 'weight');
    const b = ps.param('b', [3], { kind: 'ones' }, 'bias');
    w.assign(tf.tensor1d([1, -2, 3]));
    b.assign(tf.tensor1d([0.5, 0.5, 0.5]));
    return { ps, w, b, opt: new Optimizer(cfg, ps.trainable()) };
  }
  const grads = (ps: ParamStore, g: number[]) =>
    Object.fromEntries(ps.trainable().map((p) => [p.variable.name, tf.tensor1d(g)]));

  it('SGD with momentum and weight decay follows PyTorch (v = m v + g + wd w; w -= lr v)', () => {
    const { ps, w, b, opt } = setup({ ...base, kind: 'sgd' });
    let wRef = [1, -2, 3];
    let vRef = [0, 0, 0];
    const g = [0.1, 0.2, -0.3];
    for (let step = 0; step < 3; step++) {
      opt.apply(ps.trainable(), grads(ps, g), 0.1);
      vRef = vRef.map((v, i) => 0.9 * v + g[i] + 0.01 * wRef[i]);
      wRef = wRef.map((x, i) => x - 0.1 * vRef[i]);
    }
    for (const [i, x] of (w.arraySync() as number[]).entries()) assert.ok(Math.abs(x - wRef[i]) < 1e-6);
    // The bias is excluded from weight decay.
    let bRef = [0.5, 0.5, 0.5];
    let vb = [0, 0, 0];
    for (let step = 0; step < 3; step++) {
      vb = vb.map((v, i) => 0.9 * v + g[i]);
      bRef = bRef.map((x, i) => x - 0.1 * vb[i]);
    }
    for (const [i, x] of (b.arraySync() as number[]).entries()) assert.ok(Math.abs(x - bRef[i]) < 1e-6);
    opt.dispose();
    ps.dispose();
  });

  it('LARS scales each weight tensor by eta ||w|| / ||g + wd w|| (SimCLR classic momentum)', () => {
    const { ps, w, opt } = setup({ ...base, kind: 'lars', trustCoefficient: 0.02 });
    let wRef = [1, -2, 3];
    let vRef = [0, 0, 0];
    const g = [0.1, 0.2, -0.3];
    const lr = 0.5;
    for (let step = 0; step < 3; step++) {
      opt.apply(ps.trainable(), grads(ps, g), lr);
      const gd = g.map((x, i) => x + 0.01 * wRef[i]);
      const wn = Math.hypot(...wRef);
      const gn = Math.hypot(...gd);
      const trust = (0.02 * wn) / gn;
      vRef = vRef.map((v, i) => 0.9 * v + lr * trust * gd[i]);
      wRef = wRef.map((x, i) => x - vRef[i]);
    }
    for (const [i, x] of (w.arraySync() as number[]).entries())
      assert.ok(Math.abs(x - wRef[i]) < 1e-6, `${x} vs ${wRef[i]}`);
    opt.dispose();
    ps.dispose();
  });
});
