/**
 * The wasm training kernels against the stock cpu backend (an independent implementation that reads
 * elements one by one), and the backend chooser in this environment (no tfjs-node packages).
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { BACKEND_ENV_VAR, describeBackend, initBackend, THREADS_ENV_VAR } from '../../trainer/backend/choose';
import { unregisterOrtConvKernels } from '../../trainer/backend/ort-convs';
import {
  registerWasmTrainingKernels,
  type StridedInputGradMethod,
  setFilterGradMethod,
  setStridedInputGradMethod,
  WASM_TRAINING_KERNELS,
  wasmTrainingKernelsRegistered,
  withStockConv2DBackpropInput,
} from '../../trainer/backend/wasm-kernels';
import { findThreadedFiles, resolveThreads } from '../../trainer/backend/wasm-threads';
import { uniformArray } from '../helpers/random';

type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Runs fn on one backend and copies its results out as typed arrays. */
async function onBackend(name: string, fn: () => tf.Tensor[]): Promise<Float32Array[]> {
  assert.ok(await tf.setBackend(name), `backend ${name} did not initialise`);
  return tf.tidy(() => fn().map((t) => Float32Array.from(t.dataSync())));
}

interface Diff {
  maxAbs: number;
  maxRef: number;
}

function compare(got: Float32Array, ref: Float32Array): Diff {
  assert.equal(got.length, ref.length, 'length mismatch');
  let maxAbs = 0;
  let maxRef = 0;
  for (let i = 0; i < ref.length; i++) {
    assert.ok(Number.isFinite(got[i]), `non-finite value at ${i}`);
    maxAbs = Math.max(maxAbs, Math.abs(got[i] - ref[i]));
    maxRef = Math.max(maxRef, Math.abs(ref[i]));
  }
  return { maxAbs, maxRef };
}

/** Float32 gradients over tens to hundreds of terms: scale the tolerance by the magnitude. */
function assertClose(label: string, got: Float32Array, ref: Float32Array, record: Map<string, Diff>): void {
  const d = compare(got, ref);
  record.set(label, d);
  const tol = 1e-4 * Math.max(1, d.maxRef);
  assert.ok(d.maxAbs <= tol, `${label}: max |diff| ${d.maxAbs} > ${tol} (max |ref| ${d.maxRef})`);
  // A reference of all zeros would make the comparison vacuous.
  assert.ok(d.maxRef > 0, `${label}: reference is all zeros`);
}

const diffs = new Map<string, Diff>();

function printDiffs(title: string, keys: (k: string) => boolean): void {
  const rows = [...diffs.entries()].filter(([k]) => keys(k));
  if (rows.length === 0) return;
  let worstRel = 0;
  console.log(`      ${title}: max |wasm - cpu| per case (max |cpu| in brackets)`);
  for (const [k, d] of rows) {
    worstRel = Math.max(worstRel, d.maxAbs / Math.max(1e-30, d.maxRef));
    console.log(`        ${k.padEnd(58)} ${d.maxAbs.toExponential(2)}  [${d.maxRef.toPrecision(3)}]`);
  }
  console.log(`      worst relative: ${worstRel.toExponential(2)}`);
}

