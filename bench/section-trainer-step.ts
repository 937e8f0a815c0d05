/**
 * Section "trainer-step": our SimCLR training step against the identical step in PyTorch, per
 * model and thread count, interleaved step by step so machine drift hits both sides alike.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { REUSE_FREED_MEMORY } from '../trainer/backend/malloc-env';
import { LineChild } from './child';
import { formatProfile, type StepProfile } from './kernel-profile';
import type { BenchOptions, BenchSection } from './section';
import { BENCH_MODELS, type BenchModel, benchConfig, torchArgs } from './step-model';

interface Side {
  label: string;
  kind: 'ours' | 'pytorch';
  threads: number;
  backend: string;
  malloc: boolean;
  child: LineChild;
  info?: Record<string, unknown>;
  ms: number[];
  peakRssMb: number;
  numTensors: number[];
}

export interface StepRow {
  model: BenchModel;
  side: string;
  kind: 'ours' | 'pytorch';
  backend: string;
  threads: number;
  medianMs: number;
  imagesPerSec: number;
  steps: number;
  peakRssMb: number;
  /** Run with REUSE_FREED_MEMORY (see the note on malloc). */
  malloc: boolean;
  /** ours / PyTorch images per second, same thread count and malloc environment. */
  ratio?: number;
  /** tf.memory().numTensors after each timed step (flat means no leak). */
  numTensors?: number[];
  profile?: StepProfile;
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const PYTHON = '/usr/bin/python3';

function spawnOurs(
  model: BenchModel,
  backend: string,
  threads: number,
  batch: number,
  tunedMalloc = false,
): LineChild {
  const script = path.join(__dirname, 'trainer-step.ts');
  const tsx = require.resolve('tsx/cli');
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (tunedMalloc) env.GLIBC_TUNABLES = REUSE_FREED_MEMORY;
  else delete env.GLIBC_TUNABLES;
  const label = `ours ${backend}${tunedMalloc ? '+malloc' : ''} ${threads}t ${model}`;
  return new LineChild(
    label,
    process.execPath,
    [
      tsx,
      script,
      '--model',
      model,
      '--batch',
      String(batch),
      '--backend',
      backend,
      '--threads',
      String(threads),
    ],
    env,
  );
}

/*
 * Malloc: glibc settings that reuse freed memory (trainer/backend/malloc-env.ts) change both sides a
 * lot on these virtual machines (PyTorch's ConvNet step 4-6x). Each side runs both ways: "+malloc"
 * is with REUSE_FREED_MEMORY (how the extension spawns trainers), plain is the default environment
 * (how `python3 script.py` or our CLI runs). Each ratio compares like with like: ours / PyTorch in
 * the same environment.
 */

function spawnTorch(model: BenchModel, threads: number, batch: number, tunedMalloc = false): LineChild {
  const args = [
    path.join(__dirname, 'simclr_step.py'),
    ...torchArgs(model, benchConfig(model)),
    '--batch',
    String(batch),
    '--threads',
    String(threads),
  ];
  // One thread pool of the requested size and nothing else competing (MKL/OpenMP read these).
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    OMP_NUM_THREADS: String(threads),
    MKL_NUM_THREADS: String(threads),
  };
  if (tunedMalloc) env.GLIBC_TUNABLES = REUSE_FREED_MEMORY;
  else delete env.GLIBC_TUNABLES;
  return new LineChild(`pytorch${tunedMalloc ? '+malloc' : ''} ${threads}t ${model}`, PYTHON, args, env);
}

