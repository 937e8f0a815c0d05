/**
 * The safetensors checkpoint format (https://github.com/huggingface/safetensors).
 *
 * Layout: an 8-byte little-endian u64 `N`, then `N` bytes of UTF-8 JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}`, then the
 * data buffer; offsets are relative to the start of that buffer and data is little-endian, C order.
 *
 * Everything above the "File access" section is pure (bytes in, values out) so it can be tested and
 * fuzzed without a disk. Validation mirrors the reference Rust implementation: a file it would reject
 * is rejected here too, so checkpoints written or accepted by this trainer load in PyTorch and back.
 */

import { open } from 'node:fs/promises';

export type Dtype =
  | 'BOOL'
  | 'U8'
  | 'I8'
  | 'F8_E5M2'
  | 'F8_E4M3'
  | 'I16'
  | 'U16'
  | 'F16'
  | 'BF16'
  | 'I32'
  | 'U32'
  | 'F32'
  | 'F64'
  | 'I64'
  | 'U64';

/**
 * Supported dtypes in the reference implementation's enum order (increasing alignment). The writer
 * sorts by this order, descending, so that every tensor starts at a multiple of its element size and
 * can be viewed without copying.
 */
export const DTYPES: readonly Dtype[] = [
  'BOOL',
  'U8',
  'I8',
  'F8_E5M2',
  'F8_E4M3',
  'I16',
  'U16',
  'F16',
  'BF16',
  'I32',
  'U32',
  'F32',
  'F64',
  'I64',
  'U64',
];

export const DTYPE_SIZE: Readonly<Record<Dtype, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

export type TensorData =
  | Float64Array
  | Float32Array
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array;

type ArrayCtor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => TensorData;

/**
 * The typed array that holds each dtype's elements. F16/BF16 have no native JS type, so they are kept
 * as raw bit patterns (see `f16BitsToF32` / `bf16BitsToF32`); BOOL and FP8 are raw bytes.
 */
const ARRAY_CTOR: Readonly<Record<Dtype, ArrayCtor>> = {
  BOOL: Uint8Array,
  U8: Uint8Array,
  I8: Int8Array,
  F8_E5M2: Uint8Array,
  F8_E4M3: Uint8Array,
  I16: Int16Array,
  U16: Uint16Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  I32: Int32Array,
  U32: Uint32Array,
  F32: Float32Array,
  F64: Float64Array,
  I64: BigInt64Array,
  U64: BigUint64Array,
};

/** The reference implementation refuses headers above this size; so do we, before allocating. */
export const MAX_HEADER_BYTES = 100_000_000;

export type SafetensorsErrorCode =
  | 'TOO_SMALL'
  | 'HEADER_TOO_LARGE'
  | 'HEADER_LENGTH'
  | 'HEADER_INVALID'
  | 'METADATA'
  | 'DTYPE'
  | 'SHAPE'
  | 'OFFSETS'
  | 'SIZE_MISMATCH'
  | 'TRUNCATED'
  | 'OVERLAP'
  | 'GAP'
  | 'TRAILING_BYTES'
  | 'NOT_FOUND'
  | 'FILE_CHANGED'
  | 'ENCODE';

/** Every rejection of a file or of encoder input; nothing else escapes the parser. */
export class SafetensorsError extends Error {
  override readonly name = 'SafetensorsError';
  constructor(
    message: string,
    readonly code: SafetensorsErrorCode,
    /** The offending tensor, when the problem is specific to one. */
    readonly tensor?: string,
  ) {
    super(message);
  }
}

export interface TensorInfo {
  dtype: Dtype;
  shape: number[];
  /** `[begin, end)` byte range relative to the start of the data buffer. */
  dataOffsets: [number, number];
}

export interface SafetensorsHeader {
  /** `N`: byte length of the JSON header (padding included). */
  headerLength: number;
  /** Absolute file offset of the data buffer (`8 + N`). */
  dataStart: number;
  dataLength: number;
  /** Total file size the header was validated against. */
  fileSize: number;
  /** `{}` when the file has no `__metadata__`. */
  metadata: Record<string, string>;
  /** In data-buffer order. */
  tensors: Map<string, TensorInfo>;
}

