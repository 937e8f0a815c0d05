import * as assert from 'node:assert/strict';
import {
  formatBytes,
  formatCompactCount,
  formatInt,
  formatNumber,
  formatPercent,
  formatShape,
} from '../../trainer/inspect/format';
import type { GroupTotals, TensorEntry } from '../../trainer/inspect/inspect';
import { groupOf, tensorStats } from '../../trainer/inspect/stats';
import { isCheckpointFromWebview, isCheckpointToWebview } from '../../webview/checkpoint/messages';
import {
  buildRows,
  compileFilter,
  groupPrefix,
  histogramBins,
  nextSort,
  sortTensors,
  sparklinePath,
  visibleRows,
} from '../../webview/checkpoint/table';

function tensor(name: string, values: number[] | null, shape = [values?.length ?? 1]): TensorEntry {
  const { group, kind } = groupOf(name);
  const parameters = shape.reduce((a, b) => a * b, 1);
  return {
    name,
    group,
    kind,
    dtype: 'F32',
    shape,
    parameters,
    bytes: parameters * 4,
    stats: values ? tensorStats(new Float32Array(values), 4) : null,
  };
}

function totals(ts: TensorEntry[]): GroupTotals[] {
  const m = new Map<string, GroupTotals>();
  for (const t of ts) {
    const g = m.get(t.group) ?? { group: t.group, tensors: 0, parameters: 0, buffers: 0, bytes: 0 };
    g.tensors++;
    g.parameters += t.parameters;
    g.bytes += t.bytes;
    m.set(t.group, g);
  }
  return [...m.values()];
}

describe('checkpoint webview: number formatting', () => {
  it('formats statistics with 3 significant digits and an exponent for tiny or huge values', () => {
    const cases: [number | null, string][] = [
      [0, '0'],
      [-0, '0'],
      [1, '1'],
      [0.5, '0.5'],
      [-0.123456, '-0.123'],
      [0.012345, '0.0123'],
      [0.001, '0.001'],
      [0.00099996, '0.001'],
      [0.000123, '1.23e-4'],
      [1.5e-8, '1.5e-8'],
      [123.456, '123'],
      [1234.5, '1230'],
      [9994, '9990'],
      [9999.4, '1e4'],
      [9999.6, '1e4'],
      [12345, '1.23e4'],
      [-2.5e12, '-2.5e12'],
      [Number.NaN, 'NaN'],
      [Number.POSITIVE_INFINITY, '∞'],
      [Number.NEGATIVE_INFINITY, '-∞'],
      [null, '–'],
    ];
    for (const [v, s] of cases) assert.equal(formatNumber(v), s, String(v));
  });

  it('formats counts, bytes, percentages and shapes', () => {
    assert.equal(formatInt(1234567), '1,234,567');
    assert.equal(formatInt(999), '999');
    assert.equal(formatInt(-1000), '-1,000');
    assert.deepEqual([950, 12_345, 999_950, 4_560_000, 1.2e9].map(formatCompactCount), [
      '950',
      '12.3k',
      '1M',
      '4.56M',
      '1.2B',
    ]);
    assert.deepEqual([512, 9350, 476160, 1.3e9].map(formatBytes), [
      '512 B',
      '9.13 KiB',
      '465 KiB',
      '1.21 GiB',
    ]);
    assert.deepEqual([0, 1, 0.5, 1 / 3, 1e-6, null].map(formatPercent), [
      '0%',
      '100%',
      '50%',
      '33.3%',
      '<0.01%',
      '–',
    ]);
    assert.equal(formatShape([64, 256]), '64×256');
    assert.equal(formatShape([]), 'scalar');
  });
});

