/**
 * Section "conv-kernels": our wasm conv gradient kernels against a forward conv of the same layer,
 * on the CIFAR ResNet-18 layer shapes at the training step's batch (2 views x --batch), both
 * filter-gradient algorithms interleaved. Runs in this process on the wasm backend with the first
 * of --threads; --steps sets the timed rounds (median reported).
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../trainer/backend/choose';
import { type FilterGradMethod, setFilterGradMethod } from '../trainer/backend/wasm-kernels';
import { filterGradient, inputGradient } from './conv-ops';
import type { BenchSection } from './section';

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

/** [spatial size, in channels, out channels, kernel, stride] of each distinct ResNet-18 conv. */
export const RESNET18_LAYERS: [number, number, number, number, number][] = [
  [32, 3, 64, 3, 1],
  [32, 64, 64, 3, 1],
  [32, 64, 128, 3, 2],
  [32, 64, 128, 1, 2],
  [16, 128, 128, 3, 1],
  [16, 128, 256, 3, 2],
  [16, 128, 256, 1, 2],
  [8, 256, 256, 3, 1],
  [8, 256, 512, 3, 2],
  [8, 256, 512, 1, 2],
  [4, 512, 512, 3, 1],
];

function relDiff(a: Float32Array, b: Float32Array): number {
  let abs = 0;
  let ref = 0;
  for (let i = 0; i < a.length; i++) {
    abs = Math.max(abs, Math.abs(a[i] - b[i]));
    ref = Math.max(ref, Math.abs(b[i]));
  }
  return ref === 0 ? abs : abs / ref;
}

export const convKernelsSection: BenchSection = {
  name: 'conv-kernels',
  description: 'wasm conv gradient kernels vs a forward conv, ResNet-18 layer shapes',
  async run(opts, log) {
    const info = await initBackend('wasm', { threads: opts.threads[0] });
    const n = 2 * opts.batch;
    const rounds = opts.steps ?? 3;
    const once = (fn: () => tf.Tensor, keep: boolean): { ms: number; out?: Float32Array } => {
      let out: Float32Array | undefined;
      const t0 = performance.now();
      tf.tidy(() => {
        const r = fn().dataSync();
        if (keep) out = Float32Array.from(r);
      });
      return { ms: performance.now() - t0, out };
    };
    const rows: Record<string, unknown>[] = [];
    const lines: string[] = [
      `wasm, ${info.threads} thread(s), batch ${n}, median of ${rounds}, ms per call`,
      'layer                              forward  dx(ours)  dW conv  dW taps  taps/conv  |taps-conv|/max',
    ];
    for (const [h, ci, co, k, stride] of RESNET18_LAYERS) {
      const label = `x[${n},${h},${h},${ci}] k${k} co${co} s${stride}`;
      const x = tf.randomUniform([n, h, h, ci], -1, 1, 'float32', 13) as tf.Tensor4D;
      const w = tf.randomUniform([k, k, ci, co], -1, 1, 'float32', 14) as tf.Tensor4D;
      const dy = tf.tidy(() => tf.conv2d(x, w, stride, 'same'));
      const filterGrad = (method: FilterGradMethod) => () => {
        setFilterGradMethod(method);
        try {
          return filterGradient(x, dy, w.shape, stride);
        } finally {
          setFilterGradMethod('auto');
        }
      };
      const ops: Record<string, () => tf.Tensor> = {
        // A fresh filter each call, as in training (the weights change every step, and wasm's conv
        // re-lays out and packs each new filter).
        forward: () => tf.conv2d(x, tf.add(w, 0) as tf.Tensor4D, stride, 'same'),
        input: () => inputGradient(dy, w, x.shape, stride),
        filterConv: filterGrad('conv'),
        filterTaps: filterGrad('taps'),
      };
      // Warm every op up (XNNPACK operator creation, heap growth), then interleave timed rounds.
      const outs: Record<string, Float32Array> = {};
      for (const [name, fn] of Object.entries(ops)) outs[name] = once(fn, name.startsWith('filter')).out!;
      const times: Record<string, number[]> = Object.fromEntries(Object.keys(ops).map((key) => [key, []]));
      for (let r = 0; r < rounds; r++)
        for (const [name, fn] of Object.entries(ops)) times[name].push(once(fn, false).ms);
      const ms = Object.fromEntries(Object.entries(times).map(([key, v]) => [key, median(v)]));
      const agree = relDiff(outs.filterTaps, outs.filterConv);
      rows.push({ layer: label, ms, tapsVsConvRel: agree });
      const f = (v: number) => v.toFixed(0).padStart(8);
      lines.push(
        `${label.padEnd(34)} ${f(ms.forward)}  ${f(ms.input)} ${f(ms.filterConv)} ${f(ms.filterTaps)}  ${(ms.filterTaps / ms.filterConv).toFixed(2).padStart(9)}  ${agree.toExponential(1)}`,
      );
      log(`  ${lines.at(-1)}`);
      tf.dispose([x, w, dy]);
    }
    return { data: { threads: info.threads, batch: n, rows }, text: lines.join('\n') };
  },
};
