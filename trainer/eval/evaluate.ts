/**
 * `contrastive-lab eval`: one evaluation protocol on one checkpoint, as an EvalRecord appended to
 * the run's evals.jsonl.
 *
 * - knn: weighted kNN of test features against train features (the training loop's monitor).
 * - linear: the linear probe of linear-probe.ts on frozen features.
 * - zeroshot: CLIP's image-text logits from the class names alone.
 * Every protocol also reports alignment and uniformity (alignment.ts) of the test features.
 */
import * as tf from '@tensorflow/tfjs-core';
import { imagesToTensor } from '../train';
import { reportsTop5, topKCorrect } from './accuracy';
import { alignment, uniformity } from './alignment';
import type { EvalProtocol, EvalRecord, ToolProgress } from './contract';
import { appendEvalRecord, checkpointLabel, runDirOfCheckpoint } from './evals-file';
import { FEATURE_BATCH, splitFeatures, stageProgress, viewPairFeatures } from './features';
import { knnTop1 } from './knn';
import { LINEAR_PROBE_RECIPE, type LinearProbeRecipe, linearProbe } from './linear-probe';
import { type OpenedCheckpoint, openCheckpoint } from './restore';

export const EVAL_PROTOCOLS: readonly EvalProtocol[] = ['knn', 'linear', 'zeroshot'];

/** Alignment and uniformity use at most this many test images (uniformity is quadratic in them). */
export const ALIGNMENT_MAX_POINTS = 5000;

/** A problem with what was asked for (exit code 2 on the command line), not a bug. */
export class EvalInputError extends Error {
  override readonly name = 'EvalInputError';
}

export interface EvaluateOptions {
  checkpoint: string;
  protocol: EvalProtocol;
  /** kNN neighbours and temperature; default: the run's `eval.knn`. */
  k?: number;
  temperature?: number;
  dataPath?: string;
  /** Evaluate the run's epoch-0 state: the checkpoint's architecture and seed, parameters as initialised. */
  randomInit?: boolean;
  /** Append to the run's evals.jsonl (default true; a checkpoint outside a run folder is never appended). */
  append?: boolean;
  linear?: Partial<LinearProbeRecipe>;
  /** Name of the TensorFlow.js backend in use, for the record. */
  backend: string;
  onProgress?: (p: ToolProgress) => void;
}

export interface EvaluateOutcome {
  record: EvalRecord;
  /** The evals.jsonl the record was appended to. */
  appendedTo?: string;
  runDir?: string;
}

export async function evaluateCheckpoint(opts: EvaluateOptions): Promise<EvaluateOutcome> {
  if (!EVAL_PROTOCOLS.includes(opts.protocol))
    throw new EvalInputError(
      `unknown protocol '${opts.protocol}' (expected one of ${EVAL_PROTOCOLS.join(', ')}).`,
    );
  // Checked before the expensive part; the config's own values passed its schema.
  if (opts.k !== undefined && !(Number.isInteger(opts.k) && opts.k >= 1))
    throw new EvalInputError(`k must be a positive integer (got ${opts.k}).`);
  if (opts.temperature !== undefined && !(opts.temperature > 0))
    throw new EvalInputError(`temperature must be positive (got ${opts.temperature}).`);
  const t0 = Date.now();
  const report = (fraction: number, message: string) =>
    opts.onProgress?.({ type: 'progress', fraction: Math.min(1, Math.max(0, fraction)), message });
  report(0, 'loading checkpoint and dataset');
  const ck = await openCheckpoint(opts.checkpoint, { dataPath: opts.dataPath, randomInit: opts.randomInit });
  try {
    const runDir = runDirOfCheckpoint(ck.file);
    const { record } = await runProtocol(ck, opts, report);
    record.checkpoint = checkpointLabel(ck.file, runDir);
    record.seconds = (Date.now() - t0) / 1000;
    const appendedTo = opts.append !== false && runDir ? appendEvalRecord(runDir, record) : undefined;
    report(1, 'done');
    return { record, appendedTo, runDir };
  } finally {
    ck.dispose();
  }
}

