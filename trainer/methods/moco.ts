/**
 * MoCo v1 (He et al., CVPR 2020) and MoCo v2 (Chen et al., 2020): one implementation, configured by
 * the preset (v1: linear head, tau 0.07; v2: MLP head, tau 0.2, blur, cosine schedule).
 *
 * Per step (facebookresearch/moco, moco/builder.py):
 *   q = norm(head_q(f_q(x_q)))                  query encoder + head ('online.*'), with gradient
 *   k = norm(head_k(f_k(x_k)))                  key encoder + head ('target.*'), no gradient
 *   loss = InfoNCE([q.k, q.queue] / tau, label 0)
 *   enqueue k (FIFO, pointer advances by B mod K)
 *   theta_k <- m theta_k + (1 - m) theta_q      (parameters only; BN statistics are the key
 *                                                encoder's own, from its training-mode passes)
 *
 * Where the steps happen in our loop:
 * - The official code updates the key encoder inside forward, *before* computing the keys. Our
 *   `loss` runs inside the gradient tape, so the update for step t + 1 runs in `afterStep` of step t,
 *   after the optimizer has produced the query encoder step t + 1 will see: the same arithmetic in
 *   the same order. At step 0 the official update is a no-op (theta_k was just copied from
 *   theta_q), which `afterInit`'s copy reproduces. A checkpoint taken after step t holds the key
 *   encoder step t + 1 uses, so resuming replays the uninterrupted run.
 * - Keys carry no gradient: tfjs-core has no stop-gradient op, so the key branch runs inside a
 *   `customGrad` forward, which the engine does not record on the tape (torch.no_grad); the key
 *   encoder's variables are moreover frozen (never given to the optimizer).
 * - The keys of a step are kept from `loss` and enqueued in `afterStep` (after the loss, as the
 *   paper does), then disposed.
 * - Shuffle-BN on one device (reference tricky point 4): permuting a batch does not change its
 *   BatchNorm statistics, so `shuffleBn: 'groups'` simulates `bnGroups` GPUs. The key batch is
 *   permuted with `rngFor(seed, 'shufflebn', step)`, split into `bnGroups` groups that each go
 *   through the key encoder separately (each group's own BN statistics, as each GPU's sub-batch),
 *   concatenated and un-permuted. The query batch is split into `bnGroups` consecutive groups (each
 *   GPU's local sub-batch; the data order is already random), so a query's BN statistics come from
 *   its own group and its positive key's from a random other one: the two share about 1/G of their
 *   images, as in the paper, instead of the query batch containing every key group. As with
 *   DistributedDataParallel's buffer broadcast from rank 0, only the first group of each updates
 *   the running statistics (the query encoder's are the ones features() uses).
 *   `shuffleBn: 'none'` runs each batch through BatchNorm whole (lightly's CIFAR benchmark).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { HeadConfig, RunConfig } from '../config/types';
import { infoNceFromLogits, infoNceLogits } from '../losses/infonce';
import { type Encoder, makeEncoder, type Normalization } from '../models/encoders';
import { batchNorm, type Ctx, dense, l2Normalize } from '../models/layers';
import { ParamStore } from '../models/params';
import { rngFor } from '../rng';
import { EmaTarget, momentumAt } from './ema';
import { mocoV1Info } from './info/moco-v1';
import { mocoV2Info } from './info/moco-v2';
import { KeyQueue } from './queue';
import type { Method, MethodModel, StepContext } from './types';

/**
 * MoCo's projection: v1 is one Linear layer (`hidden: []`); v2's `--mlp` is Linear -> ReLU ->
 * Linear, without BatchNorm (unlike SimCLR's head, so not `projectionHead`). The output layer has a
 * bias, or no bias and a BatchNorm when `outputBn` (not in either paper; kept as an option).
 */
export function mocoHead(ctx: Ctx, prefix: string, h: tf.Tensor2D, cfg: HeadConfig): tf.Tensor2D {
  let x = h;
  cfg.hidden.forEach((width, i) => {
    x = tf.relu(dense(ctx, `${prefix}.fc${i + 1}`, x, width));
  });
  const last = cfg.hidden.length + 1;
  x = dense(ctx, `${prefix}.fc${last}`, x, cfg.out, !cfg.outputBn);
  if (cfg.outputBn) x = batchNorm(ctx, `${prefix}.bn${last}`, x);
  return x;
}