export interface TensorInput {
  dtype: Dtype;
  shape: readonly number[];
  /**
   * Elements in the dtype's own typed array (see `DTYPES`; I64/U64 take BigInt64Array/BigUint64Array,
   * F16/BF16 take Uint16Array bit patterns), or raw little-endian bytes as a Uint8Array for any dtype.
   * F16/BF16 also accept Float32Array/Float64Array, rounded to nearest-even (via float32).
   */
  data: TensorData;
}

export interface DecodedTensor {
  dtype: Dtype;
  shape: number[];
  data: TensorData;
}

export interface DecodedSafetensors {
  metadata: Record<string, string>;
  tensors: Map<string, DecodedTensor>;
}

export interface DecodeOptions {
  /**
   * Always copy tensor data. Without it, aligned tensors are views into the input buffer (zero-copy)
   * and mutate with it.
   */
  copy?: boolean;
  /** Return F16/BF16 tensors as Float32Array instead of raw Uint16Array bit patterns. */
  halfAsFloat32?: boolean;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** Such strings have no UTF-8 form: they would be written as U+FFFD and not read back as given. */
const LONE_SURROGATE = /\p{Cs}/u;

function isDtype(x: unknown): x is Dtype {
  return typeof x === 'string' && Object.hasOwn(DTYPE_SIZE, x);
}

/** A short rendering of an arbitrary header value for error messages. */
function preview(x: unknown): string {
  try {
    const s = JSON.stringify(x);
    if (s === undefined) return 'nothing';
    return s.length > 100 ? `${s.slice(0, 97)}...` : s;
  } catch {
    // JSON.parse accepts nesting deeper than JSON.stringify can recurse into.
    return Array.isArray(x) ? '(a deeply nested array)' : `(a deeply nested ${typeof x})`;
  }
}

function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** Shown in messages instead of arbitrarily long (possibly hostile) header strings. */
function quote(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 77)}...` : s);
}

/**
 * Byte size of a tensor, or -1 above 2^53. Stopping there keeps the arithmetic exact: a hostile
 * shape like [2^40, 2^40] would otherwise round in floating point and could spuriously match its
 * offsets.
 */
function byteSize(shape: readonly number[], elemSize: number): number {
  if (shape.some((d) => d === 0)) return 0;
  let n = elemSize;
  for (const d of shape) {
    n *= d;
    if (n > Number.MAX_SAFE_INTEGER) return -1;
  }
  return n;
}

function swapBytesInPlace(bytes: Uint8Array, size: number): void {
  for (let i = 0; i + size <= bytes.length; i += size) bytes.subarray(i, i + size).reverse();
}

/** UTF-8 byte order, which is how the reference (Rust `String: Ord`) sorts names. */
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

// ---------------------------------------------------------------------------------------------
// Half-precision conversions
// ---------------------------------------------------------------------------------------------

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE binary16 bit pattern to number (exact). */
export function f16ToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/**
 * Number to IEEE binary16 bits, rounding to nearest-even after rounding to float32 first (what
 * `torch.tensor(x, dtype=float32).half()` does). Overflow gives ±Inf; NaN stays a quiet NaN.
 */
export function numberToF16(x: number): number {
  f32Scratch[0] = x;
  const bits = u32Scratch[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 112; // rebias 127 -> 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal result: the full 24-bit significand shifted down to units of 2^-24.
    const shift = 14 - e;
    if (shift > 24) return sign;
    const m = mant | 0x800000;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (and 65520+ becomes Inf).
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

/** bfloat16 bits to number (exact: bf16 is the top half of a float32). */
export function bf16ToNumber(h: number): number {
  u32Scratch[0] = (h & 0xffff) << 16;
  return f32Scratch[0]!;
}

/** Number to bfloat16 bits, via float32, rounding to nearest-even; NaN stays a quiet NaN. */
export function numberToBf16(x: number): number {
  f32Scratch[0] = x;
  const bits = u32Scratch[0]!;
  if ((bits & 0x7f800000) === 0x7f800000 && bits & 0x7fffff) return (bits >>> 16) | 0x40;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

export function f16BitsToF32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = f16ToNumber(bits[i]!);
  return out;
}

export function bf16BitsToF32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) outBits[i] = bits[i]! << 16;
  return out;
}

export function f32ToF16Bits(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = numberToF16(values[i]!);
  return out;
}

export function f32ToBf16Bits(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = numberToBf16(values[i]!);
  return out;
}

/**
 * Any numeric tensor as float32 (F16/BF16 decoded, integers converted, 64-bit integers possibly
 * losing precision), for code that only computes in float32. An F32 tensor's own array is returned
 * as is, not copied.
 */
export function tensorToFloat32(t: { dtype: Dtype; data: TensorData }): Float32Array {
  if (t.data instanceof Float32Array) return t.data;
  if (t.dtype === 'F16' && t.data instanceof Uint16Array) return f16BitsToF32(t.data);
  if (t.dtype === 'BF16' && t.data instanceof Uint16Array) return bf16BitsToF32(t.data);
  if (t.dtype === 'F8_E4M3' || t.dtype === 'F8_E5M2') {
    throw new SafetensorsError(`conversion of ${t.dtype} to float32 is not supported`, 'DTYPE');
  }
  const out = new Float32Array(t.data.length);
  for (let i = 0; i < t.data.length; i++) out[i] = Number(t.data[i]!);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

function encodeError(name: string, message: string): SafetensorsError {
  return new SafetensorsError(`cannot encode tensor ${quote(name)}: ${message}`, 'ENCODE', name);
}

function tensorBytes(name: string, t: TensorInput): Uint8Array {
  if (!isDtype(t.dtype)) {
    throw encodeError(name, `unknown dtype ${preview(t.dtype)}; supported: ${DTYPES.join(' ')}`);
  }
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw encodeError(name, `shape must be an array of non-negative integers, got ${preview(t.shape)}`);
  }
  const size = DTYPE_SIZE[t.dtype];
  const data = t.data;
  const expectedBytes = byteSize(t.shape, size);
  const expectedCount = expectedBytes < 0 ? -1 : expectedBytes / size;
  const Ctor = ARRAY_CTOR[t.dtype];

  if (data instanceof Uint8Array) {
    if (data.byteLength !== expectedBytes) {
      throw encodeError(
        name,
        `shape ${fmtShape(t.shape)} of ${t.dtype} needs ${expectedBytes < 0 ? 'more' : expectedBytes} bytes, ` +
          `got a Uint8Array of ${data.byteLength}`,
      );
    }
    return data;
  }
  if (
    (t.dtype === 'F16' || t.dtype === 'BF16') &&
    (data instanceof Float32Array || data instanceof Float64Array)
  ) {
    if (data.length !== expectedCount) {
      throw encodeError(
        name,
        `shape ${fmtShape(t.shape)} needs ${expectedCount} elements, got ${data.length}`,
      );
    }
    return tensorBytes(name, {
      dtype: t.dtype,
      shape: t.shape,
      data: t.dtype === 'F16' ? f32ToF16Bits(data) : f32ToBf16Bits(data),
    });
  }
  if (!(data instanceof Ctor)) {
    throw encodeError(
      name,
      `dtype ${t.dtype} expects ${Ctor.name} (or raw bytes as Uint8Array), got ${data.constructor.name}`,
    );
  }
  if (data.length !== expectedCount) {
    throw encodeError(
      name,
      `shape ${fmtShape(t.shape)} needs ${expectedCount < 0 ? 'more' : expectedCount} elements, got ${data.length}`,
    );
  }
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (LITTLE_ENDIAN || size === 1) return bytes;
  const swapped = new Uint8Array(bytes);
  swapBytesInPlace(swapped, size);
  return swapped;
}

/**
 * Serialises tensors into a safetensors file image. Layout matches the reference writer byte for
 * byte: tensors sorted by dtype alignment (descending) then name, header padded with spaces to a
 * multiple of 8, `__metadata__` first and omitted when `metadata` is undefined. Metadata keys are
 * sorted (the reference uses a hash map, so any order is valid; sorting makes output reproducible).
 */
export function encodeSafetensors(
  tensors: Readonly<Record<string, TensorInput>> | ReadonlyMap<string, TensorInput>,
  metadata?: Readonly<Record<string, string>>,
): Buffer {
  const entries: [string, TensorInput][] =
    tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors as Record<string, TensorInput>);
  const prepared = entries.map(([name, t]) => {
    if (name === '__metadata__') throw encodeError(name, 'the name "__metadata__" is reserved by the format');
    if (LONE_SURROGATE.test(name)) throw encodeError(name, 'the name is not valid Unicode (lone surrogate)');
    const bytes = tensorBytes(name, t);
    return { name, dtype: t.dtype, shape: [...t.shape], bytes };
  });
  const rank = (d: Dtype) => DTYPES.indexOf(d);
  prepared.sort((a, b) => rank(b.dtype) - rank(a.dtype) || compareUtf8(a.name, b.name));

  const parts: string[] = [];
  if (metadata !== undefined) {
    const keys = Object.keys(metadata).sort(compareUtf8);
    const items = keys.map((k) => {
      const v = metadata[k];
      if (typeof v !== 'string' || LONE_SURROGATE.test(k) || LONE_SURROGATE.test(v)) {
        throw new SafetensorsError(
          `cannot encode metadata ${quote(k)}: keys and values must be well-formed strings, got ${typeof v}`,
          'ENCODE',
        );
      }
      return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
    });
    parts.push(`"__metadata__":{${items.join(',')}}`);
  }
  let offset = 0;
  for (const p of prepared) {
    const end = offset + p.bytes.byteLength;
    // Built by hand, not JSON.stringify(object): JS objects move integer-like keys ("0", "12") first,
    // which would break the reference's ordering.
    parts.push(
      `${JSON.stringify(p.name)}:{"dtype":"${p.dtype}","shape":${fmtShape(p.shape)},"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }
  const json = utf8Encoder.encode(`{${parts.join(',')}}`);
  const headerLength = Math.ceil(json.byteLength / 8) * 8;
  if (headerLength > MAX_HEADER_BYTES) {
    throw new SafetensorsError(
      `header would be ${headerLength} bytes, over the ${MAX_HEADER_BYTES}-byte limit readers enforce`,
      'ENCODE',
    );
  }
  const out = Buffer.alloc(8 + headerLength + offset, 0x20);
  out.writeBigUInt64LE(BigInt(headerLength), 0);
  out.set(json, 8);
  let pos = 8 + headerLength;
  for (const p of prepared) {
    out.set(p.bytes, pos);
    pos += p.bytes.byteLength;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/**
 * Validates the 8-byte prefix against the file size and returns `N`, so a reader knows how many more
 * bytes to fetch before calling `parseSafetensorsHeader`.
 */
export function parseHeaderLength(prefix: Uint8Array, fileSize: number = prefix.byteLength): number {
  if (fileSize < 8 || prefix.byteLength < 8) {
    throw new SafetensorsError(
      `file is ${fileSize} bytes, shorter than the 8-byte header-length prefix: ` +
        'not a safetensors file, or truncated',
      'TOO_SMALL',
    );
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(
      `declared header length ${n} bytes exceeds the ${MAX_HEADER_BYTES}-byte limit: ` +
        'the file is corrupt or not a safetensors file',
      'HEADER_TOO_LARGE',
    );
  }
  const headerLength = Number(n);
  if (8 + headerLength > fileSize) {
    throw new SafetensorsError(
      `declared header length ${headerLength} bytes but only ${fileSize - 8} bytes follow the prefix: ` +
        'the file is truncated or not a safetensors file',
      'HEADER_LENGTH',
    );
  }
  return headerLength;
}

function asNonNegativeInt(x: unknown): number | undefined {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0 ? x : undefined;
}

/**
 * Parses and fully validates the header. `bytes` may be the whole file or just its first `8 + N`
 * bytes, with `fileSize` the size of the whole file (the data length is checked against it).
 */
export function parseSafetensorsHeader(
  bytes: Uint8Array,
  fileSize: number = bytes.byteLength,
): SafetensorsHeader {
  const headerLength = parseHeaderLength(bytes, fileSize);
  const dataStart = 8 + headerLength;
  if (bytes.byteLength < dataStart) {
    throw new SafetensorsError(
      `only ${bytes.byteLength} bytes were given but the header spans bytes [0,${dataStart}); ` +
        'pass at least the first 8 + N bytes of the file',
      'HEADER_LENGTH',
    );
  }
  const dataLength = fileSize - dataStart;

  let text: string;
  try {
    text = utf8Decoder.decode(bytes.subarray(8, dataStart));
  } catch {
    throw new SafetensorsError('header is not valid UTF-8: the file is corrupt', 'HEADER_INVALID');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    // Also catches a RangeError from pathologically deep nesting.
    const detail = e instanceof Error ? e.message : String(e);
    throw new SafetensorsError(`header is not valid JSON (${detail.slice(0, 200)})`, 'HEADER_INVALID');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new SafetensorsError(
      `header must be a JSON object, got ${raw === null ? 'null' : Array.isArray(raw) ? 'an array' : typeof raw}`,
      'HEADER_INVALID',
    );
  }

  const metaEntries: [string, string][] = [];
  const infos: [string, TensorInfo][] = [];
  for (const [name, value] of Object.entries(raw)) {
    if (name === '__metadata__') {
      if (value === null) continue; // the reference reads `null` as "no metadata"
      if (typeof value !== 'object' || Array.isArray(value)) {
        throw new SafetensorsError('"__metadata__" must be an object of string values', 'METADATA');
      }
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== 'string') {
          throw new SafetensorsError(
            `"__metadata__" value for key ${quote(k)} must be a string, got ${v === null ? 'null' : typeof v}`,
            'METADATA',
          );
        }
        if (LONE_SURROGATE.test(k) || LONE_SURROGATE.test(v)) {
          throw new SafetensorsError(
            `"__metadata__" entry ${quote(k)} contains an unpaired \\u surrogate escape, which is not valid Unicode`,
            'METADATA',
          );
        }
        metaEntries.push([k, v]);
      }
      continue;
    }
    if (LONE_SURROGATE.test(name)) {
      throw new SafetensorsError(
        `tensor name ${quote(name)} contains an unpaired \\u surrogate escape, which is not valid Unicode`,
        'HEADER_INVALID',
        name,
      );
    }
    infos.push([name, parseTensorInfo(name, value)]);
  }

  const ordered = checkCoverage(infos, dataLength);
  return {
    headerLength,
    dataStart,
    dataLength,
    fileSize,
    // fromEntries defines own properties, so a hostile "__proto__" key cannot replace the prototype.
    metadata: Object.fromEntries(metaEntries),
    tensors: new Map(ordered),
  };
}

