import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { knnTop1, knnVote } from '../../trainer/eval/knn';
import { Rng } from '../../trainer/rng';
import { randn, useBackend } from '../helpers/tf';

/** Weighted kNN with plain loops over all pairs (float64, full sort). */
function knnReference(
  train: number[][],
  trainLabels: number[],
  test: number[][],
  testLabels: number[],
  classes: number,
  k: number,
  t: number,
): number {
  const norm = (v: number[]) => {
    const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    return v.map((x) => x / n);
  };
  const tr = train.map(norm);
  let correct = 0;
  test.forEach((q0, qi) => {
    const q = norm(q0);
    const sims = tr.map((v, i) => ({ i, s: v.reduce((acc, x, j) => acc + x * q[j], 0) }));
    sims.sort((a, b) => b.s - a.s);
    const score = new Array(classes).fill(0);
    for (const { i, s } of sims.slice(0, k)) score[trainLabels[i]] += Math.exp(s / t);
    const pred = score.indexOf(Math.max(...score));
    if (pred === testLabels[qi]) correct++;
  });
  return correct / test.length;
}

describe('weighted kNN monitor', () => {
  before(() => useBackend('cpu'));

  it('knnVote weights neighbours by exp(sim/T)', () => {
    // Two close neighbours of class 1 outvote three distant ones of class 0 at low T only.
    const sims = new Float32Array([0.9, 0.85, 0.3, 0.3, 0.3]);
    const idx = new Int32Array([0, 1, 2, 3, 4]);
    const labels = new Int32Array([1, 1, 0, 0, 0]);
    assert.equal(knnVote(sims, idx, 1, 5, labels, 2, 0.1)[0], 1);
    assert.equal(knnVote(sims, idx, 1, 5, labels, 2, 10)[0], 0);
  });

  for (const [k, t] of [
    [1, 0.1],
    [5, 0.07],
    [20, 0.1],
    [200, 0.1],
  ] as const) {
    it(`top-1 equals a full-sort reference (k=${k}, T=${t})`, async () => {
      const rng = new Rng(k);
      const classes = 4;
      const centers = randn(rng, classes, 6, 1.0);
      const mk = (n: number) => {
        const labels: number[] = [];
        const x: number[][] = [];
        for (let i = 0; i < n; i++) {
          const c = rng.int(classes);
          labels.push(c);
          x.push(centers[c].map((m) => m + 1.2 * rng.normal()));
        }
        return { x, labels };
      };
      const tr = mk(300);
      const te = mk(170);
      const want = knnReference(tr.x, tr.labels, te.x, te.labels, classes, k, t);
      const trainT = tf.tensor2d(tr.x);
      const testT = tf.tensor2d(te.x);
      const got = await knnTop1(
        trainT,
        Int32Array.from(tr.labels),
        testT,
        Int32Array.from(te.labels),
        classes,
        k,
        t,
        64,
      );
      tf.dispose([trainT, testT]);
      assert.equal(got, want);
      assert.ok(want > 0.3 && want < 1, `reference accuracy ${want} should be informative`);
    });
  }
});
