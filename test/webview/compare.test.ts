import * as assert from 'node:assert/strict';
import {
  bestDirection,
  configDiff,
  csvField,
  flattenConfig,
  metricsCsv,
  summarizeRows,
  summarizeSeries,
} from '../../webview/charts/compare';
import type { ChartRow } from '../../webview/charts/messages';

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

/** Rows shaped like metrics.jsonl: a training row per step, a kNN row at each epoch's end. */
function fakeRun(seed: number, steps: number, perEpoch: number): ChartRow[] {
  const r = rng(seed);
  const rows: ChartRow[] = [];
  for (let s = 1; s <= steps; s++) {
    rows.push({
      step: s,
      epoch: s / perEpoch,
      time: 1_700_000_000 + s * 0.5,
      loss: 5 - s * 0.01 + r(),
      lr: 0.1 * r(),
    });
    if (s % perEpoch === 0)
      rows.push({ step: s, epoch: s / perEpoch, time: 1_700_000_000 + s * 0.5 + 0.2, knn_top1: r() });
  }
  return rows;
}

/** Minimal RFC 4180 reader for checking the writer (quoted fields, doubled quotes). */
function parseCsv(text: string): string[][] {
  const out: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n') {
      row.push(field);
      out.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  return out;
}

describe('compare: config diff', () => {
  it('flattens nested objects by dotted path and keeps arrays as one value', () => {
    const flat = flattenConfig({ a: { b: 1, c: { d: 'x' } }, e: [1, 2], f: null, g: {} });
    assert.deepEqual(
      [...flat.entries()],
      [
        ['a.b', '1'],
        ['a.c.d', '"x"'],
        ['e', '[1,2]'],
        ['f', 'null'],
        ['g', '{}'],
      ],
    );
  });

  it('lists exactly the keys whose values differ, including keys missing from a run', () => {
    const a = { seed: 1, optimizer: { lr: 0.3, kind: 'lars' }, training: { epochs: 10 }, aug: [1, 2] };
    const b = { seed: 2, optimizer: { lr: 0.3, kind: 'lars' }, training: { epochs: 10 }, aug: [1, 3] };
    const c = {
      seed: 1,
      optimizer: { lr: 0.3, kind: 'lars', momentum: 0.9 },
      training: { epochs: 10 },
      aug: [1, 2],
    };
    const rows = configDiff([a, b, c]);
    assert.deepEqual(rows, [
      { key: 'aug', values: ['[1,2]', '[1,3]', '[1,2]'] },
      { key: 'optimizer.momentum', values: [undefined, undefined, '0.9'] },
      { key: 'seed', values: ['1', '2', '1'] },
    ]);
    assert.deepEqual(configDiff([a, structuredClone(a)]), [], 'identical configs have no differences');
  });
});

describe('compare: summary', () => {
  it('bestDirection: accuracies and throughput up, losses down, lr none', () => {
    for (const m of ['knn_top1', 'eval_linear_top1', 'eval_zeroshot_top1', 'images_per_sec', 'top5'])
      assert.equal(bestDirection(m), 'max', m);
    for (const m of ['loss', 'eval_alignment', 'eval_uniformity', 'loss_ce'])
      assert.equal(bestDirection(m), 'min', m);
    for (const m of ['lr', 'temperature', 'queue_fill']) assert.equal(bestDirection(m), undefined, m);
  });

  it('last, best, min and max of every metric match plain loops over the rows', () => {
    const rows = fakeRun(7, 120, 16);
    const got = summarizeRows(rows);
    assert.deepEqual([...got.keys()], ['loss', 'knn_top1', 'lr']);
    for (const metric of ['loss', 'knn_top1', 'lr']) {
      // Reference: explicit loops, no shared code.
      let min = Infinity;
      let max = -Infinity;
      let minStep = -1;
      let maxStep = -1;
      let last = Number.NaN;
      let lastStep = -Infinity;
      let count = 0;
      for (const r of rows) {
        const v = r[metric];
        if (typeof v !== 'number') continue;
        count++;
        if (r.step >= lastStep) {
          lastStep = r.step;
          last = v;
        }
        if (v < min) {
          min = v;
          minStep = r.step;
        }
        if (v > max) {
          max = v;
          maxStep = r.step;
        }
      }
      const s = got.get(metric)!;
      assert.equal(s.count, count, metric);
      assert.equal(s.last, last, metric);
      assert.equal(s.lastStep, lastStep, metric);
      assert.equal(s.min, min, metric);
      assert.equal(s.max, max, metric);
      if (metric === 'loss') assert.deepEqual([s.best, s.bestStep], [min, minStep]);
      else if (metric === 'knn_top1') assert.deepEqual([s.best, s.bestStep], [max, maxStep]);
      else assert.equal(s.best, undefined);
    }
  });

  it('skips non-finite values and returns nothing for an empty series', () => {
    const s = summarizeSeries([1, 2, 3, 4], [2, Number.NaN, Number.POSITIVE_INFINITY, 1], 4, 'min')!;
    assert.deepEqual(s, { last: 1, lastStep: 4, min: 1, max: 2, count: 2, best: 1, bestStep: 4 });
    assert.equal(summarizeSeries([], [], 0, 'max'), undefined);
    // Only the first n entries count (typed arrays in the webview have spare capacity).
    assert.equal(summarizeSeries([1, 2, 3], [5, 6, 99], 2, 'max')!.max, 6);
  });
});

describe('compare: CSV export', () => {
  it('quotes fields with commas, quotes or newlines and leaves missing values empty', () => {
    assert.equal(csvField('plain'), 'plain');
    assert.equal(csvField('a,b'), '"a,b"');
    assert.equal(csvField('say "hi"'), '"say ""hi"""');
    assert.equal(csvField('two\nlines'), '"two\nlines"');
    assert.equal(csvField(undefined), '');
    assert.equal(csvField(Number.NaN), '');
    assert.equal(csvField(0.1 + 0.2), '0.30000000000000004', 'full precision');
  });

  it('one line per run and step with every metric, values read back exactly', () => {
    const runs: { name: string; rows: ChartRow[] }[] = [
      { name: 'run, "one"', rows: fakeRun(1, 40, 8) },
      { name: 'two', rows: fakeRun(2, 24, 8).map((r) => ({ ...r, extra: r.step * 2 })) },
    ];
    const table = parseCsv(metricsCsv(runs));
    assert.deepEqual(table[0], ['run', 'step', 'epoch', 'time', 'loss', 'knn_top1', 'lr', 'extra']);
    assert.equal(table.length - 1, 40 + 24, 'the kNN row of a step is merged into its training row');
    for (const run of runs) {
      const lines = table.filter((l) => l[0] === run.name);
      for (const line of lines) {
        const step = Number(line[1]);
        const rowsAtStep = run.rows.filter((r) => r.step === step);
        assert.equal(Number(line[2]), rowsAtStep[0].epoch);
        assert.equal(Number(line[3]), rowsAtStep[0].time, 'the first row of the step gives the time');
        table[0].slice(4).forEach((metric, j) => {
          const want = rowsAtStep.find((r) => typeof r[metric] === 'number')?.[metric];
          if (want === undefined) assert.equal(line[4 + j], '', `${run.name} step ${step} ${metric}`);
          else assert.equal(Number(line[4 + j]), want, `${run.name} step ${step} ${metric}`);
        });
      }
      const steps = lines.map((l) => Number(l[1]));
      assert.deepEqual(
        steps,
        [...steps].sort((a, b) => a - b),
        'sorted by step',
      );
    }
  });
});