describe('wasm training kernels', function () {
  this.timeout(300_000);

  before(async () => {
    registerWasmTrainingKernels();
    assert.ok(await tf.setBackend('wasm'));
    await tf.ready();
  });

  after(() => {
    printDiffs('conv2d', (k) => k.startsWith('conv2d'));
    printDiffs('depthwise', (k) => k.startsWith('depthwise'));
    printDiffs('gather / segment sum', (k) => k.startsWith('gather') || k.startsWith('segment'));
  });

  it('registers idempotently and replaces the stock Conv2DBackpropInput', () => {
    registerWasmTrainingKernels();
    registerWasmTrainingKernels();
    assert.ok(wasmTrainingKernelsRegistered());
    for (const name of WASM_TRAINING_KERNELS) assert.ok(tf.getKernel(name, 'wasm'), name);
    // Restoring the stock kernel temporarily must hand ours back afterwards.
    withStockConv2DBackpropInput(() => assert.ok(!wasmTrainingKernelsRegistered()));
    assert.ok(wasmTrainingKernelsRegistered());
  });

  interface ConvCase {
    n: number;
    h: number;
    w: number;
    ci: number;
    co: number;
    k: number;
    stride: number;
    pad: Pad;
  }
  const convCases: ConvCase[] = [
    { n: 2, h: 8, w: 8, ci: 3, co: 4, k: 3, stride: 1, pad: 'same' },
    { n: 2, h: 8, w: 8, ci: 3, co: 4, k: 3, stride: 2, pad: 'same' },
    { n: 2, h: 7, w: 9, ci: 3, co: 5, k: 3, stride: 2, pad: 'same' },
    { n: 2, h: 8, w: 6, ci: 3, co: 4, k: 3, stride: 2, pad: 'valid' },
    { n: 2, h: 9, w: 9, ci: 16, co: 8, k: 3, stride: 2, pad: 'valid' },
    { n: 1, h: 10, w: 10, ci: 1, co: 16, k: 7, stride: 2, pad: 'same' },
    { n: 1, h: 11, w: 12, ci: 3, co: 16, k: 7, stride: 1, pad: 'same' },
    { n: 2, h: 12, w: 12, ci: 3, co: 8, k: 7, stride: 2, pad: 'valid' },
    { n: 2, h: 6, w: 6, ci: 16, co: 16, k: 1, stride: 1, pad: 'same' },
    { n: 2, h: 6, w: 7, ci: 16, co: 3, k: 1, stride: 2, pad: 'valid' },
    { n: 2, h: 8, w: 8, ci: 16, co: 16, k: 1, stride: 2, pad: 'same' },
    { n: 2, h: 7, w: 6, ci: 3, co: 4, k: 1, stride: 2, pad: 1 },
    { n: 2, h: 9, w: 8, ci: 3, co: 4, k: 5, stride: 2, pad: 'same' },
    { n: 2, h: 10, w: 10, ci: 1, co: 3, k: 5, stride: 1, pad: 'valid' },
    { n: 2, h: 8, w: 8, ci: 3, co: 4, k: 3, stride: 2, pad: 1 },
    { n: 2, h: 9, w: 9, ci: 3, co: 4, k: 3, stride: 1, pad: 4 },
    {
      n: 2,
      h: 8,
      w: 9,
      ci: 3,
      co: 4,
      k: 3,
      stride: 2,
      pad: [
        [0, 0],
        [0, 2],
        [3, 1],
        [0, 0],
      ],
    },
  ];

  // Strided input gradients and filter gradients have two algorithms each; the alternative ones
  // (zero-insert dx, dW as one conv with dy as the filter) are re-checked together on every case.
  const convRuns = [
    ...convCases.map((c) => ({ c, method: 'phases' as StridedInputGradMethod })),
    ...convCases.map((c) => ({ c, method: 'zero-insert' as StridedInputGradMethod })),
  ];
  for (const { c, method } of convRuns) {
    const padLabel = Array.isArray(c.pad) ? JSON.stringify(c.pad.slice(1, 3)) : String(c.pad);
    const label = `conv2d x[${c.n},${c.h},${c.w},${c.ci}] k${c.k} co${c.co} s${c.stride} ${padLabel}${method === 'zero-insert' ? ' (zero-insert dx, conv dW)' : ''}`;
    it(`${label}: dx, dW match cpu`, async () => {
      setStridedInputGradMethod(method);
      setFilterGradMethod(method === 'zero-insert' ? 'conv' : 'taps');
      const xShape = [c.n, c.h, c.w, c.ci] as [number, number, number, number];
      const wShape = [c.k, c.k, c.ci, c.co] as [number, number, number, number];
      const xData = uniformArray(size(xShape), 1);
      const wData = uniformArray(size(wShape), 2);
      const run = () => {
        const x = tf.tensor4d(xData, xShape);
        const w = tf.tensor4d(wData, wShape);
        const conv = (xi: tf.Tensor4D, wi: tf.Tensor4D) => tf.conv2d(xi, wi, c.stride, c.pad);
        const outShape = conv(x, w).shape;
        // A random projection of the output makes every dy entry different, so misplaced rows or
        // columns of the gradient cannot cancel out.
        const r = tf.tensor(uniformArray(size(outShape), 3), outShape);
        const loss = (xi: tf.Tensor, wi: tf.Tensor) =>
          tf.sum(tf.mul(conv(xi as tf.Tensor4D, wi as tf.Tensor4D), r));
        return tf.grads(loss)([x, w]);
      };
      const [gx, gw] = await onBackend('wasm', run).finally(() => {
        setStridedInputGradMethod('phases');
        setFilterGradMethod('auto');
      });
      const [rx, rw] = await onBackend('cpu', run);
      assertClose(`${label} dx`, gx, rx, diffs);
      assertClose(`${label} dW`, gw, rw, diffs);
    });
  }

  interface DwCase {
    n: number;
    h: number;
    w: number;
    c: number;
    mult: number;
    k: number;
    stride: number;
    pad: Pad;
  }
  const dwCases: DwCase[] = [
    { n: 2, h: 8, w: 8, c: 3, mult: 1, k: 3, stride: 1, pad: 'same' },
    { n: 2, h: 8, w: 8, c: 16, mult: 1, k: 3, stride: 2, pad: 'same' },
    { n: 2, h: 9, w: 7, c: 3, mult: 2, k: 3, stride: 2, pad: 'same' },
    { n: 2, h: 9, w: 9, c: 1, mult: 3, k: 5, stride: 1, pad: 'valid' },
    { n: 1, h: 12, w: 12, c: 16, mult: 1, k: 7, stride: 2, pad: 'valid' },
    { n: 2, h: 6, w: 6, c: 3, mult: 1, k: 1, stride: 2, pad: 'same' },
    { n: 2, h: 8, w: 8, c: 3, mult: 2, k: 3, stride: 2, pad: 1 },
  ];
  for (const c of dwCases) {
    const label = `depthwise x[${c.n},${c.h},${c.w},${c.c}] k${c.k} mult${c.mult} s${c.stride} ${c.pad}`;
    it(`${label}: dx, dW match cpu`, async () => {
      const xShape = [c.n, c.h, c.w, c.c] as [number, number, number, number];
      const wShape = [c.k, c.k, c.c, c.mult] as [number, number, number, number];
      const xData = uniformArray(size(xShape), 4);
      const wData = uniformArray(size(wShape), 5);
      const run = () => {
        const x = tf.tensor4d(xData, xShape);
        const w = tf.tensor4d(wData, wShape);
        const conv = (xi: tf.Tensor, wi: tf.Tensor) =>
          tf.depthwiseConv2d(xi as tf.Tensor4D, wi as tf.Tensor4D, c.stride, c.pad);
        const outShape = conv(x, w).shape;
        const r = tf.tensor(uniformArray(size(outShape), 6), outShape);
        return tf.grads((xi: tf.Tensor, wi: tf.Tensor) => tf.sum(tf.mul(conv(xi, wi), r)))([x, w]);
      };
      const [gx, gw] = await onBackend('wasm', run);
      const [rx, rw] = await onBackend('cpu', run);
      assertClose(`${label} dx`, gx, rx, diffs);
      assertClose(`${label} dW`, gw, rw, diffs);
    });
  }

  const gatherCases = [
    { shape: [10, 4], indices: [3, 1, 3, 9, 0, 3], axis: 0 },
    { shape: [6, 5, 3], indices: [4, 4, 0, 2], axis: 1 },
    { shape: [7, 16], indices: [0, 6, 6, 6, 2], axis: 0 },
  ];
  for (const c of gatherCases) {
    const label = `gather x[${c.shape}] axis${c.axis} idx[${c.indices}]`;
    it(`${label}: gradient (UnsortedSegmentSum) matches cpu`, async () => {
      const xData = uniformArray(size(c.shape), 7);
      const run = () => {
        const x = tf.tensor(xData, c.shape);
        const idx = tf.tensor1d(c.indices, 'int32');
        const outShape = tf.gather(x, idx, c.axis).shape;
        const r = tf.tensor(uniformArray(size(outShape), 8), outShape);
        return [tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(tf.gather(xi, idx, c.axis), r)))(x)];
      };
      const [g] = await onBackend('wasm', run);
      const [ref] = await onBackend('cpu', run);
      assertClose(`${label} dx`, g, ref, diffs);
    });
  }

  for (const method of ['phases', 'zero-insert'] as const) {
    it(`conv kernels called directly with dimRoundingMode 'ceil' (a window past the padding), ${method}`, async () => {
      // Not through tf.conv2d: wasm's own forward conv gets this case wrong (XNNPACK sizes the output
      // with floor and leaves the last row and column unwritten), so feed both backends the same dy.
      const xShape = [2, 8, 8, 3] as [number, number, number, number];
      const wShape = [3, 3, 3, 4] as [number, number, number, number];
      const attrs = { strides: 2, pad: 1, dataFormat: 'NHWC', dimRoundingMode: 'ceil' };
      const dyShape = [2, 5, 5, 4];
      const xData = uniformArray(size(xShape), 15);
      const wData = uniformArray(size(wShape), 16);
      const dyData = uniformArray(size(dyShape), 17);
      const run = () => {
        const x = tf.tensor4d(xData, xShape);
        const w = tf.tensor4d(wData, wShape);
        const dy = tf.tensor(dyData, dyShape);
        return [
          tf
            .engine()
            .runKernel(
              tf.Conv2DBackpropInput,
              { dy, filter: w },
              { ...attrs, inputShape: xShape },
            ) as tf.Tensor,
          tf
            .engine()
            .runKernel(tf.Conv2DBackpropFilter, { x, dy }, { ...attrs, filterShape: wShape }) as tf.Tensor,
        ];
      };
      setStridedInputGradMethod(method);
      const [gx, gw] = await onBackend('wasm', run).finally(() => setStridedInputGradMethod('phases'));
      const [rx, rw] = await onBackend('cpu', run);
      assertClose(`conv2d direct x[2,8,8,3] k3 s2 pad1 ceil ${method} dx`, gx, rx, diffs);
      assertClose(`conv2d direct x[2,8,8,3] k3 s2 pad1 ceil ${method} dW`, gw, rw, diffs);
    });
  }

  it('UnsortedSegmentSum directly: dropped ids, empty segments, int32 data, several one-hot blocks', async () => {
    // Reference in plain JS (TF semantics: ids outside [0, numSegments) are dropped). Ids repeat
    // about twice each and leave the top segments empty; 3000 x 2000 one-hot entries exceed the
    // kernel's block bound, so it accumulates over several matMuls.
    const n = 3000;
    const segs = 2000;
    const width = 3;
    const xData = uniformArray(n * width, 18);
    const ids = Int32Array.from({ length: n }, (_, i) => ((i * 7919) % 1540) - 20);
    const ref = new Float32Array(segs * width);
    for (let i = 0; i < n; i++) {
      if (ids[i] < 0 || ids[i] >= segs) continue;
      for (let j = 0; j < width; j++) ref[ids[i] * width + j] += xData[i * width + j];
    }
    const intData = Int32Array.from(xData, (v) => Math.round(v * 10));
    const intRef = new Float32Array(segs * width);
    for (let i = 0; i < n; i++) {
      if (ids[i] < 0 || ids[i] >= segs) continue;
      for (let j = 0; j < width; j++) intRef[ids[i] * width + j] += intData[i * width + j];
    }
    await tf.setBackend('wasm');
    const [got, gotInt, dtype] = tf.tidy(() => {
      const idsT = tf.tensor1d(ids, 'int32');
      const f = tf.unsortedSegmentSum(tf.tensor2d(xData, [n, width]), idsT, segs);
      const i = tf.unsortedSegmentSum(tf.tensor2d(intData, [n, width], 'int32'), idsT, segs);
      return [Float32Array.from(f.dataSync()), Float32Array.from(i.dataSync()), i.dtype] as const;
    });
    assert.equal(dtype, 'int32');
    assertClose('segment sum 3000 ids into 2000 (JS reference)', got, ref, diffs);
    assertClose('segment sum int32 (JS reference)', gotInt, intRef, diffs);
  });

  it('BatchMatMul with transposed operands, and the gradient of a dense layer, match a JS reference', async () => {
    // The kernel turns transposes into explicit ones before the stock XNNPACK multiply: every
    // combination on a batch of 2 (shapes chosen so a wrong transpose cannot line up).
    await tf.setBackend('wasm');
    const [batch, m, k, n] = [2, 5, 7, 3];
    const aData = uniformArray(batch * m * k, 31);
    const bData = uniformArray(batch * k * n, 32);
    const ref = new Float32Array(batch * m * n);
    for (let p = 0; p < batch; p++)
      for (let i = 0; i < m; i++)
        for (let j = 0; j < n; j++) {
          let acc = 0;
          for (let t = 0; t < k; t++) acc += aData[p * m * k + i * k + t] * bData[p * k * n + t * n + j];
          ref[p * m * n + i * n + j] = acc;
        }
    // The operands as they would be stored when transposed: [batch, k, m] and [batch, n, k].
    const stored = (data: Float32Array, rows: number, cols: number) => {
      const out = new Float32Array(data.length);
      for (let p = 0; p < batch; p++)
        for (let r = 0; r < rows; r++)
          for (let c = 0; c < cols; c++)
            out[p * rows * cols + c * rows + r] = data[p * rows * cols + r * cols + c];
      return out;
    };
    const aT = stored(aData, m, k);
    const bT = stored(bData, k, n);
    for (const [ta, tb] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ] as const) {
      const got = tf.tidy(() => {
        const a = ta ? tf.tensor3d(aT, [batch, k, m]) : tf.tensor3d(aData, [batch, m, k]);
        const b = tb ? tf.tensor3d(bT, [batch, n, k]) : tf.tensor3d(bData, [batch, k, n]);
        return Float32Array.from(tf.matMul(a, b, ta, tb).dataSync());
      });
      assertClose(`matmul transposeA ${ta} transposeB ${tb} (JS reference)`, got, ref, diffs);
    }
    // d/dW sum(x W) = x^T 1 and d/dx = 1 W^T: the backward pass's transposed products.
    const x = uniformArray(m * k, 33);
    const w = uniformArray(k * n, 34);
    const [gx, gw] = tf.tidy(() =>
      tf
        .grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D)))([
          tf.tensor2d(x, [m, k]),
          tf.tensor2d(w, [k, n]),
        ])
        .map((g) => Float32Array.from(g.dataSync())),
    );
    const rx = new Float32Array(m * k);
    const rw = new Float32Array(k * n);
    for (let i = 0; i < m; i++)
      for (let t = 0; t < k; t++) for (let j = 0; j < n; j++) rx[i * k + t] += w[t * n + j];
    for (let t = 0; t < k; t++)
      for (let j = 0; j < n; j++) for (let i = 0; i < m; i++) rw[t * n + j] += x[i * k + t];
    assertClose('matmul gradient dx (JS reference)', gx, rx, diffs);
    assertClose('matmul gradient dW (JS reference)', gw, rw, diffs);
  });

  it('leaks no tensors in forward + backward', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor4d(uniformArray(2 * 8 * 8 * 3, 10), [2, 8, 8, 3]);
    const w = tf.tensor4d(uniformArray(3 * 3 * 3 * 4, 11), [3, 3, 3, 4]);
    const dw = tf.tensor4d(uniformArray(3 * 3 * 3 * 2, 12), [3, 3, 3, 2]);
    const w1 = tf.tensor4d(uniformArray(3 * 5, 19), [1, 1, 3, 5]);
    const idx = tf.tensor1d([1, 0, 1], 'int32');
    const before = tf.memory().numTensors;
    const beforeBytes = tf.memory().numBytes;
    // The engine's counts alone would miss a buffer the kernels incRef'd and never released.
    const beforeIds = tf.backend().numDataIds();
    for (const method of ['phases', 'zero-insert'] as const) {
      setStridedInputGradMethod(method);
      tf.tidy(() => {
        tf.grads((a: tf.Tensor, b: tf.Tensor, d: tf.Tensor, p: tf.Tensor) =>
          tf.addN([
            tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same')),
            tf.sum(tf.depthwiseConv2d(a as tf.Tensor4D, d as tf.Tensor4D, 2, 'same')),
            tf.sum(tf.conv2d(a as tf.Tensor4D, p as tf.Tensor4D, 2, 'valid')),
            tf.sum(tf.gather(a, idx)),
            // Transposed products in the backward pass (BatchMatMul kernel).
            tf.sum(tf.matMul(tf.reshape(a, [128, 3]), tf.reshape(b, [3, 36]))),
          ]),
        )([x, w, dw, w1]);
      });
    }
    setStridedInputGradMethod('phases');
    assert.equal(tf.memory().numTensors, before);
    assert.equal(tf.memory().numBytes, beforeBytes);
    assert.equal(tf.backend().numDataIds(), beforeIds);
    tf.dispose([x, w, dw, w1, idx]);
  });
});

