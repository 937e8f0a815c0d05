/**
 * Two-component PCA of feature vectors for the embeddings view: the centred data projected on the
 * two leading eigenvectors of its covariance, and the fraction of the total variance each explains.
 *
 * The eigenvectors come from subspace iteration on the d x d covariance (float64) with a block of a
 * few vectors and a Rayleigh-Ritz step, so only the leading pair is ever resolved: O(d^2) per
 * iteration instead of a full O(d^3) eigendecomposition of a 512- or 2048-wide feature space.
 *
 * Pure and deterministic: the start block comes from a fixed seed, and each component's sign is
 * fixed so that its largest-magnitude entry is positive.
 */
import { Rng } from '../rng';

export interface Pca2 {
  /** Coordinates of each point on the first and second component. */
  x: Float64Array;
  y: Float64Array;
  /** Unit component vectors (length d). */
  components: [Float64Array, Float64Array];
  /** Variance along each component (population, divided by n). */
  variances: [number, number];
  /** Fraction of the total variance along each component, in [0, 1]. */
  explainedVariance: [number, number];
  mean: Float64Array;
  iterations: number;
}

/** Eigen-decomposition of a small symmetric matrix (cyclic Jacobi); eigenvalues descending. */
export function symmetricEigen(a: Float64Array, p: number): { values: Float64Array; vectors: Float64Array } {
  const m = Float64Array.from(a);
  // vectors[i * p + k]: component i of eigenvector k.
  const v = new Float64Array(p * p);
  for (let i = 0; i < p; i++) v[i * p + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    let diag = 0;
    for (let i = 0; i < p; i++) {
      diag += m[i * p + i] ** 2;
      for (let j = i + 1; j < p; j++) off += m[i * p + j] ** 2;
    }
    if (off <= 1e-30 * Math.max(diag, 1e-300)) break;
    for (let i = 0; i < p; i++) {
      for (let j = i + 1; j < p; j++) {
        const aij = m[i * p + j];
        if (aij === 0) continue;
        const theta = (m[j * p + j] - m[i * p + i]) / (2 * aij);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < p; k++) {
          const mki = m[k * p + i];
          const mkj = m[k * p + j];
          m[k * p + i] = c * mki - s * mkj;
          m[k * p + j] = s * mki + c * mkj;
        }
        for (let k = 0; k < p; k++) {
          const mik = m[i * p + k];
          const mjk = m[j * p + k];
          m[i * p + k] = c * mik - s * mjk;
          m[j * p + k] = s * mik + c * mjk;
        }
        for (let k = 0; k < p; k++) {
          const vki = v[k * p + i];
          const vkj = v[k * p + j];
          v[k * p + i] = c * vki - s * vkj;
          v[k * p + j] = s * vki + c * vkj;
        }
      }
    }
  }
  const order = Array.from({ length: p }, (_, i) => i).sort((x, y) => m[y * p + y] - m[x * p + x]);
  const values = Float64Array.from(order, (k) => m[k * p + k]);
  const vectors = new Float64Array(p * p);
  order.forEach((k, col) => {
    for (let i = 0; i < p; i++) vectors[i * p + col] = v[i * p + k];
  });
  return { values, vectors };
}

/** Orthonormalises the p columns of q ([d, p] row-major) in place (modified Gram-Schmidt). */
function orthonormalize(q: Float64Array, d: number, p: number, rng: Rng): void {
  for (let k = 0; k < p; k++) {
    for (let pass = 0; pass < 2; pass++) {
      for (let j = 0; j < k; j++) {
        let dot = 0;
        for (let i = 0; i < d; i++) dot += q[i * p + j] * q[i * p + k];
        for (let i = 0; i < d; i++) q[i * p + k] -= dot * q[i * p + j];
      }
    }
    let norm = 0;
    for (let i = 0; i < d; i++) norm += q[i * p + k] ** 2;
    norm = Math.sqrt(norm);
    if (norm < 1e-150) {
      // The column fell into the span of the others (rank-deficient covariance): redraw it.
      for (let i = 0; i < d; i++) q[i * p + k] = rng.normal();
      k--;
      continue;
    }
    for (let i = 0; i < d; i++) q[i * p + k] /= norm;
  }
}

export interface PcaOptions {
  /** Subspace size (at least 2); larger converges in fewer iterations when eigenvalues crowd. */
  block?: number;
  maxIterations?: number;
  /** Converged when the two leading Ritz pairs' residuals are below this times the top eigenvalue. */
  tolerance?: number;
}

