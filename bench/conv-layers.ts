/**
 * Our side of the "conv-layers" benchmark, a child process of bench/run.ts: one convolution layer's
 * forward, input gradient and filter gradient as the training step runs them (the backend's
 * registered kernels), timed per call. One command per stdin line, one JSON line per answer:
 *
 *   layer H CI CO K S ROUNDS   -> {fwd, dx, dw} median ms over ROUNDS after two warm-up calls each
 *   quit
 */
import * as readline from 'node:readline';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { type BackendPreference, initBackend } from '../trainer/backend/choose';
import { filterGradient, inputGradient } from './conv-ops';

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

function send(obj: unknown): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      batch: { type: 'string', default: '256' },
      backend: { type: 'string', default: 'onnxruntime' },
      threads: { type: 'string' },
    },
  });
  const n = Number(values.batch);
  const info = await initBackend(values.backend as BackendPreference, {
    threads: values.threads === undefined ? undefined : Number(values.threads),
  });
  send({
    ready: true,
    backend: info.name,
    detail: `${info.name} ${info.version}: ${info.reason}`,
    threads: info.threads,
  });
  for await (const line of readline.createInterface({ input: process.stdin })) {
    const [cmd, ...args] = line.trim().split(/\s+/);
    if (cmd === 'quit') break;
    try {
      if (cmd !== 'layer') throw new Error(`unknown command '${cmd}'`);
      const [h, ci, co, k, s, rounds] = args.map(Number);
      const x = tf.randomUniform([n, h, h, ci], -1, 1, 'float32', 1) as tf.Tensor4D;
      const w = tf.randomUniform([k, k, ci, co], -1, 1, 'float32', 2) as tf.Tensor4D;
      const dy = tf.randomUniform([n, Math.ceil(h / s), Math.ceil(h / s), co], -1, 1, 'float32', 3);
      const ops: Record<string, () => tf.Tensor> = {
        fwd: () => tf.conv2d(x, w, s, 'same'),
        dx: () => inputGradient(dy, w, x.shape, s),
        dw: () => filterGradient(x, dy, w.shape, s),
      };
      const out: Record<string, number> = {};
      for (const [name, op] of Object.entries(ops)) {
        const ms: number[] = [];
        // Two warm-up calls: the first creates the ONNX session, and the first few grow the wasm
        // heap into fresh (page-faulting) memory.
        for (let r = -2; r < rounds; r++) {
          const t0 = performance.now();
          // One element read back: the kernel has run (the CPU backends are synchronous anyway),
          // without timing a copy of the whole output into fresh memory. A block, not an arrow
          // returning the array: tidy walks a returned TypedArray element by element.
          tf.tidy(() => {
            const r = op();
            tf.slice(r, new Array(r.rank).fill(0), new Array(r.rank).fill(1)).dataSync();
          });
          if (r >= 0) ms.push(performance.now() - t0);
        }
        out[name] = median(ms);
      }
      tf.dispose([x, w, dy]);
      send(out);
    } catch (e) {
      send({ error: (e as Error).message });
    }
  }
  // ONNX Runtime's thread pool would keep the process alive.
  process.exit(0);
}

main().catch((e) => {
  send({ error: (e as Error).stack ?? String(e) });
  process.exit(1);
});
