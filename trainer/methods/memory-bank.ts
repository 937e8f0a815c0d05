/**
 * The memory bank of InstDisc (Wu et al., CVPR 2018) and CMC (Tian et al., ECCV 2020): one
 * d-dimensional vector per training image, read as the positive and the negatives of each anchor,
 * written after the loss with the anchor's new feature (methods reference 1.1, 1.4, tricky point 10).
 *
 * - `[N, d]` ParamStore buffer (saved in checkpoints, never trained; no gradient reaches it because
 *   only trainable variables are differentiated). Initialised uniform in [-s, s], s = 1/sqrt(d/3),
 *   not normalised, as `torch.rand(N, d) * 2s - s` in lemniscate and CMC.
 * - `update`: v_i <- norm(m v_i + (1 - m) f_i) for the batch's rows i (m = 0.5 in both papers).
 * - `bankInit: 'first-write'` (not in the papers; for short runs): a row's first write copies the
 *   feature instead of mixing it with the random initial row, and an anchor whose row has not been
 *   written yet is left out of the loss (its positive would be that random row, i.e. a random
 *   target). The first epoch then only fills the bank with the initial network's features, as if
 *   the bank had been initialised from them. The written flags are a `[N]` buffer beside the rows.
 * - Noise samples: K indices per anchor, uniform over the N entries with replacement (the papers'
 *   alias sampler over uniform unigrams), drawn from the seeded RNG of the step so a resumed run
 *   draws the same ones.
 * - The normalisation constant Z of NCE lives here too (`NceConstant`): estimated once, on the
 *   first training batch, then frozen and checkpointed (re-estimating after a resume would shift the
 *   loss).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { HeadConfig } from '../config/types';
import { bankSoftmaxLoss, nceLogZ, nceLoss } from '../losses/nce';
import { batchNorm, type Ctx, dense, l2Normalize } from '../models/layers';
import type { ParamStore } from '../models/params';
import type { Rng } from '../rng';

/** How bank rows start: the papers' random rows, or taken from each row's first feature. */
export type BankInit = 'random' | 'first-write';

export class MemoryBank {
  /** [N, d] one row per training image. */
  readonly memory: tf.Variable;

  /** [N] 1 where a row has been written (only with `bankInit: 'first-write'`). */
  readonly written: tf.Variable | null;

  constructor(
    store: ParamStore,
    readonly name: string,
    readonly size: number,
    readonly dim: number,
    readonly init: BankInit = 'random',
  ) {
    if (!Number.isInteger(size) || size < 1)
      throw new Error(`memory bank '${name}': needs one row per training image, got ${size} rows`);
    this.memory = store.buffer(`${name}.memory`, [size, dim], {
      kind: 'uniform',
      bound: 1 / Math.sqrt(dim / 3),
    });
    this.written = init === 'first-write' ? store.buffer(`${name}.written`, [size], { kind: 'zeros' }) : null;
  }

  /**
   * Positions r of the batch whose row `indices[r]` holds a feature (every r unless `first-write`
   * tracks the rows still at their random initial value).
   */
  writtenRows(indices: Int32Array): Int32Array {
    if (!this.written) return Int32Array.from(indices, (_, r) => r);
    const flags = tf
      .tidy(() => tf.gather(this.written as tf.Variable, tf.tensor1d(indices, 'int32')))
      .dataSync();
    const out: number[] = [];
    flags.forEach((w, r) => {
      if (w === 1) out.push(r);
    });
    return Int32Array.from(out);
  }

  private checkIndices(indices: Int32Array, rows: number): void {
    if (indices.length !== rows) {
      throw new Error(`memory bank '${this.name}': ${indices.length} indices for ${rows} feature rows`);
    }
    const seen = new Set<number>();
    for (const i of indices) {
      if (!Number.isInteger(i) || i < 0 || i >= this.size)
        throw new Error(`memory bank '${this.name}': index ${i} outside [0, ${this.size})`);
      // Two writes to one row in a batch would leave it to whichever the scatter applies last.
      if (seen.has(i)) throw new Error(`memory bank '${this.name}': index ${i} appears twice in one batch`);
      seen.add(i);
    }
  }

