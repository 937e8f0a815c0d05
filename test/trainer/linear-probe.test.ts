import * as assert from 'node:assert/strict';
import { topKCorrect } from '../../trainer/eval/accuracy';
import {
  fitSoftmax,
  LINEAR_PROBE_RECIPE,
  linearProbe,
  softmaxObjective,
  standardizeFeatures,
} from '../../trainer/eval/linear-probe';
import { Rng } from '../../trainer/rng';

const TIGHT = { ...LINEAR_PROBE_RECIPE, gradTolerance: 1e-8, maxIterations: 5000 };

/**
 * Independent reference: the same penalised softmax objective written with nested arrays, minimised
 * by plain gradient descent with a fixed step until the gradient vanishes (float64).
 */
function referenceFit(x: number[][], y: number[], classes: number, lambda: number) {
  const n = x.length;
  const d = x[0].length;
  const W = Array.from({ length: classes }, () => new Array<number>(d).fill(0));
  const b = new Array<number>(classes).fill(0);
  const objective = () => {
    let loss = 0;
    const gW = W.map((r) => r.map(() => 0));
    const gb = b.map(() => 0);
    for (let i = 0; i < n; i++) {
      const logits = W.map((w, c) => b[c] + w.reduce((s, wj, j) => s + wj * x[i][j], 0));
      const m = Math.max(...logits);
      const e = logits.map((l) => Math.exp(l - m));
      const z = e.reduce((s, v) => s + v, 0);
      loss -= Math.log(e[y[i]] / z);
      for (let c = 0; c < classes; c++) {
        const delta = e[c] / z - (c === y[i] ? 1 : 0);
        gb[c] += delta / n;
        for (let j = 0; j < d; j++) gW[c][j] += (delta * x[i][j]) / n;
      }
    }
    let pen = 0;
    for (let c = 0; c < classes; c++)
      for (let j = 0; j < d; j++) {
        pen += W[c][j] ** 2;
        gW[c][j] += lambda * W[c][j];
      }
    return { loss: loss / n + 0.5 * lambda * pen, gW, gb };
  };
  let o = objective();
  for (let it = 0; it < 200000; it++) {
    const gmax = Math.max(...o.gW.flat().map(Math.abs), ...o.gb.map(Math.abs));
    if (gmax < 1e-11) break;
    for (let c = 0; c < classes; c++) {
      b[c] -= 0.5 * o.gb[c];
      for (let j = 0; j < d; j++) W[c][j] -= 0.5 * o.gW[c][j];
    }
    o = objective();
  }
  return { W, b, loss: o.loss };
}

function blobs(rng: Rng, n: number, d: number, classes: number, spread: number) {
  const centres = Array.from({ length: classes }, () => Array.from({ length: d }, () => rng.normal() * 2));
  const x: number[][] = [];
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % classes;
    y.push(c);
    x.push(centres[c].map((m) => m + rng.normal() * spread));
  }
  return { x, y };
}