/**
 * Runs `f` with the gradient tape off, like torch.no_grad(): the forward of a `customGrad` op is not
 * recorded, so nothing `f` computes (nor any variable it reads) can receive a gradient, and none of
 * its intermediates are kept for backprop. `anchor` is any tensor (the op needs an input); its
 * gradient through this op is zero.
 */
export function noGrad<T extends tf.Tensor>(anchor: tf.Tensor, f: () => T): T {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor;
    return { value: f(), gradFunc: () => [tf.zerosLike(x)] };
  });
  return op(anchor) as T;
}

/** Sizes of `groups` nearly equal consecutive parts of `n` rows (larger parts first). */
export function groupSizes(n: number, groups: number): number[] {
  const g = Math.max(1, Math.min(groups, n));
  const base = Math.floor(n / g);
  return Array.from({ length: g }, (_, i) => base + (i < n % g ? 1 : 0));
}

/**
 * Applies `f` to the rows of `x` permuted by `perm` (row i of the permuted batch is x[perm[i]]),
 * split into `groups` consecutive sub-batches, one call each; then restores the original order, so
 * row j of the result is f's output for x[j]. `f` gets the group index (0 first).
 */
export function shuffledGroupForward(
  x: tf.Tensor4D,
  perm: Int32Array,
  groups: number,
  f: (xg: tf.Tensor4D, group: number) => tf.Tensor2D,
): tf.Tensor2D {
  const n = x.shape[0];
  if (perm.length !== n) throw new Error(`shuffledGroupForward: permutation of ${perm.length} for ${n} rows`);
  return tf.tidy(() => {
    const inv = new Int32Array(n);
    for (let i = 0; i < n; i++) inv[perm[i]] = i;
    const xs = tf.gather(x, tf.tensor1d(perm, 'int32')) as tf.Tensor4D;
    const parts = tf.split(xs, groupSizes(n, groups), 0) as tf.Tensor4D[];
    const outs = parts.map((p, g) => f(p, g));
    const ys = outs.length === 1 ? outs[0] : (tf.concat(outs, 0) as tf.Tensor2D);
    return tf.gather(ys, tf.tensor1d(inv, 'int32')) as tf.Tensor2D;
  });
}

/** The built model, with MoCo's parts exposed for tests and tools. */
export interface MocoModel extends MethodModel {
  queue: KeyQueue;
  ema: EmaTarget;
  /**
   * Normalised query embeddings [B, d] (query encoder + head, training-mode BatchNorm; in
   * `bnGroups` consecutive groups with shuffle-BN). Updates the query encoder's BN running
   * statistics unless the store is in a dry run.
   */
  queries(x: tf.Tensor4D): tf.Tensor2D;
  /**
   * Normalised keys [B, d] of the key encoder + head, without gradient, with shuffle-BN groups as
   * configured (permutation drawn for `step`). Updates the key encoder's BN running statistics
   * unless the store is in a dry run.
   */
  keys(x: tf.Tensor4D, step: number): tf.Tensor2D;
  /** The keys `loss` computed for the current step, waiting for `afterStep` to enqueue them. */
  pendingKeys(): tf.Tensor2D | null;
}

/** MoCo's defaults for params a hand-written config may leave out (the presets set them all). */
const DEFAULTS = {
  queueSize: 65536,
  momentum: 0.999,
  momentumSchedule: 'constant' as const,
  shuffleBn: 'none' as const,
  bnGroups: 1,
};

