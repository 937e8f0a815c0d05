/**
 * Transformer blocks: LayerNorm, GELU and multi-head attention against float64 loops written here,
 * attention rows as probability distributions (and causal rows with nothing above the diagonal),
 * and a causal block's gradients on wasm against the stock cpu backend.
 */
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import type { Ctx } from '../../trainer/models/layers';
import { ParamStore } from '../../trainer/models/params';
import { gelu, layerNorm, multiHeadAttention, transformerBlock } from '../../trainer/models/transformer';
import { Rng } from '../../trainer/rng';
import { useBackend } from '../helpers/tf';

/** erf by its Maclaurin series (float64-accurate for |x| < 4; |erf| differs from 1 by < 2e-8 beyond). */
function erf64(x: number): number {
  if (Math.abs(x) >= 4) return Math.sign(x);
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (-x * x) / n;
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-17) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

function randomize(ps: ParamStore, seed: number, scale = 0.5): void {
  const rng = new Rng(seed);
  for (const p of ps.allParams()) {
    const v = Float32Array.from({ length: p.variable.size }, () => rng.normal() * scale);
    p.variable.assign(tf.tensor(v, p.variable.shape));
  }
}

function values(ps: ParamStore, name: string): Float32Array {
  const p = ps.params.get(name);
  assert.ok(p, `no parameter ${name}`);
  return p.variable.dataSync() as Float32Array;
}

function randomTokens(seed: number, shape: [number, number, number]): tf.Tensor3D {
  const rng = new Rng(seed);
  return tf.tensor3d(
    Float32Array.from({ length: shape[0] * shape[1] * shape[2] }, () => rng.normal()),
    shape,
  );
}