function parseTensorInfo(name: string, value: unknown): TensorInfo {
  const t = quote(name);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SafetensorsError(
      `tensor ${t}: entry must be an object {dtype, shape, data_offsets}`,
      'HEADER_INVALID',
      name,
    );
  }
  const v = value as Record<string, unknown>;
  const dtype = v.dtype;
  if (!isDtype(dtype)) {
    const shown = typeof dtype === 'string' ? quote(dtype) : preview(dtype);
    throw new SafetensorsError(
      `tensor ${t}: unknown dtype ${shown}; supported dtypes: ${DTYPES.join(' ')}`,
      'DTYPE',
      name,
    );
  }
  const shapeRaw = v.shape;
  if (!Array.isArray(shapeRaw) || !shapeRaw.every((d) => asNonNegativeInt(d) !== undefined)) {
    throw new SafetensorsError(
      `tensor ${t}: shape must be an array of non-negative integers (each below 2^53), got ` +
        preview(shapeRaw),
      'SHAPE',
      name,
    );
  }
  const shape = shapeRaw as number[];
  const off = v.data_offsets;
  const begin = Array.isArray(off) && off.length === 2 ? asNonNegativeInt(off[0]) : undefined;
  const end = Array.isArray(off) && off.length === 2 ? asNonNegativeInt(off[1]) : undefined;
  if (begin === undefined || end === undefined || begin > end) {
    throw new SafetensorsError(
      `tensor ${t}: data_offsets must be [begin, end], integers with 0 <= begin <= end < 2^53, got ` +
        preview(off),
      'OFFSETS',
      name,
    );
  }
  const span = end - begin;
  const needed = byteSize(shape, DTYPE_SIZE[dtype]);
  if (needed !== span) {
    throw new SafetensorsError(
      `tensor ${t}: shape ${fmtShape(shape)} of ${dtype} needs ` +
        `${needed < 0 ? 'more than 2^53' : needed} bytes but data_offsets [${begin},${end}] cover ${span}`,
      'SIZE_MISMATCH',
      name,
    );
  }
  return { dtype, shape, dataOffsets: [begin, end] };
}

