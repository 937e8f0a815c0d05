/**
 * Named parameters and buffers of a model.
 *
 * Networks are plain functions over a ParamStore rather than tfjs-layers models: the training
 * step needs custom gradients (fused BatchNorm), per-tensor optimizer rules (LARS excludes biases
 * and norms), EMA copies of whole networks, and a flat name -> tensor map for safetensors
 * checkpoints. Initial values are drawn in JavaScript from the seeded RNG so that a seed gives the
 * same network on every backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type Rng, rngFor } from '../rng';

export type ParamRole = 'weight' | 'bias' | 'norm';

export interface Param {
  name: string;
  variable: tf.Variable;
  role: ParamRole;
  /** Trained at the peak learning rate throughout (SimSiam's --fix-pred-lr for the predictor). */
  fixedLr?: boolean;
}

export type Init =
  | { kind: 'zeros' }
  | { kind: 'ones' }
  | { kind: 'normal'; std: number }
  | { kind: 'uniform'; bound: number };

function fill(shape: number[], init: Init, rng: Rng): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  switch (init.kind) {
    case 'zeros':
      break;
    case 'ones':
      out.fill(1);
      break;
    case 'normal':
      for (let i = 0; i < n; i++) out[i] = rng.normal() * init.std;
      break;
    case 'uniform':
      for (let i = 0; i < n; i++) out[i] = rng.uniform(-init.bound, init.bound);
      break;
  }
  return out;
}

let storeCounter = 0;

function toVariable(values: Float32Array, shape: number[], trainable: boolean, name: string): tf.Variable {
  const t = tf.tensor(values, shape, 'float32');
  const v = tf.variable(t, trainable, name);
  t.dispose();
  return v;
}

export class ParamStore {
  /** tfjs variable names are global to the process, so each store prefixes its own. */
  private readonly uid = `ps${storeCounter++}`;
  readonly params = new Map<string, Param>();
  /** Non-trainable state saved in checkpoints (BatchNorm running statistics). */
  readonly buffers = new Map<string, tf.Variable>();
  /** While true, layers create parameters but leave buffers (running statistics) unchanged. */
  dryRun = false;
  /** Name prefixes of parameters that no optimizer updates (EMA targets, frozen layers). */
  private readonly frozen: string[] = [];

  constructor(private readonly seed: number) {}

  /** Returns the parameter `name`, creating it on first use. */
  param(name: string, shape: number[], init: Init, role: ParamRole): tf.Variable {
    const existing = this.params.get(name);
    if (existing) return existing.variable;
    const values = fill(shape, init, rngFor(this.seed, 'init', name));
    const variable = toVariable(values, shape, !this.isFrozen(name), `${this.uid}/${name}`);
    this.params.set(name, { name, variable, role });
    return variable;
  }

  buffer(name: string, shape: number[], init: Init): tf.Variable {
    const existing = this.buffers.get(name);
    if (existing) return existing;
    const values = fill(shape, init, rngFor(this.seed, 'init', name));
    const v = toVariable(values, shape, false, `${this.uid}/${name}`);
    this.buffers.set(name, v);
    return v;
  }

  /**
   * Parameters under `prefix` are saved with the model but never given to the optimizer: EMA
   * target networks (MoCo's key encoder, BYOL's target) and frozen layers.
   */
  freeze(prefix: string): void {
    this.frozen.push(prefix);
  }

  isFrozen(name: string): boolean {
    return this.frozen.some((f) => name.startsWith(f));
  }

  trainable(): Param[] {
    return [...this.params.values()].filter((p) => !this.isFrozen(p.name));
  }

  /** Every parameter, frozen ones included. */
  allParams(): Param[] {
    return [...this.params.values()];
  }

  /** Every tensor to checkpoint, by name. */
  state(): Map<string, tf.Variable> {
    const m = new Map<string, tf.Variable>();
    for (const p of this.params.values()) m.set(p.name, p.variable);
    for (const [k, v] of this.buffers) m.set(k, v);
    return m;
  }

  /** Trainable parameter count (frozen copies such as EMA targets excluded). */
  countParameters(): number {
    let n = 0;
    for (const p of this.trainable()) n += p.variable.size;
    return n;
  }

  dispose(): void {
    for (const p of this.params.values()) p.variable.dispose();
    for (const v of this.buffers.values()) v.dispose();
    this.params.clear();
    this.buffers.clear();
  }
}
