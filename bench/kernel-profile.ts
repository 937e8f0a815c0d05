/**
 * Per-kernel time shares of a training step, by phase (forward, backward, optimizer).
 *
 * tf.profile counts a kernel that our training kernels call from inside (a Conv2D inside
 * Conv2DBackpropFilter) once more on top of its caller, so the shares would not add up. Instead
 * every kernel registered for the backend is wrapped with a timer that only records the outermost
 * call; the backward pass is further split by the forward op whose gradient is being computed.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface KernelRow {
  /** phase/kernel, e.g. "backward/Conv2DBackpropInput" or "forward/Conv2D". */
  key: string;
  ms: number;
  calls: number;
}

export interface StepProfile {
  totalMs: number;
  rows: KernelRow[];
}

interface EngineState {
  state: { gradientDepth: number; activeTape: unknown[] | null };
}

export class KernelTimer {
  private depth = 0;
  private readonly acc = new Map<string, { ms: number; calls: number }>();
  private readonly originals: tf.KernelConfig[] = [];

  constructor(readonly backendName: string) {}

  private phase(): string {
    const { state } = tf.engine() as unknown as EngineState;
    if (state.gradientDepth > 0) return 'forward';
    return state.activeTape !== null ? 'backward' : 'other';
  }

  install(): void {
    if (this.originals.length > 0) return;
    for (const k of tf.getKernelsForBackend(this.backendName)) {
      const original = k.kernelFunc;
      const wrapped: tf.KernelFunc = (args) => {
        if (this.depth > 0) return original(args);
        this.depth++;
        const t0 = performance.now();
        try {
          return original(args);
        } finally {
          const ms = performance.now() - t0;
          this.depth--;
          const key = `${this.phase()}/${k.kernelName}`;
          const a = this.acc.get(key) ?? { ms: 0, calls: 0 };
          a.ms += ms;
          a.calls++;
          this.acc.set(key, a);
        }
      };
      this.originals.push(k);
      tf.unregisterKernel(k.kernelName, this.backendName);
      tf.registerKernel({ ...k, kernelFunc: wrapped });
    }
  }

  uninstall(): void {
    for (const k of this.originals) {
      tf.unregisterKernel(k.kernelName, this.backendName);
      tf.registerKernel(k);
    }
    this.originals.length = 0;
  }

  reset(): void {
    this.acc.clear();
  }

  report(totalMs: number): StepProfile {
    const rows = [...this.acc.entries()]
      .map(([key, a]) => ({ key, ms: a.ms, calls: a.calls }))
      .sort((a, b) => b.ms - a.ms);
    return { totalMs, rows };
  }
}

/** A fixed-width table of the rows that together make up `cover` of the time, then the rest. */
export function formatProfile(p: StepProfile, cover = 0.95): string {
  const lines: string[] = [];
  const kernelMs = p.rows.reduce((s, r) => s + r.ms, 0);
  lines.push(
    `step ${p.totalMs.toFixed(0)} ms, in kernels ${kernelMs.toFixed(0)} ms (${((100 * kernelMs) / p.totalMs).toFixed(1)}%)`,
  );
  let shown = 0;
  let rest = 0;
  let restN = 0;
  for (const r of p.rows) {
    if (shown < cover * kernelMs) {
      lines.push(
        `  ${r.key.padEnd(44)} ${r.ms.toFixed(0).padStart(7)} ms ${((100 * r.ms) / p.totalMs).toFixed(1).padStart(5)}%  x${r.calls}`,
      );
      shown += r.ms;
    } else {
      rest += r.ms;
      restN++;
    }
  }
  if (restN > 0)
    lines.push(
      `  ${`(${restN} more kernels)`.padEnd(44)} ${rest.toFixed(0).padStart(7)} ms ${((100 * rest) / p.totalMs).toFixed(1).padStart(5)}%`,
    );
  return lines.join('\n');
}