  /** Rows `indices` of the bank, [B, d]. */
  rows(indices: Int32Array): tf.Tensor2D {
    return tf.tidy(() => tf.gather(this.memory, tf.tensor1d(indices, 'int32')) as tf.Tensor2D);
  }

  /**
   * v_i <- (m v_i + (1 - m) f_i) / ||m v_i + (1 - m) f_i|| for each row i = indices[r] and feature
   * f = features[r] (already normalised, without gradient). Outside any gradient tape.
   */
  update(indices: Int32Array, features: tf.Tensor2D, momentum: number): void {
    const [b, d] = features.shape;
    if (d !== this.dim)
      throw new Error(`memory bank '${this.name}': features are ${d}-d, the bank holds ${this.dim}-d rows`);
    this.checkIndices(indices, b);
    tf.tidy(() => {
      const idx = tf.tensor1d(indices, 'int32');
      const old = tf.gather(this.memory, idx) as tf.Tensor2D;
      let mixed: tf.Tensor2D = tf.add(tf.mul(old, momentum), tf.mul(features, 1 - momentum));
      if (this.written) {
        const seen = tf.reshape(tf.gather(this.written, idx), [b, 1]);
        mixed = tf.add(tf.mul(seen, mixed), tf.mul(tf.sub(1, seen), features));
        this.written.assign(tf.tensorScatterUpdate(this.written, tf.reshape(idx, [b, 1]), tf.ones([b])));
      }
      const unit = tf.div(mixed, tf.norm(mixed, 'euclidean', 1, true));
      this.memory.assign(tf.tensorScatterUpdate(this.memory, tf.reshape(idx, [b, 1]), unit));
    });
  }
}

/** K noise indices per anchor, uniform over [0, n) with replacement: [B * K], row-major. */
export function sampleNoise(rng: Rng, batch: number, k: number, n: number): Int32Array {
  const out = new Int32Array(batch * k);
  for (let i = 0; i < out.length; i++) out[i] = rng.int(n);
  return out;
}

/** Scores of B anchors against bank entries, with the weights `losses/nce.ts` takes. */
export interface BankScores {
  /** [B, M] v . f / tau. */
  logits: tf.Tensor2D;
  /** [B, M] 1 at each anchor's own entry. */
  pos: tf.Tensor2D;
  /** [B, M] how many times each column is a noise sample of the anchor. */
  neg: tf.Tensor2D;
}

/**
 * Scores of anchors `f` ([B, d], normalised) against `bank`: the positive of row r is the entry
 * `indices[r]`; the negatives are `noise` (K per row, from `sampleNoise`) or, when `noise` is null,
 * every other entry (InstDisc's full non-parametric softmax).
 *
 * Two layouts give the same losses; the cheaper one is used. Dense, [B, N]: one matmul with the
 * whole bank, noise as per-column counts. Gathered, [B, K + 1]: the sampled rows only, positive in
 * column 0 (the official layout), which is smaller when (K + 1) d < N, i.e. K far below N / d.
 * `layout` forces one (for tests).
 */
