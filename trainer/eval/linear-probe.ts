/**
 * Linear probe on frozen features: standardise with the training split's statistics, fit a
 * multinomial logistic regression (softmax classifier) with an L2 penalty, report top-1 (and top-5)
 * on the test split.
 *
 * The recipe is fixed so that numbers from different checkpoints and machines compare: full-batch
 * L-BFGS on the penalised mean cross-entropy, started from zero. The penalised objective is strictly
 * convex in the weights, so it has one minimiser and the probe has no seed, no learning rate and no
 * epoch count to disagree about; it converges to the same classifier whatever the hardware (the
 * float64 arithmetic here does not depend on the TensorFlow.js backend). SGD-based recipes (MoCo's
 * lr 30, SimSiam's LARS) would need per-method tuning to be comparable.
 *
 * Pure: feature arrays in, numbers out.
 */
import { reportsTop5, topKCorrect } from './accuracy';

export interface LinearProbeRecipe {
  /** lambda of the penalty (lambda / 2) ||W||^2 added to the mean cross-entropy; biases are not penalised. */
  weightDecay: number;
  maxIterations: number;
  /** Converged when no gradient entry exceeds this in absolute value. */
  gradTolerance: number;
  /** L-BFGS history length. */
  memory: number;
}

/**
 * lambda = 1e-3 on standardised features is mild (sklearn's default C = 1 is lambda = 1 / n, 2e-4 at
 * 5,000 images) but keeps the weights finite on linearly separable features, where an unpenalised
 * softmax has no minimiser and L-BFGS would run to its iteration cap.
 */
export const LINEAR_PROBE_RECIPE: Readonly<LinearProbeRecipe> = {
  weightDecay: 1e-3,
  maxIterations: 1000,
  gradTolerance: 1e-5,
  memory: 10,
};

export interface SoftmaxClassifier {
  dim: number;
  classes: number;
  /** [dim, classes] row-major: weights[j * classes + c]. */
  weights: Float64Array;
  bias: Float64Array;
  /** L-BFGS iterations taken, the final objective and its largest absolute gradient entry. */
  iterations: number;
  loss: number;
  gradMax: number;
  converged: boolean;
}

/**
 * Penalised mean cross-entropy of the softmax classifier `params` = [W (d x C, row-major), b (C)] on
 * `n` rows of `x` ([n, d]) with labels `y`. Writes the gradient into `grad` when given.
 */
export function softmaxObjective(
  params: Float64Array,
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  n: number,
  d: number,
  classes: number,
  weightDecay: number,
  grad?: Float64Array,
): number {
  const C = classes;
  const bOff = d * C;
  const z = new Float64Array(C);
  if (grad) grad.fill(0);
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const row = i * d;
    for (let c = 0; c < C; c++) z[c] = params[bOff + c];
    for (let j = 0; j < d; j++) {
      const xij = x[row + j];
      if (xij === 0) continue;
      const w = j * C;
      for (let c = 0; c < C; c++) z[c] += xij * params[w + c];
    }
    let max = z[0];
    for (let c = 1; c < C; c++) if (z[c] > max) max = z[c];
    let sum = 0;
    for (let c = 0; c < C; c++) {
      z[c] = Math.exp(z[c] - max);
      sum += z[c];
    }
    const label = y[i];
    loss += Math.log(sum) - Math.log(z[label]);
    if (!grad) continue;
    // z becomes dL_i/dlogits = softmax - onehot.
    for (let c = 0; c < C; c++) z[c] /= sum;
    z[label] -= 1;
    for (let c = 0; c < C; c++) grad[bOff + c] += z[c];
    for (let j = 0; j < d; j++) {
      const xij = x[row + j];
      if (xij === 0) continue;
      const w = j * C;
      for (let c = 0; c < C; c++) grad[w + c] += xij * z[c];
    }
  }
  let penalty = 0;
  for (let k = 0; k < bOff; k++) penalty += params[k] * params[k];
  const inv = n > 0 ? 1 / n : 0;
  if (grad) {
    for (let k = 0; k < bOff; k++) grad[k] = grad[k] * inv + weightDecay * params[k];
    for (let k = bOff; k < bOff + C; k++) grad[k] *= inv;
  }
  return loss * inv + 0.5 * weightDecay * penalty;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/**
 * Fits the softmax classifier by L-BFGS (two-loop recursion, Armijo backtracking) from zero.
 * `onIteration(iteration, loss)` is called after every iteration (progress reporting).
 */