/** float64 multi-head self-attention of one sequence x [n][d] with [d, 3d] qkv and [d, d] proj. */
function attention64(
  x: number[][],
  wqkv: Float32Array,
  bqkv: Float32Array,
  wproj: Float32Array,
  bproj: Float32Array,
  heads: number,
  causal: boolean,
): { y: number[][]; probs: number[][][] } {
  const n = x.length;
  const d = x[0].length;
  const dh = d / heads;
  const qkv = x.map((row) =>
    Array.from({ length: 3 * d }, (_, j) => row.reduce((s, v, i) => s + v * wqkv[i * 3 * d + j], bqkv[j])),
  );
  const concat = Array.from({ length: n }, () => new Array<number>(d).fill(0));
  const probs: number[][][] = [];
  for (let h = 0; h < heads; h++) {
    const ph: number[][] = [];
    for (let i = 0; i < n; i++) {
      const logits: number[] = [];
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let c = 0; c < dh; c++) s += qkv[i][h * dh + c] * qkv[j][d + h * dh + c];
        logits.push(causal && j > i ? Number.NEGATIVE_INFINITY : s / Math.sqrt(dh));
      }
      const m = Math.max(...logits);
      const e = logits.map((l) => Math.exp(l - m));
      const z = e.reduce((a, b) => a + b, 0);
      const p = e.map((v) => v / z);
      ph.push(p);
      for (let c = 0; c < dh; c++) {
        let s = 0;
        for (let j = 0; j < n; j++) s += p[j] * qkv[j][2 * d + h * dh + c];
        concat[i][h * dh + c] = s;
      }
    }
    probs.push(ph);
  }
  const y = concat.map((row) =>
    Array.from({ length: d }, (_, o) => row.reduce((s, v, i) => s + v * wproj[i * d + o], bproj[o])),
  );
  return { y, probs };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('transformer blocks', () => {
  before(() => useBackend('cpu'));

  it('layerNorm matches a float64 loop (biased variance, eps 1e-6, gain and bias)', () => {
    const ps = new ParamStore(1);
    const ctx: Ctx = { ps, training: true };
    const x = randomTokens(2, [2, 3, 5]);
    layerNorm(ctx, 'ln', x);
    randomize(ps, 3);
    const got = layerNorm(ctx, 'ln', x).dataSync();
    const g = values(ps, 'ln.weight');
    const b = values(ps, 'ln.bias');
    const xs = x.dataSync();
    const ref: number[] = [];
    for (let r = 0; r < 6; r++) {
      const row = Array.from(xs.subarray(r * 5, r * 5 + 5));
      const mean = row.reduce((a, v) => a + v, 0) / 5;
      const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / 5;
      for (const [i, v] of row.entries()) ref.push(((v - mean) / Math.sqrt(variance + 1e-6)) * g[i] + b[i]);
    }
    assert.ok(maxAbsDiff(got, ref) < 1e-5, `max diff ${maxAbsDiff(got, ref)}`);
  });

  it('gelu is the exact erf form', () => {
    const xs = [-5, -2.5, -1, -0.3, 0, 0.2, 1, 1.7, 3, 6];
    const got = gelu(tf.tensor1d(xs)).dataSync();
    const ref = xs.map((x) => 0.5 * x * (1 + erf64(x / Math.SQRT2)));
    assert.ok(maxAbsDiff(got, ref) < 1e-5, `max diff ${maxAbsDiff(got, ref)}`);
    // The tanh approximation differs by ~1e-3 around |x| = 2: make sure it is not what is computed.
    const tanhApprox = (x: number) =>
      0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
    assert.ok(Math.abs(gelu(tf.scalar(-2.5)).dataSync()[0] - tanhApprox(-2.5)) > 1e-4);
  });

  for (const causal of [false, true]) {
    it(`multi-head attention (${causal ? 'causal' : 'full'}) matches float64; rows are distributions`, () => {
      const ps = new ParamStore(4);
      const ctx: Ctx = { ps, training: true };
      const [b, n, d, heads] = [2, 5, 8, 2];
      const x = randomTokens(5, [b, n, d]);
      multiHeadAttention(ctx, 'attn', x, { heads, causal });
      randomize(ps, 6);
      const out = multiHeadAttention(ctx, 'attn', x, { heads, causal, returnAttention: true });
      const attn = out.attention as tf.Tensor4D;
      assert.deepEqual(attn.shape, [b, heads, n, n]);
      const rowSums = tf.sum(attn, 3).dataSync();
      for (const s of rowSums) assert.ok(Math.abs(s - 1) < 1e-6, `row sum ${s}`);
      const a = attn.arraySync();
      const xs = x.arraySync();
      const got = out.y.arraySync();
      for (let bi = 0; bi < b; bi++) {
        const ref = attention64(
          xs[bi],
          values(ps, 'attn.qkv.weight'),
          values(ps, 'attn.qkv.bias'),
          values(ps, 'attn.proj.weight'),
          values(ps, 'attn.proj.bias'),
          heads,
          causal,
        );
        assert.ok(
          maxAbsDiff(got[bi].flat(), ref.y.flat()) < 1e-4,
          `output diff ${maxAbsDiff(got[bi].flat(), ref.y.flat())}`,
        );
        assert.ok(maxAbsDiff(a[bi].flat(2), ref.probs.flat(2)) < 1e-5);
        if (causal)
          for (let h = 0; h < heads; h++)
            for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) assert.equal(a[bi][h][i][j], 0);
      }
    });
  }

  it('a causal block: output j does not depend on tokens after j', () => {
    const ps = new ParamStore(7);
    const ctx: Ctx = { ps, training: true };
    const x = randomTokens(8, [1, 4, 8]);
    transformerBlock(ctx, 'blk', x, { heads: 2, mlpRatio: 2, causal: true });
    randomize(ps, 9);
    const y1 = transformerBlock(ctx, 'blk', x, { heads: 2, mlpRatio: 2, causal: true }).y.arraySync()[0];
    // Change only the last token.
    const x2 = tf.concat([tf.slice(x, [0, 0, 0], [1, 3, 8]), randomTokens(10, [1, 1, 8])], 1) as tf.Tensor3D;
    const y2 = transformerBlock(ctx, 'blk', x2, { heads: 2, mlpRatio: 2, causal: true }).y.arraySync()[0];
    for (let t = 0; t < 3; t++) assert.ok(maxAbsDiff(y1[t], y2[t]) < 1e-6, `token ${t} changed`);
    assert.ok(maxAbsDiff(y1[3], y2[3]) > 1e-2);
  });

  it('gradients of a causal block on wasm equal the cpu backend', async () => {
    const grads: Float32Array[][] = [];
    for (const backend of ['cpu', 'wasm'] as const) {
      await useBackend(backend);
      const ps = new ParamStore(11);
      const ctx: Ctx = { ps, training: true };
      const x = randomTokens(12, [2, 5, 8]);
      const w = randomTokens(13, [2, 5, 8]);
      const opts = { heads: 2, mlpRatio: 4, causal: true };
      transformerBlock(ctx, 'blk', x, opts);
      randomize(ps, 14);
      const vars = ps.trainable().map((p) => p.variable);
      const { value, grads: g } = tf.variableGrads(
        () => tf.sum(tf.mul(transformerBlock(ctx, 'blk', x, opts).y, w)) as tf.Scalar,
        vars,
      );
      assert.ok(Number.isFinite(value.dataSync()[0]));
      grads.push(vars.map((v) => Float32Array.from(g[v.name].dataSync())));
      ps.dispose();
    }
    await useBackend('cpu');
    let worst = 0;
    let largest = 0;
    grads[0].forEach((ref, i) => {
      worst = Math.max(worst, maxAbsDiff(grads[1][i], ref));
      largest = Math.max(largest, ...Array.from(ref, Math.abs));
    });
    assert.ok(largest > 0.1, 'gradients are not trivially zero');
    assert.ok(worst < 1e-4, `max |wasm - cpu| ${worst}`);
  });
});
