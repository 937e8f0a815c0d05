/**
 * batchNormTrain (hand-written gradient) against tf autodiff of the textbook formula on the cpu
 * backend, for NHWC and [N, C] inputs, with and without the fused ReLU.
 */
import * as assert from 'node:assert/strict';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { batchNormTrain, clearBatchNormCache } from '../../trainer/backend/batchnorm';
import { uniformArray } from '../helpers/random';

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** The plain formula, differentiated by tf's autodiff (mean and variance depend on x). */
function reference(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number, relu: boolean): tf.Tensor {
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const mean = tf.mean(x, axes);
  const variance = tf.mean(tf.square(tf.sub(x, mean)), axes);
  const y = tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))), gamma), beta);
  return relu ? tf.relu(y) : y;
}

interface Case {
  shape: number[];
  relu: boolean;
  /** Large offsets relative to the spread test the centred (two-pass) variance. */
  offset: number;
}

const cases: Case[] = [
  { shape: [4, 5, 6, 3], relu: false, offset: 0 },
  { shape: [4, 5, 6, 3], relu: true, offset: 0 },
  { shape: [3, 7, 5, 16], relu: true, offset: 0.3 },
  { shape: [16, 8], relu: false, offset: 0 },
  { shape: [16, 8], relu: true, offset: 0.2 },
  { shape: [8, 4, 4, 5], relu: false, offset: 20 },
];

const EPS = 1e-5;
const report: string[] = [];

function maxDiff(a: Float32Array, b: Float32Array): { abs: number; ref: number } {
  assert.equal(a.length, b.length);
  let abs = 0;
  let ref = 0;
  for (let i = 0; i < a.length; i++) {
    assert.ok(Number.isFinite(a[i]), `non-finite at ${i}`);
    abs = Math.max(abs, Math.abs(a[i] - b[i]));
    ref = Math.max(ref, Math.abs(b[i]));
  }
  return { abs, ref };
}