export function fitSoftmax(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  n: number,
  d: number,
  classes: number,
  recipe: LinearProbeRecipe = LINEAR_PROBE_RECIPE,
  onIteration?: (iteration: number, loss: number) => void,
): SoftmaxClassifier {
  for (let i = 0; i < n; i++) {
    if (!(Number.isInteger(y[i]) && y[i] >= 0 && y[i] < classes))
      throw new RangeError(`label ${y[i]} of row ${i} is outside 0..${classes - 1}`);
  }
  const size = d * classes + classes;
  const f = (p: Float64Array, g: Float64Array) =>
    softmaxObjective(p, x, y, n, d, classes, recipe.weightDecay, g);
  let params = new Float64Array(size);
  let grad = new Float64Array(size);
  let loss = f(params, grad);
  const sHist: Float64Array[] = [];
  const yHist: Float64Array[] = [];
  const rhoHist: number[] = [];
  const alpha = new Float64Array(recipe.memory);
  let iterations = 0;
  let converged = maxAbs(grad) <= recipe.gradTolerance;
  while (!converged && iterations < recipe.maxIterations) {
    // Two-loop recursion: dir = -H g with H the L-BFGS inverse-Hessian estimate.
    const dir = Float64Array.from(grad);
    const m = sHist.length;
    for (let i = m - 1; i >= 0; i--) {
      alpha[i] = rhoHist[i] * dot(sHist[i], dir);
      const yi = yHist[i];
      for (let k = 0; k < size; k++) dir[k] -= alpha[i] * yi[k];
    }
    const gamma = m > 0 ? dot(sHist[m - 1], yHist[m - 1]) / dot(yHist[m - 1], yHist[m - 1]) : 1;
    for (let k = 0; k < size; k++) dir[k] *= gamma;
    for (let i = 0; i < m; i++) {
      const beta = rhoHist[i] * dot(yHist[i], dir);
      const si = sHist[i];
      for (let k = 0; k < size; k++) dir[k] += si[k] * (alpha[i] - beta);
    }
    for (let k = 0; k < size; k++) dir[k] = -dir[k];
    let slope = dot(grad, dir);
    if (!(slope < 0)) {
      // Not a descent direction (rounding): restart from steepest descent.
      sHist.length = yHist.length = rhoHist.length = 0;
      for (let k = 0; k < size; k++) dir[k] = -grad[k];
      slope = dot(grad, dir);
    }
    // The first step has no curvature estimate: keep it to a unit-length move.
    let step = m === 0 ? Math.min(1, 1 / Math.sqrt(-slope)) : 1;
    const next = new Float64Array(size);
    const nextGrad = new Float64Array(size);
    let nextLoss = Number.POSITIVE_INFINITY;
    let accepted = false;
    for (let tries = 0; tries < 60; tries++) {
      for (let k = 0; k < size; k++) next[k] = params[k] + step * dir[k];
      nextLoss = f(next, nextGrad);
      if (nextLoss <= loss + 1e-4 * step * slope) {
        accepted = true;
        break;
      }
      step *= 0.5;
    }
    if (!accepted) break;
    const s = new Float64Array(size);
    const yk = new Float64Array(size);
    for (let k = 0; k < size; k++) {
      s[k] = next[k] - params[k];
      yk[k] = nextGrad[k] - grad[k];
    }
    const sy = dot(s, yk);
    // The penalty makes the objective strongly convex in W, so sy > 0 but for rounding.
    if (sy > 1e-12 * Math.sqrt(dot(s, s) * dot(yk, yk))) {
      if (sHist.length === recipe.memory) {
        sHist.shift();
        yHist.shift();
        rhoHist.shift();
      }
      sHist.push(s);
      yHist.push(yk);
      rhoHist.push(1 / sy);
    }
    const decrease = loss - nextLoss;
    params = next;
    grad = nextGrad;
    loss = nextLoss;
    iterations++;
    onIteration?.(iterations, loss);
    converged = maxAbs(grad) <= recipe.gradTolerance;
    // No representable progress left: the float64 optimum for this data.
    if (!converged && decrease <= 1e-15 * Math.max(1, Math.abs(loss))) break;
  }
  return {
    dim: d,
    classes,
    weights: params.slice(0, d * classes),
    bias: params.slice(d * classes),
    iterations,
    loss,
    gradMax: maxAbs(grad),
    converged,
  };
}

