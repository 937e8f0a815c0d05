/**
 * Checkpoint inspection: the header (metadata, names, shapes, dtypes) plus statistics of every
 * tensor, and the per-tensor relative change between two checkpoints.
 *
 * Files are streamed: one file handle, consecutive small tensors read together in windows of at
 * most `chunkBytes`, and a tensor larger than that read in chunks (twice: the two statistics
 * passes), so memory use is bounded by `chunkBytes` whatever the file's size. Progress is reported
 * in data bytes and an AbortSignal stops the work between chunks.
 *
 * No TensorFlow.js and no `vscode`: the extension host imports `inspectHeader` for the header-only
 * view of untrusted workspaces; the worker process (`worker.ts`) runs the rest.
 */
import { open } from 'node:fs/promises';
import {
  DTYPE_SIZE,
  type Dtype,
  decodeTensorBytes,
  readSafetensorsHeader,
  SafetensorsError,
  type SafetensorsHeader,
  tensorToFloat32,
} from '../checkpoint/safetensors';
import {
  compareGroups,
  DEFAULT_BINS,
  elementCount,
  groupOf,
  StatsAccumulator,
  type TensorKind,
  type TensorStats,
} from './stats';

/** `CHECKPOINT_FORMAT` of checkpoint.ts (not imported: that module loads TensorFlow.js). */
export const CONTRASTIVE_LAB_FORMAT = 'contrastive-lab/checkpoint';

export const INSPECTION_VERSION = 1;
export const DEFAULT_CHUNK_BYTES = 16 * 1024 * 1024;

export interface CheckpointMetadata {
  /** Every `__metadata__` entry as stored (strings). */
  raw: Record<string, string>;
  format?: string;
  formatVersion?: number;
  method?: string;
  step?: number;
  epoch?: number;
  /** kNN top-1 accuracy (0..1) measured when the checkpoint was saved. */
  knnTop1?: number;
  createdAt?: string;
  backend?: string;
  metricsBytes?: number;
  normalization?: { mean: number[]; std: number[] };
  /** The run's config, parsed from its JSON. */
  config?: unknown;
  /** Known keys whose value could not be read (invalid JSON, wrong type), with why. */
  problems: string[];
}

export interface TensorEntry {
  name: string;
  group: string;
  kind: TensorKind;
  dtype: Dtype;
  shape: number[];
  /** Elements: the product of the shape. */
  parameters: number;
  /** Bytes of data in the file. */
  bytes: number;
  /** null in a header-only inspection, or when the dtype has no numeric conversion (see statsError). */
  stats: TensorStats | null;
  statsError?: string;
}

export interface GroupTotals {
  group: string;
  tensors: number;
  /** Elements of all the group's tensors. */
  parameters: number;
  /** Of which in buffers (batch-norm running statistics). */
  buffers: number;
  bytes: number;
}

export interface Inspection {
  version: typeof INSPECTION_VERSION;
  /** Absolute path. */
  file: string;
  /** File size. */
  bytes: number;
  /** 8 + the JSON header's length: where the data starts. */
  headerBytes: number;
  metadata: CheckpointMetadata;
  /** The header says `format: contrastive-lab/checkpoint`. */
  isContrastiveLabCheckpoint: boolean;
  /** False for a header-only inspection (every `stats` is null). */
  statsComputed: boolean;
  /** Histogram bins per tensor. */
  bins: number;
  /** In the file's data order. */
  tensors: TensorEntry[];
  /** In display order (online network first, optimizer last). */
  groups: GroupTotals[];
  totals: { tensors: number; parameters: number; buffers: number; bytes: number };
}

export interface InspectOptions {
  /** Called after each tensor (and each chunk of a large one) with data bytes done and in total. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  /** Histogram bins (default 24). */
  bins?: number;
  /** Largest read at once (default 16 MiB); rounded down to a multiple of 8 bytes. */
  chunkBytes?: number;
}

/** Thrown when the AbortSignal fires. */
export class InspectCancelledError extends Error {
  override readonly name = 'InspectCancelledError';
  constructor() {
    super('inspection cancelled');
  }
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new InspectCancelledError();
}

// ---------------------------------------------------------------------------------------------
// Header-only
// ---------------------------------------------------------------------------------------------

