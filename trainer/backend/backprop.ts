/**
 * A backward pass that frees memory as it goes, installed in place of tfjs-core's
 * `engine.gradients` (which `tf.grads`, `tf.variableGrads` and every optimizer call).
 *
 * Why: tfjs-core keeps every intermediate gradient, every tensor saved for the backward pass and
 * every temporary of a custom gradient until the whole backward pass ends, so its peak memory is
 * roughly forward activations + all their gradients. A CIFAR ResNet-18 step at 2 x 128 images then
 * outgrows wasm's 4 GB heap. Here, once a tape node is processed, the gradients of its outputs and
 * the tensors it saved are released (nothing later can read them: the tape is in topological
 * order), and each node's gradient function runs in its own scope. The numbers are the same
 * operations in the same order as tfjs-core's (same accumulation order), so results are identical.
 *
 * Higher-order gradients (a gradient taken inside another gradient's function) still go through
 * tfjs-core's own implementation: there the backward ops are themselves recorded and must live on.
 * The tape filtering below follows tfjs-core's `getFilteredNodesXToY` (Apache-2.0).
 */
import * as tf from '@tensorflow/tfjs-core';

interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  saved?: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
}

/** The parts of tfjs-core's Engine this module relies on (checked at install time). */
interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  startTape(): void;
  endTape(): void;
  tidy<T extends tf.TensorContainer>(name: string, fn: () => T): T;
  gradients(
    f: () => tf.Tensor,
    xs: tf.Tensor[],
    dy?: tf.Tensor,
    allowNoGradients?: boolean,
  ): { value: tf.Tensor; grads: tf.Tensor[] };
}

type GradientsFn = EngineInternals['gradients'];

let stockGradients: GradientsFn | undefined;
let installedOn: EngineInternals | undefined;

function engineInternals(): EngineInternals {
  const e = tf.engine() as unknown as EngineInternals;
  for (const key of ['scopedRun', 'startTape', 'endTape', 'tidy', 'gradients'] as const) {
    if (typeof e[key] !== 'function') {
      throw new Error(
        `memory-lean backprop: tfjs-core's engine has no '${key}' (unsupported tfjs-core version)`,
      );
    }
  }
  if (typeof e.state !== 'object' || !('gradientDepth' in e.state)) {
    throw new Error(
      'memory-lean backprop: unexpected tfjs-core engine state (unsupported tfjs-core version)',
    );
  }
  return e;
}

/** The nodes on a path from one of `xs` to `y`, inputs pruned to those that depend on `xs`. */
export function filterTape(tape: TapeNode[], xs: tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const fromX = new Set<number>(xs.map((x) => x.id));
  const nodesFromX = new Set<number>();
  for (const node of tape) {
    for (const name in node.inputs) {
      if (fromX.has(node.inputs[name].id)) {
        for (const o of node.outputs) fromX.add(o.id);
        nodesFromX.add(node.id);
        break;
      }
    }
  }
  const toY = new Set<number>([y.id]);
  const nodesToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    if (node.outputs.some((o) => toY.has(o.id))) {
      for (const name in node.inputs) toY.add(node.inputs[name].id);
      nodesToY.add(node.id);
    }
  }
  const out: TapeNode[] = [];
  for (const node of tape) {
    if (!nodesFromX.has(node.id) || !nodesToY.has(node.id)) continue;
    const inputs: Record<string, tf.Tensor> = {};
    for (const name in node.inputs) {
      if (fromX.has(node.inputs[name].id)) inputs[name] = node.inputs[name];
    }
    out.push({ ...node, inputs, outputs: node.outputs });
  }
  return out;
}

function disposeSaved(node: TapeNode): void {
  for (const t of node.saved ?? []) t.dispose();
}