describe('linear probe (softmax classifier, L-BFGS)', () => {
  it('reaches the minimiser an independent gradient-descent solver finds', () => {
    const rng = new Rng(7);
    // Overlapping classes: the optimum is interior and the penalty is small relative to the data.
    const { x, y } = blobs(rng, 45, 3, 3, 1.5);
    const lambda = 0.05;
    const ref = referenceFit(x, y, 3, lambda);
    const fit = fitSoftmax(x.flat(), y, 45, 3, 3, { ...TIGHT, weightDecay: lambda });
    assert.ok(fit.converged, `gradMax ${fit.gradMax}`);
    assert.ok(Math.abs(fit.loss - ref.loss) < 1e-9, `${fit.loss} vs ${ref.loss}`);
    for (let c = 0; c < 3; c++) {
      assert.ok(Math.abs(fit.bias[c] - ref.b[c]) < 1e-6, `bias ${c}: ${fit.bias[c]} vs ${ref.b[c]}`);
      for (let j = 0; j < 3; j++) {
        const got = fit.weights[j * 3 + c];
        assert.ok(Math.abs(got - ref.W[c][j]) < 1e-6, `W[${c}][${j}]: ${got} vs ${ref.W[c][j]}`);
      }
    }
  });

  it('objective and gradient agree with central finite differences', () => {
    const rng = new Rng(3);
    const { x, y } = blobs(rng, 12, 4, 3, 1);
    const size = 4 * 3 + 3;
    const p = Float64Array.from({ length: size }, () => rng.normal() * 0.5);
    const g = new Float64Array(size);
    softmaxObjective(p, x.flat(), y, 12, 4, 3, 0.1, g);
    for (let k = 0; k < size; k++) {
      const h = 1e-6;
      const up = Float64Array.from(p);
      const dn = Float64Array.from(p);
      up[k] += h;
      dn[k] -= h;
      const fd =
        (softmaxObjective(up, x.flat(), y, 12, 4, 3, 0.1) -
          softmaxObjective(dn, x.flat(), y, 12, 4, 3, 0.1)) /
        (2 * h);
      assert.ok(Math.abs(fd - g[k]) < 1e-7, `param ${k}: ${g[k]} vs ${fd}`);
    }
  });

  it('known solution: with no signal, W = 0 and the biases are the centred log class priors', () => {
    const y = [0, 0, 0, 0, 0, 0, 1, 1, 1, 2];
    const x = new Float64Array(y.length * 2);
    const fit = fitSoftmax(x, y, y.length, 2, 3, TIGHT);
    const logs = [6, 3, 1].map(Math.log);
    const meanLog = logs.reduce((s, v) => s + v, 0) / 3;
    for (let c = 0; c < 3; c++) assert.ok(Math.abs(fit.bias[c] - (logs[c] - meanLog)) < 1e-8);
    for (const w of fit.weights) assert.ok(Math.abs(w) < 1e-12);
  });

  it('known solution: two mirrored points, weight a solving lambda a = 1 - sigmoid(2a)', () => {
    const lambda = 0.1;
    // By symmetry W = [-a, a], b = 0; stationarity of -log sigmoid(2a) + lambda a^2 gives the equation.
    let lo = 0;
    let hi = 100;
    for (let i = 0; i < 200; i++) {
      const a = (lo + hi) / 2;
      if (lambda * a - (1 - 1 / (1 + Math.exp(-2 * a))) < 0) lo = a;
      else hi = a;
    }
    const a = (lo + hi) / 2;
    const fit = fitSoftmax([1, -1], [1, 0], 2, 1, 2, { ...TIGHT, weightDecay: lambda });
    assert.ok(Math.abs(fit.weights[1] - a) < 1e-8, `${fit.weights[1]} vs ${a}`);
    assert.ok(Math.abs(fit.weights[0] + a) < 1e-8);
    assert.ok(Math.abs(fit.bias[0]) < 1e-9 && Math.abs(fit.bias[1]) < 1e-9);
  });

  it('separable toy problem: the default recipe converges and classifies the test split perfectly', () => {
    // One draw so both splits share the class centres.
    const all = blobs(new Rng(11), 500, 8, 10, 0.05);
    const train = { x: all.x.slice(0, 300), y: all.y.slice(0, 300) };
    const test = { x: all.x.slice(300), y: all.y.slice(300) };
    const r = linearProbe(train.x.flat(), train.y, test.x.flat(), test.y, 8, 10);
    assert.ok(r.classifier.converged, `gradMax ${r.classifier.gradMax}`);
    assert.equal(r.top1, 1);
    assert.equal(r.top5, 1);
    assert.equal(r.trainTop1, 1);
    // Deterministic: a second fit gives bit-identical weights.
    const again = linearProbe(train.x.flat(), train.y, test.x.flat(), test.y, 8, 10);
    assert.deepEqual(again.classifier.weights, r.classifier.weights);
  });

  it('top-1 and top-5 count against labels; top-5 only with more than 5 classes', () => {
    const rng = new Rng(5);
    // Pure noise features: top-1 near chance, and top-5 of 10 classes well above top-1.
    const tr = blobs(rng, 400, 4, 10, 50);
    const te = blobs(rng, 400, 4, 10, 50);
    const r = linearProbe(tr.x.flat(), tr.y, te.x.flat(), te.y, 4, 10);
    assert.ok(r.top5 !== undefined && r.top5 > r.top1);
    const r3 = linearProbe([0, 1, 2], [0, 1, 2], [0, 1, 2], [0, 1, 2], 1, 3);
    assert.equal(r3.top5, undefined);
  });

  it('topKCorrect: ties resolve for the label; k counts classes scoring strictly higher', () => {
    const scores = [0.1, 0.5, 0.4, /* row 2 */ 1, 1, 0, /* row 3 */ 0.3, 0.2, 0.9];
    assert.equal(topKCorrect(scores, [2, 0, 1], 3, 3, 1), 1);
    assert.equal(topKCorrect(scores, [2, 0, 1], 3, 3, 2), 2);
    assert.equal(topKCorrect(scores, [2, 0, 1], 3, 3, 3), 3);
  });

  it('standardises both splits with the training statistics; constant features stay at 0', () => {
    const train = [1, 5, 3, 5, 5, 5];
    const test = [2, 5, 7, 6];
    const z = standardizeFeatures(train, test, 2);
    const m = 3;
    const s = Math.sqrt(((1 - m) ** 2 + (3 - m) ** 2 + (5 - m) ** 2) / 3);
    assert.ok(Math.abs(z.mean[0] - m) < 1e-12 && Math.abs(z.std[0] - s) < 1e-12);
    assert.ok(Math.abs(z.test[0] - (2 - m) / s) < 1e-12 && Math.abs(z.test[2] - (7 - m) / s) < 1e-12);
    assert.equal(z.std[1], 1);
    assert.deepEqual([z.train[1], z.train[3], z.train[5], z.test[1]], [0, 0, 0, 0]);
    assert.equal(z.test[3], 1);
  });
});