/**
 * The reference requires the tensors to tile the data buffer exactly: no overlap (aliasing would let
 * one write clobber another tensor), no gap and no trailing bytes (hidden payloads).
 */
function checkCoverage(infos: readonly [string, TensorInfo][], dataLength: number): [string, TensorInfo][] {
  const sorted = [...infos].sort(
    ([, a], [, b]) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1],
  );
  let expected = 0;
  let prevName: string | undefined;
  let prevRange: [number, number] | undefined;
  for (const [name, info] of sorted) {
    const [begin, end] = info.dataOffsets;
    if (begin < expected) {
      throw new SafetensorsError(
        `tensors ${quote(prevName!)} [${prevRange![0]},${prevRange![1]}) and ${quote(name)} [${begin},${end}) ` +
          'overlap in the data buffer',
        'OVERLAP',
        name,
      );
    }
    if (begin > expected) {
      throw new SafetensorsError(
        `bytes [${expected},${begin}) of the data buffer, before tensor ${quote(name)}, belong to no tensor: ` +
          'safetensors requires tensors to cover the data buffer contiguously, with no gaps',
        'GAP',
        name,
      );
    }
    expected = end;
    prevName = name;
    prevRange = info.dataOffsets;
  }
  if (expected > dataLength) {
    throw new SafetensorsError(
      `file truncated: tensor ${quote(prevName!)} ends at byte ${expected} of the data buffer but only ` +
        `${dataLength} data bytes are present (${expected - dataLength} bytes missing)`,
      'TRUNCATED',
      prevName,
    );
  }
  if (expected < dataLength) {
    throw new SafetensorsError(
      `${dataLength - expected} unreferenced trailing bytes after the last tensor (data buffer is ` +
        `${dataLength} bytes, tensors end at ${expected}): safetensors requires tensors to cover the ` +
        'data buffer exactly',
      'TRAILING_BYTES',
    );
  }
  return sorted;
}

