/**
 * The ViT backbone: forward pass and parameter gradients against a float64 implementation written
 * here (gradients by central differences of it), on cpu and wasm; position tables (MoCo v3's
 * sin-cos against a python3-torch fixture of the official function, bilinear resizing against a
 * float64 loop, identity on the training grid); [CLS] attention maps; the frozen patch projection.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { EncoderConfig } from '../../trainer/config/types';
import { makeEncoder } from '../../trainer/models/encoders';
import type { Ctx } from '../../trainer/models/layers';
import { ParamStore } from '../../trainer/models/params';
import {
  interpolatePosEmbed,
  sincosPositionTable,
  type VitSpec,
  vit,
  vitSpec,
} from '../../trainer/models/vit';
import { Rng } from '../../trainer/rng';
import { useBackend } from '../helpers/tf';

type Params64 = Map<string, Float64Array>;

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

const NORM = { mean: [0.4, 0.5, 0.6], std: [0.2, 0.25, 0.3] };

// ---------------------------------------------------------------------------------------------
// float64 ViT

function linear64(x: number[][], w: Float64Array, b: Float64Array | undefined, out: number): number[][] {
  return x.map((row) =>
    Array.from({ length: out }, (_, o) => {
      let s = b ? b[o] : 0;
      for (let i = 0; i < row.length; i++) s += row[i] * w[i * out + o];
      return s;
    }),
  );
}

function layerNorm64(x: number[][], g: Float64Array, b: Float64Array): number[][] {
  return x.map((row) => {
    const mean = row.reduce((a, v) => a + v, 0) / row.length;
    const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / row.length;
    return row.map((v, i) => ((v - mean) / Math.sqrt(variance + 1e-6)) * g[i] + b[i]);
  });
}

function bilinear64(src: number[][][], to: [number, number]): number[][][] {
  const [hi, wi] = [src.length, src[0].length];
  const coord = (dst: number, n: number, m: number) => {
    const s = Math.max(0, ((dst + 0.5) * n) / m - 0.5);
    const i0 = Math.floor(s);
    return { i0, i1: Math.min(i0 + 1, n - 1), f: s - i0 };
  };
  return Array.from({ length: to[0] }, (_, y) => {
    const r = coord(y, hi, to[0]);
    return Array.from({ length: to[1] }, (_, x) => {
      const c = coord(x, wi, to[1]);
      return src[0][0].map((_, d) => {
        const top = src[r.i0][c.i0][d] * (1 - c.f) + src[r.i0][c.i1][d] * c.f;
        const bottom = src[r.i1][c.i0][d] * (1 - c.f) + src[r.i1][c.i1][d] * c.f;
        return top * (1 - r.f) + bottom * r.f;
      });
    });
  });
}

/** [CLS] features of each image (NHWC, flattened) and the last block's attention probabilities. */
function vit64(
  P: Params64,
  pre: string,
  img: Float64Array,
  [b, h, w, c]: number[],
  spec: VitSpec,
  trainGrid: [number, number],
): { feats: number[][]; lastAttn: number[][][][] } {
  const { patchSize: p, dim: d, heads } = spec;
  const dh = d / heads;
  const [gh, gw] = [h / p, w / p];
  const get = (n: string) => {
    const v = P.get(`${pre}.${n}`);
    assert.ok(v, `missing ${n}`);
    return v;
  };
  // Position table for this grid.
  const table = get('pos_embed');
  const posGrid = Array.from({ length: trainGrid[0] }, (_, y) =>
    Array.from({ length: trainGrid[1] }, (_, x) =>
      Array.from({ length: d }, (_, k) => table[(1 + y * trainGrid[1] + x) * d + k]),
    ),
  );
  const resized = gh === trainGrid[0] && gw === trainGrid[1] ? posGrid : bilinear64(posGrid, [gh, gw]);
  const pos = [Array.from(table.subarray(0, d)), ...resized.flat()];
  const feats: number[][] = [];
  const lastAttn: number[][][][] = [];
  for (let bi = 0; bi < b; bi++) {
    const px = (y: number, x: number, ch: number) =>
      (img[((bi * h + y) * w + x) * c + ch] - NORM.mean[ch]) / NORM.std[ch];
    let tokens: number[][] = [Array.from(get('cls_token'))];
    const pw = get('patch_embed.proj.weight');
    const pb = get('patch_embed.proj.bias');
    for (let gy = 0; gy < gh; gy++)
      for (let gx = 0; gx < gw; gx++) {
        const t = Array.from(pb);
        for (let py = 0; py < p; py++)
          for (let pxx = 0; pxx < p; pxx++)
            for (let ch = 0; ch < c; ch++) {
              const v = px(gy * p + py, gx * p + pxx, ch);
              for (let o = 0; o < d; o++) t[o] += v * pw[((py * p + pxx) * c + ch) * d + o];
            }
        tokens.push(t);
      }
    tokens = tokens.map((row, t) => row.map((v, k) => v + pos[t][k]));
    const n = tokens.length;
    for (let blk = 0; blk < spec.depth; blk++) {
      const q = (s: string) => get(`blocks.${blk}.${s}`);
      const ln1 = layerNorm64(tokens, q('norm1.weight'), q('norm1.bias'));
      const qkv = linear64(ln1, q('attn.qkv.weight'), q('attn.qkv.bias'), 3 * d);
      const merged = Array.from({ length: n }, () => new Array<number>(d).fill(0));
      const probs: number[][][] = [];
      for (let hh = 0; hh < heads; hh++) {
        const ph: number[][] = [];
        for (let i = 0; i < n; i++) {
          const logits = Array.from({ length: n }, (_, j) => {
            let s = 0;
            for (let k = 0; k < dh; k++) s += qkv[i][hh * dh + k] * qkv[j][d + hh * dh + k];
            return s / Math.sqrt(dh);
          });
          const m = Math.max(...logits);
          const e = logits.map((l) => Math.exp(l - m));
          const z = e.reduce((a2, v) => a2 + v, 0);
          const pr = e.map((v) => v / z);
          ph.push(pr);
          for (let k = 0; k < dh; k++)
            merged[i][hh * dh + k] = pr.reduce((s, v, j) => s + v * qkv[j][2 * d + hh * dh + k], 0);
        }
        probs.push(ph);
      }
      if (blk === spec.depth - 1) lastAttn.push(probs);
      const attnOut = linear64(merged, q('attn.proj.weight'), q('attn.proj.bias'), d);
      tokens = tokens.map((row, t) => row.map((v, k) => v + attnOut[t][k]));
      const hidden = d * spec.mlpRatio;
      const h1 = linear64(
        layerNorm64(tokens, q('norm2.weight'), q('norm2.bias')),
        q('mlp.fc1.weight'),
        q('mlp.fc1.bias'),
        hidden,
      );
      const act = h1.map((row) => row.map((v) => 0.5 * v * (1 + erf64(v / Math.SQRT2))));
      const h2 = linear64(act, q('mlp.fc2.weight'), q('mlp.fc2.bias'), d);
      tokens = tokens.map((row, t) => row.map((v, k) => v + h2[t][k]));
    }
    feats.push(layerNorm64([tokens[0]], get('norm.weight'), get('norm.bias'))[0]);
  }
  return { feats, lastAttn };
}

