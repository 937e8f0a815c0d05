/**
 * The training loop of one run, shared by the CLI and the JSON-RPC server.
 *
 * Files are the source of truth: every metric row goes to metrics.jsonl, every checkpoint to
 * checkpoints/, the status to run.json; the event callbacks only make the run watchable live.
 * All randomness is keyed by (seed, step), so resuming from a checkpoint replays exactly what an
 * uninterrupted run would have done.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
// Gradients of the core ops are registered by this side-effect import, not by tfjs-core itself.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import type { BackendInfo } from './backend/choose';
import {
  type CheckpointMeta,
  checkpointFileName,
  listCheckpoints,
  loadCheckpoint,
  restoreVariables,
  saveCheckpoint,
} from './checkpoint/checkpoint';
import { validateConfig } from './config/config';
import type { RunConfig } from './config/types';
import { augmentBatch, outputSize } from './data/augment';
import { datasetStats, loadDataset } from './data/load';
import type { Dataset, ImageSplit } from './data/types';
import { knnTop1 } from './eval/knn';
import { getMethod } from './methods';
import type { MethodModel } from './methods/types';
import type { Normalization } from './models/encoders';
import { Optimizer } from './optim/optimizer';
import { learningRate, scaledLr } from './optim/schedule';
import type { ProgressParams } from './protocol';
import { rngFor } from './rng';
import type { RunLogger } from './run/logger';
import { type MetricRow, MetricsWriter, readMetricsFile } from './run/metrics';
import { RUN_FILES, type RunStatus, readRunConfig, updateRunInfo } from './run/runfolder';

export interface TrainEvents {
  status?(status: RunStatus, error?: string): void;
  progress?(p: ProgressParams): void;
  metrics?(rows: MetricRow[]): void;
  checkpoint?(c: { file: string; step: number; epoch: number; bytes: number; knnTop1?: number }): void;
}

export interface TrainOptions {
  runDir: string;
  backend: BackendInfo;
  logger: RunLogger;
  events?: TrainEvents;
  /** Set `stop` to true to finish the current step, checkpoint and end with status `stopped`. */
  control: { stop: boolean };
  /** Resume from this checkpoint file, or from the newest one when `true`. */
  resume?: string | true;
  /** The dataset, when the caller loaded it already (to validate it before creating the run). */
  data?: Dataset;
}

export interface TrainResult {
  status: 'completed' | 'stopped';
  step: number;
  knnTop1?: number;
  knnAtStart?: number;
}

/** Converts uint8 images of `indices` to a float tensor in [0, 1]. */
export function imagesToTensor(split: ImageSplit, start: number, count: number): tf.Tensor4D {
  const { height: h, width: w, channels: c } = split;
  const px = h * w * c;
  const bytes = split.images.subarray(start * px, (start + count) * px);
  return tf.tidy(() => tf.div(tf.tensor4d(bytes, [count, h, w, c], 'int32'), 255));
}

/** Backbone features of a whole split in eval mode, in batches. */
export async function embedSplit(model: MethodModel, split: ImageSplit, batch = 256): Promise<tf.Tensor2D> {
  const parts: tf.Tensor2D[] = [];
  for (let s = 0; s < split.n; s += batch) {
    const n = Math.min(batch, split.n - s);
    parts.push(tf.tidy(() => model.features(imagesToTensor(split, s, n))));
    // Yield so RPC messages (stop, attach) are served during long evaluations.
    await new Promise((r) => setImmediate(r));
  }
  const out = tf.concat(parts, 0) as tf.Tensor2D;
  for (const p of parts) p.dispose();
  return out;
}

export async function knnMonitor(model: MethodModel, data: Dataset, cfg: RunConfig): Promise<number> {
  const train = await embedSplit(model, data.train);
  const test = await embedSplit(model, data.test);
  try {
    const { k, temperature } = cfg.eval.knn;
    return await knnTop1(
      train,
      data.train.labels,
      test,
      data.test.labels,
      data.classNames.length,
      k,
      temperature,
    );
  } finally {
    train.dispose();
    test.dispose();
  }
}

export function stepsPerEpoch(n: number, batch: number): number {
  // drop_last: every step has a full batch (NT-Xent's mask and BN statistics assume it).
  return Math.floor(n / batch);
}

/**
 * Builds a method's model for a dataset and creates every parameter with one dry step (no
 * statistics updated, views at each view's output size with the first two images), then runs the
 * method's `afterInit`. Training and every tool that restores a checkpoint (evaluate, embed) start
 * from here, so both see the same parameter names and shapes.
 */