describe('checkpoint webview: filter, sort, group', () => {
  const ts = [
    tensor('online.encoder.conv2.weight', [1, 2, 3, 4]),
    tensor('online.encoder.conv10.weight', [0, 0, 0, 1]),
    tensor('online.encoder.bn1.running_mean', [-5, 5]),
    tensor('online.head.fc1.weight', [0.1, 0.2], [1, 2]),
    tensor('optimizer/online.head.fc1.weight/momentum', null, [1, 2]),
    tensor('queue.keys', [9, 9, 9], [3, 1]),
  ];

  it('filters by case-insensitive substrings, or /regex/', () => {
    const names = (text: string) => {
      const f = compileFilter(text);
      assert.ok(f.ok);
      return ts.filter((t) => f.test(t.name)).map((t) => t.name);
    };
    assert.equal(names('').length, ts.length);
    assert.deepEqual(names('CONV'), ['online.encoder.conv2.weight', 'online.encoder.conv10.weight']);
    assert.deepEqual(names('fc1 momentum'), ['optimizer/online.head.fc1.weight/momentum']);
    assert.deepEqual(names('/conv\\d{2}/'), ['online.encoder.conv10.weight']);
    assert.deepEqual(names('/^QUEUE/i'), ['queue.keys']);
    assert.deepEqual(names('/^queue'), ['queue.keys'], 'regex without the closing slash while typing');
    const bad = compileFilter('/(unclosed/');
    assert.equal(bad.ok, false);
  });

  it('sorts by a column: names naturally, numbers with missing values last', () => {
    const byName = sortTensors(ts, { key: 'name', dir: 'asc' }).map((t) => t.name);
    assert.ok(byName.indexOf('online.encoder.conv2.weight') < byName.indexOf('online.encoder.conv10.weight'));
    const desc = sortTensors(ts, { key: 'mean', dir: 'desc' }).map((t) => t.name);
    assert.equal(desc[0], 'queue.keys');
    assert.equal(desc.at(-1), 'optimizer/online.head.fc1.weight/momentum', 'no stats: last');
    const asc = sortTensors(ts, { key: 'mean', dir: 'asc' }).map((t) => t.name);
    assert.equal(asc[0], 'online.encoder.bn1.running_mean');
    assert.equal(
      asc.at(-1),
      'optimizer/online.head.fc1.weight/momentum',
      'no stats: last in both directions',
    );
    const zeros = sortTensors(ts, { key: 'zeros', dir: 'desc' });
    assert.equal(zeros[0]!.name, 'online.encoder.conv10.weight');
    const shape = sortTensors(ts, { key: 'shape', dir: 'asc' }).map((t) => t.shape.join('x'));
    assert.deepEqual(shape, ['1x2', '1x2', '2', '3x1', '4', '4']);
    assert.deepEqual(
      sortTensors(ts, { key: 'file', dir: 'desc' }).map((t) => t.name),
      [...ts].reverse().map((t) => t.name),
    );
  });

  it('cycles the sort of a header: new numeric column descending, same column flips', () => {
    assert.deepEqual(nextSort({ key: 'name', dir: 'asc' }, 'std'), { key: 'std', dir: 'desc' });
    assert.deepEqual(nextSort({ key: 'std', dir: 'desc' }, 'std'), { key: 'std', dir: 'asc' });
    assert.deepEqual(nextSort({ key: 'std', dir: 'desc' }, 'name'), { key: 'name', dir: 'asc' });
  });

  it('builds group rows in network order with their tensors, honouring filter and collapse', () => {
    const rows = buildRows(ts, totals(ts), () => true, { key: 'name', dir: 'asc' });
    const groups = rows.filter((r) => r.type === 'group').map((r) => (r.type === 'group' ? r.group : ''));
    assert.deepEqual(groups, ['online / encoder', 'online / head', 'queue', 'optimizer']);
    assert.equal(rows.length, groups.length + ts.length);
    assert.equal(rows[1]!.type === 'tensor' && rows[1]!.tensor.name, 'online.encoder.bn1.running_mean');

    const f = compileFilter('conv');
    const filtered = buildRows(ts, totals(ts), f.ok ? f.test : () => false, { key: 'name', dir: 'asc' });
    assert.equal(filtered.length, 3, 'groups without a match are left out');
    assert.deepEqual(filtered[0], {
      type: 'group',
      group: 'online / encoder',
      totals: totals(ts)[0],
      shown: 2,
      collapsed: false,
    });

    const collapsed = buildRows(
      ts,
      totals(ts),
      () => true,
      { key: 'name', dir: 'asc' },
      new Set(['online / encoder']),
    );
    assert.equal(collapsed.length, rows.length - 3);
    assert.equal(collapsed[0]!.type === 'group' && collapsed[0]!.collapsed, true);
  });

  it('finds the rows of a virtualised table inside the viewport', () => {
    assert.deepEqual(visibleRows(300, 1000, 6000, 24), [0, 30], 'table starts 300px down');
    assert.deepEqual(visibleRows(-2400, 1000, 6000, 24), [100, 142]);
    assert.deepEqual(visibleRows(-2410, 1000, 6000, 24), [100, 143], 'a partly visible row counts');
    assert.deepEqual(visibleRows(-1e6, 1000, 6000, 24), [6000, 6000], 'scrolled past the end');
    assert.deepEqual(visibleRows(2000, 1000, 6000, 24), [0, 0], 'below the viewport');
    assert.deepEqual(visibleRows(0, 1000, 10, 24), [0, 10]);
  });

  it('dims the part of a name its group says', () => {
    assert.equal(groupPrefix('online.encoder.conv1.weight', 'online / encoder'), 'online.encoder.');
    assert.equal(groupPrefix('predictor.fc1.weight', 'online / predictor'), 'predictor.');
    assert.equal(groupPrefix('optimizer/online.head.fc1.weight/momentum', 'optimizer'), 'optimizer/');
    assert.equal(groupPrefix('target.encoder.conv1.weight', 'target'), 'target.');
    assert.equal(groupPrefix('memory_bank.x', 'memory bank'), 'memory_bank.');
    assert.equal(groupPrefix('model.layers.0.weight', 'other'), '');
    assert.equal(groupPrefix('queue', 'queue'), '');
  });
});

