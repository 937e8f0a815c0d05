/**
 * Float64 references for SwAV and DINO tests, written with plain loops from the official PyTorch
 * code (facebookresearch/swav main_swav.py, facebookresearch/dino main_dino.py), independent of
 * the tfjs implementation.
 */
import type { Rng } from '../../trainer/rng';
import { randn } from './tf';

/**
 * The official `distributed_sinkhorn` in float64 on one worker, on the transposed layout it uses:
 * Q = exp(scores / eps)^T (K x N) over its total; per iteration rows (prototypes) to 1/K, columns
 * (samples) to 1/N; times N. Returned back as [N, K]. No max subtraction (float64 has the range).
 */
export function sinkhornReference(scores: number[][], eps: number, iterations: number): number[][] {
  const n = scores.length;
  const k = scores[0].length;
  const q = Array.from({ length: k }, (_, j) =>
    Array.from({ length: n }, (_, i) => Math.exp(scores[i][j] / eps)),
  );
  let total = 0;
  for (const row of q) for (const v of row) total += v;
  for (const row of q) for (let i = 0; i < n; i++) row[i] /= total;
  for (let it = 0; it < iterations; it++) {
    for (const row of q) {
      const s = row.reduce((a, b) => a + b, 0);
      for (let i = 0; i < n; i++) row[i] /= s * k;
    }
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < k; j++) s += q[j][i];
      for (let j = 0; j < k; j++) q[j][i] /= s * n;
    }
  }
  return Array.from({ length: n }, (_, i) => Array.from({ length: k }, (_, j) => q[j][i] * n));
}

/** Rows of unit vectors' dot products with unit prototypes: scores in [-1, 1] as SwAV's. */
export function unitScores(rng: Rng, n: number, k: number, d: number): number[][] {
  const unit = (r: number[]) => {
    const s = Math.sqrt(r.reduce((a, x) => a + x * x, 0));
    return r.map((x) => x / s);
  };
  const z = randn(rng, n, d).map(unit);
  const c = randn(rng, k, d).map(unit);
  return z.map((zi) => c.map((cj) => zi.reduce((a, x, t) => a + x * cj[t], 0)));
}

/** log softmax of one row, float64. */
export function logSoftmax64(row: number[]): number[] {
  const m = Math.max(...row);
  const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
  return row.map((v) => v - lse);
}

/**
 * SwAV's loss loop: for each assignment crop a (codes q_a), the mean over the other crops v of
 * mean_b -sum_k q_a log softmax(s_v / tau), averaged over the assignment crops.
 */
export function swavLossReference(
  scores: number[][][],
  codes: number[][][],
  assign: number[],
  tau: number,
): number {
  let loss = 0;
  assign.forEach((a, i) => {
    let sub = 0;
    for (let v = 0; v < scores.length; v++) {
      if (v === a) continue;
      let m = 0;
      scores[v].forEach((row, b) => {
        const lp = logSoftmax64(row.map((x) => x / tau));
        m -= codes[i][b].reduce((acc, q, k) => acc + q * lp[k], 0);
      });
      sub += m / scores[v].length;
    }
    loss += sub / (scores.length - 1);
  });
  return loss / assign.length;
}

/** DINOLoss.forward: teacher softmax((t - C) / tau_t), student log-softmax(s / tau_s), pairs v != iq. */
export function dinoLossReference(
  student: number[][][],
  teacher: number[][][],
  center: number[],
  tauS: number,
  tauT: number,
): number {
  let total = 0;
  let terms = 0;
  teacher.forEach((t, iq) => {
    const pt = t.map((row) => logSoftmax64(row.map((x, k) => (x - center[k]) / tauT)).map(Math.exp));
    student.forEach((s, v) => {
      if (v === iq) return;
      let m = 0;
      s.forEach((row, b) => {
        const lp = logSoftmax64(row.map((x) => x / tauS));
        m -= pt[b].reduce((acc, p, k) => acc + p * lp[k], 0);
      });
      total += m / s.length;
      terms++;
    });
  });
  return total / terms;
}

/** Row-major [rows, cols] nested arrays from a flat array. */
export function rowsOf(flat: ArrayLike<number>, rows: number, cols: number): number[][] {
  return Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => flat[i * cols + j]));
}

/** a [n, d] times b [d, k], float64. */
export function matMul64(a: number[][], b: number[][]): number[][] {
  return a.map((r) => b[0].map((_, j) => r.reduce((acc, x, t) => acc + x * b[t][j], 0)));
}