async function runModel(model: BenchModel, opts: BenchOptions, log: (m: string) => void): Promise<StepRow[]> {
  const batch = opts.batch;
  const sides: Side[] = [];
  for (const threads of opts.threads) {
    for (const malloc of [false, true]) {
      const env = malloc ? '+malloc' : '';
      for (const backend of opts.backends)
        sides.push({
          label: `ours ${backend}${env} ${threads}t`,
          kind: 'ours',
          threads,
          backend,
          malloc,
          child: spawnOurs(model, backend, threads, batch, malloc),
          ms: [],
          peakRssMb: 0,
          numTensors: [],
        });
      if (opts.pytorch)
        sides.push({
          label: `pytorch${env} ${threads}t`,
          kind: 'pytorch',
          threads,
          backend: 'pytorch',
          malloc,
          child: spawnTorch(model, threads, batch, malloc),
          ms: [],
          peakRssMb: 0,
          numTensors: [],
        });
    }
  }
  try {
    for (const s of sides) s.info = await s.child.next();
    for (const s of sides) log(`  ${model} ${s.label}: ${String(s.info?.detail ?? '')}`);
    const warmup = opts.warmup ?? (model === 'resnet18' ? 1 : 2);
    const steps = opts.steps ?? (model === 'resnet18' ? 3 : 5);
    for (let r = 0; r < warmup + steps; r++) {
      for (const s of sides) {
        const a = await s.child.ask<{ ms: number; peakRssMb: number; numTensors?: number }>('step');
        s.peakRssMb = Math.max(s.peakRssMb, a.peakRssMb);
        if (r >= warmup) {
          s.ms.push(a.ms);
          if (a.numTensors !== undefined) s.numTensors.push(a.numTensors);
        }
        log(`  ${model} ${s.label} step ${r + 1}${r < warmup ? ' (warm-up)' : ''}: ${a.ms.toFixed(0)} ms`);
      }
    }
    const rows: StepRow[] = sides.map((s) => {
      const medianMs = median(s.ms);
      return {
        model,
        side: s.label,
        kind: s.kind,
        backend: String(s.info?.backend ?? s.backend),
        threads: Number(s.info?.threads ?? s.threads),
        malloc: s.malloc,
        medianMs,
        imagesPerSec: (2 * batch * 1000) / medianMs,
        steps: s.ms.length,
        peakRssMb: s.peakRssMb,
        numTensors: s.kind === 'ours' ? s.numTensors : undefined,
      };
    });
    for (const row of rows) {
      if (row.kind !== 'ours') continue;
      const ref = rows.find(
        (r) => r.kind === 'pytorch' && r.threads === row.threads && r.malloc === row.malloc,
      );
      if (ref) row.ratio = row.imagesPerSec / ref.imagesPerSec;
    }
    if (opts.profile) {
      for (const s of sides) {
        if (s.kind !== 'ours') continue;
        const { profile } = await s.child.ask<{ profile: StepProfile }>('profile');
        rows.find((r) => r.side === s.label)!.profile = profile;
      }
    }
    return rows;
  } finally {
    await Promise.all(sides.map((s) => s.child.quit().catch(() => s.child.kill())));
  }
}

function formatRows(rows: StepRow[]): string {
  const out = [
    `${'model'.padEnd(9)} ${'side'.padEnd(26)} ${'img/s'.padStart(8)} ${'median ms'.padStart(10)} ${'peak RSS'.padStart(9)}  ours/PyTorch (same malloc)`,
  ];
  for (const r of rows) {
    out.push(
      `${r.model.padEnd(9)} ${r.side.padEnd(26)} ${r.imagesPerSec.toFixed(1).padStart(8)} ${r.medianMs.toFixed(0).padStart(10)} ${`${r.peakRssMb.toFixed(0)} MB`.padStart(9)}  ${r.ratio === undefined ? '' : r.ratio.toFixed(2)}`,
    );
  }
  for (const r of rows) {
    if (r.profile) out.push('', `profile: ${r.model} ${r.side}`, formatProfile(r.profile));
  }
  return out.join('\n');
}

export const trainerStepSection: BenchSection = {
  name: 'trainer-step',
  description:
    'SimCLR step (2 views x batch, NT-Xent, SGD momentum) on 32x32x3: ours per backend vs PyTorch, same threads',
  async run(opts, log) {
    const models = opts.models.length > 0 ? opts.models : [...BENCH_MODELS];
    const rows: StepRow[] = [];
    for (const model of models) rows.push(...(await runModel(model as BenchModel, opts, log)));
    return { data: { batchPerView: opts.batch, cores: os.cpus().length, rows }, text: formatRows(rows) };
  },
};
