/**
 * MoCo's dictionary: a FIFO queue of K L2-normalised keys (methods reference 1.5 and tricky
 * point 3). The keys live in a ParamStore buffer `[K, d]` (row-major: one key per row, where the
 * PyTorch code keeps `dim x K`), with the write pointer and the number of real keys written so far
 * in two more buffers, so checkpoints carry the whole queue state and a resumed run continues
 * exactly where it stopped.
 *
 * - Initialised with normalised Gaussian noise drawn from the seeded RNG (so the first K/B steps
 *   contrast against noise, as in the official code).
 * - `enqueue` overwrites the B rows at the pointer, which then advances by B modulo K; K must be a
 *   multiple of B, so a batch never wraps around inside the buffer.
 * - Enqueue after the loss: the caller computes the loss against the current contents, then
 *   enqueues that step's (detached, normalised) keys.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ParamStore } from '../models/params';

export class KeyQueue {
  /** [K, d] keys, one per row. */
  readonly keys: tf.Variable;
  /** [1] index of the row the next batch is written to (a multiple of the batch size). */
  private readonly ptr: tf.Variable;
  /** [1] keys written so far, capped at K (how much of the queue is real keys, not noise). */
  private readonly count: tf.Variable;

  constructor(
    store: ParamStore,
    prefix: string,
    readonly size: number,
    readonly dim: number,
    readonly batchSize: number,
  ) {
    if (!Number.isInteger(size) || size < 1)
      throw new Error(`MoCo queue: size K must be a positive integer, got ${size}.`);
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new Error(`MoCo queue: batch size must be a positive integer, got ${batchSize}.`);
    if (size % batchSize !== 0) {
      const lo = Math.max(batchSize, size - (size % batchSize));
      throw new Error(
        `MoCo queue: params.queueSize (K = ${size}) must be a multiple of training.batchSize (${batchSize}), ` +
          `because each step overwrites one whole batch of keys and the pointer must not wrap inside a batch; ` +
          `use e.g. K = ${lo} or ${lo + batchSize}.`,
      );
    }
    // The pointer and count are float32 buffers (the checkpoint format stores float32): exact up
    // to 2^24, far above the schema's largest queue.
    if (size > 1 << 24) throw new Error(`MoCo queue: K = ${size} is above the supported 2^24.`);
    const existed = store.buffers.has(`${prefix}.keys`);
    this.keys = store.buffer(`${prefix}.keys`, [size, dim], { kind: 'normal', std: 1 });
    this.ptr = store.buffer(`${prefix}.ptr`, [1], { kind: 'zeros' });
    this.count = store.buffer(`${prefix}.count`, [1], { kind: 'zeros' });
    if (!existed) {
      tf.tidy(() => {
        const k = this.keys;
        k.assign(tf.div(k, tf.maximum(tf.norm(k, 'euclidean', 1, true), 1e-12)));
      });
    }
  }

  /** Row the next batch of keys is written to; (t B) mod K after t enqueues. */
  pointer(): number {
    return this.ptr.dataSync()[0];
  }

  /** Real keys in the queue (the rest is the initial noise), at most K. */
  filled(): number {
    return this.count.dataSync()[0];
  }

  /** Fraction of the queue holding real keys, as a scalar tensor (no read-back). */
  fillFraction(): tf.Scalar {
    return tf.tidy(() => tf.reshape(tf.div(this.count, this.size), []) as tf.Scalar);
  }

  /**
   * Writes `keys` ([B, d], already normalised and without gradient) at the pointer and advances it
   * by B (mod K). Must be called outside any gradient tape.
   */
  enqueue(keys: tf.Tensor2D): void {
    const [b, d] = keys.shape;
    if (b !== this.batchSize || d !== this.dim) {
      throw new Error(
        `MoCo queue: enqueue expects [${this.batchSize}, ${this.dim}] keys (the batch size the queue was built for), got [${keys.shape}].`,
      );
    }
    const p = this.pointer();
    tf.tidy(() => {
      const parts: tf.Tensor2D[] = [];
      if (p > 0) parts.push(tf.slice(this.keys as tf.Tensor2D, [0, 0], [p, d]));
      parts.push(keys);
      if (p + b < this.size)
        parts.push(tf.slice(this.keys as tf.Tensor2D, [p + b, 0], [this.size - p - b, d]));
      this.keys.assign(parts.length === 1 ? tf.clone(parts[0]) : tf.concat(parts, 0));
      this.ptr.assign(tf.tensor1d([(p + b) % this.size]));
      this.count.assign(tf.tensor1d([Math.min(this.size, this.filled() + b)]));
    });
  }
}