describe('checkpoint webview: sparkline and messages', () => {
  it('draws one bar per non-empty bin, the tallest full height', () => {
    const d = sparklinePath({ min: 0, max: 1, counts: [4, 0, 2, 1] }, 40, 10);
    const bars = d.match(/M[^Z]*Z/g)!;
    assert.equal(bars.length, 3);
    assert.equal(bars[0], 'M0 10V0H10V10Z');
    assert.equal(bars[1], 'M20 10V5H30V10Z');
    assert.equal(bars[2], 'M30 10V7.5H40V10Z');
    assert.equal(sparklinePath({ min: 0, max: 0, counts: [] }, 40, 10), '');
    const tiny = sparklinePath({ min: 0, max: 1, counts: [10000, 1] }, 20, 10);
    assert.match(tiny, /M10 10V9H20V10Z/, 'a lone value is at least one pixel tall');
  });

  it('gives each bin its value range', () => {
    assert.deepEqual(histogramBins({ min: -1, max: 1, counts: [1, 2, 3, 4] }), [
      { from: -1, to: -0.5, count: 1 },
      { from: -0.5, to: 0, count: 2 },
      { from: 0, to: 0.5, count: 3 },
      { from: 0.5, to: 1, count: 4 },
    ]);
    assert.deepEqual(histogramBins({ min: 2, max: 2, counts: [0, 5, 0] })[1], { from: 2, to: 2, count: 5 });
  });

  it('recognises its messages', () => {
    assert.ok(isCheckpointFromWebview({ type: 'ready' }));
    assert.ok(isCheckpointFromWebview({ type: 'compute' }));
    assert.ok(isCheckpointFromWebview({ type: 'webviewError', text: 'x' }));
    assert.ok(!isCheckpointFromWebview({ type: 'webviewError' }));
    assert.ok(!isCheckpointFromWebview({ type: 'edit' }));
    assert.ok(!isCheckpointFromWebview(null));
    assert.ok(
      isCheckpointToWebview({ type: 'inspection', data: { tensors: [], groups: [] }, pending: false }),
    );
    assert.ok(!isCheckpointToWebview({ type: 'inspection', data: null }));
    assert.ok(isCheckpointToWebview({ type: 'progress', done: 1, total: 2 }));
    assert.ok(isCheckpointToWebview({ type: 'error', message: 'bad' }));
    assert.ok(!isCheckpointToWebview({ type: 'error' }));
  });
});
