/**
 * Our side of the step benchmark, run as a child process by bench/run.ts: builds the SimCLR model
 * on the requested backend, then answers one command per stdin line with one JSON line on stdout.
 *
 *   step     one training step (two views, NT-Xent, SGD with momentum) -> {ms, loss, numTensors, peakRssMb}
 *   profile  one step with per-kernel timing -> {profile}
 *   quit
 *
 * The parent interleaves steps of several children, so each measurement runs alone on the CPU.
 */
import { readFileSync } from 'node:fs';
import * as readline from 'node:readline';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { type BackendPreference, initBackend } from '../trainer/backend/choose';
import { simclrV1 } from '../trainer/methods/simclr-v1';
import { Optimizer } from '../trainer/optim/optimizer';
import { KernelTimer } from './kernel-profile';
import { BENCH_NORM, type BenchModel, benchConfig } from './step-model';

/** Peak resident set size of this process (all threads), from the kernel's own accounting. */
export function peakRssMb(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) / 1024;
  } catch {
    // not Linux: fall through
  }
  return process.memoryUsage().rss / 2 ** 20;
}

function send(obj: unknown): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: 'convnet' },
      batch: { type: 'string', default: '128' },
      backend: { type: 'string', default: 'wasm' },
      threads: { type: 'string' },
      'wasm-dir': { type: 'string' },
    },
  });
  const model = values.model as BenchModel;
  const batch = Number(values.batch);
  const info = await initBackend(values.backend as BackendPreference, {
    threads: values.threads === undefined ? undefined : Number(values.threads),
    wasmDir: values['wasm-dir'],
  });
  const cfg = benchConfig(model);
  const m = simclrV1.build(cfg, BENCH_NORM, [32, 32, 3], { trainSize: batch, classNames: ['a'] });
  // Fixed inputs: the step's cost does not depend on the pixel values.
  const views = [0, 1].map((s) => tf.randomUniform([batch, 32, 32, 3], 0, 1, 'float32', s) as tf.Tensor4D);
  const ctx = {
    step: 0,
    epoch: 0,
    totalSteps: 1,
    indices: Int32Array.from({ length: batch }, (_, i) => i),
    labels: new Int32Array(batch),
  };
  m.store.dryRun = true;
  tf.tidy(() => {
    m.loss(
      views.map((v) => tf.slice(v, 0, 2)),
      ctx,
    );
  });
  m.store.dryRun = false;
  const params = m.store.trainable();
  const optimizer = new Optimizer(cfg.optimizer, params);

  // What train.ts does per step, minus data loading and augmentation (measured separately).
  const step = async (): Promise<{ ms: number; loss: number }> => {
    const t0 = performance.now();
    const { value, grads } = tf.variableGrads(
      () => m.loss(views, ctx).loss,
      params.map((p) => p.variable),
    );
    optimizer.apply(params, grads, cfg.optimizer.lr);
    const loss = (await value.data())[0];
    tf.dispose([value, ...Object.values(grads)]);
    return { ms: performance.now() - t0, loss };
  };

  send({
    ready: true,
    backend: info.name,
    threads: info.threads,
    detail: info.reason,
    parameters: m.store.countParameters(),
  });
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    const cmd = line.trim();
    if (cmd === 'quit') break;
    if (cmd === 'step') {
      const r = await step();
      send({ ...r, numTensors: tf.memory().numTensors, peakRssMb: peakRssMb() });
    } else if (cmd === 'profile') {
      const timer = new KernelTimer(tf.getBackend());
      timer.install();
      try {
        const r = await step();
        send({ profile: timer.report(r.ms) });
      } finally {
        timer.uninstall();
      }
    } else {
      send({ error: `unknown command '${cmd}'` });
    }
  }
  rl.close();
  optimizer.dispose();
  m.store.dispose();
  tf.dispose(views);
  process.exit(0);
}

main().catch((e) => {
  send({ error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  process.exit(1);
});
