import * as assert from 'node:assert/strict';
import { pca2, symmetricEigen } from '../../trainer/eval/pca';
import { Rng } from '../../trainer/rng';

/** Points with chosen variances along a random orthonormal basis, plus an offset. */
function makeData(rng: Rng, n: number, stds: number[]): number[][] {
  const d = stds.length;
  const basis: number[][] = [];
  while (basis.length < d) {
    const v = Array.from({ length: d }, () => rng.normal());
    for (const b of basis) {
      const dot = b.reduce((s, x, i) => s + x * v[i], 0);
      for (let i = 0; i < d; i++) v[i] -= dot * b[i];
    }
    const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    basis.push(v.map((x) => x / norm));
  }
  const offset = Array.from({ length: d }, () => rng.normal() * 10);
  return Array.from({ length: n }, () => {
    const coef = stds.map((s) => rng.normal() * s);
    return offset.map((o, i) => o + coef.reduce((s, c, k) => s + c * basis[k][i], 0));
  });
}

/** Independent reference: covariance by nested loops, power iteration with deflation (float64). */
function referencePca(x: number[][]) {
  const n = x.length;
  const d = x[0].length;
  const mean = Array.from({ length: d }, (_, j) => x.reduce((s, r) => s + r[j], 0) / n);
  const c = Array.from({ length: d }, (_, a) =>
    Array.from({ length: d }, (_, b) => x.reduce((s, r) => s + (r[a] - mean[a]) * (r[b] - mean[b]), 0) / n),
  );
  const trace = c.reduce((s, r, i) => s + r[i], 0);
  const comps: number[][] = [];
  const vals: number[] = [];
  for (let k = 0; k < 2; k++) {
    let v = Array.from({ length: d }, (_, i) => 1 + i * 0.1);
    for (let it = 0; it < 100000; it++) {
      const w = c.map((r) => r.reduce((s, cij, j) => s + cij * v[j], 0));
      const norm = Math.sqrt(w.reduce((s, z) => s + z * z, 0));
      const next = w.map((z) => z / norm);
      const change = Math.sqrt(next.reduce((s, z, i) => s + (z - v[i]) ** 2, 0));
      v = next;
      if (change < 1e-15) break;
    }
    const lambda = v.reduce((s, vi, i) => s + vi * c[i].reduce((t, cij, j) => t + cij * v[j], 0), 0);
    for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) c[a][b] -= lambda * v[a] * v[b];
    comps.push(v);
    vals.push(lambda);
  }
  const proj = comps.map((v) => x.map((r) => r.reduce((s, z, j) => s + (z - mean[j]) * v[j], 0)));
  return { comps, vals, trace, proj };
}

function assertMatchesReference(x: number[][], opts = {}) {
  const d = x[0].length;
  const got = pca2(x.flat(), x.length, d, opts);
  const ref = referencePca(x);
  for (let k = 0; k < 2; k++) {
    const sign = ref.comps[k].reduce((s, v, i) => s + v * got.components[k][i], 0) < 0 ? -1 : 1;
    for (let i = 0; i < d; i++)
      assert.ok(Math.abs(got.components[k][i] - sign * ref.comps[k][i]) < 1e-7, `component ${k}[${i}]`);
    const coords = k === 0 ? got.x : got.y;
    for (let i = 0; i < x.length; i++)
      assert.ok(Math.abs(coords[i] - sign * ref.proj[k][i]) < 1e-6, `coordinate ${k} of point ${i}`);
    assert.ok(Math.abs(got.variances[k] - ref.vals[k]) < 1e-8 * ref.vals[0]);
    assert.ok(Math.abs(got.explainedVariance[k] - ref.vals[k] / ref.trace) < 1e-9);
  }
  return got;
}

describe('PCA to two components', () => {
  it('equals power iteration with deflation on the covariance (separated spectrum)', () => {
    const x = makeData(new Rng(1), 400, [5, 3, 1.5, 1, 0.8, 0.5, 0.4, 0.3, 0.2, 0.1, 0.1, 0.05]);
    const got = assertMatchesReference(x);
    // Sign convention: each component's largest-magnitude entry is positive.
    for (const u of got.components) {
      const big = u.reduce((b, v, i) => (Math.abs(v) > Math.abs(u[b]) ? i : b), 0);
      assert.ok(u[big] > 0);
    }
    // Projections are centred and their variance is the component's eigenvalue.
    const mx = got.x.reduce((s, v) => s + v, 0) / x.length;
    const vx = got.x.reduce((s, v) => s + v * v, 0) / x.length;
    assert.ok(Math.abs(mx) < 1e-9 && Math.abs(vx - got.variances[0]) < 1e-8);
  });

  it('crowded spectrum: a 2-vector block and the default block agree with the reference', () => {
    const x = makeData(new Rng(2), 300, [3, 2.2, 2.0, 1.9, 1.8, 1, 1, 1]);
    const big = assertMatchesReference(x);
    const small = assertMatchesReference(x, { block: 2 });
    assert.ok(small.iterations > big.iterations, `${small.iterations} vs ${big.iterations}`);
  });

  it('rank-deficient data (points on a plane in 6-D): the two components explain everything', () => {
    const x = makeData(new Rng(3), 60, [4, 2, 0, 0, 0, 0]);
    const got = pca2(x.flat(), 60, 6);
    assert.ok(Math.abs(got.explainedVariance[0] + got.explainedVariance[1] - 1) < 1e-9);
    assert.ok(got.explainedVariance[0] > got.explainedVariance[1]);
  });

  it('identical points: zero variance, zero coordinates, no error', () => {
    const got = pca2(new Array(5 * 3).fill(2), 5, 3);
    assert.deepEqual(got.explainedVariance, [0, 0]);
    assert.ok([...got.x, ...got.y].every((v) => v === 0));
  });

  it('symmetricEigen returns eigenpairs in descending order', () => {
    const a = Float64Array.from([4, 1, 0.5, 1, 3, 0.2, 0.5, 0.2, 1]);
    const { values, vectors } = symmetricEigen(a, 3);
    assert.ok(values[0] >= values[1] && values[1] >= values[2]);
    for (let k = 0; k < 3; k++) {
      for (let i = 0; i < 3; i++) {
        let av = 0;
        for (let j = 0; j < 3; j++) av += a[i * 3 + j] * vectors[j * 3 + k];
        assert.ok(Math.abs(av - values[k] * vectors[i * 3 + k]) < 1e-12);
      }
    }
  });
});