// ---------------------------------------------------------------------------------------------

const CFG: EncoderConfig = { arch: 'vit', width: 8, patchSize: 2, depth: 2, heads: 2, mlpRatio: 2 };
const SHAPE: [number, number, number, number] = [2, 4, 4, 3];

function randomImages(seed: number, shape: number[]): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.uniform(0, 1));
}

/** Builds the tiny ViT, gives every parameter random values (so gains and biases matter too). */
function tinyVit(seed: number, cfg = CFG) {
  const ps = new ParamStore(seed);
  const ctx: Ctx = { ps, training: true };
  const enc = vit('enc', cfg, NORM, { imageSize: SHAPE[1] });
  tf.tidy(() => {
    enc.forward(ctx, tf.zeros(SHAPE) as tf.Tensor4D);
  });
  const rng = new Rng(seed + 100);
  for (const p of ps.allParams())
    p.variable.assign(
      tf.tensor(
        Float32Array.from({ length: p.variable.size }, () => rng.normal() * 0.4),
        p.variable.shape,
      ),
    );
  return { ps, ctx, enc };
}

function params64(ps: ParamStore): Params64 {
  const m: Params64 = new Map();
  for (const p of ps.allParams()) m.set(p.name, Float64Array.from(p.variable.dataSync()));
  return m;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('ViT backbone', () => {
  after(() => useBackend('cpu'));

  for (const backend of ['cpu', 'wasm'] as const) {
    it(`forward matches float64 on ${backend}, on the training grid and a smaller one`, async () => {
      await useBackend(backend);
      const { ps, ctx, enc } = tinyVit(1);
      const P = params64(ps);
      const spec = vitSpec(CFG);
      for (const shape of [SHAPE, [2, 2, 2, 3], [1, 6, 4, 3]]) {
        const img = randomImages(2, shape);
        const got = tf.tidy(() =>
          enc.forward(ctx, tf.tensor4d(img, shape as [number, number, number, number])).arraySync(),
        );
        const ref = vit64(P, 'enc', Float64Array.from(img), shape, spec, [2, 2]);
        const diff = maxAbsDiff(got.flat(), ref.feats.flat());
        assert.ok(diff < 1e-4, `${shape}: max diff ${diff}`);
      }
      ps.dispose();
    });

    it(`parameter gradients equal float64 central differences on ${backend}`, async function () {
      this.timeout(60000);
      await useBackend(backend);
      const { ps, ctx, enc } = tinyVit(3);
      const img = randomImages(4, SHAPE);
      const rng = new Rng(5);
      const weights = Array.from({ length: SHAPE[0] * CFG.width }, () => rng.normal());
      const vars = ps.trainable().map((p) => p.variable);
      const grads = tf.tidy(() => {
        const x = tf.tensor4d(img, SHAPE as [number, number, number, number]);
        const w = tf.tensor2d(weights, [SHAPE[0], CFG.width]);
        const { grads: g } = tf.variableGrads(
          () => tf.sum(tf.mul(enc.forward(ctx, x), w)) as tf.Scalar,
          vars,
        );
        return ps.trainable().map((p) => Float32Array.from(g[p.variable.name].dataSync()));
      });
      const P = params64(ps);
      const spec = vitSpec(CFG);
      const img64 = Float64Array.from(img);
      const f = () =>
        vit64(P, 'enc', img64, SHAPE, spec, [2, 2])
          .feats.flat()
          .reduce((s, v, i) => s + v * weights[i], 0);
      const eps = 1e-5;
      let worst = 0;
      let largest = 0;
      ps.trainable().forEach((p, pi) => {
        const arr = P.get(p.name) as Float64Array;
        for (let i = 0; i < arr.length; i++) {
          const keep = arr[i];
          arr[i] = keep + eps;
          const up = f();
          arr[i] = keep - eps;
          const down = f();
          arr[i] = keep;
          const fd = (up - down) / (2 * eps);
          worst = Math.max(worst, Math.abs(fd - grads[pi][i]) / Math.max(1, Math.abs(fd)));
          largest = Math.max(largest, Math.abs(fd));
        }
      });
      assert.ok(largest > 0.1, 'gradients are not trivially small');
      assert.ok(worst < 1e-4, `max relative gradient error ${worst}`);
      ps.dispose();
    });
  }

  it('position-table resizing: identity on the training grid, bilinear (half-pixel) otherwise', () => {
    const rng = new Rng(7);
    const d = 3;
    const values = Array.from({ length: (1 + 6) * d }, () => rng.normal());
    const table = tf.tensor3d(values, [1, 7, d]);
    assert.equal(interpolatePosEmbed(table, [2, 3], [2, 3]), table);
    const grid = Array.from({ length: 2 }, (_, y) =>
      Array.from({ length: 3 }, (_, x) => values.slice((1 + y * 3 + x) * d, (2 + y * 3 + x) * d)),
    );
    for (const to of [
      [4, 5],
      [1, 2],
      [3, 3],
    ] as [number, number][]) {
      const got = interpolatePosEmbed(table, [2, 3], to).dataSync();
      const ref = [...values.slice(0, d), ...bilinear64(grid, to).flat(2)];
      assert.ok(maxAbsDiff(got, ref) < 1e-5, `${to}: ${maxAbsDiff(got, ref)}`);
    }
  });

  it("sin-cos table equals MoCo v3's official function (python3-torch fixture)", () => {
    const file = path.join(__dirname, '..', 'fixtures', 'vit', 'sincos.json');
    const cases = JSON.parse(fs.readFileSync(file, 'utf8')) as {
      gh: number;
      gw: number;
      dim: number;
      table: number[];
    }[];
    for (const c of cases) {
      const got = sincosPositionTable(c.gh, c.gw, c.dim);
      assert.ok(maxAbsDiff(got, c.table) < 1e-5, `${c.gh}x${c.gw}x${c.dim}: ${maxAbsDiff(got, c.table)}`);
    }
  });

  it('sin-cos position embedding has no parameter and the forward uses it', () => {
    const ps = new ParamStore(8);
    const ctx: Ctx = { ps, training: true };
    const enc = vit('enc', { ...CFG, posEmbed: 'sincos' }, NORM);
    const x = tf.tensor4d(randomImages(9, SHAPE), SHAPE as [number, number, number, number]);
    const y = enc.forward(ctx, x);
    assert.ok(!ps.params.has('enc.pos_embed'));
    // Swapping two patches changes the output only through the position embedding.
    const swapped = tf.concat(
      [tf.slice(x, [0, 0, 2, 0], [-1, -1, 2, -1]), tf.slice(x, [0, 0, 0, 0], [-1, -1, 2, -1])],
      2,
    );
    assert.ok(maxAbsDiff(y.dataSync(), enc.forward(ctx, swapped as tf.Tensor4D).dataSync()) > 1e-3);
  });

  it('[CLS] attention maps: [B, heads, gh, gw], the float64 attention row without its [CLS] entry', () => {
    const { ps, ctx, enc } = tinyVit(10);
    const shape = [2, 4, 6, 3];
    const img = randomImages(11, shape);
    const maps = enc.attention(ctx, tf.tensor4d(img, shape as [number, number, number, number]));
    assert.deepEqual(maps.shape, [2, 2, 2, 3]);
    const ref = vit64(params64(ps), 'enc', Float64Array.from(img), shape, vitSpec(CFG), [2, 2]);
    const expected = ref.lastAttn.map((perHead) => perHead.map((rows) => rows[0].slice(1)));
    assert.ok(maxAbsDiff(maps.dataSync(), expected.flat(2)) < 1e-5);
    // The [CLS] query also attends to itself, so the patch part sums to less than one.
    for (const s of tf.sum(maps, [2, 3]).dataSync()) assert.ok(s > 0 && s < 1);
  });

  it('frozen patch projection: not trainable, no gradient, values kept', () => {
    const ps = new ParamStore(12);
    const ctx: Ctx = { ps, training: true };
    const enc = vit('enc', CFG, NORM, { freezePatchEmbed: true });
    const x = tf.tensor4d(randomImages(13, SHAPE), SHAPE as [number, number, number, number]);
    enc.forward(ctx, x);
    const trainable = ps.trainable().map((p) => p.name);
    assert.ok(!trainable.some((n) => n.includes('patch_embed')));
    assert.ok(trainable.includes('enc.cls_token') && trainable.includes('enc.pos_embed'));
    assert.ok(ps.params.has('enc.patch_embed.proj.weight'));
    assert.equal(ps.params.get('enc.patch_embed.proj.weight')?.variable.trainable, false);
    // The default keeps it trainable.
    const ps2 = new ParamStore(12);
    vit('enc', CFG, NORM).forward({ ps: ps2, training: true }, x);
    assert.ok(ps2.trainable().some((p) => p.name === 'enc.patch_embed.proj.weight'));
  });

  it('makeEncoder builds a ViT, defaults follow ViT-S (heads of 64 channels) and bad shapes are named', () => {
    const enc = makeEncoder('e', { arch: 'vit', width: 128, patchSize: 4, depth: 1 }, NORM, 8);
    assert.equal(enc.dim, 128);
    const ps = new ParamStore(1);
    assert.deepEqual(enc.forward({ ps, training: true }, tf.zeros([1, 8, 8, 3])).shape, [1, 128]);
    assert.deepEqual(ps.params.get('e.pos_embed')?.variable.shape, [1, 5, 128]);
    assert.equal(vitSpec({ arch: 'vit', width: 384 }).heads, 6);
    assert.throws(() => vitSpec({ arch: 'vit', width: 10, heads: 3 }), /encoder.width 10 .*encoder.heads 3/);
    assert.throws(
      () => enc.forward({ ps, training: true }, tf.zeros([1, 6, 6, 3])),
      /not a multiple of encoder.patchSize 4/,
    );
  });
});
