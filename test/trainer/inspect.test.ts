/**
 * Checkpoint inspection: statistics checked against values computed here, independently, from the
 * same file (decoded whole with `decodeSafetensors`, then plain loops); grouping rules; a real
 * checkpoint written by the real trainer; the diff of two checkpoints of one run; the CLI and the
 * worker process the extension runs.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { CHECKPOINT_FORMAT } from '../../trainer/checkpoint/checkpoint';
import {
  type DecodedTensor,
  decodeSafetensors,
  encodeSafetensors,
  f32ToF16Bits,
  readSafetensorsHeader,
  type TensorInput,
  tensorToFloat32,
} from '../../trainer/checkpoint/safetensors';
import {
  CONTRASTIVE_LAB_FORMAT,
  diffCheckpoints,
  InspectCancelledError,
  type Inspection,
  inspectCheckpoint,
  inspectHeader,
  parseCheckpointMetadata,
} from '../../trainer/inspect/inspect';
import {
  compareGroups,
  compareNames,
  groupOf,
  StatsAccumulator,
  tensorStats,
} from '../../trainer/inspect/stats';
import { InspectWorkerError, parseProgressLine, runInspectWorker } from '../../trainer/inspect/worker';
import { ensureBuilt, ROOT, TRAINER, tempDir } from '../helpers/trainer-process';

// ---- independent reference --------------------------------------------------------------------

interface Ref {
  count: number;
  finite: number;
  nan: number;
  inf: number;
  mean: number | null;
  std: number | null;
  min: number | null;
  max: number | null;
  l2: number;
  zeros: number;
  counts: number[];
}

/** Plain loops over the finite values: no accumulator class, no chunking. */
function reference(values: ArrayLike<number>, bins = 24): Ref {
  const finite: number[] = [];
  let nan = 0;
  let inf = 0;
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    if (Number.isNaN(x)) nan++;
    else if (x === Number.POSITIVE_INFINITY || x === Number.NEGATIVE_INFINITY) inf++;
    else finite.push(x);
  }
  const n = finite.length;
  if (n === 0) {
    return {
      count: values.length,
      finite: 0,
      nan,
      inf,
      mean: null,
      std: null,
      min: null,
      max: null,
      l2: 0,
      zeros: 0,
      counts: [],
    };
  }
  let sum = 0;
  for (const x of finite) sum += x;
  const mean = sum / n;
  let ss = 0;
  for (const x of finite) ss += (x - mean) ** 2;
  let sq = 0;
  for (const x of finite) sq += x ** 2;
  // Comparisons, not Math.min/max: those order -0 before 0, and the first of equal values is kept.
  let min = finite[0]!;
  let max = finite[0]!;
  for (const x of finite) {
    if (x < min) min = x;
    if (x > max) max = x;
  }
  const counts = new Array<number>(bins).fill(0);
  for (const x of finite) {
    const b =
      max > min ? Math.min(bins - 1, Math.floor(((x - min) / (max - min)) * bins)) : Math.floor(bins / 2);
    counts[b]!++;
  }
  return {
    count: values.length,
    finite: n,
    nan,
    inf,
    mean,
    std: Math.sqrt(ss / n),
    min,
    max,
    l2: Math.sqrt(sq),
    zeros: finite.filter((x) => x === 0).length,
    counts,
  };
}