async function runProtocol(
  ck: OpenedCheckpoint,
  opts: EvaluateOptions,
  report: (fraction: number, message: string) => void,
): Promise<{ record: EvalRecord }> {
  const { config, data, model, meta } = ck;
  const classes = data.classNames.length;
  if (opts.protocol === 'zeroshot' && !model.zeroShotLogits)
    throw new EvalInputError(`zeroshot needs a CLIP checkpoint (method ${meta.method} has no text encoder).`);
  const options: EvalRecord['options'] = {};
  if (ck.randomInit) options.randomInit = true;
  let top1: number;
  let top5: number | undefined;
  const disposeLater: tf.Tensor[] = [];
  try {
    report(0.05, 'test features');
    const test = await splitFeatures(
      model,
      data.test,
      data.test.n,
      stageProgress(report, 0.05, 0.2, 'test features'),
    );
    disposeLater.push(test);
    const nAlign = Math.min(data.test.n, ALIGNMENT_MAX_POINTS);
    const [v1, v2] = await viewPairFeatures(
      model,
      data.test,
      config.augment,
      config.seed,
      nAlign,
      stageProgress(report, 0.2, 0.4, 'augmented views (alignment)'),
    );
    disposeLater.push(v1, v2);
    report(0.4, 'alignment and uniformity');
    const align = await alignment(v1, v2, 2);
    const clean = nAlign === test.shape[0] ? test : tf.slice(test, [0, 0], [nAlign, -1]);
    if (clean !== test) disposeLater.push(clean);
    const uniform = await uniformity(clean, 2);
    options.alignmentPoints = nAlign;

    if (opts.protocol === 'zeroshot') {
      ({ top1, top5 } = await zeroShot(ck, stageProgress(report, 0.45, 1, 'zero-shot logits')));
    } else {
      const train = await splitFeatures(
        model,
        data.train,
        data.train.n,
        stageProgress(report, 0.45, 0.85, 'train features'),
      );
      disposeLater.push(train);
      if (opts.protocol === 'knn') {
        const k = opts.k ?? config.eval.knn.k;
        const temperature = opts.temperature ?? config.eval.knn.temperature;
        report(0.85, 'kNN');
        top1 = await knnTop1(train, data.train.labels, test, data.test.labels, classes, k, temperature);
        Object.assign(options, { k, temperature });
      } else {
        const recipe = { ...LINEAR_PROBE_RECIPE, ...opts.linear };
        const trainX = (await train.data()) as Float32Array;
        const testX = (await test.data()) as Float32Array;
        const d = train.shape[1];
        const onFit = stageProgress(report, 0.85, 1, 'linear probe (L-BFGS)');
        const r = linearProbe(trainX, data.train.labels, testX, data.test.labels, d, classes, recipe, (it) =>
          onFit(it, recipe.maxIterations),
        );
        top1 = r.top1;
        top5 = r.top5;
        Object.assign(options, {
          optimizer: 'lbfgs',
          weightDecay: recipe.weightDecay,
          maxIterations: recipe.maxIterations,
          gradTolerance: recipe.gradTolerance,
          iterations: r.classifier.iterations,
          converged: r.classifier.converged,
          trainTop1: r.trainTop1,
          features: d,
        });
      }
    }
    const record: EvalRecord = {
      time: new Date().toISOString(),
      checkpoint: ck.file,
      method: meta.method,
      step: ck.randomInit ? 0 : meta.step,
      epoch: ck.randomInit ? 0 : meta.epoch,
      protocol: opts.protocol,
      top1,
      ...(top5 !== undefined && reportsTop5(classes) ? { top5 } : {}),
      alignment: align,
      uniformity: uniform,
      options,
      dataset: { kind: config.dataset.kind, train: data.train.n, test: data.test.n },
      backend: opts.backend,
      seconds: 0,
    };
    return { record };
  } finally {
    tf.dispose(disposeLater);
  }
}

async function zeroShot(
  ck: OpenedCheckpoint,
  onProgress: (done: number, total: number) => void,
): Promise<{ top1: number; top5?: number }> {
  const { model, data } = ck;
  const split = data.test;
  const classes = data.classNames.length;
  let c1 = 0;
  let c5 = 0;
  for (let s = 0; s < split.n; s += FEATURE_BATCH) {
    const b = Math.min(FEATURE_BATCH, split.n - s);
    const logits = tf.tidy(() => model.zeroShotLogits!(imagesToTensor(split, s, b), data.classNames));
    const scores = await logits.data();
    logits.dispose();
    if (logits.shape[1] !== classes)
      throw new Error(`zeroShotLogits returned ${logits.shape[1]} classes, expected ${classes}`);
    const labels = split.labels.subarray(s, s + b);
    c1 += topKCorrect(scores, labels, b, classes, 1);
    c5 += topKCorrect(scores, labels, b, classes, 5);
    onProgress(s + b, split.n);
    await new Promise((r) => setImmediate(r));
  }
  return { top1: c1 / split.n, top5: reportsTop5(classes) ? c5 / split.n : undefined };
}