/** Interprets one tensor's bytes (exactly `end - begin` of them) as its typed array. */
export function decodeTensorBytes(
  info: TensorInfo,
  bytes: Uint8Array,
  options: DecodeOptions = {},
): DecodedTensor {
  const { dtype } = info;
  const size = DTYPE_SIZE[dtype];
  const span = info.dataOffsets[1] - info.dataOffsets[0];
  if (bytes.byteLength !== span) {
    throw new SafetensorsError(
      `tensor data is ${bytes.byteLength} bytes but data_offsets span ${span}`,
      'SIZE_MISMATCH',
    );
  }
  const Ctor = ARRAY_CTOR[dtype];
  const count = span / size;
  let data: TensorData;
  if (LITTLE_ENDIAN && !options.copy && bytes.byteOffset % size === 0) {
    data = new Ctor(bytes.buffer, bytes.byteOffset, count);
  } else {
    // A fresh, offset-0 (hence aligned) copy. Not bytes.slice(): on a Buffer that is a view.
    const owned = new Uint8Array(bytes);
    if (!LITTLE_ENDIAN) swapBytesInPlace(owned, size);
    data = new Ctor(owned.buffer, 0, count);
  }
  if (options.halfAsFloat32 && data instanceof Uint16Array) {
    if (dtype === 'F16') data = f16BitsToF32(data);
    else if (dtype === 'BF16') data = bf16BitsToF32(data);
  }
  return { dtype, shape: [...info.shape], data };
}

