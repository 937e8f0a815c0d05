/**
 * The extension at scale, as behaviour: the Runs view reads a run's newest metrics from a few KB
 * at the end of its file; metrics.jsonl goes to columns with the numbers JSON.parse gives; a
 * tail reads only appended bytes and passes on only new points. Timings are in the benchmark
 * (bench/extension), never here.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { blockToRows, parseMetricColumns, rowsToBlock } from '../../extension/metricsColumns';
import { MetricsTail } from '../../extension/metricsTail';
import { lastMetrics } from '../../extension/runScan';
import type { MetricRow } from '../../trainer/run/metrics';
import { Series } from '../../webview/charts/series';

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

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-scale-test-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Reference: every line through JSON.parse, newest values kept, in plain loops. */
function referenceLast(text: string): { loss?: number; knn?: number; step?: number } {
  const out: { loss?: number; knn?: number; step?: number } = {};
  const lines = text.split('\n');
  lines.pop(); // after the last newline: incomplete or empty
  for (const l of lines) {
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(l);
    } catch {
      continue;
    }
    if (typeof r.step !== 'number') continue;
    out.step = Math.max(out.step ?? r.step, r.step);
    if (typeof r.loss === 'number') out.loss = r.loss;
    if (typeof r.knn_top1 === 'number') out.knn = r.knn_top1;
  }
  return out;
}

function metricsFile(name: string, rows: number, knnEvery: number, seed: number, tail = ''): string {
  const r = rng(seed);
  const lines: string[] = [];
  for (let s = 1; s <= rows; s++) {
    lines.push(
      JSON.stringify({ step: s, epoch: s / 50, time: 1.7e9 + s * r(), loss: 5 * r(), lr: r() / 10 }),
    );
    if (s % knnEvery === 0)
      lines.push(JSON.stringify({ step: s, epoch: s / 50, time: 1.7e9 + s, knn_top1: r() }));
  }
  const file = path.join(tmp, name);
  fs.writeFileSync(file, `${lines.join('\n')}\n${tail}`);
  return file;
}

describe('scale: newest metrics for the Runs view', () => {
  it('matches a full parse, reading a few KB of a large file', () => {
    const file = metricsFile('big.jsonl', 20_000, 400, 1);
    const got = lastMetrics(file);
    const ref = referenceLast(fs.readFileSync(file, 'utf8'));
    assert.equal(got.loss, ref.loss);
    assert.equal(got.knn, ref.knn);
    assert.equal(got.step, ref.step);
    const size = fs.statSync(file).size;
    assert.ok(got.bytesRead < 64 * 1024, `read ${got.bytesRead} of ${size} bytes`);
  });

  it('looks further back for a rare kNN row, skips a torn last line and bad lines', () => {
    // kNN only near the start: found through the growing window.
    const file = metricsFile('rare.jsonl', 5000, 100_000, 2, '{"step": 9999, "loss": 1');
    fs.appendFileSync(file, '');
    const text = fs.readFileSync(file, 'utf8');
    const withKnn = `${JSON.stringify({ step: 0, epoch: 0, time: 1, knn_top1: 0.123 })}\nnot json\n${text}`;
    fs.writeFileSync(file, withKnn);
    const got = lastMetrics(file);
    const ref = referenceLast(withKnn);
    assert.equal(ref.knn, 0.123);
    assert.deepEqual({ loss: got.loss, knn: got.knn, step: got.step }, ref);
  });

  it('handles windows that cut through lines of any length, and tiny or empty files', () => {
    const r = rng(3);
    for (let trial = 0; trial < 30; trial++) {
      const lines: string[] = [];
      const n = 1 + Math.floor(r() * 200);
      for (let s = 0; s < n; s++) {
        const pad = 'x'.repeat(Math.floor(r() * r() * 9000));
        const row: Record<string, unknown> = { step: s, pad };
        if (r() < 0.7) row.loss = r();
        if (r() < 0.05) row.knn_top1 = r();
        lines.push(JSON.stringify(row));
      }
      const text = `${lines.join('\n')}\n${r() < 0.5 ? '{"step":' : ''}`;
      const file = path.join(tmp, `w${trial}.jsonl`);
      fs.writeFileSync(file, text);
      const got = lastMetrics(file);
      const ref = referenceLast(text);
      assert.deepEqual([got.loss, got.knn, got.step], [ref.loss, ref.knn, ref.step], `trial ${trial}`);
    }
    const empty = path.join(tmp, 'empty.jsonl');
    fs.writeFileSync(empty, '');
    assert.deepEqual(lastMetrics(empty), { bytesRead: 0 });
    assert.deepEqual(lastMetrics(path.join(tmp, 'missing.jsonl')), { bytesRead: 0 });
  });
});