/** PCA of `n` points of dimension `d` (row-major [n, d]) onto its two leading components. */
export function pca2(data: ArrayLike<number>, n: number, d: number, opts: PcaOptions = {}): Pca2 {
  if (d < 2) throw new RangeError(`PCA to 2-D needs at least 2 feature dimensions (got ${d})`);
  if (data.length !== n * d) throw new RangeError(`data has ${data.length} values, expected ${n} x ${d}`);
  const p = Math.min(d, Math.max(2, opts.block ?? 8));
  const maxIt = opts.maxIterations ?? 5000;
  const tol = opts.tolerance ?? 1e-10;

  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += data[i * d + j];
  for (let j = 0; j < d; j++) mean[j] /= Math.max(n, 1);
  const cov = new Float64Array(d * d);
  const row = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) row[j] = data[i * d + j] - mean[j];
    for (let a = 0; a < d; a++) {
      const ra = row[a];
      if (ra === 0) continue;
      const o = a * d;
      for (let b = a; b < d; b++) cov[o + b] += ra * row[b];
    }
  }
  let trace = 0;
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
      cov[a * d + b] /= Math.max(n, 1);
      cov[b * d + a] = cov[a * d + b];
    }
    trace += cov[a * d + a];
  }

  const rng = new Rng(0x9ca);
  let q = Float64Array.from({ length: d * p }, () => rng.normal());
  orthonormalize(q, d, p, rng);
  const cq = new Float64Array(d * p);
  const mulCov = (src: Float64Array) => {
    cq.fill(0);
    for (let i = 0; i < d; i++) {
      const o = i * d;
      for (let k = 0; k < d; k++) {
        const c = cov[o + k];
        if (c === 0) continue;
        for (let j = 0; j < p; j++) cq[i * p + j] += c * src[k * p + j];
      }
    }
  };
  let ritz: { values: Float64Array; vectors: Float64Array } = {
    values: new Float64Array(p),
    vectors: new Float64Array(p * p),
  };
  let iterations = 0;
  for (;;) {
    mulCov(q);
    // Rayleigh-Ritz: eigenpairs of Q^T C Q give the best approximations within span(Q).
    const t = new Float64Array(p * p);
    for (let a = 0; a < p; a++)
      for (let b = 0; b < p; b++) {
        let s = 0;
        for (let i = 0; i < d; i++) s += q[i * p + a] * cq[i * p + b];
        t[a * p + b] = s;
      }
    for (let a = 0; a < p; a++)
      for (let b = a + 1; b < p; b++) t[a * p + b] = t[b * p + a] = (t[a * p + b] + t[b * p + a]) / 2;
    ritz = symmetricEigen(t, p);
    // Residual ||C u - lambda u|| of the two leading Ritz vectors u = Q y (C u = (CQ) y).
    let worst = 0;
    for (let k = 0; k < 2; k++) {
      let r2 = 0;
      for (let i = 0; i < d; i++) {
        let u = 0;
        let cu = 0;
        for (let j = 0; j < p; j++) {
          u += q[i * p + j] * ritz.vectors[j * p + k];
          cu += cq[i * p + j] * ritz.vectors[j * p + k];
        }
        r2 += (cu - ritz.values[k] * u) ** 2;
      }
      worst = Math.max(worst, Math.sqrt(r2));
    }
    if (worst <= tol * Math.max(ritz.values[0], 1e-300) || iterations >= maxIt || trace === 0) break;
    q = Float64Array.from(cq);
    orthonormalize(q, d, p, rng);
    iterations++;
  }

  const components: [Float64Array, Float64Array] = [new Float64Array(d), new Float64Array(d)];
  for (let k = 0; k < 2; k++) {
    const u = components[k];
    for (let i = 0; i < d; i++) {
      let s = 0;
      for (let j = 0; j < p; j++) s += q[i * p + j] * ritz.vectors[j * p + k];
      u[i] = s;
    }
    let norm = 0;
    let big = 0;
    for (let i = 0; i < d; i++) {
      norm += u[i] * u[i];
      if (Math.abs(u[i]) > Math.abs(u[big])) big = i;
    }
    const scale = (u[big] < 0 ? -1 : 1) / Math.sqrt(norm || 1);
    for (let i = 0; i < d; i++) u[i] *= scale;
  }
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let sx = 0;
    let sy = 0;
    for (let j = 0; j < d; j++) {
      const v = data[i * d + j] - mean[j];
      sx += v * components[0][j];
      sy += v * components[1][j];
    }
    x[i] = sx;
    y[i] = sy;
  }
  const variances: [number, number] = [Math.max(ritz.values[0], 0), Math.max(ritz.values[1], 0)];
  const explainedVariance: [number, number] =
    trace > 0 ? [variances[0] / trace, variances[1] / trace] : [0, 0];
  return { x, y, components, variances, explainedVariance, mean, iterations };
}