export function bankScores(
  f: tf.Tensor2D,
  bank: tf.Tensor2D,
  indices: Int32Array,
  noise: Int32Array | null,
  tau: number,
  layout: 'auto' | 'dense' | 'gathered' = 'auto',
): BankScores {
  const [b, d] = f.shape;
  const [n, bd] = bank.shape;
  if (bd !== d) throw new Error(`bankScores: features are ${d}-d, the bank holds ${bd}-d rows`);
  if (indices.length !== b) throw new Error(`bankScores: ${indices.length} indices for ${b} anchors`);
  const k = noise ? noise.length / b : n - 1;
  if (noise && !Number.isInteger(k))
    throw new Error(`bankScores: ${noise.length} noise indices for ${b} anchors`);
  const gathered = noise !== null && (layout === 'gathered' || (layout === 'auto' && (k + 1) * d < n));
  return tf.tidy(() => {
    if (gathered && noise) {
      const idx = new Int32Array(b * (k + 1));
      for (let r = 0; r < b; r++) {
        idx[r * (k + 1)] = indices[r];
        idx.set(noise.subarray(r * k, (r + 1) * k), r * (k + 1) + 1);
      }
      const rows = tf.reshape(tf.gather(bank, tf.tensor1d(idx, 'int32')), [b, k + 1, d]) as tf.Tensor3D;
      const dots = tf.matMul(rows, tf.reshape(f, [b, d, 1]) as tf.Tensor3D); // [B, K + 1, 1]
      const logits = tf.div(tf.reshape(dots, [b, k + 1]), tau) as tf.Tensor2D;
      const posRow = new Float32Array(k + 1);
      posRow[0] = 1;
      const pos = tf.tile(tf.tensor2d(posRow, [1, k + 1]), [b, 1]) as tf.Tensor2D;
      return { logits, pos, neg: tf.sub(1, pos) as tf.Tensor2D };
    }
    const logits = tf.div(tf.matMul(f, bank, false, true), tau) as tf.Tensor2D; // [B, N]
    const posW = new Float32Array(b * n);
    for (let r = 0; r < b; r++) posW[r * n + indices[r]] = 1;
    let negW: Float32Array;
    if (noise) {
      negW = new Float32Array(b * n);
      for (let r = 0; r < b; r++) for (let j = 0; j < k; j++) negW[r * n + noise[r * k + j]] += 1;
    } else {
      negW = new Float32Array(b * n).fill(1);
      for (let r = 0; r < b; r++) negW[r * n + indices[r]] = 0;
    }
    return { logits, pos: tf.tensor2d(posW, [b, n]), neg: tf.tensor2d(negW, [b, n]) };
  });
}

/**
 * NCE's normalisation constant Z, as log Z in a checkpointed buffer `name` = `[log Z, estimated]`:
 * 0 in the second slot until the first training batch sets it, then frozen.
 */
export class NceConstant {
  private readonly state: tf.Variable;
  private cached: number | null = null;

  constructor(
    private readonly store: ParamStore,
    name: string,
  ) {
    this.state = store.buffer(name, [2], { kind: 'zeros' });
  }

  /** log Z if it has been estimated (or restored from a checkpoint), else null. */
  get(): number | null {
    if (this.cached !== null) return this.cached;
    const [logZ, estimated] = this.state.dataSync();
    if (estimated !== 1) return null;
    // Cached only once set: until then a checkpoint restore may still fill the buffer.
    this.cached = logZ;
    return logZ;
  }

  /**
   * log Z for this step: the frozen value, or (first batch) the estimate from these scores, which
   * is stored unless the store is in its parameter-creating dry run.
   */
  resolve(scores: BankScores, n: number): number {
    const known = this.get();
    if (known !== null) return known;
    const logZ = tf.tidy(() => nceLogZ(scores.logits, scores.pos, scores.neg, n).dataSync()[0]);
    if (!Number.isFinite(logZ))
      throw new Error(`NCE: the estimate of log Z is ${logZ} (features not finite?)`);
    if (!this.store.dryRun) {
      tf.tidy(() => this.state.assign(tf.tensor1d([logZ, 1])));
      this.cached = logZ;
    }
    return logZ;
  }
}

/** The params InstDisc and CMC share, resolved with their papers' defaults. */
export interface BankObjective {
  kind: 'nce' | 'softmax';
  /** Noise samples per anchor; 0 = every entry (softmax only). */
  k: number;
  tau: number;
  momentum: number;
  init: BankInit;
}

export function bankObjective(
  params: {
    bankLoss?: 'nce' | 'softmax';
    nceK?: number;
    bankMomentum?: number;
    bankInit?: BankInit;
    temperature: number;
  },
  defaults: { bankLoss: 'nce' | 'softmax'; nceK: number; bankMomentum: number },
): BankObjective {
  const kind = params.bankLoss ?? defaults.bankLoss;
  const k = params.nceK ?? defaults.nceK;
  if (kind === 'nce' && k < 1) {
    throw new Error(
      `params.nceK is ${k}, but NCE needs noise samples (K >= 1; lemniscate uses 4096). nceK 0 means every bank entry, which only bankLoss 'softmax' (the full non-parametric softmax) supports.`,
    );
  }
  return {
    kind,
    k,
    tau: params.temperature,
    momentum: params.bankMomentum ?? defaults.bankMomentum,
    init: params.bankInit ?? 'random',
  };
}

