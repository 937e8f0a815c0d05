import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { ntXent } from '../../trainer/losses/ntxent';
import { Rng } from '../../trainer/rng';
import { randn, useBackend } from '../helpers/tf';

/** NT-Xent in float64 with plain loops: mean over the 2B anchors of -log softmax(positive). */
function ntXentReference(z1: number[][], z2: number[][], tau: number): number {
  const z = [...z1, ...z2].map((v) => {
    const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    return v.map((x) => x / n);
  });
  const n = z.length;
  const b = n / 2;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const logits: number[] = [];
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      let dot = 0;
      for (let k = 0; k < z[i].length; k++) dot += z[i][k] * z[j][k];
      logits.push({ j, v: dot / tau }.v);
    }
    const pos = (i + b) % n;
    let dotPos = 0;
    for (let k = 0; k < z[i].length; k++) dotPos += z[i][k] * z[pos][k];
    const max = Math.max(...logits);
    const lse = max + Math.log(logits.reduce((s, v) => s + Math.exp(v - max), 0));
    total += lse - dotPos / tau;
  }
  return total / n;
}

describe('NT-Xent', () => {
  before(() => useBackend('cpu'));

  for (const b of [2, 5, 16, 64]) {
    for (const tau of [0.07, 0.1, 0.5, 1.0]) {
      it(`matches a float64 loop reference (B=${b}, tau=${tau})`, () => {
        const rng = new Rng(b * 1000 + Math.round(tau * 100));
        const d = 8 + b;
        // Correlated views, so the positive term matters and the loss is far from its random value.
        const a = randn(rng, b, d);
        const c = a.map((row) => row.map((x) => x + 0.5 * rng.normal()));
        const got = tf.tidy(() => ntXent(tf.tensor2d(a), tf.tensor2d(c), tau).arraySync());
        const want = ntXentReference(a, c, tau);
        assert.ok(Math.abs(got - want) <= 1e-5 * Math.max(1, Math.abs(want)), `got ${got}, want ${want}`);
      });
    }
  }

  it('is scale invariant in its inputs (it normalises them)', () => {
    const rng = new Rng(7);
    const a = randn(rng, 8, 16);
    const c = randn(rng, 8, 16);
    const l1 = tf.tidy(() => ntXent(tf.tensor2d(a), tf.tensor2d(c), 0.2).arraySync());
    const l2 = tf.tidy(() => ntXent(tf.mul(tf.tensor2d(a), 37), tf.tensor2d(c), 0.2).arraySync());
    assert.ok(Math.abs(l1 - l2) < 1e-5);
  });

  it('starts near ln(2B-1) + 1/(2 d tau^2) on random normalised embeddings', () => {
    // Reference section 5: B=256, d=128, tau=0.5 simulated 6.258; ln(511)=6.236.
    const rng = new Rng(11);
    for (const [b, tau] of [
      [256, 0.5],
      [128, 0.5],
      [256, 0.2],
    ] as const) {
      const d = 128;
      const got = tf.tidy(() =>
        ntXent(tf.tensor2d(randn(rng, b, d)), tf.tensor2d(randn(rng, b, d)), tau).arraySync(),
      );
      const theory = Math.log(2 * b - 1) + 1 / (2 * d * tau * tau);
      assert.ok(Math.abs(got - theory) < 0.03, `B=${b} tau=${tau}: got ${got}, theory ${theory}`);
      assert.ok(got > Math.log(2 * b - 1) - 0.01);
    }
  });

  it('equals ln(2B-1) exactly when every embedding is identical (collapse), for any tau', () => {
    for (const tau of [0.1, 0.5]) {
      const z = Array.from({ length: 32 }, () => [1, 2, 3, 4]);
      const got = tf.tidy(() => ntXent(tf.tensor2d(z), tf.tensor2d(z), tau).arraySync());
      assert.ok(Math.abs(got - Math.log(63)) < 1e-5, `got ${got}`);
    }
  });

  it('has gradients that match finite differences of the float64 reference', () => {
    const rng = new Rng(3);
    const a = randn(rng, 4, 5);
    const c = randn(rng, 4, 5);
    const tau = 0.3;
    const g = tf.tidy(() =>
      tf
        .grad((x: tf.Tensor) => ntXent(x as tf.Tensor2D, tf.tensor2d(c), tau))(tf.tensor2d(a))
        .arraySync(),
    ) as number[][];
    const h = 1e-5;
    for (const [i, j] of [
      [0, 0],
      [1, 3],
      [3, 4],
    ]) {
      const ap = a.map((r) => [...r]);
      const am = a.map((r) => [...r]);
      ap[i][j] += h;
      am[i][j] -= h;
      const fd = (ntXentReference(ap, c, tau) - ntXentReference(am, c, tau)) / (2 * h);
      assert.ok(Math.abs(fd - g[i][j]) < 1e-3, `d/da[${i}][${j}]: fd ${fd} vs ${g[i][j]}`);
    }
  });
});
