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
import { debiasedEmaRange, newEmaState } from '../../webview/charts/smoothing';

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
 * Decimal strings of 16 to 19 significant digits just below, at and just above the midpoint
 * between x and the next double up, and the midpoint itself in full (exact, through BigInt).
 */
function nearHalfway(x: number, r: () => number): string[] {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const biased = (view.getUint32(0) >>> 20) & 0x7ff;
  const mant = (BigInt(view.getUint32(0) & 0xfffff) << 32n) | BigInt(view.getUint32(4));
  const m = mant | (1n << 52n);
  // x = m * 2^e; the midpoint is (2m + 1) * 2^(e-1) = (2m + 1) * 5^(1-e) / 10^(1-e) when e < 1.
  const e = biased - 1075;
  if (e >= 1) return [];
  const digits = ((2n * m + 1n) * 5n ** BigInt(1 - e)).toString();
  const point = digits.length - (1 - e); // digits before the decimal point
  const asNumber = (d: string, shift: number) => `${d[0]}.${d.slice(1)}e${point - 1 + shift}`;
  const out = [asNumber(digits, 0)];
  const keep = 16 + Math.floor(r() * 4);
  const head = digits.slice(0, keep);
  const up = (BigInt(head) + 1n).toString();
  out.push(asNumber(head, 0), asNumber(up, up.length - head.length));
  return out;
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
  it('gives the values JSON.parse gives, bit for bit: random doubles and halfway cases', () => {
    const r = rng(4);
    const texts: string[] = [];
    const bits = new DataView(new ArrayBuffer(8));
    for (let i = 0; i < 4000; i++) {
      // Any finite double (every exponent, 17-digit shortest forms)...
      bits.setUint32(0, Math.floor(r() * 0x7fe00000));
      bits.setUint32(4, Math.floor(r() * 2 ** 32));
      texts.push(JSON.stringify(bits.getFloat64(0) * (r() < 0.5 ? -1 : 1)));
      // ...the magnitudes metrics have...
      texts.push(JSON.stringify((r() - 0.5) * 10 ** Math.floor(r() * 16 - 8)));
      // ...and decimals next to the midpoint of two doubles, where rounding is hardest.
      texts.push(...nearHalfway(0.5 + r() * 1e4 * 10 ** Math.floor(r() * 8 - 6), r));
    }
    texts.push('9007199254740993', '9007199254740995', '0.30000000000000004', '-0', '0', '0.0', '1E+2');
    texts.push('123456789012345678901234', '0.0000000000000000000001234', '1.7976931348623157e308', '5e-324');
    texts.push('4.9406564584124654e-324', '2.2250738585072011e-308', '1e-400', '0.000012345678901234567');
    const text = `${texts.map((t, i) => `{"step":${i},"v":${t}}`).join('\n')}\n`;
    const { block, warnings } = parseMetricColumns(Buffer.from(text));
    assert.deepEqual(warnings, []);
    const got = block.v;
    let k = 0;
    for (let i = 0; i < texts.length; i++) {
      const want = JSON.parse(texts[i]);
      if (!Number.isFinite(want)) continue; // not a point, as with JSON.parse rows
      assert.equal(got.step[k], i);
      assert.ok(Object.is(got.y[k], want), `${texts[i]}: ${got.y[k]} vs JSON.parse ${want}`);
      k++;
    }
    assert.equal(got.y.length, k);
  });

  it('reads a line the way JSON.parse does: strict numbers, the last of repeated keys', () => {
    const bad = ['01', '1.', '.5', '1e', '-', '+1', '1.e3', '0x10', '1e+', 'NaN', '--1'];
    const lines = bad.map((n) => `{"step":1,"loss":${n}}`);
    lines.push('{"step":2,"loss":1,"loss":2}', '{"step":3,"loss":-0.0e-0}', '{"step":4,"loss":5}');
    const { block, warnings } = parseMetricColumns(Buffer.from(`${lines.join('\n')}\n`));
    assert.equal(warnings.length, bad.length);
    for (let i = 0; i < bad.length; i++) assert.match(warnings[i], new RegExp(`^line ${i + 1}: skipped`));
    assert.deepEqual(Array.from(block.loss.step), [2, 3, 4]);
    assert.ok(Object.is(block.loss.y[1], -0));
    assert.deepEqual(Array.from(block.loss.y), [2, -0, 5]);
  });

  it('stops at a torn last line of the usual shape, and never reads past the given end', () => {
    const text = '{"step":1,"loss":1}\n{"step":2,"loss":2}\n{"step":3,"loss":33';
    const { block, warnings } = parseMetricColumns(Buffer.from(text));
    assert.deepEqual(Array.from(block.loss.y), [1, 2]);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /^line 3: incomplete last line skipped/);
    // Bytes after `end` (a reused read buffer) are not looked at, even when they complete a line.
    const buf = Buffer.from('{"step":1,"loss":1}\n{"step":2,"loss":2}\n{"step":3,"loss":3}\n');
    const cut = buf.indexOf('{"step":3') + 10;
    const r = parseMetricColumns(buf, 0, cut);
    assert.deepEqual(Array.from(r.block.loss.step), [1, 2]);
    assert.match(r.warnings[0], /^line 3: incomplete last line skipped/);
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

  it('metrics on the same lines share their axes; a metric that leaves them gets its own', () => {
    const r = rng(8);
    const rows: Record<string, number>[] = [];
    for (let s = 0; s < 3000; s++) {
      const row: Record<string, number> = { step: s, epoch: s / 30, time: 1.7e9 + s * r() };
      if (s < 2000 || s % 3) row.loss = r();
      row.lr = s === 1500 ? Number.POSITIVE_INFINITY : r(); // not a point
      if (s % 250 === 0) row.knn_top1 = r();
      rows.push(row);
    }
    // JSON.stringify writes Infinity as null; 1e999 is how a number overflows to it in JSON.
    const text = `${rows.map((x) => JSON.stringify(x).replace('null', '1e999')).join('\n')}\n`;
    const { block } = parseMetricColumns(Buffer.from(text));
    // Reference: per metric, the rows with a finite value, in plain loops.
    for (const k of ['loss', 'lr', 'knn_top1']) {
      const want = rows.filter((x) => Number.isFinite(x[k]));
      const c = block[k];
      assert.equal(c.y.length, want.length, k);
      for (let i = 0; i < want.length; i++) {
        assert.equal(c.step[i], want[i].step, `${k} step ${i}`);
        assert.equal(c.epoch[i], want[i].epoch, `${k} epoch ${i}`);
        assert.equal(c.time[i], want[i].time, `${k} time ${i}`);
        assert.equal(c.y[i], want[i][k], `${k} y ${i}`);
      }
    }
    // Lines of one shape: one set of axes for all their metrics.
    const even = parseMetricColumns(Buffer.from(text.split('\n').slice(1, 200).join('\n'))).block;
    assert.equal(even.loss.step, even.lr.step);
    assert.equal(even.loss.time, even.lr.time);
    assert.notEqual(even.loss.y, even.lr.y);
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

describe('scale: smoothing a long series', () => {
  it('is bit for bit the debiased EMA with its division, in one pass or in pieces', () => {
    const r = rng(9);
    const values = Float64Array.from({ length: 20_000 }, (_, i) =>
      i % 997 === 5 ? Number.NaN : r() * 10 - 3,
    );
    for (const w of [0, 0.6, 0.99, 0.999]) {
      // Reference: the TensorBoard formula, dividing at every point.
      const want = new Float64Array(values.length);
      let last = 0;
      let pow = 1;
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        if (!Number.isFinite(v)) {
          want[i] = v;
          continue;
        }
        last = last * w + (1 - w) * v;
        pow *= w;
        want[i] = last / (1 - pow);
      }
      const whole = new Float64Array(values.length);
      debiasedEmaRange(values, w, whole, 0, values.length, newEmaState());
      const pieces = new Float64Array(values.length);
      const state = newEmaState();
      for (let from = 0; from < values.length; ) {
        const to = Math.min(values.length, from + 1 + Math.floor(r() * 3000));
        debiasedEmaRange(values, w, pieces, from, to, state);
        from = to;
      }
      for (let i = 0; i < values.length; i++) {
        assert.ok(Object.is(whole[i], want[i]), `w=${w} [${i}]: ${whole[i]} vs ${want[i]}`);
        assert.ok(Object.is(pieces[i], want[i]), `w=${w} pieces [${i}]`);
      }
    }
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

  it('an empty series adopts a block without copying; later appends leave the block alone', () => {
    const c = {
      step: Float64Array.from([1, 2, 3]),
      epoch: Float64Array.from([0, 0, 0]),
      time: Float64Array.from([10, 11, 12]),
      y: Float64Array.from([0.5, 0.25, 0.125]),
    };
    const s = new Series('r', 'loss');
    assert.equal(s.addColumns(c, true), null);
    assert.equal(s.y, c.y, 'the same array, not a copy');
    assert.equal(s.addColumns({ step: [4], epoch: [0], time: [13], y: [1] } as never), null);
    s.add(0, 0, 9, 2); // an insertion before the first point
    assert.deepEqual(Array.from(s.columns().step), [0, 1, 2, 3, 4]);
    assert.deepEqual(Array.from(c.step), [1, 2, 3], 'the adopted block is unchanged');
    assert.deepEqual(Array.from(c.y), [0.5, 0.25, 0.125]);
    // A series that already has points copies (adopting would drop them).
    const d = {
      step: Float64Array.from([5]),
      epoch: Float64Array.from([0]),
      time: Float64Array.from([14]),
      y: Float64Array.from([3]),
    };
    s.addColumns(d, true);
    assert.notEqual(s.y, d.y);
    assert.deepEqual(Array.from(s.columns().y), [2, 0.5, 0.25, 0.125, 1, 3]);
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
  it('parses a file read in many small chunks exactly as in one piece, and sends one block', async () => {
    const file = metricsFile('chunks.jsonl', 4000, 300, 7);
    const whole = parseMetricColumns(fs.readFileSync(file)).block;
    const tail = new MetricsTail(file, { pollMs: 0, columns: true, chunkBytes: 1024 });
    const blocks: Record<string, { step: Float64Array; y: Float64Array }>[] = [];
    tail.on('columns', (b) => blocks.push(b));
    await tail.refresh();
    assert.ok(tail.readCalls > 100, `${tail.readCalls} reads`);
    assert.equal(blocks.length, 1, 'one block for the whole read');
    assert.deepEqual(Object.keys(blocks[0]).sort(), Object.keys(whole).sort());
    for (const k in whole) {
      assert.deepEqual(Array.from(blocks[0][k].step), Array.from(whole[k].step), k);
      assert.deepEqual(Array.from(blocks[0][k].y), Array.from(whole[k].y), k);
    }
    tail.dispose();
  });

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
