import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { bankSoftmaxLoss, NCE_EPS, nceLogZ, nceLoss, weightedLogSumExp } from '../../trainer/losses/nce';
import {
  bankEmbedding,
  bankLoss,
  bankScores,
  MemoryBank,
  NceConstant,
  sampleNoise,
} from '../../trainer/methods/memory-bank';
import { ParamStore } from '../../trainer/models/params';
import { Rng, rngFor } from '../../trainer/rng';
import { randn, useBackend } from '../helpers/tf';

const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0);
const unit = (v: number[]) => {
  const n = Math.sqrt(dot(v, v));
  return v.map((x) => x / n);
};
const unitRows = (rows: number[][]) => rows.map(unit);

/**
 * lemniscate's NCECriterion in float64, on the official [B, K + 1] layout: P = exp(v . f / tau) / Z,
 * column 0 the positive, K noise columns after it.
 */
function nceReference(
  f: number[][],
  bank: number[][],
  indices: number[],
  noise: number[],
  tau: number,
  z: number,
): number {
  const b = f.length;
  const k = noise.length / b;
  const n = bank.length;
  const kPn = k / n;
  let total = 0;
  for (let r = 0; r < b; r++) {
    const pPos = Math.exp(dot(bank[indices[r]], f[r]) / tau) / z;
    total += Math.log(pPos / (pPos + kPn + NCE_EPS));
    for (let j = 0; j < k; j++) {
      const pNeg = Math.exp(dot(bank[noise[r * k + j]], f[r]) / tau) / z;
      total += Math.log(kPn / (pNeg + kPn + NCE_EPS));
    }
  }
  return -total / b;
}

/** Z = N mean(exp(v . f / tau)) over the B (K + 1) sampled entries, float64. */
function zReference(
  f: number[][],
  bank: number[][],
  indices: number[],
  noise: number[],
  tau: number,
): number {
  const b = f.length;
  const k = noise.length / b;
  let s = 0;
  for (let r = 0; r < b; r++) {
    s += Math.exp(dot(bank[indices[r]], f[r]) / tau);
    for (let j = 0; j < k; j++) s += Math.exp(dot(bank[noise[r * k + j]], f[r]) / tau);
  }
  return (bank.length * s) / (b * (k + 1));
}

/** Cross-entropy with label 0 over [v_pos, v_noise...] . f / tau (noise null: every entry). */
function softmaxReference(
  f: number[][],
  bank: number[][],
  indices: number[],
  noise: number[] | null,
  tau: number,
): number {
  const b = f.length;
  let total = 0;
  for (let r = 0; r < b; r++) {
    const cols = noise
      ? [indices[r], ...noise.slice((r * noise.length) / b, ((r + 1) * noise.length) / b)]
      : [indices[r], ...bank.map((_, j) => j).filter((j) => j !== indices[r])];
    const logits = cols.map((j) => dot(bank[j], f[r]) / tau);
    const m = Math.max(...logits);
    total += m + Math.log(logits.reduce((s, x) => s + Math.exp(x - m), 0)) - logits[0];
  }
  return total / b;
}

function scoresLoss(
  kind: 'nce' | 'softmax',
  f: number[][],
  bank: number[][],
  indices: number[],
  noise: number[] | null,
  tau: number,
  layout: 'dense' | 'gathered',
  logZ = 0,
): number {
  return tf.tidy(() => {
    const s = bankScores(
      tf.tensor2d(f),
      tf.tensor2d(bank),
      Int32Array.from(indices),
      noise ? Int32Array.from(noise) : null,
      tau,
      layout,
    );
    const k = noise ? noise.length / f.length : 0;
    const loss =
      kind === 'nce'
        ? nceLoss(s.logits, s.pos, s.neg, logZ, k, bank.length)
        : bankSoftmaxLoss(s.logits, s.pos, s.neg);
    return loss.dataSync()[0];
  });
}