/** Parses a complete in-memory file. */
export function decodeSafetensors(buf: Uint8Array, options: DecodeOptions = {}): DecodedSafetensors {
  const header = parseSafetensorsHeader(buf, buf.byteLength);
  const tensors = new Map<string, DecodedTensor>();
  for (const [name, info] of header.tensors) {
    const [begin, end] = info.dataOffsets;
    const bytes = buf.subarray(header.dataStart + begin, header.dataStart + end);
    tensors.set(name, decodeTensorBytes(info, bytes, options));
  }
  return { metadata: header.metadata, tensors };
}

// ---------------------------------------------------------------------------------------------
// File access: reads only what is asked for, so multi-gigabyte checkpoints need not fit in memory.
// ---------------------------------------------------------------------------------------------

type ReadableHandle = Awaited<ReturnType<typeof open>>;

async function readExactly(
  fh: ReadableHandle,
  position: number,
  length: number,
  path: string,
): Promise<Buffer> {
  const out = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(out, done, length - done, position + done);
    if (bytesRead === 0) {
      throw new SafetensorsError(
        `${path}: file truncated while reading (${length - done} of ${length} bytes at offset ${position} missing)`,
        'TRUNCATED',
      );
    }
    done += bytesRead;
  }
  return out;
}

function withPath(e: unknown, path: string): unknown {
  if (e instanceof SafetensorsError && !e.message.startsWith(`${path}: `)) {
    return new SafetensorsError(`${path}: ${e.message}`, e.code, e.tensor);
  }
  return e;
}

