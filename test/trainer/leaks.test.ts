/**
 * Memory across training steps: the memory-lean backward pass against tfjs-core's own (identical
 * gradients, lower peak), and a flat tensor count across steps for every registered method.
 */
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import {
  installLeanBackprop,
  leanBackpropInstalled,
  uninstallLeanBackprop,
} from '../../trainer/backend/backprop';
import { batchNormTrain } from '../../trainer/backend/batchnorm';
import { BASE_DEFAULTS, deepMerge } from '../../trainer/config/config';
import type { RunConfig } from '../../trainer/config/types';
import { outputSize } from '../../trainer/data/augment';
import { METHODS } from '../../trainer/methods';
import { Optimizer } from '../../trainer/optim/optimizer';
import { dataInfo, stepCtx } from '../helpers/method-ctx';
import { uniformArray } from '../helpers/random';
import { useBackend } from '../helpers/tf';

/**
 * A graph with the cases a freeing backward pass can get wrong: a tensor used three times (its
 * gradient is accumulated), gradients passed through unchanged (reshape, identity-like add of
 * zero), a multi-output op (split), a custom gradient (BatchNorm), and a branch off the path.
 */
function lossOf(x: tf.Tensor4D, w1: tf.Tensor4D, w2: tf.Tensor4D, g: tf.Tensor1D, b: tf.Tensor1D): tf.Scalar {
  const h = tf.conv2d(x, w1, 1, 'same');
  const { y } = batchNormTrain(h, g, b, 1e-5, true);
  const h2 = tf.conv2d(y as tf.Tensor4D, w2, 2, 'same');
  const [p, q] = tf.split(h2, 2, 3);
  const r = tf.reshape(tf.add(tf.mul(p, q), tf.mul(p, 0.5)), [-1]);
  const skip = tf.sum(tf.mul(y, y));
  tf.sum(tf.square(h)); // off the path to the loss: its saved tensors must be freed too
  return tf.add(tf.add(tf.sum(tf.mul(r, r)), tf.mul(skip, 0.01)), tf.sum(tf.mul(p, 0))) as tf.Scalar;
}

function inputs() {
  return [
    tf.tensor4d(uniformArray(2 * 6 * 6 * 3, 1), [2, 6, 6, 3]),
    tf.tensor4d(uniformArray(3 * 3 * 3 * 4, 2), [3, 3, 3, 4]),
    tf.tensor4d(uniformArray(3 * 3 * 4 * 6, 3), [3, 3, 4, 6]),
    tf.tensor1d(uniformArray(4, 4)),
    tf.tensor1d(uniformArray(4, 5)),
  ] as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor1D, tf.Tensor1D];
}

function grads(withDy: boolean): { values: Float32Array[]; tensorsAfter: number; tensorsBefore: number } {
  const xs = inputs();
  const dy = withDy ? tf.scalar(1.5) : undefined;
  const before = tf.memory().numTensors;
  const { value, grads: gs } = tf.engine().gradients(() => lossOf(...xs), xs, dy);
  const values = [value, ...gs].map((t) => Float32Array.from(t.dataSync()));
  tf.dispose([value, ...gs]);
  const after = tf.memory().numTensors;
  tf.dispose([...xs, ...(dy ? [dy] : [])]);
  return { values, tensorsAfter: after, tensorsBefore: before };
}