/**
 * The loss of anchors `f` ([B, d], normalised) against `bank` (positives: the rows `indices`),
 * with `noise` (K per anchor; null for every entry), the mean score of the positives
 * (v_pos . f, a cosine once the entries have been written) and of the negatives: a negative score
 * close to the positive one means the bank rows have become alike (a collapsed embedding), which
 * the loss alone does not show. `z` must be given for NCE.
 */
export function bankLoss(
  f: tf.Tensor2D,
  bank: MemoryBank,
  indices: Int32Array,
  noise: Int32Array | null,
  obj: BankObjective,
  z: NceConstant | null,
): { loss: tf.Scalar; posSim: tf.Scalar; negSim: tf.Scalar } {
  const rows = bank.writtenRows(indices);
  if (rows.length < indices.length) {
    // Anchors whose positive is still a random row are left out (bankInit 'first-write').
    if (rows.length === 0) {
      const zero = tf.tidy(() => tf.mul(tf.sum(f), 0) as tf.Scalar);
      return { loss: zero, posSim: tf.scalar(0), negSim: tf.scalar(0) };
    }
    const k = noise ? noise.length / indices.length : 0;
    const keptNoise = noise ? new Int32Array(rows.length * k) : null;
    if (noise && keptNoise) {
      for (let i = 0; i < rows.length; i++)
        keptNoise.set(noise.subarray(rows[i] * k, (rows[i] + 1) * k), i * k);
    }
    const keptIndices = Int32Array.from(rows, (r) => indices[r]);
    return tf.tidy(() => {
      const kept = tf.gather(f, tf.tensor1d(rows, 'int32')) as tf.Tensor2D;
      return bankLoss(kept, bank, keptIndices, keptNoise, obj, z);
    });
  }
  return tf.tidy(() => {
    const scores = bankScores(f, bank.memory as tf.Tensor2D, indices, noise, obj.tau);
    const meanScore = (w: tf.Tensor2D) =>
      tf.mul(tf.div(tf.sum(tf.mul(w, scores.logits)), tf.sum(w)), obj.tau) as tf.Scalar;
    const posSim = meanScore(scores.pos);
    const negSim = meanScore(scores.neg);
    if (obj.kind === 'softmax')
      return { loss: bankSoftmaxLoss(scores.logits, scores.pos, scores.neg), posSim, negSim };
    if (!z) throw new Error('bankLoss: NCE needs its normalisation constant Z');
    const logZ = z.resolve(scores, bank.size);
    return {
      loss: nceLoss(scores.logits, scores.pos, scores.neg, logZ, obj.k, bank.size),
      posSim,
      negSim,
    };
  });
}

/**
 * The normalised embedding f = norm(head(h)) scored against the bank: Linear layers as
 * `projectionHead` (hidden layers Linear + BN + ReLU; the papers' head is one Linear to 128-d).
 * With `head.outputBn` the output goes through BatchNorm without scale and shift (not in the
 * papers): a learnt shift is a direction shared by every embedding, and against an epoch-old bank
 * it grows (positive and negative scores rise together and the bank's rows become alike), so the
 * output is only centred and scaled per dimension over the batch.
 */
export function bankEmbedding(ctx: Ctx, prefix: string, h: tf.Tensor2D, head: HeadConfig): tf.Tensor2D {
  return tf.tidy(() => {
    let x = h;
    head.hidden.forEach((width, i) => {
      x = dense(ctx, `${prefix}.fc${i + 1}`, x, width);
      x = batchNorm(ctx, `${prefix}.bn${i + 1}`, x, { relu: true });
    });
    const last = head.hidden.length + 1;
    x = dense(ctx, `${prefix}.fc${last}`, x, head.out, !head.outputBn);
    if (head.outputBn) x = batchNorm(ctx, `${prefix}.bn${last}`, x, { affine: false });
    return l2Normalize(x);
  });
}