function close(actual: number | null, expected: number | null, what: string, rel = 1e-9): void {
  if (expected === null || actual === null || !Number.isFinite(expected)) {
    // Exactly equal, also for the Inf a sum of squares of huge F64 values overflows to.
    assert.equal(actual, expected, what);
    return;
  }
  const tol = rel * Math.max(1, Math.abs(expected));
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected}`);
}

function assertMatches(stats: ReturnType<typeof tensorStats>, ref: Ref, what: string): void {
  assert.equal(stats.count, ref.count, `${what} count`);
  assert.equal(stats.finite, ref.finite, `${what} finite`);
  assert.equal(stats.nan, ref.nan, `${what} nan`);
  assert.equal(stats.posInf + stats.negInf, ref.inf, `${what} inf`);
  assert.equal(stats.min, ref.min, `${what} min`);
  assert.equal(stats.max, ref.max, `${what} max`);
  assert.equal(stats.zeros, ref.zeros, `${what} zeros`);
  assert.equal(stats.zeroFraction, ref.count ? ref.zeros / ref.count : 0, `${what} zeroFraction`);
  close(stats.mean, ref.mean, `${what} mean`);
  close(stats.std, ref.std, `${what} std`);
  close(stats.l2, ref.l2, `${what} l2`);
  assert.deepEqual(stats.histogram.counts, ref.counts, `${what} histogram`);
  assert.equal(
    stats.histogram.counts.reduce((a, b) => a + b, 0),
    ref.finite,
    `${what}: histogram counts sum to the finite count`,
  );
}

// ---- fixtures -----------------------------------------------------------------------------------

let dir: string;
let ckptA: string;
let ckptB: string;

function runCli(args: string[]) {
  return spawnSync(process.execPath, [TRAINER, ...args], { encoding: 'utf8', cwd: dir, maxBuffer: 64 << 20 });
}

/** A non-Contrastive-Lab file with every kind of dtype and special value. */
function mixedFile(file: string): Map<string, TensorInput> {
  const f32 = new Float32Array([
    0,
    -0,
    1.5,
    -2.25,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    3,
    0,
    Number.NEGATIVE_INFINITY,
    1e-8,
  ]);
  const tensors = new Map<string, TensorInput>([
    ['model.layers.0.weight', { dtype: 'F32', shape: [2, 5], data: f32 }],
    ['model.layers.1.weight', { dtype: 'F16', shape: [4], data: f32ToF16Bits([0.1, -0.2, 65504, 0]) }],
    ['model.layers.1.bias', { dtype: 'BF16', shape: [3], data: new Float32Array([1, 2, -3]) }],
    ['model.wide', { dtype: 'F64', shape: [3], data: new Float64Array([1e300, -1e300, 0]) }],
    ['model.steps', { dtype: 'I64', shape: [2], data: new BigInt64Array([5n, -7n]) }],
    ['model.mask', { dtype: 'U8', shape: [4], data: new Uint8Array([0, 1, 1, 0]) }],
    ['model.fp8', { dtype: 'F8_E4M3', shape: [2], data: new Uint8Array([1, 2]) }],
    ['empty', { dtype: 'F32', shape: [0, 3], data: new Float32Array(0) }],
    ['scalar', { dtype: 'F32', shape: [], data: new Float32Array([42]) }],
  ]);
  fs.writeFileSync(file, encodeSafetensors(tensors, { format: 'pt' }));
  return tensors;
}

/** Numbers of a decoded tensor the way the inspector reads them (F64 and integers exactly). */
function refValues(t: DecodedTensor): ArrayLike<number> {
  if (t.data instanceof BigInt64Array || t.data instanceof BigUint64Array) return Array.from(t.data, Number);
  if (t.dtype === 'F16' || t.dtype === 'BF16') return tensorToFloat32(t);
  return t.data as ArrayLike<number>;
}

before(function () {
  this.timeout(180_000);
  ensureBuilt();
  dir = tempDir('cl-inspect-');
  const cfg = path.join(dir, 'config.json');
  fs.writeFileSync(
    cfg,
    JSON.stringify({
      dataset: { syntheticTrain: 64, syntheticTest: 32 },
      encoder: { width: 4 },
      training: { epochs: 2, batchSize: 16, checkpointEvery: 1 },
    }),
  );
  const r = runCli(['train', '--runs-dir', path.join(dir, 'runs'), '--quiet', '--config', cfg]);
  assert.equal(r.status, 0, `training failed:\n${r.stdout}\n${r.stderr}`);
  const runs = fs.readdirSync(path.join(dir, 'runs'));
  const ckdir = path.join(dir, 'runs', runs[0]!, 'checkpoints');
  const files = fs.readdirSync(ckdir).sort();
  assert.ok(files.length >= 2, `expected two checkpoints, got ${files}`);
  ckptA = path.join(ckdir, files[0]!);
  ckptB = path.join(ckdir, files.at(-1)!);
});

after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

// ---- stats ----------------------------------------------------------------------------------------

describe('inspect: tensor statistics', () => {
  it('gives the textbook values for a small array', () => {
    const s = tensorStats(new Float32Array([1, 2, 3, 4]), 4);
    assert.equal(s.mean, 2.5);
    assert.equal(s.std, Math.sqrt(1.25));
    assert.equal(s.l2, Math.sqrt(30));
    assert.deepEqual([s.min, s.max, s.zeros, s.zeroFraction], [1, 4, 0, 0]);
    assert.deepEqual(s.histogram, { min: 1, max: 4, counts: [1, 1, 1, 1] });
  });

  it('counts NaN and ±Inf apart and leaves them out; -0 is a zero', () => {
    const s = tensorStats(
      [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 2, Number.NaN],
      2,
    );
    assert.deepEqual([s.count, s.finite, s.nan, s.posInf, s.negInf, s.zeros], [6, 2, 2, 1, 1, 1]);
    assert.deepEqual([s.mean, s.std, s.min, s.max, s.l2], [1, 1, -0, 2, 2]);
    assert.equal(s.zeroFraction, 1 / 6);
    assert.deepEqual(s.histogram.counts, [1, 1]);
  });

  it('handles empty, all-NaN and constant tensors', () => {
    const empty = tensorStats(new Float32Array(0));
    assert.deepEqual(
      [empty.count, empty.mean, empty.std, empty.min, empty.l2, empty.zeroFraction],
      [0, null, null, null, 0, 0],
    );
    assert.deepEqual(empty.histogram.counts, []);
    const nan = tensorStats([Number.NaN, Number.NaN]);
    assert.deepEqual([nan.finite, nan.nan, nan.mean], [0, 2, null]);
    const constant = tensorStats(new Float32Array(5).fill(0.5), 24);
    assert.equal(constant.std, 0);
    assert.equal(constant.histogram.counts[12], 5, 'a constant tensor fills the middle bin');
  });

  it('equals an independent reference on random arrays, and chunking changes nothing', () => {
    const value = fc.oneof(
      { weight: 8, arbitrary: fc.float({ noNaN: false }) },
      { weight: 1, arbitrary: fc.constantFrom(0, -0, Number.NaN, Number.POSITIVE_INFINITY, 1, -1) },
    );
    fc.assert(
      fc.property(
        fc.array(value, { maxLength: 200 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 50 }),
        (xs, bins, chunk) => {
          const arr = new Float32Array(xs);
          const s = tensorStats(arr, bins);
          assertMatches(s, reference(arr, bins), 'random');
          const acc = new StatsAccumulator(bins);
          for (let i = 0; i < arr.length; i += chunk) acc.pass1(arr.subarray(i, i + chunk));
          for (let i = 0; i < arr.length; i += chunk) acc.pass2(arr.subarray(i, i + chunk));
          assert.deepEqual(acc.result(), s);
        },
      ),
      { numRuns: 150, seed: 5 },
    );
  });
});

describe('inspect: grouping by network', () => {
  const cases: [string, string, string][] = [
    ['online.encoder.conv1.weight', 'online / encoder', 'parameter'],
    ['online.encoder.bn1.running_mean', 'online / encoder', 'buffer'],
    ['online.encoder.bn1.running_var', 'online / encoder', 'buffer'],
    ['online.encoder.bn1.weight', 'online / encoder', 'parameter'],
    ['online.head.fc1.bias', 'online / head', 'parameter'],
    ['online.projector.fc1.weight', 'online / projector', 'parameter'],
    ['online.predictor.fc1.weight', 'online / predictor', 'parameter'],
    ['predictor.fc1.weight', 'online / predictor', 'parameter'],
    ['target.encoder.conv1.weight', 'target', 'parameter'],
    ['target.encoder.bn1.running_var', 'target', 'buffer'],
    ['prototypes.weight', 'prototypes', 'parameter'],
    ['prototypes', 'prototypes', 'parameter'],
    ['queue.keys', 'queue', 'state'],
    ['queue.ptr', 'queue', 'state'],
    ['memory_bank.features', 'memory bank', 'state'],
    ['memory bank', 'memory bank', 'state'],
    ['bank.features', 'memory bank', 'state'],
    ['optimizer/online.encoder.conv1.weight/momentum', 'optimizer', 'optimizer'],
    ['optimizer/online.encoder.bn1.running_mean/momentum', 'optimizer', 'optimizer'],
    ['model.layers.0.weight', 'other', 'parameter'],
    ['online.temperature', 'online', 'parameter'],
    ['bankruptcy', 'other', 'parameter'],
  ];
  for (const [name, group, kind] of cases) {
    it(`${name} -> ${group} (${kind})`, () => assert.deepEqual(groupOf(name), { group, kind }));
  }

  it('orders groups online first, optimizer last', () => {
    const groups = [
      'optimizer',
      'queue',
      'target',
      'other',
      'online / head',
      'online / encoder',
      'online / weird',
      'zzz',
    ];
    assert.deepEqual(groups.sort(compareGroups), [
      'online / encoder',
      'online / head',
      'online / weird',
      'target',
      'queue',
      'zzz',
      'other',
      'optimizer',
    ]);
  });

  it('sorts names naturally', () => {
    assert.deepEqual(['b.10', 'b.9', 'b.1', 'a', 'b.09x'].sort(compareNames), [
      'a',
      'b.1',
      'b.9',
      'b.09x',
      'b.10',
    ]);
  });
});

// ---- files ----------------------------------------------------------------------------------------

describe('inspect: a checkpoint written by the trainer', () => {
  let insp: Inspection;
  before(async () => {
    insp = await inspectCheckpoint(ckptB);
  });

  it('has every tensor of the file with stats equal to an independent computation', () => {
    const decoded = decodeSafetensors(fs.readFileSync(ckptB));
    assert.equal(insp.tensors.length, decoded.tensors.size);
    assert.ok(insp.tensors.length > 20);
    for (const t of insp.tensors) {
      const d = decoded.tensors.get(t.name)!;
      assert.ok(d, t.name);
      assert.equal(t.dtype, 'F32');
      assert.deepEqual(t.shape, d.shape);
      assert.equal(
        t.parameters,
        d.shape.reduce((a, b) => a * b, 1),
      );
      assert.equal(t.bytes, t.parameters * 4);
      assertMatches(t.stats!, reference(d.data as Float32Array, insp.bins), t.name);
    }
  });

  it('reads the metadata the trainer wrote', async () => {
    assert.equal(CONTRASTIVE_LAB_FORMAT, CHECKPOINT_FORMAT);
    assert.equal(insp.isContrastiveLabCheckpoint, true);
    assert.equal(insp.statsComputed, true);
    const raw = (await readSafetensorsHeader(ckptB)).metadata;
    const m = insp.metadata;
    assert.equal(m.method, 'simclr-v1');
    assert.equal(m.step, JSON.parse(raw.step!));
    assert.equal(m.epoch, 2);
    assert.equal(m.formatVersion, 1);
    assert.deepEqual(m.config, JSON.parse(raw.config!));
    assert.equal((m.config as { encoder: { width: number } }).encoder.width, 4);
    assert.deepEqual(m.normalization, JSON.parse(raw.normalization!));
    if (raw.knnTop1 !== undefined) assert.equal(m.knnTop1, JSON.parse(raw.knnTop1));
    assert.deepEqual(m.problems, []);
    assert.equal(insp.bytes, fs.statSync(ckptB).size);
  });

  it('groups the tensors and totals them per group', () => {
    assert.deepEqual(
      insp.groups.map((g) => g.group),
      ['online / encoder', 'online / head', 'optimizer'],
    );
    for (const g of insp.groups) {
      const ts = insp.tensors.filter((t) => t.group === g.group);
      assert.equal(g.tensors, ts.length);
      assert.equal(
        g.parameters,
        ts.reduce((a, t) => a + t.parameters, 0),
      );
      assert.equal(
        g.buffers,
        ts.filter((t) => t.kind === 'buffer').reduce((a, t) => a + t.parameters, 0),
      );
    }
    assert.equal(insp.totals.bytes + insp.headerBytes, insp.bytes);
    assert.ok(insp.tensors.some((t) => t.name.endsWith('running_mean') && t.kind === 'buffer'));
  });

  it('streams in small chunks with the same result, reporting progress up to the total', async () => {
    const seen: [number, number][] = [];
    const chunked = await inspectCheckpoint(ckptB, {
      chunkBytes: 256,
      onProgress: (d, t) => seen.push([d, t]),
    });
    assert.deepEqual(chunked, insp);
    assert.ok(seen.length > 10);
    const total = insp.totals.bytes;
    assert.ok(
      seen.every(([d, t], i) => t === total && d >= (seen[i - 1]?.[0] ?? 0)),
      'monotonic',
    );
    assert.deepEqual(seen.at(-1), [total, total]);
  });

  it('stops when cancelled', async () => {
    const ctrl = new AbortController();
    await assert.rejects(
      inspectCheckpoint(ckptB, {
        chunkBytes: 256,
        signal: ctrl.signal,
        onProgress: (d) => d > 0 && ctrl.abort(),
      }),
      InspectCancelledError,
    );
  });

  it('header-only inspection has the same table without stats', async () => {
    const h = inspectHeader(ckptB, await readSafetensorsHeader(ckptB));
    assert.equal(h.statsComputed, false);
    assert.deepEqual(
      h.tensors,
      insp.tensors.map((t) => ({ ...t, stats: null })),
    );
    assert.deepEqual(h.groups, insp.groups);
  });
});

describe('inspect: other dtypes and foreign files', () => {
  it('converts F16/BF16/F64/I64/U8, refuses F8 stats, keeps foreign metadata raw', async () => {
    const file = path.join(dir, 'mixed.safetensors');
    mixedFile(file);
    const insp = await inspectCheckpoint(file, { bins: 8 });
    const decoded = decodeSafetensors(fs.readFileSync(file));
    assert.equal(insp.isContrastiveLabCheckpoint, false);
    assert.deepEqual(insp.metadata.raw, { format: 'pt' });
    for (const t of insp.tensors) {
      if (t.dtype === 'F8_E4M3') {
        assert.equal(t.stats, null);
        assert.match(t.statsError!, /F8_E4M3/);
        continue;
      }
      assertMatches(t.stats!, reference(refValues(decoded.tensors.get(t.name)!), 8), t.name);
    }
    const byName = new Map(insp.tensors.map((t) => [t.name, t]));
    assert.equal(byName.get('model.wide')!.stats!.max, 1e300, 'F64 is not squeezed into float32');
    assert.equal(byName.get('model.layers.1.weight')!.stats!.max, 65504);
    assert.equal(byName.get('model.steps')!.stats!.min, -7);
    assert.equal(byName.get('scalar')!.parameters, 1);
    assert.equal(byName.get('empty')!.parameters, 0);
    assert.deepEqual(new Set(insp.groups.map((g) => g.group)), new Set(['other']));
  });

  it('parses metadata without throwing on bad values', () => {
    const m = parseCheckpointMetadata({
      step: 'x',
      epoch: '"3"',
      config: '{"a":1}',
      normalization: '[1]',
      method: 'm',
    });
    assert.equal(m.step, undefined);
    assert.equal(m.epoch, undefined);
    assert.deepEqual(m.config, { a: 1 });
    assert.equal(m.method, 'm');
    assert.equal(m.problems.length, 3);
  });
});

describe('inspect: diff of two checkpoints', () => {
  it('gives ‖b−a‖/‖a‖ per tensor equal to a direct computation', async () => {
    const diff = await diffCheckpoints(ckptA, ckptB);
    const a = decodeSafetensors(fs.readFileSync(ckptA)).tensors;
    const b = decodeSafetensors(fs.readFileSync(ckptB)).tensors;
    assert.equal(diff.changed.length, a.size);
    assert.deepEqual([diff.added, diff.removed, diff.reshaped], [[], [], []]);
    assert.ok(diff.a.step! < diff.b.step!);
    let moved = 0;
    for (const c of diff.changed) {
      const x = a.get(c.name)!.data as Float32Array;
      const y = b.get(c.name)!.data as Float32Array;
      let na = 0;
      let nd = 0;
      let mx = 0;
      for (let i = 0; i < x.length; i++) {
        na += x[i]! * x[i]!;
        nd += (y[i]! - x[i]!) ** 2;
        mx = Math.max(mx, Math.abs(y[i]! - x[i]!));
      }
      close(c.normA, Math.sqrt(na), `${c.name} ‖a‖`);
      close(c.diffNorm, Math.sqrt(nd), `${c.name} ‖b−a‖`);
      assert.equal(c.maxAbsDiff, mx);
      if (na > 0) close(c.relative, Math.sqrt(nd) / Math.sqrt(na), `${c.name} relative`);
      if (c.relative! > 0) moved++;
    }
    assert.ok(moved > diff.changed.length / 2, 'training moved most tensors');
    const chunked = await diffCheckpoints(ckptA, ckptB, { chunkBytes: 64 });
    assert.deepEqual(chunked, diff);
  });

  it('is all zeros for the same file', async () => {
    const diff = await diffCheckpoints(ckptB, ckptB);
    assert.ok(diff.changed.length > 0);
    for (const c of diff.changed) assert.deepEqual([c.diffNorm, c.relative, c.maxAbsDiff], [0, 0, 0], c.name);
    for (const g of diff.groups) assert.equal(g.relative, 0);
  });

  it('lists added, removed and reshaped tensors', async () => {
    const fa = path.join(dir, 'da.safetensors');
    const fb = path.join(dir, 'db.safetensors');
    const f32 = (xs: number[], shape = [xs.length]): TensorInput => ({
      dtype: 'F32',
      shape,
      data: new Float32Array(xs),
    });
    fs.writeFileSync(
      fa,
      encodeSafetensors({ keep: f32([3, 4]), zero: f32([0, 0]), gone: f32([1]), reshape: f32([1, 2]) }),
    );
    fs.writeFileSync(
      fb,
      encodeSafetensors({
        keep: f32([3, 5]),
        zero: f32([0, 1]),
        fresh: f32([1]),
        reshape: f32([1, 2], [2, 1]),
      }),
    );
    const d = await diffCheckpoints(fa, fb);
    assert.deepEqual(
      d.changed.map((c) => [c.name, c.relative]),
      [
        ['keep', 0.2],
        ['zero', null],
      ],
    );
    assert.deepEqual(
      d.added.map((x) => x.name),
      ['fresh'],
    );
    assert.deepEqual(
      d.removed.map((x) => x.name),
      ['gone'],
    );
    assert.deepEqual(d.reshaped, [{ name: 'reshape', group: 'other', shapeA: [2], shapeB: [2, 1] }]);
  });
});

// ---- CLI and worker process --------------------------------------------------------------------

describe('inspect: command line and worker process', () => {
  it('`inspect --json --progress` prints the Inspection and progress lines', async () => {
    const r = runCli(['inspect', ckptB, '--json', '--progress']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), await inspectCheckpoint(ckptB));
    const lines = r.stderr.trim().split('\n');
    const progress = lines.map(parseProgressLine);
    assert.ok(progress.every(Boolean), r.stderr);
    assert.equal(progress.at(-1)!.progress, progress.at(-1)!.total);
  });

  it('prints an aligned table grouped by network, and a diff', () => {
    const r = runCli(['inspect', ckptB]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^method\s+simclr-v1$/m);
    assert.match(r.stdout, /^online \/ encoder: \d+ tensors/m);
    assert.match(r.stdout, /^optimizer: /m);
    const row = r.stdout.split('\n').find((l) => l.trim().startsWith('online.encoder.conv1.weight'))!;
    assert.ok(row, r.stdout);
    const header = r.stdout.split('\n').find((l) => l.trim().startsWith('name'))!;
    assert.equal(row.length, header.length, 'columns are aligned');
    const d = runCli(['inspect', ckptA, '--diff', ckptB, '--json']);
    assert.equal(d.status, 0, d.stderr);
    assert.ok(JSON.parse(d.stdout).changed.length > 0);
    const t = runCli(['inspect', ckptA, '--diff', ckptB]);
    assert.match(t.stdout, /relative change/);
  });

  it('refuses a malformed file with exit code 2 and the reader’s message', async () => {
    const bad = path.join(dir, 'bad.safetensors');
    const good = fs.readFileSync(ckptB);
    fs.writeFileSync(bad, good.subarray(0, good.length - 10));
    const expected = await readSafetensorsHeader(bad).then(
      () => assert.fail('the truncated file was accepted'),
      (e: Error) => e.message,
    );
    const r = runCli(['inspect', bad, '--json']);
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `error: ${expected}\n`);
    const missing = runCli(['inspect', path.join(dir, 'nope.safetensors')]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /^error: cannot read .*nope\.safetensors: ENOENT/);
    const usage = runCli(['inspect']);
    assert.equal(usage.status, 2);
  });

  it('runInspectWorker (what the extension spawns) returns the inspection, reports progress, fails clearly', async () => {
    // A name that starts with '-' must not be taken for an option.
    const odd = path.join(dir, '-odd name.safetensors');
    fs.copyFileSync(ckptA, odd);
    const progress: number[] = [];
    const got = await runInspectWorker({
      nodePath: process.execPath,
      script: TRAINER,
      file: odd,
      cwd: dir,
      onProgress: (d) => progress.push(d),
    });
    assert.deepEqual(got, await inspectCheckpoint(odd));
    assert.ok(progress.length >= 2);

    const bad = path.join(dir, 'garbage.safetensors');
    fs.writeFileSync(bad, Buffer.from('not a safetensors file at all'));
    await assert.rejects(
      runInspectWorker({ nodePath: process.execPath, script: TRAINER, file: bad }),
      (e: unknown) => e instanceof InspectWorkerError && e.exitCode === 2 && /header length/.test(e.message),
    );

    const ctrl = new AbortController();
    const pending = runInspectWorker({
      nodePath: process.execPath,
      script: TRAINER,
      file: ckptB,
      signal: ctrl.signal,
    });
    ctrl.abort();
    await assert.rejects(pending, InspectCancelledError);
    assert.ok(fs.existsSync(path.join(ROOT, 'dist', 'trainer.js')));
  });
});