/** Reads and validates only the header of a file (at most 8 + 100 MB, checked before allocating). */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const prefix = await readExactly(fh, 0, Math.min(8, size), path);
    const headerLength = parseHeaderLength(prefix, size);
    const bytes = Buffer.concat([prefix, await readExactly(fh, 8, headerLength, path)]);
    return parseSafetensorsHeader(bytes, size);
  } catch (e) {
    throw withPath(e, path);
  } finally {
    await fh.close();
  }
}

/** Reads one tensor's bytes from disk, using a header from `readSafetensorsHeader` on the same file. */
export async function readTensor(
  path: string,
  header: SafetensorsHeader,
  name: string,
  options: Omit<DecodeOptions, 'copy'> = {},
): Promise<DecodedTensor> {
  const info = header.tensors.get(name);
  if (info === undefined) {
    const names = [...header.tensors.keys()];
    const shown = names.slice(0, 20).map(quote).join(', ') + (names.length > 20 ? ', ...' : '');
    throw new SafetensorsError(
      `${path}: no tensor named ${quote(name)}; the file has ${names.length}: ${shown}`,
      'NOT_FOUND',
      name,
    );
  }
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    if (size !== header.fileSize) {
      throw new SafetensorsError(
        `${path}: file is now ${size} bytes but was ${header.fileSize} when its header was read; ` +
          're-read the header',
        'FILE_CHANGED',
        name,
      );
    }
    const [begin, end] = info.dataOffsets;
    const bytes = await readExactly(fh, header.dataStart + begin, end - begin, path);
    return decodeTensorBytes(info, bytes, options);
  } catch (e) {
    throw withPath(e, path);
  } finally {
    await fh.close();
  }
}