function leanGradients(
  this: EngineInternals,
  f: () => tf.Tensor,
  xs: tf.Tensor[],
  dy?: tf.Tensor,
  allowNoGradients = false,
): { value: tf.Tensor; grads: tf.Tensor[] } {
  // Nested: the outer gradient records this backward pass, so nothing here may be freed early.
  if (this.state.gradientDepth > 0) return stockGradients!.call(this, f, xs, dy, allowNoGradients);
  if (xs.length === 0) throw new Error('gradients() received an empty list of xs.');
  if (dy != null && dy.dtype !== 'float32')
    throw new Error(`dy must have 'float32' dtype, but has '${dy.dtype}'`);
  const y = this.scopedRun(
    () => this.startTape(),
    () => this.endTape(),
    () => this.tidy('forward', f),
  );
  if (!(y instanceof tf.Tensor)) throw new Error('The result y returned by f() must be a tensor.');
  const tape = this.state.activeTape ?? [];
  const filtered = filterTape(tape, xs, y);
  if (!allowNoGradients && filtered.length === 0) {
    throw new Error(
      'Cannot compute gradient of y=f(x) with respect to x. Make sure that the f you passed encloses all operations that lead from x to y.',
    );
  }
  const onPath = new Set(filtered.map((n) => n.id));
  // Ops off the path (running statistics, metrics) saved tensors no backward step will read.
  for (const node of tape) if (!onPath.has(node.id)) disposeSaved(node);

  const wanted = new Set(xs.map((x) => x.id));
  return this.tidy('backward', () => {
    const acc = new Map<number, tf.Tensor>();
    // How many map entries hold each tensor object: a gradient function may hand the same tensor
    // to several inputs, or pass dy straight through, and a shared tensor must outlive each use.
    const holders = new Map<tf.Tensor, number>();
    const hold = (id: number, t: tf.Tensor) => {
      acc.set(id, t);
      holders.set(t, (holders.get(t) ?? 0) + 1);
    };
    const release = (id: number) => {
      const t = acc.get(id);
      if (t === undefined) return;
      acc.delete(id);
      const n = (holders.get(t) ?? 1) - 1;
      if (n > 0) holders.set(t, n);
      else {
        holders.delete(t);
        t.dispose();
      }
    };
    hold(y.id, dy ?? tf.ones(y.shape));
    // The caller's dy is theirs to dispose.
    if (dy != null) holders.set(dy, Number.POSITIVE_INFINITY);

    for (let i = filtered.length - 1; i >= 0; i--) {
      const node = filtered[i];
      if (node.gradient == null) {
        throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);
      }
      const dys = node.outputs.map((o) => acc.get(o.id) ?? null);
      const names = Object.keys(node.inputs);
      // One scope per node: a custom gradient's temporaries die here, not at the end of the pass.
      const dxs = this.tidy(node.kernelName, () => {
        const fns = node.gradient!(dys);
        return names.map((name) => {
          if (!(name in fns)) {
            throw new Error(
              `Cannot backprop through input ${name}. Available gradients found: ${Object.keys(fns)}.`,
            );
          }
          return fns[name]();
        });
      });
      names.forEach((name, k) => {
        const dx = dxs[k];
        const x = node.inputs[name];
        if (dx.dtype !== 'float32') {
          throw new Error(
            `Error in gradient for op ${node.kernelName}. The gradient of input ${name} must have 'float32' dtype, but has '${dx.dtype}'`,
          );
        }
        if (!tf.util.arraysEqual(dx.shape, x.shape)) {
          throw new Error(
            `Error in gradient for op ${node.kernelName}. The gradient of input '${name}' has shape '${dx.shape}', which does not match the shape of the input '${x.shape}'`,
          );
        }
      });
      names.forEach((name, k) => {
        const x = node.inputs[name];
        const cur = acc.get(x.id);
        if (cur === undefined) hold(x.id, dxs[k]);
        else {
          const sum = tf.add(cur, dxs[k]);
          release(x.id);
          hold(x.id, sum);
        }
      });
      // The outputs' gradients are complete (every consumer came later on the tape) and consumed;
      // so are the tensors this node saved. Anything still held (a gradient passed through
      // unchanged) lives on under its new owner.
      for (const o of node.outputs) if (!wanted.has(o.id)) release(o.id);
      for (const t of node.saved ?? []) if (!holders.has(t)) t.dispose();
      for (const dx of dxs) if (!holders.has(dx)) dx.dispose();
    }
    const grads = xs.map((x) => acc.get(x.id) as tf.Tensor);
    // Keep what is returned alive past this tidy; everything else in the map is released.
    for (const id of [...acc.keys()]) if (!wanted.has(id)) release(id);
    for (const node of tape) for (const t of node.saved ?? []) if (!holders.has(t)) t.dispose();
    this.state.activeTape = null;
    return { value: y, grads };
  });
}

/**
 * Replaces `engine.gradients` with the memory-lean backward pass. Idempotent; applies to every
 * backend (it only orders and frees tensors, the kernels are the backend's).
 */
export function installLeanBackprop(): void {
  const e = engineInternals();
  if (installedOn === e) return;
  stockGradients = Object.getPrototypeOf(e).gradients as GradientsFn;
  e.gradients = leanGradients;
  installedOn = e;
}

/** Puts tfjs-core's own backward pass back (for comparisons and benchmarks). */
export function uninstallLeanBackprop(): void {
  if (installedOn === undefined) return;
  delete (installedOn as Partial<EngineInternals>).gradients;
  installedOn = undefined;
}

export function leanBackpropInstalled(): boolean {
  return installedOn !== undefined && installedOn === (tf.engine() as unknown as EngineInternals);
}