export function buildModel(config: RunConfig, norm: Normalization, data: Dataset): MethodModel {
  const method = getMethod(config.method);
  const { height: h, width: w, channels: c } = data.train;
  const model = method.build(config, norm, [h, w, c], {
    trainSize: data.train.n,
    classNames: data.classNames,
  });
  const n = Math.min(2, data.train.n);
  model.store.dryRun = true;
  try {
    tf.tidy(() => {
      const views = Array.from({ length: model.views }, (_, v) => {
        const x = imagesToTensor(data.train, 0, n);
        const side = outputSize(
          model.viewAugment ? model.viewAugment(config.augment, v) : config.augment,
          h,
          w,
        );
        return side === h && side === w ? x : (tf.image.resizeBilinear(x, [side, side]) as tf.Tensor4D);
      });
      const indices = Int32Array.from({ length: n }, (_, i) => i);
      const labels = Int32Array.from(data.train.labels.subarray(0, n));
      model.loss(views, { step: 0, epoch: 0, totalSteps: 1, indices, labels });
    });
  } finally {
    model.store.dryRun = false;
  }
  model.afterInit?.();
  return model;
}

export async function train(opts: TrainOptions): Promise<TrainResult> {
  const { runDir, logger, control } = opts;
  const ev = opts.events ?? {};
  const config = validateConfig(readRunConfig(runDir));
  const method = getMethod(config.method);

  const t0 = Date.now();
  const data = opts.data ?? (await loadDataset(config.dataset));
  const stats = datasetStats(data.train);
  logger.info(
    `dataset ${data.name}: ${data.train.n} train / ${data.test.n} test images, ${data.train.height}x${data.train.width}x${data.train.channels}, ${data.classNames.length} classes (${Date.now() - t0} ms)`,
  );
  if (data.train.n < config.training.batchSize) {
    throw new Error(
      `training.batchSize (${config.training.batchSize}) is larger than the training set (${data.train.n} images).`,
    );
  }

  // Resolve the checkpoint first: its normalisation wins over the freshly computed one.
  let ckptFile: string | undefined;
  if (opts.resume === true) ckptFile = listCheckpoints(runDir).at(-1)?.file;
  else if (typeof opts.resume === 'string') ckptFile = opts.resume;
  const ckpt = ckptFile ? loadCheckpoint(ckptFile) : undefined;
  const norm: Normalization = ckpt?.meta.normalization ?? { mean: stats.mean, std: stats.std };

  const model = buildModel(config, norm, data);
  const { batchSize, epochs } = config.training;
  const spe = stepsPerEpoch(data.train.n, batchSize);
  const totalSteps = spe * epochs;
  const peakLr = scaledLr(config.optimizer, batchSize);
  const params = model.store.trainable();
  const optimizer = new Optimizer(config.optimizer, params);
  logger.info(
    `${method.info.name}: ${config.encoder.arch} (width ${config.encoder.width}), ${model.store.countParameters().toLocaleString('en-US')} parameters; ${epochs} epochs x ${spe} steps of ${batchSize} images; peak lr ${peakLr.toPrecision(4)}`,
  );

  const allState = (): Map<string, tf.Variable> => new Map([...model.store.state(), ...optimizer.state()]);
  const metricsFile = path.join(runDir, RUN_FILES.metrics);
  let step = 0;
  if (ckpt && ckptFile) {
    restoreVariables(ckptFile, ckpt, allState());
    step = ckpt.meta.step;
    const size = fs.existsSync(metricsFile) ? fs.statSync(metricsFile).size : 0;
    if (size > ckpt.meta.metricsBytes) {
      // Rows written after the checkpoint are recomputed identically from it; drop them so the
      // file holds each step once.
      fs.truncateSync(metricsFile, ckpt.meta.metricsBytes);
      logger.warn(
        `resume: discarded ${size - ckpt.meta.metricsBytes} bytes of metrics written after step ${step}; they are recomputed`,
      );
    }
    logger.info(`resumed from ${path.relative(runDir, ckptFile)} at step ${step} (epoch ${ckpt.meta.epoch})`);
  }
  const metrics = new MetricsWriter(metricsFile);
  const writeRows = (rows: MetricRow[]) => {
    metrics.append(rows);
    ev.metrics?.(rows);
  };

  let lastKnn: number | undefined;
  let knnAtStart: number | undefined;
  const now = () => Date.now() / 1000;

  let lastCheckpointStep = -1;
  const checkpoint = async (epoch: number) => {
    lastCheckpointStep = step;
    const metricsBytes = metrics.sync();
    const meta: CheckpointMeta = {
      format: 'contrastive-lab/checkpoint',
      formatVersion: 1,
      method: config.method,
      step,
      epoch,
      metricsBytes,
      createdAt: new Date().toISOString(),
      backend: opts.backend.name,
      normalization: norm,
      knnTop1: lastKnn,
      config,
    };
    const file = path.join(runDir, RUN_FILES.checkpoints, checkpointFileName(step));
    const bytes = await saveCheckpoint(file, allState(), meta);
    const keep = config.training.keepCheckpoints;
    if (keep > 0) {
      for (const old of listCheckpoints(runDir).slice(0, -keep)) fs.rmSync(old.file, { force: true });
    }
    updateRunInfo(runDir, { step, epoch });
    logger.info(`checkpoint ${path.relative(runDir, file)} (${(bytes / 1e6).toFixed(1)} MB)`);
    ev.checkpoint?.({ file, step, epoch, bytes, knnTop1: lastKnn });
  };

  const evaluate = async (epoch: number) => {
    const t = Date.now();
    lastKnn = await knnMonitor(model, data, config);
    writeRows([{ step, epoch, time: now(), knn_top1: lastKnn }]);
    logger.info(`epoch ${epoch}: knn_top1 ${(lastKnn * 100).toFixed(2)}% (${Date.now() - t} ms)`);
    return lastKnn;
  };

  try {
    if (step === 0 && config.eval.knn.atStart) knnAtStart = await evaluate(0);

    let windowStart = Date.now();
    let windowImages = 0;
    let lossSum = 0;
    let lossCount = 0;
    let ips = 0;
    const extraSums: Record<string, number> = {};
    while (step < totalSteps) {
      const epoch = Math.floor(step / spe);
      const inEpoch = step % spe;
      const order = rngFor(config.seed, 'order', epoch).permutation(data.train.n);
      const indices = order.subarray(inEpoch * batchSize, (inEpoch + 1) * batchSize);
      const labels = Int32Array.from(indices, (i) => data.train.labels[i]);
      const lr = learningRate(step, peakLr, config.schedule, spe, totalSteps);

      const views = Array.from({ length: model.views }, (_, v) =>
        augmentBatch(
          data.train,
          indices,
          model.viewAugment ? model.viewAugment(config.augment, v) : config.augment,
          rngFor(config.seed, 'augment', step, v),
        ),
      );
      let extra: Record<string, tf.Scalar> = {};
      const { value, grads } = tf.variableGrads(
        () => {
          const r = model.loss(views, { step, epoch, totalSteps, indices, labels });
          extra = Object.fromEntries(Object.entries(r.extra).map(([k, t]) => [k, tf.keep(t)]));
          return r.loss;
        },
        params.map((p) => p.variable),
      );
      optimizer.apply(params, grads, lr, peakLr);
      model.afterStep?.({ step, epoch, totalSteps, indices, labels });
      const lossValue = (await value.data())[0];
      for (const [k, t] of Object.entries(extra)) extraSums[k] = (extraSums[k] ?? 0) + (await t.data())[0];
      tf.dispose([value, ...Object.values(grads), ...views, ...Object.values(extra)]);
      if (!Number.isFinite(lossValue))
        throw new Error(`loss is ${lossValue} at step ${step + 1}: training diverged (try a lower lr)`);

      step++;
      lossSum += lossValue;
      lossCount++;
      windowImages += batchSize;
      const elapsed = (Date.now() - windowStart) / 1000;
      if (elapsed >= 1 || lossCount >= config.training.logEvery) {
        ips = windowImages / Math.max(elapsed, 1e-6);
      }
      if (step % config.training.logEvery === 0 || step === totalSteps) {
        const row: MetricRow = {
          step,
          epoch: step / spe,
          time: now(),
          loss: lossSum / lossCount,
          lr,
          images_per_sec: ips,
        };
        for (const [k, s] of Object.entries(extraSums)) row[k] = s / lossCount;
        writeRows([row]);
        lossSum = 0;
        lossCount = 0;
        for (const k of Object.keys(extraSums)) delete extraSums[k];
        windowStart = Date.now();
        windowImages = 0;
      }
      ev.progress?.({
        step,
        totalSteps,
        epoch: step / spe,
        epochs,
        imagesPerSec: ips,
        etaSeconds: ips > 0 ? ((totalSteps - step) * batchSize) / ips : null,
        loss: lossValue,
        lr,
      });

      const epochDone = step % spe === 0;
      const ep = step / spe;
      if (epochDone) {
        const every = config.eval.knn.every;
        if ((every > 0 && ep % every === 0) || step === totalSteps) await evaluate(ep);
        if (ep % config.training.checkpointEvery === 0 || step === totalSteps) await checkpoint(ep);
      }
      if (control.stop && step < totalSteps) {
        logger.info(`stop requested: checkpointing at step ${step}`);
        if (lastCheckpointStep !== step) await checkpoint(ep);
        return { status: 'stopped', step, knnTop1: lastKnn, knnAtStart };
      }
      // Let the event loop serve RPC (stop, attach) between steps.
      await new Promise((r) => setImmediate(r));
    }
    return { status: 'completed', step, knnTop1: lastKnn, knnAtStart };
  } finally {
    metrics.close();
    optimizer.dispose();
    model.store.dispose();
  }
}

/** Reads the rows of a finished or running run (for tests and the CLI summary). */
export function readRunMetrics(runDir: string): MetricRow[] {
  return readMetricsFile(path.join(runDir, RUN_FILES.metrics)).rows;
}
