/**
 * Synthetic but format-true run folders and metrics files for the extension benchmarks: what a
 * team's runs/ folder looks like after a few months (many finished runs, each with metrics and
 * checkpoints), written with the trainer's own encoders so every reader sees real files.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkpointFileName } from '../../trainer/checkpoint/files';
import { encodeSafetensors } from '../../trainer/checkpoint/safetensors';
import { resolveConfig } from '../../trainer/config/resolve';
import type { MetricRow } from '../../trainer/run/metrics';
import { RUN_FILES, RUN_FORMAT_VERSION, type RunInfo } from '../../trainer/run/runfolder';

/** A metrics row as the trainer writes it (same keys, similar magnitudes and digits). */
export function metricRow(step: number, stepsPerEpoch: number, t0: number): MetricRow {
  return {
    step,
    epoch: step / stepsPerEpoch,
    time: t0 + step * 0.05,
    loss: 4 * Math.exp(-step / 200_000) + 0.3 * Math.sin(step / 37) ** 2,
    lr: 0.3 * Math.cos((Math.PI / 2) * (step / 1_000_000)),
    images_per_sec: 500 + 40 * Math.sin(step / 1000),
  };
}

/** metrics.jsonl text: a training row per step and a kNN row at each epoch's end. */
export function metricsText(rows: number, stepsPerEpoch = 100, t0 = 1.7e9): string {
  const out: string[] = [];
  for (let step = 1; step <= rows; step++) {
    out.push(JSON.stringify(metricRow(step, stepsPerEpoch, t0)));
    if (step % stepsPerEpoch === 0)
      out.push(
        JSON.stringify({
          step,
          epoch: step / stepsPerEpoch,
          time: t0 + step * 0.05,
          knn_top1: 0.1 + step / (rows * 3),
        }),
      );
  }
  return `${out.join('\n')}\n`;
}

/**
 * metricsText() written to `file` 10,000 rows at a time: a million-line file leaves no 300 MB of
 * strings behind for the garbage collector to clear while the next figure is being timed.
 */
export function writeMetricsFile(file: string, rows: number, stepsPerEpoch = 100, t0 = 1.7e9): void {
  const fd = fs.openSync(file, 'w');
  try {
    for (let from = 1; from <= rows; from += 10_000) {
      const out: string[] = [];
      for (let step = from; step < from + 10_000 && step <= rows; step++) {
        out.push(JSON.stringify(metricRow(step, stepsPerEpoch, t0)));
        if (step % stepsPerEpoch === 0)
          out.push(
            JSON.stringify({
              step,
              epoch: step / stepsPerEpoch,
              time: t0 + step * 0.05,
              knn_top1: 0.1 + step / (rows * 3),
            }),
          );
      }
      fs.writeSync(fd, `${out.join('\n')}\n`);
    }
  } finally {
    fs.closeSync(fd);
  }
}

export interface RunsFixture {
  runsDir: string;
  runDirs: string[];
}

/**
 * `count` completed run folders under `runsDir`: config.json, run.json, metrics.jsonl with
 * `rowsPerRun` training rows and kNN rows per epoch, `checkpointsPerRun` small checkpoints whose
 * headers carry the metadata the tree shows.
 */
export function writeRunsFixture(
  runsDir: string,
  count: number,
  opts: { rowsPerRun?: number; checkpointsPerRun?: number } = {},
): RunsFixture {
  const rowsPerRun = opts.rowsPerRun ?? 2000;
  const nCkpt = opts.checkpointsPerRun ?? 2;
  fs.mkdirSync(runsDir, { recursive: true });
  const config = `${JSON.stringify(resolveConfig({ method: 'simclr-v1' }, 'laptop'), null, 2)}\n`;
  const metrics = metricsText(rowsPerRun);
  const weights = { w: { dtype: 'F32' as const, shape: [16, 16], data: new Float32Array(256).fill(0.5) } };
  const runDirs: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = `run-${String(i).padStart(5, '0')}`;
    const dir = path.join(runsDir, id);
    fs.mkdirSync(path.join(dir, RUN_FILES.checkpoints), { recursive: true });
    const created = new Date(Date.UTC(2025, 0, 1) + i * 60_000).toISOString();
    const info: RunInfo = {
      formatVersion: RUN_FORMAT_VERSION,
      id,
      name: id,
      method: i % 3 === 0 ? 'moco-v2' : 'simclr-v1',
      tags: [],
      notes: '',
      status: 'completed',
      createdAt: created,
      endedAt: created,
      step: rowsPerRun,
      totalSteps: rowsPerRun,
    };
    fs.writeFileSync(path.join(dir, RUN_FILES.config), config);
    fs.writeFileSync(path.join(dir, RUN_FILES.run), `${JSON.stringify(info, null, 2)}\n`);
    fs.writeFileSync(path.join(dir, RUN_FILES.metrics), metrics);
    for (let c = 1; c <= nCkpt; c++) {
      const step = Math.round((rowsPerRun * c) / nCkpt);
      const meta = { step: String(step), epoch: String(step / 100), knnTop1: '0.25', createdAt: created };
      fs.writeFileSync(
        path.join(dir, RUN_FILES.checkpoints, checkpointFileName(step)),
        encodeSafetensors(weights, meta),
      );
    }
    runDirs.push(dir);
  }
  return { runsDir, runDirs };
}