describe('memory bank (InstDisc, CMC)', () => {
  before(() => useBackend('cpu'));

  describe('NCE and softmax over bank scores', () => {
    for (const [b, k, n, d, tau] of [
      [3, 5, 20, 6, 0.07],
      [8, 16, 40, 8, 0.1],
      [4, 50, 30, 5, 0.5],
    ] as const) {
      it(`NCE matches lemniscate's NCECriterion in float64, both layouts (B=${b}, K=${k}, N=${n}, tau=${tau})`, () => {
        const rng = new Rng(b * 100 + k);
        const bank = unitRows(randn(rng, n, d));
        const indices = Array.from(rngFor(1, 'perm', b).permutation(n).subarray(0, b));
        // Features near their own entries, so the positive term matters.
        const f = unitRows(indices.map((i) => bank[i].map((x) => x + 0.5 * rng.normal())));
        const noise = Array.from(sampleNoise(rng, b, k, n));
        // A duplicate and the positive itself among the noise, as the alias sampler allows.
        noise[1] = noise[0];
        noise[k] = indices[1];
        const z = zReference(f, bank, indices, noise, tau);
        const want = nceReference(f, bank, indices, noise, tau, z);
        for (const layout of ['dense', 'gathered'] as const) {
          const got = scoresLoss('nce', f, bank, indices, noise, tau, layout, Math.log(z));
          assert.ok(
            Math.abs(got - want) < 1e-4 * Math.max(1, Math.abs(want)),
            `${layout}: ${got} vs ${want}`,
          );
        }
      });

      it(`log Z is N times the mean of exp over the sampled entries (B=${b}, K=${k})`, () => {
        const rng = new Rng(7 + k);
        const bank = unitRows(randn(rng, n, d));
        const f = unitRows(randn(rng, b, d));
        const indices = Array.from({ length: b }, (_, i) => (3 * i) % n);
        const noise = Array.from(sampleNoise(rng, b, k, n));
        const want = Math.log(zReference(f, bank, indices, noise, tau));
        for (const layout of ['dense', 'gathered'] as const) {
          const got = tf.tidy(() => {
            const s = bankScores(
              tf.tensor2d(f),
              tf.tensor2d(bank),
              Int32Array.from(indices),
              Int32Array.from(noise),
              tau,
              layout,
            );
            return nceLogZ(s.logits, s.pos, s.neg, n).dataSync()[0];
          });
          assert.ok(Math.abs(got - want) < 1e-4, `${layout}: ${got} vs ${want}`);
        }
      });

      it(`softmax matches a float64 cross-entropy, sampled and full (B=${b}, K=${k}, N=${n})`, () => {
        const rng = new Rng(b + k + n);
        const bank = unitRows(randn(rng, n, d));
        const indices = Array.from({ length: b }, (_, i) => (5 * i + 1) % n);
        const f = unitRows(indices.map((i) => bank[i].map((x) => x + 0.8 * rng.normal())));
        const noise = Array.from(sampleNoise(rng, b, k, n));
        const sampled = softmaxReference(f, bank, indices, noise, tau);
        for (const layout of ['dense', 'gathered'] as const) {
          const got = scoresLoss('softmax', f, bank, indices, noise, tau, layout);
          assert.ok(Math.abs(got - sampled) < 1e-4, `${layout}: ${got} vs ${sampled}`);
        }
        const full = softmaxReference(f, bank, indices, null, tau);
        const got = scoresLoss('softmax', f, bank, indices, null, tau, 'dense');
        assert.ok(Math.abs(got - full) < 1e-4, `full: ${got} vs ${full}`);
      });
    }

    it('the weighted log-sum-exp ignores a huge score in a column of weight 0', () => {
      const x = tf.tensor2d([
        [1, 2, 500],
        [0.5, -1, 3],
      ]);
      const w = tf.tensor2d([
        [1, 2, 0],
        [0, 1, 1],
      ]);
      const got = weightedLogSumExp(x, w).arraySync();
      const want = [Math.log(Math.exp(1) + 2 * Math.exp(2)), Math.log(Math.exp(-1) + Math.exp(3))];
      got.forEach((g, i) => {
        assert.ok(Math.abs(g - want[i]) < 1e-5, `${got} vs ${want}`);
      });
      tf.dispose([x, w]);
    });

    it('NCE stays finite where exp(score / tau) overflows float32 (tau = 0.01)', () => {
      const rng = new Rng(3);
      const bank = unitRows(randn(rng, 10, 4));
      const f = [bank[2], bank[7]];
      const noise = Array.from(sampleNoise(rng, 2, 4, 10));
      // log Z near 1 / tau, where Z itself (about e^100) is beyond float32.
      const got = scoresLoss('nce', f, bank, [2, 7], noise, 0.01, 'dense', 100);
      const want = nceReference(f, bank, [2, 7], noise, 0.01, Math.exp(100));
      assert.ok(Number.isFinite(got) && Math.abs(got - want) < 1e-3, `${got} vs ${want}`);
    });

    // Methods reference 1.1 and section 5: Z calibrated on the batch puts every P near 1/N, so
    // L0 = ln(K + 1) + 1 + 1/(2 d tau^2) for random unit vectors (10.09 measured with PyTorch).
    it('initial NCE loss on random unit vectors is ln(K + 1) + 1 + 1/(2 d tau^2) (K 4096, d 128, tau 0.07)', () => {
      // B = 256 anchors: the positive term alone has a per-anchor std of about 1.3 at this tau.
      const [b, k, n, d, tau] = [256, 4096, 6000, 128, 0.07];
      const rng = new Rng(11);
      const loss = tf.tidy(() => {
        const bank = tf.tensor2d(unitRows(randn(rng, n, d)));
        const f = tf.tensor2d(unitRows(randn(rng, b, d)));
        const indices = Int32Array.from({ length: b }, (_, i) => i);
        const s = bankScores(f, bank, indices, sampleNoise(rng, b, k, n), tau);
        const logZ = nceLogZ(s.logits, s.pos, s.neg, n).dataSync()[0];
        return nceLoss(s.logits, s.pos, s.neg, logZ, k, n).dataSync()[0];
      });
      const theory = Math.log(k + 1) + 1 + 1 / (2 * d * tau * tau);
      assert.ok(Math.abs(loss - theory) < 0.15, `${loss} vs ${theory}`);
      assert.ok(Math.abs(loss - 10.09) < 0.15, `${loss} vs the reference's PyTorch measurement 10.09`);
    });

    it('initial full-softmax loss on random unit vectors is ln N + 1/(2 d tau^2)', () => {
      const [b, n, d, tau] = [32, 5000, 128, 0.1];
      const rng = new Rng(12);
      const loss = tf.tidy(() => {
        const bank = tf.tensor2d(unitRows(randn(rng, n, d)));
        const f = tf.tensor2d(unitRows(randn(rng, b, d)));
        const s = bankScores(
          f,
          bank,
          Int32Array.from({ length: b }, (_, i) => 10 * i),
          null,
          tau,
        );
        return bankSoftmaxLoss(s.logits, s.pos, s.neg).dataSync()[0];
      });
      const theory = Math.log(n) + 1 / (2 * d * tau * tau);
      assert.ok(Math.abs(loss - theory) < 0.05, `${loss} vs ${theory}`);
    });
  });

  describe('MemoryBank', () => {
    it('starts uniform in [-s, s], s = 1/sqrt(d/3), not normalised', () => {
      const store = new ParamStore(1);
      const bank = new MemoryBank(store, 'bank', 500, 12);
      const v = bank.memory.dataSync() as Float32Array;
      const s = 1 / Math.sqrt(12 / 3);
      assert.ok(v.every((x) => Math.abs(x) <= s));
      const meanSq = v.reduce((a, x) => a + x * x, 0) / v.length;
      // Uniform on [-s, s] has E[x^2] = s^2 / 3 = 1/d: rows have norm about 1 but not exactly.
      assert.ok(Math.abs(meanSq - 1 / 12) < 0.005, `${meanSq}`);
      assert.ok(!store.trainable().some((p) => p.name.startsWith('bank')), 'the bank is not trainable');
      assert.ok(store.state().has('bank.memory'), 'the bank is checkpointed');
      store.dispose();
    });

    it('update writes norm(m v + (1 - m) f) to the batch rows only', () => {
      const store = new ParamStore(2);
      const bank = new MemoryBank(store, 'bank', 10, 4);
      const before = bank.memory.arraySync() as number[][];
      const rng = new Rng(4);
      const f = unitRows(randn(rng, 3, 4));
      const indices = Int32Array.from([7, 0, 4]);
      for (const m of [0.5, 0.9]) {
        const start = bank.memory.arraySync() as number[][];
        tf.tidy(() => bank.update(indices, tf.tensor2d(f), m));
        const after = bank.memory.arraySync() as number[][];
        for (let row = 0; row < 10; row++) {
          const r = [...indices].indexOf(row);
          const want = r < 0 ? start[row] : unit(start[row].map((x, j) => m * x + (1 - m) * f[r][j]));
          after[row].forEach((x, j) => {
            assert.ok(Math.abs(x - want[j]) < 1e-6, `row ${row}`);
          });
        }
      }
      assert.notDeepEqual(bank.memory.arraySync(), before);
      store.dispose();
    });

    it("bankInit 'first-write': a row's first write copies the feature, later writes mix with m", () => {
      const store = new ParamStore(5);
      const bank = new MemoryBank(store, 'bank', 6, 3, 'first-write');
      const start = bank.memory.arraySync() as number[][];
      const rng = new Rng(6);
      const f1 = unitRows(randn(rng, 2, 3));
      const f2 = unitRows(randn(rng, 2, 3));
      const m = 0.5;
      tf.tidy(() => bank.update(Int32Array.from([4, 1]), tf.tensor2d(f1), m));
      // Row 4 again (now written: mixed), row 2 for the first time (copied).
      tf.tidy(() => bank.update(Int32Array.from([4, 2]), tf.tensor2d(f2), m));
      const after = bank.memory.arraySync() as number[][];
      const want: Record<number, number[]> = {
        0: start[0],
        1: f1[1],
        2: f2[1],
        3: start[3],
        4: unit(f1[0].map((x, j) => m * x + (1 - m) * f2[0][j])),
        5: start[5],
      };
      for (let row = 0; row < 6; row++) {
        after[row].forEach((x, j) => {
          assert.ok(Math.abs(x - want[row][j]) < 1e-6, `row ${row}: ${after[row]} vs ${want[row]}`);
        });
      }
      assert.deepEqual(Array.from(bank.written?.dataSync() ?? []), [0, 1, 1, 0, 1, 0]);
      assert.deepEqual(Array.from(bank.writtenRows(Int32Array.from([3, 2, 4, 0]))), [1, 2]);
      store.dispose();
    });

    it("bankInit 'first-write': anchors whose row is unwritten are left out of the loss", () => {
      const store = new ParamStore(7);
      const n = 12;
      const d = 5;
      const tau = 0.2;
      const bank = new MemoryBank(store, 'bank', n, d, 'first-write');
      const rng = new Rng(8);
      const rows = unitRows(randn(rng, n, d));
      // Rows 0..7 written with known features; 8..11 keep their random start.
      tf.tidy(() =>
        bank.update(Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7]), tf.tensor2d(rows.slice(0, 8)), 0.5),
      );
      const memory = bank.memory.arraySync() as number[][];
      const indices = [9, 2, 10, 5];
      const f = unitRows(indices.map((i) => memory[i].map((x) => x + 0.7 * rng.normal())));
      const obj = { kind: 'softmax' as const, k: 0, tau, momentum: 0.5, init: 'first-write' as const };
      const got = tf.tidy(
        () => bankLoss(tf.tensor2d(f), bank, Int32Array.from(indices), null, obj, null).loss.dataSync()[0],
      );
      // Only the anchors of rows 2 and 5 count; the bank as a whole (random rows included) are negatives.
      const want = softmaxReference([f[1], f[3]], memory, [2, 5], null, tau);
      assert.ok(Math.abs(got - want) < 1e-4, `${got} vs ${want}`);
      const none = tf.tidy(
        () =>
          bankLoss(
            tf.tensor2d([f[0], f[2]]),
            bank,
            Int32Array.from([9, 10]),
            null,
            obj,
            null,
          ).loss.dataSync()[0],
      );
      assert.equal(none, 0);
      store.dispose();
    });

    it('rejects an index outside the bank or twice in one batch, naming the bank', () => {
      const store = new ParamStore(3);
      const bank = new MemoryBank(store, 'bank.l', 5, 2);
      const f = tf.tensor2d([
        [1, 0],
        [0, 1],
      ]);
      assert.throws(() => bank.update(Int32Array.from([1, 5]), f, 0.5), /bank\.l.*index 5 outside/);
      assert.throws(() => bank.update(Int32Array.from([2, 2]), f, 0.5), /bank\.l.*twice/);
      f.dispose();
      store.dispose();
    });

    it('noise samples are uniform with replacement and replayed from the same stream', () => {
      const a = sampleNoise(rngFor(0, 'nce', 5), 4, 2000, 50);
      const b = sampleNoise(rngFor(0, 'nce', 5), 4, 2000, 50);
      assert.deepEqual(a, b);
      assert.notDeepEqual(a, sampleNoise(rngFor(0, 'nce', 6), 4, 2000, 50));
      const counts = new Array(50).fill(0);
      for (const i of a) counts[i]++;
      // 8000 draws over 50 entries: 160 each; repeats are certain, every entry is hit.
      assert.ok(Math.min(...counts) > 100 && Math.max(...counts) < 230, `${counts}`);
    });
  });

  describe('bankEmbedding', () => {
    it('with outputBn: Linear without bias, then BatchNorm without scale or shift, then L2 norm', () => {
      const store = new ParamStore(9);
      const rng = new Rng(10);
      const hRows = randn(rng, 6, 4).map((r) => r.map((x) => x + 2));
      const head = { hidden: [], out: 3, outputBn: true };
      const got = tf.tidy(() =>
        bankEmbedding({ ps: store, training: true }, 'head', tf.tensor2d(hRows), head).arraySync(),
      );
      assert.deepEqual([...store.state().keys()].sort(), [
        'head.bn1.running_mean',
        'head.bn1.running_var',
        'head.fc1.weight',
      ]);
      const w = store.state().get('head.fc1.weight')?.arraySync() as number[][];
      const z = hRows.map((h) => [0, 1, 2].map((j) => h.reduce((s, x, i) => s + x * w[i][j], 0)));
      const mean = [0, 1, 2].map((j) => z.reduce((s, r) => s + r[j], 0) / z.length);
      const variance = [0, 1, 2].map((j) => z.reduce((s, r) => s + (r[j] - mean[j]) ** 2, 0) / z.length);
      const want = unitRows(z.map((r) => r.map((x, j) => (x - mean[j]) / Math.sqrt(variance[j] + 1e-5))));
      got.forEach((row, i) => {
        row.forEach((x, j) => {
          assert.ok(Math.abs(x - want[i][j]) < 1e-4, `[${i}, ${j}]: ${x} vs ${want[i][j]}`);
        });
      });
      store.dispose();
    });

    it('without outputBn: Linear with bias, then L2 norm (the papers)', () => {
      const store = new ParamStore(11);
      const rng = new Rng(12);
      const hRows = randn(rng, 3, 4);
      const got = tf.tidy(() =>
        bankEmbedding({ ps: store, training: true }, 'head', tf.tensor2d(hRows), {
          hidden: [],
          out: 2,
          outputBn: false,
        }).arraySync(),
      );
      assert.deepEqual([...store.state().keys()].sort(), ['head.fc1.bias', 'head.fc1.weight']);
      const w = store.state().get('head.fc1.weight')?.arraySync() as number[][];
      const bias = store.state().get('head.fc1.bias')?.arraySync() as number[];
      const want = unitRows(
        hRows.map((h) => [0, 1].map((j) => h.reduce((s, x, i) => s + x * w[i][j], bias[j]))),
      );
      got.forEach((row, i) => {
        row.forEach((x, j) => {
          assert.ok(Math.abs(x - want[i][j]) < 1e-5, `[${i}, ${j}]`);
        });
      });
      store.dispose();
    });
  });

  describe('NceConstant', () => {
    const scores = (seed: number) => {
      const rng = new Rng(seed);
      const f = tf.tensor2d(unitRows(randn(rng, 4, 6)));
      const bank = tf.tensor2d(unitRows(randn(rng, 30, 6)));
      const s = bankScores(f, bank, Int32Array.from([0, 1, 2, 3]), sampleNoise(rng, 4, 8, 30), 0.1);
      tf.dispose([f, bank]);
      return s;
    };

    it('is estimated on the first batch only, not in the dry run, then frozen and checkpointed', () => {
      const store = new ParamStore(0);
      const z = new NceConstant(store, 'bank.log_z');
      const s1 = scores(1);
      const s2 = scores(2);
      store.dryRun = true;
      z.resolve(s2, 30);
      store.dryRun = false;
      assert.equal(z.get(), null, 'the dry run leaves Z unset');
      const first = z.resolve(s1, 30);
      const want = tf.tidy(() => nceLogZ(s1.logits, s1.pos, s1.neg, 30).dataSync()[0]);
      assert.ok(Math.abs(first - want) < 1e-6);
      assert.equal(z.resolve(s2, 30), first, 'a later batch does not re-estimate Z');
      const saved = store.state().get('bank.log_z')!.dataSync();
      assert.ok(Math.abs(saved[0] - first) < 1e-6 && saved[1] === 1);

      // A rebuilt model whose buffer is restored from a checkpoint uses the saved Z.
      const store2 = new ParamStore(0);
      const z2 = new NceConstant(store2, 'bank.log_z');
      store2
        .state()
        .get('bank.log_z')!
        .assign(tf.tensor1d(Array.from(saved)));
      assert.equal(z2.resolve(s2, 30), saved[0]);
      tf.dispose([...Object.values(s1), ...Object.values(s2)]);
      store.dispose();
      store2.dispose();
    });
  });
});
