import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { alignment, uniformity } from '../../trainer/eval/alignment';
import { Rng } from '../../trainer/rng';
import { randn, useBackend } from '../helpers/tf';

const unit = (v: number[]) => {
  const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  return v.map((x) => x / n);
};
const sqDist = (a: number[], b: number[]) => a.reduce((s, x, j) => s + (x - b[j]) ** 2, 0);

/** Wang and Isola's definitions as float64 loops over explicit pairs. */
function alignmentRef(a: number[][], b: number[][], alpha: number): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.sqrt(sqDist(unit(a[i]), unit(b[i]))) ** alpha;
  return s / a.length;
}

function uniformityRef(x: number[][], t: number): number {
  const u = x.map(unit);
  let s = 0;
  let pairs = 0;
  for (let i = 0; i < u.length; i++) {
    for (let j = i + 1; j < u.length; j++) {
      s += Math.exp(-t * sqDist(u[i], u[j]));
      pairs++;
    }
  }
  return Math.log(s / pairs);
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`alignment and uniformity (${backend})`, () => {
    before(() => useBackend(backend));

    it('equal float64 loops over pairs on random features, across chunk boundaries', async () => {
      const rng = new Rng(21);
      const a = randn(rng, 301, 16);
      // Positives: a perturbed copy, so alignment is well inside (0, 4).
      const b = a.map((r) => r.map((v) => v + rng.normal() * 0.5));
      const ta = tf.tensor2d(a);
      const tb = tf.tensor2d(b);
      for (const alpha of [2, 1]) {
        const got = await alignment(ta, tb, alpha);
        const want = alignmentRef(a, b, alpha);
        assert.ok(Math.abs(got - want) < 1e-5, `alpha ${alpha}: ${got} vs ${want}`);
      }
      for (const [t, chunk] of [
        [2, 64],
        [2, 1000],
        [0.5, 7],
      ]) {
        const got = await uniformity(ta, t, chunk);
        const want = uniformityRef(a, t);
        assert.ok(Math.abs(got - want) < 1e-5, `t ${t} chunk ${chunk}: ${got} vs ${want}`);
      }
      tf.dispose([ta, tb]);
    });

    it('clustered features are less uniform than spread ones; collapse gives uniformity 0', async () => {
      const rng = new Rng(4);
      const spread = randn(rng, 200, 8);
      const clustered = spread.map((r) => r.map((v, j) => (j === 0 ? 10 : 0) + v * 0.3));
      const ts = tf.tensor2d(spread);
      const tc = tf.tensor2d(clustered);
      const us = await uniformity(ts);
      const uc = await uniformity(tc);
      assert.ok(Math.abs(us - uniformityRef(spread, 2)) < 1e-5);
      assert.ok(Math.abs(uc - uniformityRef(clustered, 2)) < 1e-5);
      assert.ok(uc > us + 1, `${uc} vs ${us}`);
      const collapsed = tf.tensor2d(Array.from({ length: 50 }, () => [3, -1, 2]));
      assert.ok(Math.abs(await uniformity(collapsed)) < 1e-6);
      tf.dispose([ts, tc, collapsed]);
    });

    it('alignment is 0 for identical views and 4 for antipodal ones (alpha 2)', async () => {
      const x = tf.tensor2d([
        [1, 2, 3],
        [-4, 0.5, 2],
      ]);
      assert.ok(Math.abs(await alignment(x, x)) < 1e-10);
      const neg = tf.neg(x) as tf.Tensor2D;
      assert.ok(Math.abs((await alignment(x, neg)) - 4) < 1e-5);
      tf.dispose([x, neg]);
    });
  });
}
