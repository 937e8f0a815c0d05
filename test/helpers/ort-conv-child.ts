/**
 * Child process for test/trainer/ort-convs.test.ts. The onnxruntime backend needs the single-threaded
 * wasm heap, which a process fixes once (other unit tests start wasm with threads), so these checks
 * run in a fresh process: each geometry's forward conv and both gradients on the onnxruntime kernels,
 * on the wasm kernels they replace, and on tfjs's cpu backend (an independent implementation that
 * reads elements one by one). Prints one JSON line.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../trainer/backend/choose';
import {
  ortConvKernelsRegistered,
  ortKernelCalls,
  registerOrtConvKernels,
  setOrtChunkBytes,
  unregisterOrtConvKernels,
} from '../../trainer/backend/ort-convs';
import { uniformArray } from './random';

type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
export interface ConvCase {
  label: string;
  x: [number, number, number, number];
  k: [number, number];
  out: number;
  stride: number | [number, number];
  pad: Pad;
  dilation?: number;
  rounding?: 'ceil' | 'round';
}

export interface CaseResult {
  label: string;
  /** max |a - b| / max |b| of y, dx, dW: onnxruntime vs cpu, and the wasm kernels vs cpu. */
  ortVsCpu: number[];
  wasmVsCpu: number[];
  ortCalls: number;
  fallbackCalls: number;
}

function relErr(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let abs = 0;
  let ref = 0;
  for (let i = 0; i < a.length; i++) {
    abs = Math.max(abs, Math.abs(a[i] - b[i]));
    ref = Math.max(ref, Math.abs(b[i]));
  }
  return ref === 0 ? abs : abs / ref;
}

/** y, dx, dW of sum(conv(x, w) * r) for fixed x, w, r, on the current backend. */
function convAndGrads(c: ConvCase): Float32Array[] {
  return tf.tidy(() => {
    const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
    const wShape: [number, number, number, number] = [c.k[0], c.k[1], c.x[3], c.out];
    const x = tf.tensor4d(uniformArray(size(c.x), 1), c.x);
    const w = tf.tensor4d(uniformArray(size(wShape), 2), wShape);
    const conv = (xx: tf.Tensor4D, ww: tf.Tensor4D) =>
      tf.conv2d(xx, ww, c.stride, c.pad as 'same', 'NHWC', c.dilation ?? 1, c.rounding);
    const y = conv(x, w);
    // tfjs's conv2d gradient drops dimRoundingMode (upstream), so such layers are checked forward only.
    if (c.rounding !== undefined) return [Float32Array.from(y.dataSync())];
    const r = tf.tensor(uniformArray(y.size, 3), y.shape);
    const [dx, dw] = tf.grads((xx: tf.Tensor, ww: tf.Tensor) =>
      tf.sum(tf.mul(conv(xx as tf.Tensor4D, ww as tf.Tensor4D), r)),
    )([x, w]);
    return [y, dx, dw].map((t) => Float32Array.from(t.dataSync()));
  });
}

async function main(): Promise<void> {
  if (process.argv[2] === 'auto') {
    // What a fresh trainer process picks with nothing requested.
    const auto = await initBackend('auto');
    process.stdout.write(`${JSON.stringify(auto)}\n`);
    return;
  }
  const cases = JSON.parse(process.argv[2]) as ConvCase[];
  const info = await initBackend('onnxruntime', { threads: 2 });
  // Every kernel then runs its batch in several chunks, as big layers do in training.
  setOrtChunkBytes(16 * 1024);
  const results: CaseResult[] = [];
  let tensorsBefore = -1;
  for (const c of cases) {
    await tf.setBackend('cpu');
    const ref = convAndGrads(c);
    await tf.setBackend('wasm');
    unregisterOrtConvKernels();
    const wasm = convAndGrads(c);
    registerOrtConvKernels();
    const before = { ...ortKernelCalls };
    if (tensorsBefore < 0) tensorsBefore = tf.memory().numTensors;
    const ort = convAndGrads(c);
    results.push({
      label: c.label,
      ortVsCpu: ort.map((a, i) => relErr(a, ref[i])),
      wasmVsCpu: wasm.map((a, i) => relErr(a, ref[i])),
      ortCalls: ortKernelCalls.ort - before.ort,
      fallbackCalls: ortKernelCalls.fallback - before.fallback,
    });
  }
  process.stdout.write(
    `${JSON.stringify({
      backend: info.name,
      reason: info.reason,
      registered: ortConvKernelsRegistered(),
      results,
      tensorsBefore,
      tensorsAfter: tf.memory().numTensors,
    })}\n`,
  );
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