export function buildMoco(config: RunConfig, norm: Normalization): MocoModel {
  const p = config.params;
  const tau = p.temperature;
  const queueSize = p.queueSize ?? DEFAULTS.queueSize;
  const momentum = p.momentum ?? DEFAULTS.momentum;
  const schedule = p.momentumSchedule ?? DEFAULTS.momentumSchedule;
  const shuffle = p.shuffleBn ?? DEFAULTS.shuffleBn;
  const bnGroups = shuffle === 'groups' ? (p.bnGroups ?? DEFAULTS.bnGroups) : 1;
  const batch = config.training.batchSize;
  if (shuffle === 'groups' && batch < 2 * bnGroups) {
    throw new Error(
      `MoCo shuffle-BN: training.batchSize (${batch}) must give every BatchNorm group at least 2 keys (params.bnGroups = ${bnGroups}); lower bnGroups or raise the batch size.`,
    );
  }

  const store = new ParamStore(config.seed);
  // Freezes 'target.' before any of its parameters exist: the key encoder never reaches the optimizer.
  const ema = new EmaTarget(store, 'online.', 'target.');
  const queryEncoder: Encoder = makeEncoder('online.encoder', config.encoder, norm);
  const keyEncoder: Encoder = makeEncoder('target.encoder', config.encoder, norm);
  // Created now (not on first use) so that a checkpoint restore finds it.
  const queue = new KeyQueue(store, 'queue', queueSize, config.head.out, batch);
  let pending: tf.Tensor2D | null = null;

  const embed = (ctx: Ctx, encoder: Encoder, prefix: string, x: tf.Tensor4D): tf.Tensor2D =>
    l2Normalize(mocoHead(ctx, `${prefix}.head`, encoder.forward(ctx, x), config.head));

  /**
   * Runs `run` on group `g`; only group 0 updates BatchNorm running statistics (DDP broadcasts
   * rank 0's buffers, so the other GPUs' statistics are dropped in the paper's setup too).
   */
  const inGroup = (g: number, run: () => tf.Tensor2D): tf.Tensor2D => {
    if (g === 0) return run();
    const wasDry = store.dryRun;
    store.dryRun = true;
    try {
      return run();
    } finally {
      store.dryRun = wasDry;
    }
  };

  const queries = (x: tf.Tensor4D): tf.Tensor2D =>
    tf.tidy(() => {
      const run = (xg: tf.Tensor4D) => embed({ ps: store, training: true }, queryEncoder, 'online', xg);
      if (shuffle !== 'groups') return run(x);
      // Each GPU's local sub-batch: consecutive groups of the (already randomly ordered) batch.
      const parts = tf.split(x, groupSizes(x.shape[0], bnGroups), 0) as tf.Tensor4D[];
      const outs = parts.map((xg, g) => inGroup(g, () => run(xg)));
      return outs.length === 1 ? outs[0] : (tf.concat(outs, 0) as tf.Tensor2D);
    });

  const keys = (x: tf.Tensor4D, step: number): tf.Tensor2D =>
    noGrad(x, () => {
      // The momentum encoder runs in training mode, as in the PyTorch code (tricky point 14).
      const ctx: Ctx = { ps: store, training: true };
      const run = (xg: tf.Tensor4D) => embed(ctx, keyEncoder, 'target', xg);
      if (shuffle !== 'groups') return run(x);
      const perm = rngFor(config.seed, 'shufflebn', step).permutation(x.shape[0]);
      return shuffledGroupForward(x, perm, bnGroups, (xg, g) => inGroup(g, () => run(xg)));
    });

  return {
    store,
    views: 2,
    queue,
    ema,
    queries,
    keys,
    pendingKeys: () => pending,
    loss(views, ctx) {
      const [xq, xk] = views;
      const q = queries(xq);
      const k = keys(xk, ctx.step);
      const logits = infoNceLogits(q, k, queue.keys as tf.Tensor2D, tau);
      const loss = infoNceFromLogits(logits);
      const b = logits.shape[0];
      const extra = tf.tidy(() => {
        const pos = tf.slice(logits, [0, 0], [b, 1]);
        const neg = tf.slice(logits, [0, 1], [b, -1]);
        return {
          // Mean cosine of query and positive key, and of query and queue keys.
          pos_sim: tf.mul(tf.mean(pos), tau) as tf.Scalar,
          neg_sim: tf.mul(tf.mean(neg), tau) as tf.Scalar,
          // Instance discrimination accuracy: the positive beats every queue key (MoCo's Acc@1).
          inst_acc: tf.mean(tf.cast(tf.equal(tf.argMax(logits, 1), 0), 'float32')) as tf.Scalar,
          // Fraction of the queue holding real keys rather than the initial noise.
          queue_fill: queue.fillFraction(),
        };
      });
      if (!store.dryRun) {
        pending?.dispose();
        pending = tf.keep(k);
      }
      return { loss, extra };
    },
    features(x) {
      return queryEncoder.forward({ ps: store, training: false }, x);
    },
    afterInit() {
      ema.copyFromOnline();
    },
    afterStep(ctx: StepContext) {
      if (pending) {
        queue.enqueue(pending);
        pending.dispose();
        pending = null;
      }
      // The update MoCo's forward of step t + 1 starts with (see the header).
      ema.update(momentumAt(momentum, schedule, ctx.step + 1, ctx.totalSteps));
    },
  };
}

export const mocoV1: Method = {
  info: mocoV1Info,
  build: (config, norm) => buildMoco(config, norm),
};

export const mocoV2: Method = {
  info: mocoV2Info,
  build: (config, norm) => buildMoco(config, norm),
};
