/**
 * Section "conv-kernels": our wasm conv gradient kernels against the stock ones and a forward conv,
 * on [128,32,32,32] * 3x3x32x64 at stride 1 and 2 (moved here from test/trainer/backend.test.ts).
 * Runs in this process on the wasm backend with the first of --threads.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../trainer/backend/choose';
import { setStridedInputGradMethod, withStockConv2DBackpropInput } from '../trainer/backend/wasm-kernels';
import type { BenchSection } from './section';

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

function maxDiff(a: Float32Array, b: Float32Array): { abs: number; ref: number } {
  let abs = 0;
  let ref = 0;
  for (let i = 0; i < a.length; i++) {
    abs = Math.max(abs, Math.abs(a[i] - b[i]));
    ref = Math.max(ref, Math.abs(b[i]));
  }
  return { abs, ref };
}

export const convKernelsSection: BenchSection = {
  name: 'conv-kernels',
  description: 'wasm conv gradient kernels vs stock and forward, [128,32,32,32] * 3x3x32x64',
  async run(opts, log) {
    const info = await initBackend('wasm', { threads: opts.threads[0] });
    const once = (fn: () => tf.Tensor, keep: boolean): { ms: number; out?: Float32Array } => {
      let out: Float32Array | undefined;
      const t0 = performance.now();
      tf.tidy(() => {
        const r = fn().dataSync();
        if (keep) out = Float32Array.from(r);
      });
      return { ms: performance.now() - t0, out };
    };
    const x = tf.randomUniform([128, 32, 32, 32], -1, 1, 'float32', 13) as tf.Tensor4D;
    const w = tf.randomUniform([3, 3, 32, 64], -1, 1, 'float32', 14) as tf.Tensor4D;
    const rounds = opts.steps ?? 3;
    const rows: Record<string, unknown>[] = [];
    const lines: string[] = [`wasm, ${info.threads} thread(s), median of ${rounds}`];
    for (const stride of [1, 2]) {
      const attrs = { strides: stride, pad: 'same', dataFormat: 'NHWC' };
      const dy = tf.tidy(() => tf.conv2d(x, w, stride, 'same'));
      const inputGrad = () =>
        tf
          .engine()
          .runKernel(
            tf.Conv2DBackpropInput,
            { dy, filter: w },
            { ...attrs, inputShape: x.shape },
          ) as tf.Tensor;
      const ops: Record<string, () => tf.Tensor> = {
        forward: () => tf.conv2d(x, w, stride, 'same'),
        stockInput: () => withStockConv2DBackpropInput(inputGrad),
        newInput: inputGrad,
        zeroInsertInput: () => {
          setStridedInputGradMethod('zero-insert');
          try {
            return inputGrad();
          } finally {
            setStridedInputGradMethod('phases');
          }
        },
        newFilter: () =>
          tf
            .engine()
            .runKernel(tf.Conv2DBackpropFilter, { x, dy }, { ...attrs, filterShape: w.shape }) as tf.Tensor,
      };
      // Warm every op up (XNNPACK operator creation, heap growth), then interleave timed rounds.
      const outs: Record<string, Float32Array> = {};
      for (const [name, fn] of Object.entries(ops)) outs[name] = once(fn, true).out!;
      const times: Record<string, number[]> = Object.fromEntries(Object.keys(ops).map((k) => [k, []]));
      for (let r = 0; r < rounds; r++)
        for (const [name, fn] of Object.entries(ops)) times[name].push(once(fn, false).ms);
      const ms = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
      const agree = maxDiff(outs.newInput, outs.stockInput);
      rows.push({ stride, ms, newVsStockDx: agree });
      lines.push(
        `stride ${stride}: forward ${ms.forward.toFixed(0)} ms | Conv2DBackpropInput stock ${ms.stockInput.toFixed(0)}, ours ${ms.newInput.toFixed(0)}` +
          (stride > 1 ? ` (zero-insert ${ms.zeroInsertInput.toFixed(0)})` : '') +
          ` | Conv2DBackpropFilter ours ${ms.newFilter.toFixed(0)} | ours vs stock dx max |diff| ${agree.abs.toExponential(2)} (max ${agree.ref.toPrecision(3)})`,
      );
      log(`  ${lines.at(-1)}`);
      dy.dispose();
    }
    tf.dispose([x, w]);
    return { data: { threads: info.threads, rows }, text: lines.join('\n') };
  },
};