describe('wasm threads', function () {
  this.timeout(120_000);

  it('resolves the thread count from the option, then CONTRASTIVE_LAB_THREADS, then the cores', () => {
    assert.equal(resolveThreads(3, {}), 3);
    assert.equal(resolveThreads(undefined, { [THREADS_ENV_VAR]: ' 2 ' }), 2);
    assert.equal(resolveThreads(1, { [THREADS_ENV_VAR]: '4' }), 1);
    assert.equal(resolveThreads(undefined, {}), os.availableParallelism?.() ?? os.cpus().length);
    assert.throws(
      () => resolveThreads(undefined, { [THREADS_ENV_VAR]: 'two' }),
      /CONTRASTIVE_LAB_THREADS: expected a positive integer, got 'two'/,
    );
    assert.throws(() => resolveThreads(0, {}), /threads: expected a positive integer/);
  });

  it('finds the threaded binary, module script and a worker bootstrap that parses', () => {
    const files = findThreadedFiles();
    for (const f of Object.values(files)) assert.ok(existsSync(f), f);
    const worker = readFileSync(files.worker, 'utf8');
    assert.doesNotThrow(() => new Function(worker), 'worker bootstrap is not valid JavaScript');
    assert.match(worker, /importScripts/);
  });

  it('a fresh process runs 2 threads and computes the conv gradients the 1-thread backend does', async () => {
    // A process can start wasm once, so the threaded side runs in a child.
    const dir = path.join(__dirname, '..', '..', '.test-tmp');
    mkdirSync(dir, { recursive: true });
    const script = path.join(dir, 'wasm-threads-probe.ts');
    const root = path.join(__dirname, '..', '..');
    const probe = (threads: number) => `
      import * as tf from '@tensorflow/tfjs-core';
      import { initBackend } from '${path.join(root, 'trainer/backend/choose')}';
      (async () => {
        const info = await initBackend('wasm', { threads: ${threads} });
        const x = tf.tensor4d(Array.from({ length: 2 * 9 * 9 * 8 }, (_, i) => Math.sin(i)), [2, 9, 9, 8]);
        const w = tf.tensor4d(Array.from({ length: 3 * 3 * 8 * 16 }, (_, i) => Math.cos(i)), [3, 3, 8, 16]);
        const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same'))))([x, w]);
        console.log(JSON.stringify({ threads: info.threads, gx: Array.from(gx.dataSync()), gw: Array.from(gw.dataSync()) }));
      })();`;
    const run = (threads: number) => {
      writeFileSync(script, probe(threads));
      // The timeout also catches a child that computes but never exits (busy pool threads).
      const out = execFileSync(process.execPath, [require.resolve('tsx/cli'), script], {
        cwd: root,
        encoding: 'utf8',
        timeout: 90_000,
      });
      return JSON.parse(out.trim().split('\n').at(-1)!) as { threads: number; gx: number[]; gw: number[] };
    };
    const one = run(1);
    const two = run(2);
    assert.equal(one.threads, 1);
    assert.equal(two.threads, 2);
    for (const k of ['gx', 'gw'] as const) {
      const d = compare(Float32Array.from(two[k]), Float32Array.from(one[k]));
      assert.ok(d.maxAbs <= 1e-5 * Math.max(1, d.maxRef), `${k}: max |diff| ${d.maxAbs} (max ${d.maxRef})`);
    }
  });
});