describe('memory-lean backward pass', function () {
  this.timeout(120_000);
  before(() => useBackend('cpu'));
  after(() => installLeanBackprop());

  for (const withDy of [false, true]) {
    it(`gives exactly tfjs-core's gradients and leaks nothing${withDy ? ' (with an explicit dy)' : ''}`, () => {
      uninstallLeanBackprop();
      assert.ok(!leanBackpropInstalled());
      const stock = grads(withDy);
      installLeanBackprop();
      assert.ok(leanBackpropInstalled());
      const lean = grads(withDy);
      assert.equal(lean.values.length, stock.values.length);
      lean.values.forEach((v, i) => {
        assert.deepEqual(v, stock.values[i], `output ${i} differs`);
        assert.ok(
          v.some((e) => e !== 0),
          `output ${i} is all zeros`,
        );
      });
      assert.equal(lean.tensorsAfter, lean.tensorsBefore, 'lean backprop leaked tensors');
      assert.equal(stock.tensorsAfter, stock.tensorsBefore);
    });
  }

  it('peaks lower than tfjs-core on a deep chain', async () => {
    const depth = 12;
    const x = tf.tensor4d(uniformArray(2 * 12 * 12 * 8, 6), [2, 12, 12, 8]);
    const ws = Array.from({ length: depth }, (_, i) =>
      tf.tensor4d(
        uniformArray(3 * 3 * 8 * 8, 10 + i).map((v) => v * 0.3),
        [3, 3, 8, 8],
      ),
    );
    const g = tf.ones([8]) as tf.Tensor1D;
    const b = tf.zeros([8]) as tf.Tensor1D;
    const f = () => {
      let h: tf.Tensor4D = x;
      for (const w of ws) h = batchNormTrain(tf.conv2d(h, w, 1, 'same'), g, b, 1e-5, true).y as tf.Tensor4D;
      return tf.sum(h) as tf.Scalar;
    };
    const peak = async () => {
      const p = await tf.profile(() => {
        const r = tf.engine().gradients(f, ws);
        tf.dispose([r.value, ...r.grads]);
      });
      return p.peakBytes;
    };
    uninstallLeanBackprop();
    const stockPeak = await peak();
    installLeanBackprop();
    const leanPeak = await peak();
    const act = 2 * 12 * 12 * 8 * 4;
    console.log(
      `      peak during forward + backward, ${depth} conv+BN+ReLU layers: tfjs-core ${(stockPeak / act).toFixed(1)}, lean ${(leanPeak / act).toFixed(1)} activation sizes`,
    );
    // tfjs-core holds every gradient of the pass at once (about two per layer on top of the
    // saved activations); the lean pass holds a few.
    assert.ok(leanPeak < 0.7 * stockPeak, `lean ${leanPeak} vs stock ${stockPeak}`);
    tf.dispose([x, ...ws, g, b]);
  });
});

describe('no tensor leaks across training steps', function () {
  this.timeout(300_000);
  before(() => useBackend('wasm'));
  after(() => useBackend('cpu'));

  for (const method of METHODS.values()) {
    it(`${method.info.id}: tensor count and bytes flat over training steps`, () => {
      // The method's own laptop recipe, shrunk: same architecture and head shape, tiny widths.
      const preset = deepMerge<RunConfig>(BASE_DEFAULTS, method.info.presets.laptop);
      const vit = preset.encoder.arch === 'vit';
      const config = deepMerge<RunConfig>(preset, {
        encoder: vit ? { width: 16, patchSize: 4, depth: 1, heads: 2 } : { width: 4 },
        head: { hidden: preset.head.hidden.map(() => 16), out: 8 },
        training: { batchSize: 8 },
      });
      const batch = 8;
      const model = method.build(
        config,
        { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
        [16, 16, 3],
        dataInfo(64),
      );
      const views = Array.from({ length: model.views }, (_, v) => {
        const side = outputSize(
          model.viewAugment ? model.viewAugment(config.augment, v) : config.augment,
          16,
          16,
        );
        return tf.randomUniform([batch, side, side, 3], 0, 1, 'float32', v) as tf.Tensor4D;
      });
      model.store.dryRun = true;
      tf.tidy(() => {
        model.loss(views, stepCtx(0, 4, batch));
      });
      model.store.dryRun = false;
      model.afterInit?.();
      const params = model.store.trainable();
      const optimizer = new Optimizer(config.optimizer, params);
      // What train.ts does per step.
      const step = (s: number) => {
        const ctx = stepCtx(s, 4, batch);
        let extra: tf.Tensor[] = [];
        const { value, grads } = tf.variableGrads(
          () => {
            const r = model.loss(views, ctx);
            extra = Object.values(r.extra).map((t) => tf.keep(t));
            return r.loss;
          },
          params.map((p) => p.variable),
        );
        optimizer.apply(params, grads, 0.05);
        model.afterStep?.(ctx);
        const loss = value.dataSync()[0];
        tf.dispose([value, ...Object.values(grads), ...extra]);
        return loss;
      };
      step(0);
      const n = tf.memory().numTensors;
      const bytes = tf.memory().numBytes;
      const ids = tf.backend().numDataIds();
      const losses = [step(1), step(2), step(3)];
      assert.ok(losses.every(Number.isFinite), `losses ${losses}`);
      assert.equal(tf.memory().numTensors, n, 'tensor count grew across steps');
      assert.equal(tf.memory().numBytes, bytes, 'bytes grew across steps');
      assert.equal(tf.backend().numDataIds(), ids, 'backend buffers grew across steps');
      optimizer.dispose();
      model.store.dispose();
      tf.dispose(views);
    });
  }
});
