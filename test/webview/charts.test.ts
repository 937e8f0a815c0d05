import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MetricsTail, RowsByStep } from '../../extension/metricsTail';
import type { MetricRow } from '../../trainer/run/metrics';
import { bucketsForWidth, minMaxDecimate, visibleRange } from '../../webview/charts/decimate';
import { formatDuration, formatValue, niceTicks, parseColor, withAlpha } from '../../webview/charts/format';
import { isChartsFromWebview, isChartsToWebview } from '../../webview/charts/messages';
import { ChartStore, metricKeys, orderMetrics } from '../../webview/charts/series';
import { debiasedEma, debiasedEmaRange, newEmaState } from '../../webview/charts/smoothing';

/** Deterministic pseudo-random numbers (mulberry32), so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Independent reference for the debiased EMA: its closed form. After n finite values the
 * debiased EMA is the average of those values weighted w^(n-1-k), i.e. sum(w^(n-1-k) v_k) /
 * sum(w^(n-1-k)) — no recursion, no running state.
 */
function emaClosedForm(values: number[], w: number): number[] {
  const out: number[] = [];
  const finite: number[] = [];
  for (const v of values) {
    if (!Number.isFinite(v)) {
      out.push(v);
      continue;
    }
    finite.push(v);
    const n = finite.length;
    let num = 0;
    let den = 0;
    for (let k = 0; k < n; k++) {
      const wk = w ** (n - 1 - k);
      num += wk * finite[k];
      den += wk;
    }
    out.push(num / den);
  }
  return out;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, msg = ''): void {
  assert.equal(actual.length, expected.length, `${msg} length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e)) assert.ok(Number.isNaN(a), `${msg}[${i}]: expected NaN, got ${a}`);
    else if (!Number.isFinite(e)) assert.equal(a, e, `${msg}[${i}]`);
    else assert.ok(Math.abs(a - e) <= tol * Math.max(1, Math.abs(e)), `${msg}[${i}]: ${a} vs ${e}`);
  }
}

describe('charts: debiased EMA smoothing', () => {
  it('matches the closed-form weighted average, NaN/Inf passed through and skipped', () => {
    const r = rng(1);
    const values = Array.from({ length: 300 }, (_, i) => Math.sin(i / 10) * 3 + r() - 0.5);
    values[0] = Number.NaN;
    values[17] = Number.NaN;
    values[18] = Number.POSITIVE_INFINITY;
    values[200] = Number.NEGATIVE_INFINITY;
    for (const w of [0, 0.3, 0.6, 0.9, 0.99]) {
      assertClose(debiasedEma(values, w), emaClosedForm(values, w), 1e-9, `w=${w}`);
    }
  });

  it('hand-computed values: [1, 2, 4] with w = 0.5 gives 1, 5/3, 3', () => {
    // last: 0.5, 1.25, 2.625; debiased by 1-0.5, 1-0.25, 1-0.125.
    assertClose(debiasedEma([1, 2, 4], 0.5), [1, 5 / 3, 3], 1e-15);
  });

  it('w = 0 is the identity', () => {
    const values = Float64Array.from([3, -1, 2.5, Number.NaN, 1e-9, 7]);
    const out = debiasedEma(values, 0);
    assert.deepEqual([...out].map(String), [...values].map(String));
  });

  it('a constant stays constant from the first point (the start-up bias is removed)', () => {
    for (const w of [0.5, 0.9, 0.99]) {
      const out = debiasedEma(new Array(500).fill(2.5), w);
      for (let i = 0; i < out.length; i++)
        assert.ok(Math.abs(out[i] - 2.5) < 1e-12, `w=${w} i=${i}: ${out[i]}`);
    }
  });

  it('continuing from saved state equals smoothing everything at once', () => {
    const r = rng(2);
    const values = Array.from({ length: 1000 }, () => r() * 10);
    const whole = debiasedEma(values, 0.95);
    const out = new Float64Array(values.length);
    const st = newEmaState();
    for (const [a, b] of [
      [0, 1],
      [1, 250],
      [250, 251],
      [251, 1000],
    ])
      debiasedEmaRange(values, 0.95, out, a, b, st);
    assertClose(out, whole, 1e-15);
  });

  it('rejects weights outside [0, 1)', () => {
    assert.throws(() => debiasedEma([1], 1), RangeError);
    assert.throws(() => debiasedEma([1], -0.1), RangeError);
    assert.throws(() => debiasedEma([1], Number.NaN), RangeError);
  });
});

describe('charts: min/max decimation', () => {
  /** A noisy random walk with a few one-point spikes, on an x grid with gaps. */
  function walk(n: number, seed: number): { xs: Float64Array; ys: Float64Array } {
    const r = rng(seed);
    const xs = new Float64Array(n);
    const ys = new Float64Array(n);
    let x = 0;
    let y = 0;
    for (let i = 0; i < n; i++) {
      x += r() < 0.001 ? 500 : 1 + Math.floor(r() * 3); // occasional pauses (resume, eval)
      y += r() - 0.5;
      xs[i] = x;
      ys[i] = r() < 0.0005 ? y + (r() < 0.5 ? 1000 : -1000) : y;
    }
    return { xs, ys };
  }

  it('keeps first, last and the global min/max, sorted and unique, within 4*buckets', () => {
    for (const [n, buckets] of [
      [100_000, 500],
      [50_000, 37],
      [10_000, 2000],
    ]) {
      const { xs, ys } = walk(n, n + buckets);
      const idx = minMaxDecimate(xs, ys, buckets);
      assert.ok(idx.length <= 4 * buckets, `${idx.length} > 4*${buckets}`);
      for (let k = 1; k < idx.length; k++) assert.ok(idx[k] > idx[k - 1], 'ascending and unique');
      let iMin = 0;
      let iMax = 0;
      for (let i = 1; i < n; i++) {
        if (ys[i] < ys[iMin]) iMin = i;
        if (ys[i] > ys[iMax]) iMax = i;
      }
      const kept = new Set(idx);
      for (const i of [0, n - 1, iMin, iMax]) assert.ok(kept.has(i), `index ${i} kept (n=${n})`);
    }
  });

  it('preserves the min and max of every x bucket (the drawn envelope is exact)', () => {
    const { xs, ys } = walk(20_000, 7);
    const buckets = 300;
    const idx = minMaxDecimate(xs, ys, buckets);
    const x0 = xs[0];
    const width = (xs[xs.length - 1] - x0) / buckets;
    const bucketOf = (x: number) => Math.min(buckets - 1, Math.floor((x - x0) / width));
    const trueMin = new Array(buckets).fill(Infinity);
    const trueMax = new Array(buckets).fill(-Infinity);
    for (let i = 0; i < xs.length; i++) {
      const b = bucketOf(xs[i]);
      trueMin[b] = Math.min(trueMin[b], ys[i]);
      trueMax[b] = Math.max(trueMax[b], ys[i]);
    }
    const keptMin = new Array(buckets).fill(Infinity);
    const keptMax = new Array(buckets).fill(-Infinity);
    for (const i of idx) {
      const b = bucketOf(xs[i]);
      keptMin[b] = Math.min(keptMin[b], ys[i]);
      keptMax[b] = Math.max(keptMax[b], ys[i]);
    }
    assert.deepEqual(keptMin, trueMin);
    assert.deepEqual(keptMax, trueMax);
  });

  it('decimates only the zoomed range, keeping one neighbour outside on each side', () => {
    const { xs, ys } = walk(50_000, 9);
    const lo = xs[10_000] + 0.5;
    const hi = xs[20_000] + 0.5;
    const range = visibleRange(xs, lo, hi);
    assert.equal(range.from, 10_000);
    assert.equal(range.to, 20_002);
    const idx = minMaxDecimate(xs, ys, 100, { ...range, xMin: lo, xMax: hi });
    assert.ok(idx.length <= 400);
    assert.equal(idx[0], 10_000);
    assert.equal(idx[idx.length - 1], 20_001);
    let iMax = 10_001;
    for (let i = 10_001; i <= 20_000; i++) if (ys[i] > ys[iMax]) iMax = i;
    assert.ok(idx.includes(iMax), 'max inside the zoomed range kept');
  });

  it('visibleRange agrees with a linear scan on sorted x with duplicates', () => {
    const r = rng(3);
    const xs = Float64Array.from({ length: 400 }, () => Math.floor(r() * 100)).sort();
    for (let t = 0; t < 200; t++) {
      const a = r() * 120 - 10;
      const b = a + r() * 50;
      const inside: number[] = [];
      xs.forEach((x, i) => {
        if (x >= a && x <= b) inside.push(i);
      });
      const { from, to } = visibleRange(xs, a, b);
      if (inside.length) {
        assert.equal(from, Math.max(0, inside[0] - 1), `from for [${a}, ${b}]`);
        assert.equal(to, Math.min(xs.length, inside[inside.length - 1] + 2), `to for [${a}, ${b}]`);
      } else {
        assert.ok(to - from <= 2, 'empty view: at most the two neighbours');
      }
    }
  });

  it('returns short series unchanged, skips non-finite points, and honours an x that goes back', () => {
    assert.deepEqual([...minMaxDecimate([1, 2, 3], [5, Number.NaN, 7], 10)], [0, 2]);
    const n = 5000;
    const xs = Float64Array.from({ length: n }, (_, i) => (i === 2500 ? 0 : i)); // clock set back once
    const ys = Float64Array.from({ length: n }, (_, i) => Math.sin(i));
    assert.ok(minMaxDecimate(xs, ys, 50).length <= 200);
    assert.equal(bucketsForWidth(800), 400);
  });

  it('decimates 1,000,000 points (time printed, not asserted)', () => {
    const n = 1_000_000;
    const { xs, ys } = walk(n, 11);
    const buckets = bucketsForWidth(1200);
    const t0 = performance.now();
    const idx = minMaxDecimate(xs, ys, buckets);
    const t1 = performance.now();
    const sm = debiasedEma(ys, 0.9);
    const t2 = performance.now();
    console.log(
      `      1M points: decimate ${(t1 - t0).toFixed(1)} ms -> ${idx.length} points; smooth ${(t2 - t1).toFixed(1)} ms`,
    );
    assert.ok(idx.length <= 4 * buckets);
    assert.equal(sm.length, n);
  });
});

describe('charts: series store', () => {
  const row = (step: number, values: Record<string, number>): MetricRow => ({
    step,
    epoch: Math.floor(step / 10),
    time: 1000 + step * 2,
    ...values,
  });

  it('orders metrics loss, knn_top1, lr, images_per_sec, then alphabetically', () => {
    assert.deepEqual(
      orderMetrics(['pos_sim', 'lr', 'zeta', 'loss', 'collapse_std', 'knn_top1', 'images_per_sec']),
      ['loss', 'knn_top1', 'lr', 'images_per_sec', 'collapse_std', 'pos_sim', 'zeta'],
    );
    const r = { step: 1, epoch: 0, time: 5, loss: 2, note: 'x', bad: Number.NaN } as unknown as MetricRow;
    assert.deepEqual(metricKeys(r), ['loss']);
  });

  it('keeps each metric sorted by step, drops duplicate steps, and handles sparse metrics', () => {
    const store = new ChartStore();
    store.init([{ id: 'a', name: 'A' }], { a: [row(0, { loss: 5 }), row(10, { loss: 4, knn_top1: 0.1 })] });
    store.append('a', [row(20, { loss: 3 }), row(10, { loss: 99 }), row(5, { loss: 4.5 })]);
    const loss = store.runs.get('a')!.series.get('loss')!;
    assert.deepEqual([...loss.step.subarray(0, loss.length)], [0, 5, 10, 20]);
    assert.deepEqual([...loss.y.subarray(0, loss.length)], [5, 4.5, 4, 3]);
    assert.deepEqual(store.metrics(), ['loss', 'knn_top1']);
    assert.equal(store.runs.get('a')!.series.get('knn_top1')!.length, 1);
    // Relative time counts from the run's first row.
    assert.equal(store.xOffset('a', 'time'), 1000);
    assert.equal(store.xOffset('a', 'step'), 0);
  });

  it('smooths incrementally as points stream in, and after an out-of-order insert', () => {
    const r = rng(4);
    const store = new ChartStore();
    store.init([{ id: 'a', name: 'A' }], { a: [] });
    const ys: number[] = [];
    for (let s = 0; s < 2000; s += 2) {
      const y = r();
      ys.push(y);
      store.append('a', [row(s, { loss: y })]);
      if (s % 200 === 0) store.runs.get('a')!.series.get('loss')!.smoothed(0.8); // partial caches
    }
    const loss = store.runs.get('a')!.series.get('loss')!;
    assertClose(loss.smoothed(0.8).subarray(0, loss.length), debiasedEma(ys, 0.8), 1e-12);
    store.append('a', [row(1, { loss: 100 })]);
    assertClose(
      loss.smoothed(0.8).subarray(0, loss.length),
      debiasedEma([ys[0], 100, ...ys.slice(1)], 0.8),
      1e-12,
    );
  });

  it('reset forgets a run; rows appended after it start a new series', () => {
    const store = new ChartStore();
    store.init(
      [
        { id: 'a', name: 'A' },
        { id: 'b', name: 'B' },
      ],
      {
        a: [row(0, { loss: 1 }), row(1, { loss: 2 })],
        b: [row(0, { loss: 3 })],
      },
    );
    assert.deepEqual([...store.reset('a')], ['loss']);
    store.append('a', [row(0, { loss: 7 })]);
    assert.deepEqual(
      store.series('loss').map((s) => [s.runId, s.length, s.lastValue]),
      [
        ['a', 1, 7],
        ['b', 1, 3],
      ],
    );
  });
});

describe('charts: messages and formatting', () => {
  it('recognises well-formed messages only', () => {
    assert.ok(isChartsFromWebview({ type: 'ready' }));
    assert.ok(!isChartsFromWebview({ type: 'error' }));
    assert.ok(!isChartsFromWebview(null));
    assert.ok(isChartsToWebview({ type: 'append', runId: 'a', rows: [] }));
    assert.ok(isChartsToWebview({ type: 'init', runs: [], rows: {} }));
    assert.ok(!isChartsToWebview({ type: 'append', runId: 'a' }));
    assert.ok(!isChartsToWebview({ type: 'nope' }));
  });

  it('parses theme colours and formats durations', () => {
    assert.deepEqual(parseColor('#3794ff'), [0x37, 0x94, 0xff, 1]);
    assert.deepEqual(parseColor('#fff8'), [255, 255, 255, 0x88 / 255]);
    assert.deepEqual(parseColor('rgba(1, 2, 3, 0.5)'), [1, 2, 3, 0.5]);
    assert.equal(withAlpha('#000000', 0.25), 'rgba(0, 0, 0, 0.25)');
    assert.equal(withAlpha('var(--x)', 0.5), 'var(--x)');
    assert.equal(formatDuration(42), '42s');
    assert.equal(formatDuration(750), '12m 30s');
    assert.equal(formatDuration(3 * 3600 + 5 * 60 + 9), '3h 05m');
    assert.equal(formatDuration(2 * 86400 + 4 * 3600), '2d 4h');
    assert.equal(formatValue(0.123456), '0.1235');
    assert.equal(formatValue(1e-4), '1e-4');
    assert.equal(formatValue(1.5e-5), '1.5e-5');
    assert.equal(formatValue(undefined), '–');
  });

  it('places axis ticks on round values inside the range', () => {
    assert.deepEqual(niceTicks(4990, 199_990, 4), [50_000, 100_000, 150_000]);
    assert.deepEqual(niceTicks(0.1, 0.7, 6), [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]);
    // Relative time: 15 minutes rather than the 1000 s a decimal axis would pick.
    assert.deepEqual(niceTicks(0, 3500, 5, true), [0, 900, 1800, 2700]);
    assert.deepEqual(niceTicks(0, 3500, 5), [0, 1000, 2000, 3000]);
    assert.deepEqual(niceTicks(3, 3, 5), [3]);
    assert.deepEqual(niceTicks(1, 0, 5), []);
  });
});

describe('charts: MetricsTail', () => {
  let dir: string;
  let file: string;
  let tail: MetricsTail | undefined;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-tail-'));
    file = path.join(dir, 'metrics.jsonl');
  });
  afterEach(() => {
    tail?.dispose();
    tail = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const line = (step: number, extra = '') =>
    `${JSON.stringify({ step, epoch: Math.floor(step / 100), time: 1.7e9 + step * 0.25, loss: 1 / (step + 1) })}${extra}\n`;
  const lines = (from: number, to: number) => {
    let s = '';
    for (let i = from; i < to; i++) s += line(i);
    return s;
  };

  function follow(opts: { pollMs?: number; chunkBytes?: number } = {}) {
    const t = new MetricsTail(file, { pollMs: 0, ...opts });
    const got: { rows: MetricRow[]; resets: number; warnings: string[] } = {
      rows: [],
      resets: 0,
      warnings: [],
    };
    t.on('rows', (rows) => got.rows.push(...rows));
    t.on('reset', () => {
      got.resets++;
      got.rows.length = 0;
    });
    t.on('warning', (w) => got.warnings.push(w));
    tail = t;
    return { t, got };
  }

  it('reads everything at start, then only the appended bytes', async () => {
    fs.writeFileSync(file, lines(0, 100));
    const { t, got } = follow();
    await t.start();
    assert.equal(got.rows.length, 100);
    assert.deepEqual(
      got.rows.map((r) => r.step),
      [...Array(100).keys()],
    );
    assert.equal(t.offset, fs.statSync(file).size);

    for (const batch of [
      [100, 110],
      [110, 111],
      [111, 400],
    ]) {
      const added = lines(batch[0], batch[1]);
      const before = t.bytesRead;
      fs.appendFileSync(file, added);
      await t.refresh();
      const read = t.bytesRead - before;
      const addedBytes = Buffer.byteLength(added);
      // The new bytes plus at most the 64-byte signature re-read to detect a rewritten file.
      assert.ok(read >= addedBytes && read <= addedBytes + 64, `read ${read} for ${addedBytes} appended`);
      assert.equal(got.rows.length, batch[1]);
      assert.equal(got.rows[got.rows.length - 1].step, batch[1] - 1);
    }
    // Nothing new: nothing read.
    const before = t.bytesRead;
    await t.refresh();
    assert.equal(t.bytesRead, before);
    assert.equal(got.resets, 0);
    assert.deepEqual(got.warnings, []);
  });

  it('waits for a torn last line to be completed, then emits it once', async () => {
    const full = line(1);
    fs.writeFileSync(file, line(0) + full.slice(0, 20));
    const { t, got } = follow();
    await t.start();
    assert.deepEqual(
      got.rows.map((r) => r.step),
      [0],
    );
    assert.equal(t.offset, Buffer.byteLength(line(0)));
    await t.refresh();
    assert.equal(got.rows.length, 1);
    fs.appendFileSync(file, full.slice(20) + line(2).slice(0, 5));
    await t.refresh();
    assert.deepEqual(
      got.rows.map((r) => r.step),
      [0, 1],
    );
    assert.deepEqual(got.rows[1], JSON.parse(full));
    fs.appendFileSync(file, line(2).slice(5));
    await t.refresh();
    assert.deepEqual(
      got.rows.map((r) => r.step),
      [0, 1, 2],
    );
    assert.deepEqual(got.warnings, []);
  });

  it('signals a reset when the file is truncated (resume) and re-reads from 0', async () => {
    fs.writeFileSync(file, lines(0, 50));
    const { t, got } = follow();
    await t.start();
    // Resume from a checkpoint at step 20: the trainer cuts the file back and appends again.
    const keep = Buffer.byteLength(lines(0, 20));
    fs.truncateSync(file, keep);
    await t.refresh();
    assert.equal(got.resets, 1);
    assert.equal(got.rows.length, 20);
    fs.appendFileSync(file, lines(20, 30));
    await t.refresh();
    assert.deepEqual(
      got.rows.map((r) => r.step),
      [...Array(30).keys()],
    );
  });

  it('notices a truncation that regrew past the old offset before it looked (signature check)', async () => {
    fs.writeFileSync(file, lines(0, 30));
    const { t, got } = follow();
    await t.start();
    const oldSize = fs.statSync(file).size;
    // Truncated to step 10 and rewritten with different wall times, ending beyond the old size.
    let rewritten = lines(0, 10);
    for (let s = 10; s < 60; s++)
      rewritten += `${JSON.stringify({ step: s, epoch: 0, time: 2e9 + s, loss: 0.5 })}\n`;
    fs.writeFileSync(file, rewritten);
    assert.ok(fs.statSync(file).size > oldSize);
    await t.refresh();
    assert.equal(got.resets, 1);
    assert.deepEqual(
      got.rows.map((r) => r.step),
      [...Array(60).keys()],
    );
    assert.equal(got.rows[59].time, 2e9 + 59);
  });

  it('copes with a missing file, bad lines, lines longer than a chunk and chunked first reads', async () => {
    const { t, got } = follow({ chunkBytes: 1024 });
    await t.start();
    assert.equal(got.rows.length, 0);
    const long = `${JSON.stringify({ step: 1, epoch: 0, time: 1, [`x_${'a'.repeat(3000)}`]: 1 })}\n`;
    fs.writeFileSync(file, `${line(0)}not json\n${long}${lines(2, 500)}`);
    await t.refresh();
    assert.deepEqual(
      got.rows.map((r) => r.step),
      [...Array(500).keys()],
    );
    assert.equal(got.warnings.length, 1);
    assert.match(got.warnings[0], /skipped/);
    assert.ok(t.readCalls > 10, 'read in chunks');
  });

  it('picks up appends by itself through the fallback poll', async () => {
    fs.writeFileSync(file, lines(0, 5));
    const { t, got } = follow({ pollMs: 50 });
    await t.start();
    fs.appendFileSync(file, lines(5, 8));
    const deadline = Date.now() + 5000;
    while (got.rows.length < 8 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    assert.equal(got.rows.length, 8);
  });

  it('RowsByStep keeps one row per step whichever path (file or RPC) brings it first', () => {
    const mk = (step: number, loss: number): MetricRow => ({ step, epoch: 0, time: step, loss });
    const log = new RowsByStep();
    // RPC is ahead of the file.
    assert.deepEqual(
      log.add([mk(10, 1), mk(11, 1)]).map((r) => r.step),
      [10, 11],
    );
    // The file then delivers 8..11: only the missing 8 and 9 are new.
    assert.deepEqual(
      log.add([mk(8, 2), mk(9, 2), mk(10, 2), mk(11, 2)]).map((r) => r.step),
      [8, 9],
    );
    assert.deepEqual(
      log.rows.map((r) => [r.step, r.loss]),
      [
        [8, 2],
        [9, 2],
        [10, 1],
        [11, 1],
      ],
    );
    log.clear();
    assert.equal(log.add([mk(10, 3)]).length, 1);
  });

  it('RowsByStep keeps a kNN row that shares its step with the training row', () => {
    // The trainer writes {step 78, loss} then {step 78, knn_top1} at an epoch's end.
    const log = new RowsByStep();
    const train: MetricRow = { step: 78, epoch: 1, time: 1, loss: 4.5 };
    const knn: MetricRow = { step: 78, epoch: 1, time: 2, knn_top1: 0.25 };
    assert.equal(log.add([train, knn]).length, 2);
    // The same rows arriving again by the other path are duplicates.
    assert.equal(log.add([{ ...knn }, { ...train }]).length, 0);
    assert.deepEqual(
      log.rows.map((r) => Object.keys(r).at(-1)),
      ['loss', 'knn_top1'],
    );
  });
});
