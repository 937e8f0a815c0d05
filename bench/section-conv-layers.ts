/**
 * Section "conv-layers": where the step's time goes against PyTorch, layer by layer. Each distinct
 * CIFAR ResNet-18 convolution at the training step's batch (2 views x --batch): our registered
 * kernels (forward, input gradient, filter gradient; the first of --backends, default onnxruntime)
 * in one child process and PyTorch's forward and backward (oneDNN) in another, asked in turn layer
 * by layer so that both run on the same quiet machine. Both children get the glibc setting that
 * reuses freed memory (REUSE_FREED_MEMORY): this compares the kernels, not the page faults.
 * Throughput is in GFLOP/s of a direct convolution (2 * outputs * ci * k * k per pass).
 */
import * as path from 'node:path';
import { REUSE_FREED_MEMORY } from '../trainer/backend/malloc-env';
import { LineChild } from './child';
import type { BenchSection } from './section';
import { RESNET18_LAYERS } from './section-conv-kernels';

const PYTHON = '/usr/bin/python3';

interface LayerRow {
  layer: string;
  gflop: number;
  ours: { fwd: number; dx: number; dw: number };
  pytorch?: { fwd: number; bwd: number };
}

export const convLayersSection: BenchSection = {
  name: 'conv-layers',
  description: 'ResNet-18 convolutions one by one: ours (onnxruntime) vs PyTorch, GFLOP/s',
  async run(opts, log) {
    const n = 2 * opts.batch;
    const threads = opts.threads[0];
    const rounds = opts.steps ?? 5;
    const backend = opts.backends.includes('onnxruntime')
      ? 'onnxruntime'
      : (opts.backends[0] ?? 'onnxruntime');
    const env = { ...process.env, GLIBC_TUNABLES: REUSE_FREED_MEMORY };
    const ours = new LineChild(
      `ours ${backend}`,
      process.execPath,
      [
        require.resolve('tsx/cli'),
        path.join(__dirname, 'conv-layers.ts'),
        '--batch',
        String(n),
        '--backend',
        backend,
        '--threads',
        String(threads),
      ],
      env,
    );
    const torch = opts.pytorch
      ? new LineChild(
          'pytorch',
          PYTHON,
          [path.join(__dirname, 'conv_layers.py'), '--batch', String(n), '--threads', String(threads)],
          { ...env, OMP_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) },
        )
      : undefined;
    try {
      const oursInfo = await ours.next<{ detail: string }>();
      const torchInfo = torch ? await torch.next<{ detail: string }>() : undefined;
      log(`  conv-layers: ours ${oursInfo.detail}; ${torchInfo?.detail ?? 'no PyTorch (--no-pytorch)'}`);
      const rows: LayerRow[] = [];
      const gf = (gflop: number, ms: number) => ((gflop / ms) * 1000).toFixed(0).padStart(5);
      const lines = [
        `batch ${n}, ${threads} thread(s), both with malloc reuse, median of ${rounds}; ms (GFLOP/s)`,
        'layer                                   ours fwd       dx       dW |  PyTorch fwd   bwd (dx+dW) | fwd   bwd  ours/PyTorch time',
      ];
      for (const [h, ci, co, k, s] of RESNET18_LAYERS) {
        const layer = `x[${n},${h},${h},${ci}] k${k} co${co} s${s}`;
        const oh = Math.ceil(h / s);
        const gflop = (2 * n * oh * oh * co * ci * k * k) / 1e9;
        const cmd = `layer ${h} ${ci} ${co} ${k} ${s} ${rounds}`;
        const o = await ours.ask<LayerRow['ours']>(cmd);
        const p = torch ? await torch.ask<NonNullable<LayerRow['pytorch']>>(cmd) : undefined;
        rows.push({ layer, gflop, ours: o, pytorch: p });
        const cell = (ms: number, work: number) => `${ms.toFixed(0).padStart(5)} (${gf(work, ms)})`;
        const torchCells = p
          ? `${cell(p.fwd, gflop)} ${cell(p.bwd, 2 * gflop)} | ${(o.fwd / p.fwd).toFixed(2).padStart(4)}  ${((o.dx + o.dw) / p.bwd).toFixed(2).padStart(4)}`
          : '';
        lines.push(
          `${layer.padEnd(36)} ${cell(o.fwd, gflop)} ${cell(o.dx, gflop)} ${cell(o.dw, gflop)} | ${torchCells}`,
        );
        log(`  ${lines.at(-1)}`);
      }
      const sum = (f: (r: LayerRow) => number) => rows.reduce((a, r) => a + f(r), 0);
      if (torch) {
        lines.push(
          `all layers once: ours ${sum((r) => r.ours.fwd + r.ours.dx + r.ours.dw).toFixed(0)} ms, PyTorch ${sum((r) => (r.pytorch?.fwd ?? 0) + (r.pytorch?.bwd ?? 0)).toFixed(0)} ms`,
        );
      }
      return { data: { batch: n, threads, backend, rows }, text: lines.join('\n') };
    } finally {
      await Promise.all([ours, torch].map((c) => c?.quit().catch(() => c.kill())));
    }
  },
};