const NUMBER_KEYS = ['formatVersion', 'step', 'epoch', 'knnTop1', 'metricsBytes'] as const;
const STRING_KEYS = ['format', 'method', 'createdAt', 'backend'] as const;

/** The metadata with our known keys decoded from their JSON strings; never throws. */
export function parseCheckpointMetadata(raw: Record<string, string>): CheckpointMetadata {
  const out: CheckpointMetadata = { raw: { ...raw }, problems: [] };
  const json = (k: string): unknown => {
    try {
      return JSON.parse(raw[k]!);
    } catch {
      out.problems.push(`metadata '${k}' is not valid JSON`);
      return undefined;
    }
  };
  for (const k of STRING_KEYS) if (Object.hasOwn(raw, k)) out[k] = raw[k];
  for (const k of NUMBER_KEYS) {
    if (!Object.hasOwn(raw, k)) continue;
    const v = json(k);
    if (typeof v === 'number' && Number.isFinite(v)) out[k] = v;
    else if (v !== undefined) out.problems.push(`metadata '${k}' is not a number`);
  }
  if (Object.hasOwn(raw, 'config')) {
    const v = json('config');
    if (v !== undefined) out.config = v;
  }
  if (Object.hasOwn(raw, 'normalization')) {
    const v = json('normalization') as { mean?: unknown; std?: unknown } | undefined;
    const nums = (x: unknown): x is number[] => Array.isArray(x) && x.every((n) => typeof n === 'number');
    if (v && typeof v === 'object' && nums(v.mean) && nums(v.std))
      out.normalization = { mean: v.mean, std: v.std };
    else if (v !== undefined)
      out.problems.push(`metadata 'normalization' is not {mean: number[], std: number[]}`);
  }
  return out;
}

function totalsOf(tensors: readonly TensorEntry[]): { groups: GroupTotals[]; totals: Inspection['totals'] } {
  const byGroup = new Map<string, GroupTotals>();
  const totals = { tensors: 0, parameters: 0, buffers: 0, bytes: 0 };
  for (const t of tensors) {
    let g = byGroup.get(t.group);
    if (!g) {
      g = { group: t.group, tensors: 0, parameters: 0, buffers: 0, bytes: 0 };
      byGroup.set(t.group, g);
    }
    const buffers = t.kind === 'buffer' ? t.parameters : 0;
    for (const acc of [g, totals]) {
      acc.tensors++;
      acc.parameters += t.parameters;
      acc.buffers += buffers;
      acc.bytes += t.bytes;
    }
  }
  const groups = [...byGroup.values()].sort((a, b) => compareGroups(a.group, b.group));
  return { groups, totals };
}

/** The inspection of a parsed header, without statistics (cheap: no tensor data is read). */
export function inspectHeader(
  file: string,
  header: SafetensorsHeader,
  bins: number = DEFAULT_BINS,
): Inspection {
  const metadata = parseCheckpointMetadata(header.metadata);
  const tensors: TensorEntry[] = [];
  for (const [name, info] of header.tensors) {
    const { group, kind } = groupOf(name);
    tensors.push({
      name,
      group,
      kind,
      dtype: info.dtype,
      shape: [...info.shape],
      parameters: elementCount(info.shape),
      bytes: info.dataOffsets[1] - info.dataOffsets[0],
      stats: null,
    });
  }
  return {
    version: INSPECTION_VERSION,
    file,
    bytes: header.fileSize,
    headerBytes: header.dataStart,
    metadata,
    isContrastiveLabCheckpoint: metadata.format === CONTRASTIVE_LAB_FORMAT,
    statsComputed: false,
    bins,
    tensors,
    ...totalsOf(tensors),
  };
}

// ---------------------------------------------------------------------------------------------
// Streaming reads
// ---------------------------------------------------------------------------------------------

type Handle = Awaited<ReturnType<typeof open>>;

async function readRange(fh: Handle, position: number, length: number, file: string): Promise<Buffer> {
  const out = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(out, done, length - done, position + done);
    if (bytesRead === 0) {
      throw new SafetensorsError(
        `${file}: file truncated while reading (${length - done} of ${length} bytes at offset ${position} missing)`,
        'TRUNCATED',
      );
    }
    done += bytesRead;
  }
  return out;
}