describe('backend chooser', function () {
  this.timeout(60_000);
  let savedEnv: string | undefined;
  beforeEach(() => {
    savedEnv = process.env[BACKEND_ENV_VAR];
    delete process.env[BACKEND_ENV_VAR];
  });
  afterEach(() => {
    if (savedEnv === undefined) delete process.env[BACKEND_ENV_VAR];
    else process.env[BACKEND_ENV_VAR] = savedEnv;
  });

  it("'auto' falls back to wasm and says why the native backends were skipped", async () => {
    // This process already runs wasm with threads (earlier tests), which the onnxruntime backend
    // cannot share: auto must skip it, say why and land on wasm. (A fresh process picks
    // onnxruntime: test/trainer/ort-convs.test.ts.)
    const running = await initBackend('wasm', { threads: 2 });
    const logs: string[] = [];
    if (running.threads < 2) {
      // wasm started single-threaded in this process (the stock loader, when this file runs
      // alone): onnxruntime can share its heap, so auto picks it.
      const info = await initBackend('auto', { log: (m) => logs.push(m) });
      unregisterOrtConvKernels(); // later tests expect the wasm kernels
      assert.equal(info.name, 'onnxruntime');
      assert.deepEqual(
        info.tried.map((t) => t.name),
        ['tensorflow-gpu', 'tensorflow'],
      );
      return;
    }
    const info = await initBackend('auto', { log: (m) => logs.push(m) });
    assert.equal(info.name, 'wasm');
    assert.equal(info.tfBackend, 'wasm');
    assert.equal(tf.getBackend(), 'wasm');
    assert.ok(wasmTrainingKernelsRegistered(), 'auto must register the training kernels');
    assert.deepEqual(
      info.tried.map((t) => t.name),
      ['tensorflow-gpu', 'tensorflow', 'onnxruntime'],
    );
    assert.match(info.tried[0].error, /@tensorflow\/tfjs-node-gpu not installed/);
    assert.match(info.tried[1].error, /@tensorflow\/tfjs-node not installed/);
    assert.match(info.tried[2].error, /already runs \d+ threads in this process; onnxruntime needs/);
    assert.match(
      info.reason,
      /tfjs-node-gpu not installed; .*tfjs-node not installed; .*onnxruntime needs .*; using wasm \((no )?SIMD/,
    );
    assert.ok(info.threads >= 1);
    assert.match(info.version, /^\d+\.\d+\.\d+/);
    assert.ok(logs.length > 0);
    const line = describeBackend(info);
    assert.match(line, /^wasm \d+\.\d+\.\d+ \(tf backend 'wasm', \d+ threads?\): /);
    console.log(`      ${line}`);
  });

  it("explicit 'tensorflow-gpu' and 'tensorflow' throw, naming the package and how to install it", async () => {
    await assert.rejects(initBackend('tensorflow-gpu'), (e: Error) => {
      assert.match(e.message, /@tensorflow\/tfjs-node-gpu/);
      assert.match(e.message, /npm install @tensorflow\/tfjs-node-gpu/);
      return true;
    });
    await assert.rejects(initBackend('tensorflow'), /npm install @tensorflow\/tfjs-node\b/);
  });

  it(`${BACKEND_ENV_VAR} overrides 'auto' but not an explicit choice`, async () => {
    process.env[BACKEND_ENV_VAR] = 'cpu';
    const viaEnv = await initBackend('auto');
    assert.equal(viaEnv.name, 'cpu');
    assert.equal(tf.getBackend(), 'cpu');
    assert.match(viaEnv.reason, new RegExp(`${BACKEND_ENV_VAR}=cpu`));
    const explicit = await initBackend('wasm');
    assert.equal(explicit.name, 'wasm');
    process.env[BACKEND_ENV_VAR] = 'tpu';
    await assert.rejects(initBackend('auto'), new RegExp(`${BACKEND_ENV_VAR}: unknown backend 'tpu'`));
  });

  it('accepts a wasmDir holding the binaries and rejects one without them', async () => {
    const dir = path.dirname(
      require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm'),
    );
    const info = await initBackend('wasm', { wasmDir: dir });
    assert.equal(info.name, 'wasm');
    await assert.rejects(initBackend('wasm', { wasmDir: __dirname }), /wasm files missing/);
  });
});