describe('batchNormTrain', function () {
  this.timeout(120_000);

  after(() => {
    clearBatchNormCache();
    console.log('      max |batchNormTrain - autodiff(cpu)| (max |ref|):');
    for (const line of report) console.log(`        ${line}`);
  });

  for (const c of cases) {
    for (const backend of ['wasm', 'cpu']) {
      const label = `[${c.shape}] relu=${c.relu} offset=${c.offset} on ${backend}`;
      it(`${label}: y, mean, variance and dx, dgamma, dbeta match the plain formula`, async () => {
        const ch = c.shape[c.shape.length - 1];
        const xData = uniformArray(size(c.shape), 1, 1, c.offset);
        const gData = uniformArray(ch, 2, 0.5, 1);
        const bData = uniformArray(ch, 3, 0.5);
        const rData = uniformArray(size(c.shape), 4);
        // Loss with a random projection plus a square, so dy varies and depends on y itself.
        const lossOf = (y: tf.Tensor) => {
          const r = tf.tensor(rData, c.shape);
          return tf.add(tf.sum(tf.mul(y, r)), tf.mul(0.5, tf.sum(tf.square(y))));
        };

        assert.ok(await tf.setBackend(backend));
        const got = tf.tidy(() => {
          const x = tf.tensor(xData, c.shape);
          const g = tf.tensor1d(gData);
          const b = tf.tensor1d(bData);
          const out = batchNormTrain(x, g, b, EPS, c.relu);
          const grads = tf.grads((xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) =>
            lossOf(batchNormTrain(xi, gi as tf.Tensor1D, bi as tf.Tensor1D, EPS, c.relu).y),
          )([x, g, b]);
          return [out.y, out.mean, out.variance, ...grads].map((t) => Float32Array.from(t.dataSync()));
        });

        assert.ok(await tf.setBackend('cpu'));
        const want = tf.tidy(() => {
          const x = tf.tensor(xData, c.shape);
          const g = tf.tensor1d(gData);
          const b = tf.tensor1d(bData);
          const axes = c.shape.slice(0, -1).map((_, i) => i);
          const { mean, variance } = tf.moments(x, axes);
          const grads = tf.grads((xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) =>
            lossOf(reference(xi, gi, bi, EPS, c.relu)),
          )([x, g, b]);
          return [reference(x, g, b, EPS, c.relu), mean, variance, ...grads].map((t) =>
            Float32Array.from(t.dataSync()),
          );
        });

        const names = ['y', 'mean', 'variance', 'dx', 'dgamma', 'dbeta'];
        const parts: string[] = [];
        names.forEach((name, i) => {
          const d = maxDiff(got[i], want[i]);
          parts.push(`${name} ${d.abs.toExponential(1)} (${d.ref.toPrecision(2)})`);
          // Large offsets cost the reference its own float32 precision in x - mean.
          const tol = (c.offset > 1 ? 1e-3 : 1e-4) * Math.max(1, d.ref);
          assert.ok(d.abs <= tol, `${label} ${name}: max |diff| ${d.abs} > ${tol}`);
        });
        report.push(`${label.padEnd(40)} ${parts.join(', ')}`);
      });
    }
  }

  it('normalises each channel to mean ~0 and variance ~1 (gamma 1, beta 0, no ReLU)', async () => {
    assert.ok(await tf.setBackend('wasm'));
    const shape = [8, 6, 6, 4];
    const [y, mean, variance] = tf.tidy(() => {
      // Channels with very different location and scale.
      const x = tf.mul(
        tf.add(tf.tensor(uniformArray(size(shape), 5), shape), [3, -2, 0, 50]),
        [0.1, 4, 1, 20],
      );
      const out = batchNormTrain(x, tf.ones([4]) as tf.Tensor1D, tf.zeros([4]) as tf.Tensor1D, 1e-5, false);
      return [out.y.dataSync(), out.mean.dataSync(), out.variance.dataSync()];
    });
    const m = y.length / 4;
    for (let ch = 0; ch < 4; ch++) {
      let s = 0;
      let s2 = 0;
      for (let i = ch; i < y.length; i += 4) s += y[i];
      const mu = s / m;
      for (let i = ch; i < y.length; i += 4) s2 += (y[i] - mu) ** 2;
      assert.ok(Math.abs(mu) < 1e-5, `channel ${ch} mean ${mu}`);
      // Biased variance of the output is var/(var+eps), just under 1.
      assert.ok(
        Math.abs(s2 / m - variance[ch] / (variance[ch] + 1e-5)) < 1e-4,
        `channel ${ch} var ${s2 / m}`,
      );
    }
    // Channel 3 was (u + 50) * 20 with u roughly uniform on [-1, 1).
    assert.ok(Math.abs(mean[3] - 50 * 20) < 2, `channel 3 batch mean ${mean[3]}`);
  });

  it('returns tensors owned by the caller and leaks nothing across forward + backward', async () => {
    assert.ok(await tf.setBackend('wasm'));
    const x = tf.tensor(uniformArray(2 * 3 * 3 * 4, 6), [2, 3, 3, 4]);
    const g = tf.ones([4]) as tf.Tensor1D;
    const b = tf.zeros([4]) as tf.Tensor1D;
    batchNormTrain(x, g, b, EPS, true).y.dispose(); // warm the ones-row cache
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const out = batchNormTrain(x, g, b, EPS, true);
      assert.deepEqual(out.mean.shape, [4]);
      assert.deepEqual(out.variance.shape, [4]);
      tf.grads((xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) =>
        tf.sum(batchNormTrain(xi, gi as tf.Tensor1D, bi as tf.Tensor1D, EPS, true).y),
      )([x, g, b]);
    });
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([x, g, b]);
  });

  it('rejects mismatched gamma/beta and rank-1 input', () => {
    tf.tidy(() => {
      assert.throws(
        () => batchNormTrain(tf.zeros([2, 3]), tf.ones([4]), tf.zeros([3]), EPS, false),
        /gamma\/beta/,
      );
      assert.throws(
        () => batchNormTrain(tf.zeros([3]), tf.ones([3]), tf.zeros([3]), EPS, false),
        /rank >= 2/,
      );
    });
  });
});