async function openChecked(file: string, header: SafetensorsHeader): Promise<Handle> {
  const fh = await open(file, 'r');
  const { size } = await fh.stat();
  if (size !== header.fileSize) {
    await fh.close();
    throw new SafetensorsError(
      `${file}: file is now ${size} bytes but was ${header.fileSize} when its header was read; it changed while being inspected`,
      'FILE_CHANGED',
    );
  }
  return fh;
}

/** Why a dtype has no statistics, or undefined when it has. */
function unsupportedDtype(dtype: Dtype): string | undefined {
  return dtype === 'F8_E4M3' || dtype === 'F8_E5M2'
    ? `statistics of ${dtype} tensors are not supported`
    : undefined;
}

/** A run of elements of one dtype as numbers: floats exactly, 64-bit integers as nearest doubles. */
function asNumbers(dtype: Dtype, bytes: Uint8Array): ArrayLike<number> {
  const count = bytes.byteLength / DTYPE_SIZE[dtype];
  const t = decodeTensorBytes({ dtype, shape: [count], dataOffsets: [0, bytes.byteLength] }, bytes);
  if (t.data instanceof BigInt64Array || t.data instanceof BigUint64Array) {
    return Float64Array.from(t.data as ArrayLike<bigint>, Number);
  }
  // F16/BF16 through tensorToFloat32; F64 and the integer types are read as they are (F64 values
  // beyond float32's range would otherwise turn into Inf).
  if (dtype === 'F16' || dtype === 'BF16') return tensorToFloat32(t);
  return t.data as ArrayLike<number>;
}

function chunkSize(opts: { chunkBytes?: number }): number {
  const c = Math.floor((opts.chunkBytes ?? DEFAULT_CHUNK_BYTES) / 8) * 8;
  if (!(c >= 8)) throw new RangeError(`chunkBytes must be at least 8, got ${opts.chunkBytes}`);
  return c;
}

/**
 * Calls `fn` for consecutive pieces of one tensor's data, each at most `chunk` bytes and a whole
 * number of elements.
 */
async function forChunks(
  fh: Handle,
  file: string,
  header: SafetensorsHeader,
  name: string,
  chunk: number,
  signal: AbortSignal | undefined,
  fn: (bytes: Uint8Array, offset: number) => void,
): Promise<void> {
  const info = header.tensors.get(name)!;
  const [begin, end] = info.dataOffsets;
  // chunk is a multiple of 8, hence of every element size.
  for (let pos = begin; pos < end; pos += chunk) {
    checkAborted(signal);
    const len = Math.min(chunk, end - pos);
    fn(await readRange(fh, header.dataStart + pos, len, file), pos - begin);
  }
}

// ---------------------------------------------------------------------------------------------
// Inspection with statistics
// ---------------------------------------------------------------------------------------------

/** Reads the header and computes every tensor's statistics, streaming the file. */
export async function inspectCheckpoint(file: string, opts: InspectOptions = {}): Promise<Inspection> {
  const bins = opts.bins ?? DEFAULT_BINS;
  const chunk = chunkSize(opts);
  const { signal, onProgress } = opts;
  checkAborted(signal);
  const header = await readSafetensorsHeader(file);
  const result = inspectHeader(file, header, bins);
  const total = header.dataLength;
  onProgress?.(0, total);
  const fh = await openChecked(file, header);
  try {
    const entries = result.tensors;
    let done = 0;
    let i = 0;
    while (i < entries.length) {
      checkAborted(signal);
      const first = entries[i]!;
      if (first.bytes > chunk) {
        // A large tensor: two passes over chunks read from disk; half the progress each.
        await statsChunked(fh, file, header, first, bins, chunk, signal, (d) =>
          onProgress?.(done + d, total),
        );
        done += first.bytes;
        onProgress?.(done, total);
        i++;
        continue;
      }
      // A window of consecutive tensors (they tile the data buffer) read at once.
      let j = i;
      let windowBytes = 0;
      while (j < entries.length && entries[j]!.bytes <= chunk && windowBytes + entries[j]!.bytes <= chunk) {
        windowBytes += entries[j]!.bytes;
        j++;
      }
      const start = header.tensors.get(first.name)!.dataOffsets[0];
      const window = await readRange(fh, header.dataStart + start, windowBytes, file);
      for (let k = i; k < j; k++) {
        const e = entries[k]!;
        const [b, en] = header.tensors.get(e.name)!.dataOffsets;
        const why = unsupportedDtype(e.dtype);
        if (why) e.statsError = why;
        else {
          const values = asNumbers(e.dtype, window.subarray(b - start, en - start));
          const acc = new StatsAccumulator(bins);
          acc.pass1(values);
          acc.pass2(values);
          e.stats = acc.result();
        }
      }
      done += windowBytes;
      onProgress?.(done, total);
      i = j;
    }
  } finally {
    await fh.close();
  }
  result.statsComputed = true;
  return result;
}

