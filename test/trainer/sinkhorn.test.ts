import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { sinkhorn } from '../../trainer/methods/sinkhorn';
import { Rng } from '../../trainer/rng';
import { sinkhornReference, unitScores } from '../helpers/swav-dino-reference';
import { useBackend } from '../helpers/tf';

const sums = (m: number[][], axis: 0 | 1) =>
  axis === 1
    ? m.map((r) => r.reduce((a, b) => a + b, 0))
    : m[0].map((_, j) => m.reduce((a, r) => a + r[j], 0));

describe('Sinkhorn-Knopp (SwAV codes)', () => {
  before(() => useBackend('cpu'));

  for (const [n, k, eps, iters] of [
    [8, 5, 0.05, 3],
    [32, 100, 0.05, 3],
    [64, 10, 0.03, 3],
    [16, 16, 0.1, 0],
    [40, 7, 0.05, 10],
  ] as const) {
    it(`matches the float64 reference of the official code (N=${n}, K=${k}, eps=${eps}, ${iters} iterations)`, () => {
      const s = unitScores(new Rng(n * 1000 + k), n, k, 16);
      const got = tf.tidy(() => sinkhorn(tf.tensor2d(s), eps, iters).arraySync());
      const want = sinkhornReference(s, eps, iters);
      for (let i = 0; i < n; i++)
        for (let j = 0; j < k; j++)
          assert.ok(
            Math.abs(got[i][j] - want[i][j]) <= 1e-4 * Math.max(1e-3, want[i][j]),
            `[${i}, ${j}]: ${got[i][j]} vs ${want[i][j]}`,
          );
    });
  }

  it('gives every sample codes summing to 1 and every prototype about N/K, exactly so as iterations grow', () => {
    const [n, k] = [48, 12];
    const s = unitScores(new Rng(2), n, k, 8);
    const spread = (q: number[][]) => Math.max(...sums(q, 0).map((c) => Math.abs(c - n / k)));
    const q0 = tf.tidy(() => sinkhorn(tf.tensor2d(s), 0.05, 0).arraySync());
    const q3 = tf.tidy(() => sinkhorn(tf.tensor2d(s), 0.05, 3).arraySync());
    const q200 = tf.tidy(() => sinkhorn(tf.tensor2d(s), 0.05, 200).arraySync());
    for (const q of [q3, q200]) {
      for (const r of sums(q, 1)) assert.ok(Math.abs(r - 1) < 1e-5, `sample sum ${r}`);
      for (const row of q) for (const v of row) assert.ok(v >= 0);
    }
    // The equal-partition constraint: 3 iterations get close, many reach it.
    assert.ok(spread(q3) < 0.25 * spread(q0), `after 3 iterations ${spread(q3)} vs ${spread(q0)} before`);
    assert.ok(spread(q200) < 1e-4 * (n / k), `after 200 iterations ${spread(q200)}`);
  });

  it('does not overflow where exp(score / eps) exceeds float32, and ignores a constant shift', () => {
    const s = unitScores(new Rng(3), 16, 6, 4);
    // exp(1 / 0.01) = 2.7e43 > float32's 3.4e38: without the max subtraction this is Infinity / NaN.
    const a = tf.tidy(() => sinkhorn(tf.tensor2d(s), 0.01, 3).arraySync());
    const b = tf.tidy(() => sinkhorn(tf.add(tf.tensor2d(s), 0.7) as tf.Tensor2D, 0.01, 3).arraySync());
    const want = sinkhornReference(s, 0.01, 3);
    for (let i = 0; i < s.length; i++)
      for (let j = 0; j < 6; j++) {
        assert.ok(Number.isFinite(a[i][j]));
        assert.ok(Math.abs(a[i][j] - want[i][j]) <= 1e-4 * Math.max(1e-3, want[i][j]));
        assert.ok(Math.abs(a[i][j] - b[i][j]) <= 1e-5);
      }
  });

  it('spreads identical samples uniformly over the prototypes (why SwAV cannot collapse to one cluster)', () => {
    const row = unitScores(new Rng(4), 1, 9, 8)[0];
    const s = Array.from({ length: 18 }, () => row);
    const q = tf.tidy(() => sinkhorn(tf.tensor2d(s), 0.05, 3).arraySync());
    for (const r of q) for (const v of r) assert.ok(Math.abs(v - 1 / 9) < 1e-5, `${v}`);
  });

  it('rejects bad arguments with the field named', () => {
    const s = tf.zeros([2, 3]) as tf.Tensor2D;
    assert.throws(() => sinkhorn(s, 0, 3), /epsilon/);
    assert.throws(() => sinkhorn(s, 0.05, 1.5), /iterations/);
    s.dispose();
  });
});