/** Class scores (logits) of `n` rows of `x` ([n, dim]): [n, classes] row-major. */
export function classScores(model: SoftmaxClassifier, x: ArrayLike<number>, n: number): Float64Array {
  const { dim: d, classes: C, weights, bias } = model;
  const out = new Float64Array(n * C);
  for (let i = 0; i < n; i++) {
    const o = i * C;
    for (let c = 0; c < C; c++) out[o + c] = bias[c];
    for (let j = 0; j < d; j++) {
      const xij = x[i * d + j];
      const w = j * C;
      for (let c = 0; c < C; c++) out[o + c] += xij * weights[w + c];
    }
  }
  return out;
}

export interface Standardized {
  train: Float64Array;
  test: Float64Array;
  mean: Float64Array;
  /** Population standard deviation per feature; constant features are divided by 1 (left at 0). */
  std: Float64Array;
}

/** Centres and scales both splits ([n, d] row-major) with the training split's statistics. */
export function standardizeFeatures(
  train: ArrayLike<number>,
  test: ArrayLike<number>,
  d: number,
): Standardized {
  const nTrain = train.length / d;
  const nTest = test.length / d;
  const mean = new Float64Array(d);
  const std = new Float64Array(d);
  for (let i = 0; i < nTrain; i++) for (let j = 0; j < d; j++) mean[j] += train[i * d + j];
  for (let j = 0; j < d; j++) mean[j] /= Math.max(nTrain, 1);
  for (let i = 0; i < nTrain; i++) {
    for (let j = 0; j < d; j++) {
      const v = train[i * d + j] - mean[j];
      std[j] += v * v;
    }
  }
  for (let j = 0; j < d; j++) {
    const s = Math.sqrt(std[j] / Math.max(nTrain, 1));
    // A dead unit (ReLU never active) has no scale; dividing by ~0 would turn rounding into signal.
    std[j] = s > 1e-8 ? s : 1;
  }
  const apply = (x: ArrayLike<number>, n: number) => {
    const out = new Float64Array(n * d);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < d; j++) out[i * d + j] = (x[i * d + j] - mean[j]) / std[j];
    return out;
  };
  return { train: apply(train, nTrain), test: apply(test, nTest), mean, std };
}

export interface LinearProbeResult {
  top1: number;
  /** Only with more than 5 classes. */
  top5?: number;
  /** Top-1 on the training split: how separable the features are (with the penalty). */
  trainTop1: number;
  classifier: SoftmaxClassifier;
}

/**
 * The whole protocol on feature arrays ([n, d] row-major): standardise, fit, score the test split.
 */
export function linearProbe(
  trainX: ArrayLike<number>,
  trainY: ArrayLike<number>,
  testX: ArrayLike<number>,
  testY: ArrayLike<number>,
  d: number,
  classes: number,
  recipe: LinearProbeRecipe = LINEAR_PROBE_RECIPE,
  onIteration?: (iteration: number, loss: number) => void,
): LinearProbeResult {
  const nTrain = trainY.length;
  const nTest = testY.length;
  if (trainX.length !== nTrain * d || testX.length !== nTest * d)
    throw new RangeError(`feature arrays do not match ${nTrain} / ${nTest} rows of dimension ${d}`);
  const z = standardizeFeatures(trainX, testX, d);
  const classifier = fitSoftmax(z.train, trainY, nTrain, d, classes, recipe, onIteration);
  const testScores = classScores(classifier, z.test, nTest);
  const trainScores = classScores(classifier, z.train, nTrain);
  const frac = (k: number, s: Float64Array, y: ArrayLike<number>, n: number) =>
    n > 0 ? topKCorrect(s, y, n, classes, k) / n : 0;
  return {
    top1: frac(1, testScores, testY, nTest),
    top5: reportsTop5(classes) ? frac(5, testScores, testY, nTest) : undefined,
    trainTop1: frac(1, trainScores, trainY, nTrain),
    classifier,
  };
}