async function statsChunked(
  fh: Handle,
  file: string,
  header: SafetensorsHeader,
  e: TensorEntry,
  bins: number,
  chunk: number,
  signal: AbortSignal | undefined,
  progress: (done: number) => void,
): Promise<void> {
  const why = unsupportedDtype(e.dtype);
  if (why) {
    e.statsError = why;
    return;
  }
  const acc = new StatsAccumulator(bins);
  await forChunks(fh, file, header, e.name, chunk, signal, (bytes, off) => {
    acc.pass1(asNumbers(e.dtype, bytes));
    progress((off + bytes.byteLength) / 2);
  });
  await forChunks(fh, file, header, e.name, chunk, signal, (bytes, off) => {
    acc.pass2(asNumbers(e.dtype, bytes));
    progress((e.bytes + off + bytes.byteLength) / 2);
  });
  e.stats = acc.result();
}

// ---------------------------------------------------------------------------------------------
// Diff
// ---------------------------------------------------------------------------------------------

export interface TensorChange {
  name: string;
  group: string;
  shape: number[];
  /** ‖a‖₂, ‖b‖₂ and ‖b − a‖₂, in float64. */
  normA: number;
  normB: number;
  diffNorm: number;
  /** ‖b − a‖ / ‖a‖; 0 when both are 0; null when ‖a‖ = 0 < ‖b − a‖ or a value is not finite. */
  relative: number | null;
  /** max |b − a|. */
  maxAbsDiff: number;
}

export interface TensorRef {
  name: string;
  group: string;
  dtype: Dtype;
  shape: number[];
}

export interface GroupChange {
  group: string;
  tensors: number;
  normA: number;
  diffNorm: number;
  /** Over the whole group: sqrt(Σ‖b−a‖²) / sqrt(Σ‖a‖²), same null rule as per tensor. */
  relative: number | null;
}

export interface CheckpointDiff {
  a: { file: string; step?: number; epoch?: number };
  b: { file: string; step?: number; epoch?: number };
  /** Tensors in both files with equal shapes, in the order of file a. */
  changed: TensorChange[];
  /** In b only. */
  added: TensorRef[];
  /** In a only. */
  removed: TensorRef[];
  /** In both, with different shapes. */
  reshaped: { name: string; group: string; shapeA: number[]; shapeB: number[] }[];
  groups: GroupChange[];
}

function relativeChange(diffNorm: number, normA: number): number | null {
  if (!Number.isFinite(diffNorm) || !Number.isFinite(normA)) return null;
  if (normA === 0) return diffNorm === 0 ? 0 : null;
  return diffNorm / normA;
}

function refOf(name: string, info: { dtype: Dtype; shape: number[] }): TensorRef {
  return { name, group: groupOf(name).group, dtype: info.dtype, shape: [...info.shape] };
}

/**
 * Per-tensor relative change ‖b − a‖ / ‖a‖ from checkpoint a to checkpoint b (say, two steps of one
 * run), plus the tensors added, removed or reshaped. Both files are streamed tensor by tensor.
 */