describe('scale: metrics.jsonl to columns', () => {
  it('gives the values JSON.parse gives: exact up to 15 digits, within 2 ulp beyond', () => {
    const r = rng(4);
    const rows: Record<string, number>[] = [];
    for (let s = 0; s < 3000; s++) {
      rows.push({
        step: s,
        epoch: s / 7,
        time: 1.7e9 + s * r(),
        loss: (r() - 0.5) * 10 ** Math.floor(r() * 12 - 6),
        short: Math.round(r() * 1e6) / 1e3,
        tiny: r() * 1e-30,
        huge: r() * 1e300,
      });
    }
    const text = `${rows.map((x) => JSON.stringify(x)).join('\n')}\n`;
    const { block, warnings, lines } = parseMetricColumns(Buffer.from(text));
    assert.deepEqual(warnings, []);
    assert.equal(lines, rows.length);
    for (const k of ['loss', 'short', 'tiny', 'huge']) {
      const c = block[k];
      assert.equal(c.y.length, rows.length, k);
      for (let i = 0; i < rows.length; i++) {
        const want = rows[i][k];
        assert.equal(c.step[i], rows[i].step);
        assert.ok(Math.abs(c.epoch[i] - rows[i].epoch) <= 4.5e-16 * rows[i].epoch, 'epoch');
        if (k === 'short') assert.equal(c.y[i], want, `${k}[${i}]`);
        else
          assert.ok(Math.abs(c.y[i] - want) <= 4.5e-16 * Math.abs(want), `${k}[${i}]: ${c.y[i]} vs ${want}`);
        assert.ok(Math.abs(c.time[i] - rows[i].time) <= 4.5e-16 * rows[i].time, 'time');
      }
    }
  });

  it('reads unusual but valid lines through JSON.parse and warns about bad ones by line', () => {
    const text = [
      '{"step":1,"epoch":0,"time":5,"loss":2.5}',
      ' { "step" : 2 , "loss" : -1.5E+2 , "note": "ok", "lr": null }',
      '{"step":3,"nested":{"a":1},"loss":7}',
      '{"loss":1}',
      'garbage',
      '',
      '{"step":4,"lo\\u0073s":8}',
      '{"step":5,"loss":9',
    ].join('\n');
    const { block, warnings } = parseMetricColumns(Buffer.from(text));
    assert.deepEqual(Array.from(block.loss.step), [1, 2, 3, 4]);
    assert.deepEqual(Array.from(block.loss.y), [2.5, -150, 7, 8]);
    assert.equal(block.lr, undefined, 'null is not a point');
    assert.equal(warnings.length, 3);
    assert.match(warnings[0], /^line 4: skipped \(no numeric "step"\)/);
    assert.match(warnings[1], /^line 5: skipped/);
    assert.match(warnings[2], /^line 8: incomplete last line skipped/);
  });

  it('rows -> columns -> rows is the identity for finite metrics', () => {
    const rows: MetricRow[] = [
      { step: 1, epoch: 0.5, time: 10, loss: 3, lr: 0.1 },
      { step: 2, epoch: 1, time: 11, loss: 2, lr: 0.1 },
      { step: 2, epoch: 1, time: 12, knn_top1: 0.3 },
    ];
    assert.deepEqual(blockToRows(rowsToBlock(rows)), rows);
  });
});

describe('scale: bulk appends to a series', () => {
  it('a bulk in-order append equals adding point by point', () => {
    const r = rng(5);
    const n = 500;
    const cols = {
      step: Float64Array.from({ length: n }, (_, i) => i * 2),
      epoch: Float64Array.from({ length: n }, (_, i) => i / 10),
      time: Float64Array.from({ length: n }, (_, i) => 100 + i),
      y: Float64Array.from({ length: n }, () => r()),
    };
    const bulk = new Series('r', 'loss');
    const one = new Series('r', 'loss');
    assert.equal(bulk.addColumns(cols), null);
    for (let i = 0; i < n; i++) one.add(cols.step[i], cols.epoch[i], cols.time[i], cols.y[i]);
    assert.equal(bulk.length, one.length);
    assert.deepEqual(bulk.columns(), one.columns());
    assert.deepEqual(
      Array.from(bulk.smoothed(0.6).subarray(0, n)),
      Array.from(one.smoothed(0.6).subarray(0, n)),
    );
  });

  it('returns exactly the new points when some steps are already there or out of order', () => {
    const s = new Series('r', 'loss');
    const c = (steps: number[]) => ({
      step: Float64Array.from(steps),
      epoch: Float64Array.from(steps, () => 0),
      time: Float64Array.from(steps, (x) => x),
      y: Float64Array.from(steps, (x) => x / 10),
    });
    assert.equal(s.addColumns(c([10, 11])), null);
    // The file brings 9..12 after a push of 10 and 11: only 9 and 12 are new.
    assert.deepEqual(Array.from(s.addColumns(c([9, 10, 11, 12])) ?? []), [0, 3]);
    assert.deepEqual(Array.from(s.columns().step), [9, 10, 11, 12]);
  });
});

describe('scale: tailing metrics.jsonl as columns', () => {
  it('reads only the appended bytes and emits only the new points', async () => {
    const file = metricsFile('tail.jsonl', 3000, 500, 6);
    const size = fs.statSync(file).size;
    const tail = new MetricsTail(file, { pollMs: 0, columns: true });
    const seen: number[] = [];
    tail.on('columns', (b) => seen.push(b.loss?.y.length ?? 0));
    await tail.refresh();
    assert.equal(tail.bytesRead, size);
    assert.deepEqual(seen, [3000]);
    const extra = `${[3001, 3002, 3003].map((s) => JSON.stringify({ step: s, epoch: 1, time: 2, loss: s })).join('\n')}\n`;
    fs.appendFileSync(file, extra);
    await tail.refresh();
    // The new bytes plus the 64-byte signature that detects a rewritten file.
    assert.equal(tail.bytesRead - size, Buffer.byteLength(extra) + 64);
    assert.deepEqual(seen, [3000, 3]);
    tail.dispose();
  });
});