export async function diffCheckpoints(
  a: string,
  b: string,
  opts: InspectOptions = {},
): Promise<CheckpointDiff> {
  const chunk = chunkSize(opts);
  const { signal, onProgress } = opts;
  checkAborted(signal);
  const [ha, hb] = await Promise.all([readSafetensorsHeader(a), readSafetensorsHeader(b)]);
  const ma = parseCheckpointMetadata(ha.metadata);
  const mb = parseCheckpointMetadata(hb.metadata);
  const out: CheckpointDiff = {
    a: { file: a, step: ma.step, epoch: ma.epoch },
    b: { file: b, step: mb.step, epoch: mb.epoch },
    changed: [],
    added: [],
    removed: [],
    reshaped: [],
    groups: [],
  };
  const common: string[] = [];
  for (const [name, ia] of ha.tensors) {
    const ib = hb.tensors.get(name);
    if (!ib) out.removed.push(refOf(name, ia));
    else if (ia.shape.length !== ib.shape.length || ia.shape.some((d, i) => d !== ib.shape[i])) {
      out.reshaped.push({ name, group: groupOf(name).group, shapeA: [...ia.shape], shapeB: [...ib.shape] });
    } else common.push(name);
  }
  for (const [name, ib] of hb.tensors) if (!ha.tensors.has(name)) out.added.push(refOf(name, ib));

  // Chunks hold the same element range of both tensors: sized by the wider dtype.
  const total = common.reduce((s, n) => s + elementCount(ha.tensors.get(n)!.shape), 0);
  let done = 0;
  onProgress?.(0, total);
  const [fa, fb] = await Promise.all([openChecked(a, ha), openChecked(b, hb)]);
  const byGroup = new Map<string, { tensors: number; sa: number; sd: number }>();
  try {
    for (const name of common) {
      checkAborted(signal);
      const ia = ha.tensors.get(name)!;
      const ib = hb.tensors.get(name)!;
      const n = elementCount(ia.shape);
      const sa = DTYPE_SIZE[ia.dtype];
      const sb = DTYPE_SIZE[ib.dtype];
      const per = Math.max(1, Math.floor(chunk / Math.max(sa, sb)));
      let sumA = 0;
      let sumB = 0;
      let sumD = 0;
      let maxD = 0;
      const unsupported = unsupportedDtype(ia.dtype) ?? unsupportedDtype(ib.dtype);
      if (unsupported)
        throw new SafetensorsError(`tensor ${JSON.stringify(name)}: ${unsupported}`, 'DTYPE', name);
      for (let e0 = 0; e0 < n; e0 += per) {
        checkAborted(signal);
        const m = Math.min(per, n - e0);
        const [ba, bb] = await Promise.all([
          readRange(fa, ha.dataStart + ia.dataOffsets[0] + e0 * sa, m * sa, a),
          readRange(fb, hb.dataStart + ib.dataOffsets[0] + e0 * sb, m * sb, b),
        ]);
        const va = asNumbers(ia.dtype, ba);
        const vb = asNumbers(ib.dtype, bb);
        for (let i = 0; i < m; i++) {
          const x = va[i]!;
          const y = vb[i]!;
          const d = y - x;
          sumA += x * x;
          sumB += y * y;
          sumD += d * d;
          const ad = Math.abs(d);
          if (ad > maxD || Number.isNaN(ad)) maxD = ad;
        }
        done += m;
        onProgress?.(done, total);
      }
      const normA = Math.sqrt(sumA);
      const diffNorm = Math.sqrt(sumD);
      const group = groupOf(name).group;
      out.changed.push({
        name,
        group,
        shape: [...ia.shape],
        normA,
        normB: Math.sqrt(sumB),
        diffNorm,
        relative: relativeChange(diffNorm, normA),
        maxAbsDiff: maxD,
      });
      let g = byGroup.get(group);
      if (!g) {
        g = { tensors: 0, sa: 0, sd: 0 };
        byGroup.set(group, g);
      }
      g.tensors++;
      g.sa += sumA;
      g.sd += sumD;
    }
  } finally {
    await Promise.all([fa.close(), fb.close()]);
  }
  out.groups = [...byGroup.entries()]
    .sort(([x], [y]) => compareGroups(x, y))
    .map(([group, g]) => {
      const normA = Math.sqrt(g.sa);
      const diffNorm = Math.sqrt(g.sd);
      return { group, tensors: g.tensors, normA, diffNorm, relative: relativeChange(diffNorm, normA) };
    });
  return out;
}
