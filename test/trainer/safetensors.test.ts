import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import {
  bf16ToNumber,
  DTYPE_SIZE,
  DTYPES,
  type Dtype,
  decodeSafetensors,
  encodeSafetensors,
  f16BitsToF32,
  f16ToNumber,
  MAX_HEADER_BYTES,
  numberToBf16,
  numberToF16,
  parseSafetensorsHeader,
  readSafetensorsHeader,
  readTensor,
  SafetensorsError,
  type SafetensorsErrorCode,
  type TensorData,
  type TensorInput,
  tensorToFloat32,
} from '../../trainer/checkpoint/safetensors';

const FIXTURE_DIR = path.join(__dirname, '..', 'fixtures', 'safetensors');
const SCRIPT = path.join(FIXTURE_DIR, 'make_fixture.py');

// Written independently of the module's own table: which typed array holds each dtype.
const CTOR: Record<Dtype, new (buf: ArrayBuffer) => TensorData> = {
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

function bytesOf(a: TensorData): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** A file image from a header (object or literal JSON text) and data bytes, with the length prefix. */
function rawFile(header: unknown, data: Uint8Array | number = 0, declaredLength?: bigint): Buffer {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(declaredLength ?? BigInt(json.length));
  return Buffer.concat([prefix, json, typeof data === 'number' ? Buffer.alloc(data) : data]);
}

function expectError(fn: () => unknown, code: SafetensorsErrorCode, ...patterns: RegExp[]): SafetensorsError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof SafetensorsError, `expected SafetensorsError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  for (const p of patterns) assert.match(caught.message, p);
  return caught;
}

function findPython(): string | undefined {
  for (const candidate of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(candidate, ['-c', 'import json, math, struct; math.prod'], { encoding: 'utf8' });
    if (r.status === 0) return candidate;
  }
  return undefined;
}

/** JSON-side value written by make_fixture.py to a JS number (non-finite floats come as strings). */
function pyNumber(v: unknown): number {
  if (v === 'NaN') return Number.NaN;
  if (v === 'Infinity') return Number.POSITIVE_INFINITY;
  if (v === '-Infinity') return Number.NEGATIVE_INFINITY;
  assert.equal(typeof v, 'number');
  return v as number;
}

describe('safetensors', () => {
  describe('byte vectors from the reference implementation test suite (safetensors/src/tensor.rs)', () => {
    const f32le = (xs: number[]) => new Uint8Array(new Float32Array(xs).buffer);

    it('test_serialization: one F32 tensor, header already 8-aligned', () => {
      const out = encodeSafetensors({
        'attn.0': { dtype: 'F32', shape: [1, 2, 3], data: f32le([0, 1, 2, 3, 4, 5]) },
      });
      // biome-ignore format: copied verbatim
      const expected = [
        64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100,
        116, 121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34,
        58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102, 115,
        101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63,
        0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
      ];
      assert.deepEqual([...out], expected);
    });

    it('test_serialization_forced_alignement: header padded with spaces', () => {
      const out = encodeSafetensors({
        attn0: { dtype: 'F32', shape: [1, 1, 2, 3], data: f32le([0, 1, 2, 3, 4, 5]) },
      });
      // biome-ignore format: copied verbatim
      const expected = [
        72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116,
        121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58,
        91, 49, 44, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102,
        115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 32, 32, 32, 32, 32,
        32, 32, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0,
        160, 64,
      ];
      assert.deepEqual([...out], expected);
    });

    it('test_empty: no tensors, with and without metadata', () => {
      assert.deepEqual(
        [...encodeSafetensors({})],
        [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32],
      );
      // biome-ignore format: copied verbatim
      const withMeta = [
        40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95,
        95, 34, 58, 123, 34, 102, 114, 97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112,
        116, 34, 125, 125, 32, 32, 32, 32, 32,
      ];
      assert.deepEqual([...encodeSafetensors({}, { framework: 'pt' })], withMeta);
      assert.deepEqual(decodeSafetensors(Buffer.from(withMeta)).metadata, { framework: 'pt' });
    });

    const I32_2x2 = '{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}';

    it('test_deserialization, test_empty_shapes_allowed, test_zero_sized_tensor', () => {
      const a = decodeSafetensors(rawFile(I32_2x2, 16));
      assert.deepEqual(a.tensors.get('test')?.shape, [2, 2]);
      assert.deepEqual([...(a.tensors.get('test')!.data as Int32Array)], [0, 0, 0, 0]);
      const b = decodeSafetensors(rawFile('{"test":{"dtype":"I32","shape":[],"data_offsets":[0,4]}}', 4));
      assert.deepEqual(b.tensors.get('test')?.shape, []);
      assert.equal(b.tensors.get('test')?.data.length, 1);
      const c = decodeSafetensors(rawFile('{"test":{"dtype":"I32","shape":[2,0],"data_offsets":[0, 0]}}'));
      assert.deepEqual(c.tensors.get('test')?.shape, [2, 0]);
      assert.equal(c.tensors.get('test')?.data.length, 0);
    });

    it('test_whitespace_padded_header: any JSON whitespace may pad the header', () => {
      const buf = Buffer.from([6, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d, 0x0d, 0x20, 0x09, 0x0a]);
      assert.equal(decodeSafetensors(buf).tensors.size, 0);
    });

    it('rejections: incomplete buffer, too large, too small, bad length, non-UTF-8, not JSON, invalid info', () => {
      expectError(() => decodeSafetensors(rawFile(I32_2x2, 16 + 34)), 'TRAILING_BYTES', /34 unreferenced/);
      expectError(() => decodeSafetensors(rawFile(I32_2x2, 14)), 'TRUNCATED', /2 bytes missing/);
      const tooLarge = rawFile(I32_2x2, 16);
      tooLarge.set([0xff, 0xff, 0xff], 5);
      expectError(() => decodeSafetensors(tooLarge), 'HEADER_TOO_LARGE');
      expectError(() => decodeSafetensors(Buffer.alloc(0)), 'TOO_SMALL');
      expectError(() => decodeSafetensors(Buffer.from([60, 0, 0, 0, 0, 0, 0, 0])), 'HEADER_LENGTH');
      expectError(
        () => decodeSafetensors(Buffer.from([1, 0, 0, 0, 0, 0, 0, 0, 0xff])),
        'HEADER_INVALID',
        /UTF-8/,
      );
      expectError(
        () => decodeSafetensors(Buffer.from([1, 0, 0, 0, 0, 0, 0, 0, 0x7b])),
        'HEADER_INVALID',
        /JSON/,
      );
      expectError(
        () => decodeSafetensors(rawFile('{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0, 4]}}')),
        'SIZE_MISMATCH',
      );
    });

    it('test_validation_overflow: shapes whose element count overflows', () => {
      for (const dims of ['[2,18446744073709551614]', '[2,9223372036854775807]']) {
        const header = `{"test":{"dtype":"I32","shape":${dims},"data_offsets":[0,16]}}`;
        expectError(() => decodeSafetensors(rawFile(header, 16)), 'SHAPE', /"test"/);
      }
    });

    it('test_json_attack: ten tensors sharing the same bytes', () => {
      const header: Record<string, unknown> = {};
      for (let i = 0; i < 10; i++)
        header[`weight_${i}`] = { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] };
      expectError(() => decodeSafetensors(rawFile(header, 16)), 'OVERLAP', /overlap/, /"weight_\d"/);
    });
  });

  describe('committed fixture written by make_fixture.py (plain struct + json)', () => {
    const file = fs.readFileSync(path.join(FIXTURE_DIR, 'fixture.safetensors'));
    const expected = JSON.parse(fs.readFileSync(path.join(FIXTURE_DIR, 'fixture.expected.json'), 'utf8')) as {
      metadata: Record<string, string>;
      tensors: Record<string, { dtype: Dtype; shape: number[]; values: (number | string | boolean)[] }>;
      f16_rounding: [number | string, number | null][];
    };

    function asInput(dtype: Dtype, values: (number | string | boolean)[]): TensorData {
      switch (dtype) {
        case 'I64':
          return BigInt64Array.from(values, (v) => BigInt(v as string));
        case 'U64':
          return BigUint64Array.from(values, (v) => BigInt(v as string));
        case 'F16':
        case 'BF16':
          // Exercises the float -> half conversion; fixture values are exactly representable.
          return Float32Array.from(values, pyNumber);
        default:
          return (CTOR[dtype] as unknown as { from(v: ArrayLike<number>): TensorData }).from(
            values.map(Number),
          );
      }
    }

    it('decodes every tensor to the values the generator wrote', () => {
      const decoded = decodeSafetensors(file, { halfAsFloat32: true });
      assert.deepEqual(decoded.metadata, expected.metadata);
      assert.deepEqual([...decoded.tensors.keys()].sort(), Object.keys(expected.tensors).sort());
      for (const [name, want] of Object.entries(expected.tensors)) {
        const got = decoded.tensors.get(name)!;
        assert.equal(got.dtype, want.dtype, name);
        assert.deepEqual(got.shape, want.shape, name);
        const values = Array.from(got.data as ArrayLike<number | bigint>).map(String);
        const wantValues = want.values.map((v) => String(typeof v === 'string' ? v : Number(v)));
        assert.deepEqual(values, wantValues, name);
      }
    });

    it('encodeSafetensors reproduces the fixture byte for byte (reference ordering and padding)', () => {
      const tensors: Record<string, TensorInput> = {};
      for (const [name, t] of Object.entries(expected.tensors)) {
        tensors[name] = { dtype: t.dtype, shape: t.shape, data: asInput(t.dtype, t.values) };
      }
      const out = encodeSafetensors(tensors, expected.metadata);
      assert.equal(out.subarray(8).toString('latin1'), file.subarray(8).toString('latin1'));
      assert.ok(out.equals(file));
    });

    it("float -> F16 rounding agrees with Python's struct 'e' (round half to even)", () => {
      assert.ok(expected.f16_rounding.length > 50);
      for (const [input, bits] of expected.f16_rounding) {
        const x = pyNumber(input);
        // struct raises OverflowError where IEEE round-to-nearest gives infinity.
        const want = bits ?? (x < 0 ? 0xfc00 : 0x7c00);
        assert.equal(numberToF16(x).toString(16), want.toString(16), `input ${x}`);
        if (bits !== null && Math.abs(x) <= 65504) {
          const back = f16ToNumber(bits);
          assert.ok(Object.is(back, x) || Math.abs(back - x) <= 2 ** -25 + Math.abs(x) * 2 ** -11, `${x}`);
        }
      }
    });
  });

  describe('half precision', () => {
    it('F16: every finite bit pattern survives decode -> encode; NaN stays NaN', () => {
      const all = new Uint16Array(65536).map((_, i) => i);
      const floats = f16BitsToF32(all);
      for (let h = 0; h < 65536; h++) {
        const x = floats[h]!;
        if (Number.isNaN(x)) assert.ok(Number.isNaN(f16ToNumber(numberToF16(x))));
        else assert.equal(numberToF16(x), h);
      }
      assert.equal(f16ToNumber(0x3c00), 1);
      assert.equal(f16ToNumber(0x7bff), 65504);
      assert.equal(f16ToNumber(0x0001), 2 ** -24);
    });

    it('BF16: hand-computed round-half-to-even cases and round trips', () => {
      assert.equal(numberToBf16(1), 0x3f80);
      assert.equal(numberToBf16(1 + 2 ** -8), 0x3f80); // tie, even stays
      assert.equal(numberToBf16(1 + 3 * 2 ** -8), 0x3f82); // tie, odd rounds up
      assert.equal(numberToBf16(1 + 2 ** -8 + 2 ** -20), 0x3f81);
      assert.equal(numberToBf16(-2), 0xc000);
      assert.equal(numberToBf16(3.4e38), 0x7f80); // rounds past the largest finite bf16
      assert.ok(Number.isNaN(bf16ToNumber(numberToBf16(Number.NaN))));
      for (let h = 0; h < 65536; h += 7) {
        const x = bf16ToNumber(h);
        if (!Number.isNaN(x)) assert.equal(numberToBf16(x), h);
      }
    });

    it('tensorToFloat32 converts half and integer tensors', () => {
      assert.deepEqual(
        [...tensorToFloat32({ dtype: 'F16', data: new Uint16Array([0x3c00, 0xc000]) })],
        [1, -2],
      );
      assert.deepEqual([...tensorToFloat32({ dtype: 'BF16', data: new Uint16Array([0x3fc0]) })], [1.5]);
      assert.deepEqual([...tensorToFloat32({ dtype: 'I64', data: new BigInt64Array([-3n]) })], [-3]);
    });
  });

  describe('round trip', () => {
    const nameArb = fc.string({ unit: 'binary', maxLength: 12 }).filter((s) => s !== '__metadata__');
    const tensorArb = fc
      .record({
        dtype: fc.constantFrom(...DTYPES),
        shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 }),
        raw: fc.boolean(),
      })
      .chain(({ dtype, shape, raw }) => {
        const n = shape.reduce((a, b) => a * b, 1) * DTYPE_SIZE[dtype];
        return fc.uint8Array({ minLength: n, maxLength: n }).map((bytes) => ({ dtype, shape, raw, bytes }));
      });
    const fileArb = fc.record({
      tensors: fc.uniqueArray(fc.tuple(nameArb, tensorArb), { maxLength: 8, selector: ([n]) => n }),
      metadata: fc.option(
        fc.uniqueArray(fc.tuple(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' })), {
          selector: ([k]) => k,
          maxLength: 4,
        }),
        { nil: undefined },
      ),
    });
    type FileSpec = typeof fileArb extends fc.Arbitrary<infer T> ? T : never;

    function encodeSpec(spec: FileSpec): Buffer {
      const tensors = new Map<string, TensorInput>();
      for (const [name, t] of spec.tensors) {
        const data = t.raw ? t.bytes : new CTOR[t.dtype](t.bytes.slice().buffer);
        tensors.set(name, { dtype: t.dtype, shape: t.shape, data });
      }
      return encodeSafetensors(tensors, spec.metadata && Object.fromEntries(spec.metadata));
    }

    it('every dtype, random shapes (0-d and zero-size included), metadata preserved', () => {
      fc.assert(
        fc.property(fileArb, (spec) => {
          const buf = encodeSpec(spec);
          assert.equal((buf.length - 8) % 8 === 0 || spec.tensors.length > 0, true);
          const decoded = decodeSafetensors(buf);
          assert.deepEqual(decoded.metadata, Object.fromEntries(spec.metadata ?? []));
          assert.equal(decoded.tensors.size, spec.tensors.length);
          for (const [name, t] of spec.tensors) {
            const got = decoded.tensors.get(name)!;
            assert.equal(got.dtype, t.dtype);
            assert.deepEqual(got.shape, t.shape);
            assert.ok(got.data instanceof CTOR[t.dtype]);
            assert.ok(bytesOf(got.data).equals(Buffer.from(t.bytes)));
          }
        }),
        { numRuns: 1000 },
      );
    });

    it('covers each dtype including 0-d scalars and zero-size tensors explicitly', () => {
      const tensors: Record<string, TensorInput> = {};
      for (const d of DTYPES) {
        const size = DTYPE_SIZE[d];
        tensors[`${d}_scalar`] = {
          dtype: d,
          shape: [],
          data: Uint8Array.from({ length: size }, (_, i) => i + 1),
        };
        tensors[`${d}_empty`] = { dtype: d, shape: [3, 0], data: new Uint8Array(0) };
      }
      const decoded = decodeSafetensors(encodeSafetensors(tensors, { a: 'b' }));
      for (const d of DTYPES) {
        assert.equal(decoded.tensors.get(`${d}_scalar`)!.data.length, 1);
        assert.deepEqual(
          [...bytesOf(decoded.tensors.get(`${d}_scalar`)!.data)],
          [1, 2, 3, 4, 5, 6, 7, 8].slice(0, DTYPE_SIZE[d]),
        );
        assert.equal(decoded.tensors.get(`${d}_empty`)!.data.length, 0);
      }
    });

    it('returns aligned views by default, copies on request, and handles a misaligned input buffer', () => {
      const buf = encodeSafetensors({
        w: { dtype: 'F64', shape: [2], data: new Float64Array([1.25, -3]) },
        b: { dtype: 'F32', shape: [1], data: new Float32Array([7]) },
      });
      const view = decodeSafetensors(buf).tensors.get('w')!.data;
      assert.equal(view.buffer, buf.buffer);
      const copy = decodeSafetensors(buf, { copy: true }).tensors.get('w')!.data;
      assert.notEqual(copy.buffer, buf.buffer);
      const shifted = new Uint8Array(new ArrayBuffer(buf.length + 1), 1);
      shifted.set(buf);
      const misaligned = decodeSafetensors(shifted);
      assert.deepEqual([...(misaligned.tensors.get('w')!.data as Float64Array)], [1.25, -3]);
      assert.deepEqual([...(misaligned.tensors.get('b')!.data as Float32Array)], [7]);
    });
  });

  describe('malformed files raise SafetensorsError naming the problem', () => {
    const f32x4 = { dtype: 'F32', shape: [4], data_offsets: [0, 16] };

    it('header length prefix', () => {
      expectError(
        () => decodeSafetensors(Buffer.alloc(5)),
        'TOO_SMALL',
        /5 bytes/,
        /shorter than the 8-byte/,
      );
      expectError(
        () => decodeSafetensors(rawFile('{}', 0, 100n)),
        'HEADER_LENGTH',
        /declared header length 100 bytes/,
        /only 2 bytes/,
      );
      expectError(() => decodeSafetensors(rawFile('{}', 0, 2n ** 64n - 1n)), 'HEADER_TOO_LARGE', /100000000/);
      expectError(
        () => decodeSafetensors(rawFile('{}', 0, BigInt(MAX_HEADER_BYTES + 1))),
        'HEADER_TOO_LARGE',
      );
      // Exactly at the limit is allowed by the reference; this file is just too short for it.
      expectError(() => decodeSafetensors(rawFile('{}', 0, BigInt(MAX_HEADER_BYTES))), 'HEADER_LENGTH');
    });

    it('header text', () => {
      expectError(
        () => decodeSafetensors(rawFile(Buffer.from([0xc3, 0x28]).toString('latin1'))),
        'HEADER_INVALID',
      );
      const badUtf8 = Buffer.concat([
        rawFile('{"a"}').subarray(0, 8),
        Buffer.from([0x7b, 0xff, 0xfe, 0x7d, 0x20]),
      ]);
      expectError(() => decodeSafetensors(badUtf8), 'HEADER_INVALID', /UTF-8/);
      expectError(() => decodeSafetensors(rawFile('{"w":')), 'HEADER_INVALID', /not valid JSON/);
      expectError(() => decodeSafetensors(rawFile('[1,2]')), 'HEADER_INVALID', /JSON object, got an array/);
      expectError(() => decodeSafetensors(rawFile('null')), 'HEADER_INVALID', /got null/);
      expectError(() => decodeSafetensors(rawFile('"w"')), 'HEADER_INVALID', /got string/);
      expectError(() => decodeSafetensors(rawFile('{"w":5}')), 'HEADER_INVALID', /"w"/);
      expectError(() => decodeSafetensors(rawFile('{"\\ud800":5}')), 'HEADER_INVALID', /surrogate/);
      // V8 parses nesting far deeper than JSON.stringify (used for messages) can print.
      const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
      expectError(() => decodeSafetensors(rawFile(deep)), 'HEADER_INVALID');
      const w = (field: string) =>
        `{"w":{"dtype":"F32","shape":[0],"data_offsets":[0,0],"${field}":${deep}}}`;
      expectError(() => decodeSafetensors(rawFile(w('shape'))), 'SHAPE', /deeply nested/);
      expectError(() => decodeSafetensors(rawFile(w('dtype'))), 'DTYPE', /deeply nested/);
      expectError(() => decodeSafetensors(rawFile(w('data_offsets'))), 'OFFSETS', /deeply nested/);
    });

    it('__metadata__', () => {
      expectError(
        () => decodeSafetensors(rawFile({ __metadata__: { epoch: 3 } })),
        'METADATA',
        /"epoch"/,
        /must be a string, got number/,
      );
      expectError(() => decodeSafetensors(rawFile({ __metadata__: ['a'] })), 'METADATA');
      expectError(() => decodeSafetensors(rawFile({ __metadata__: 'x' })), 'METADATA');
      assert.deepEqual(decodeSafetensors(rawFile({ __metadata__: null })).metadata, {});
      const proto = decodeSafetensors(rawFile('{"__metadata__":{"__proto__":"x"}}')).metadata;
      assert.equal(Object.getPrototypeOf(proto), Object.prototype);
      assert.equal(Object.getOwnPropertyDescriptor(proto, '__proto__')?.value, 'x');
    });

    it('dtype', () => {
      const e = expectError(
        () => decodeSafetensors(rawFile({ w: { ...f32x4, dtype: 'F17' } }, 16)),
        'DTYPE',
        /"w"/,
        /unknown dtype "F17"/,
        /F32/,
      );
      assert.equal(e.tensor, 'w');
      expectError(() => decodeSafetensors(rawFile({ w: { ...f32x4, dtype: 4 } }, 16)), 'DTYPE', /"w"/);
      expectError(() => decodeSafetensors(rawFile({ w: { ...f32x4, dtype: 'toString' } }, 16)), 'DTYPE');
      expectError(
        () => decodeSafetensors(rawFile({ w: { shape: [4], data_offsets: [0, 16] } }, 16)),
        'DTYPE',
      );
    });

    it('shape', () => {
      for (const shape of ['4', [-1], [1.5], ['4'], [2 ** 53], null, [[4]]]) {
        expectError(
          () => decodeSafetensors(rawFile({ w: { ...f32x4, shape } }, 16)),
          'SHAPE',
          /"w"/,
          /non-negative integers/,
        );
      }
    });

    it('data_offsets', () => {
      for (const offsets of [[0], [16, 0], [-1, 15], '0,16', [0, 1.5], [0, 16, 32], null, [0, 2 ** 53]]) {
        expectError(
          () => decodeSafetensors(rawFile({ w: { ...f32x4, data_offsets: offsets } }, 16)),
          'OFFSETS',
          /"w"/,
          /data_offsets/,
        );
      }
    });

    it('byte length disagrees with shape * dtype size', () => {
      expectError(
        () => decodeSafetensors(rawFile({ w: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 20] } }, 20)),
        'SIZE_MISMATCH',
        /"w"/,
        /needs 24 bytes/,
        /cover 20/,
      );
      // 2^40 * 2^40 * 4 is not representable exactly as a double; it must not be mistaken for a match.
      expectError(
        () =>
          decodeSafetensors(
            rawFile({ w: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 16] } }, 16),
          ),
        'SIZE_MISMATCH',
        /more than 2\^53/,
      );
    });

    it('truncated data says how many bytes are missing', () => {
      const good = encodeSafetensors({
        a: { dtype: 'F32', shape: [4], data: new Float32Array(4) },
        z: { dtype: 'U8', shape: [10], data: new Uint8Array(10) },
      });
      expectError(
        () => decodeSafetensors(good.subarray(0, good.length - 7)),
        'TRUNCATED',
        /truncated/,
        /"z"/,
        /7 bytes missing/,
      );
      // A header promising far more than the file holds must not trigger a large allocation.
      expectError(
        () =>
          decodeSafetensors(
            rawFile({ w: { dtype: 'F64', shape: [2 ** 50], data_offsets: [0, 2 ** 53 - 8] } }),
          ),
        'SIZE_MISMATCH',
      );
      expectError(
        () =>
          decodeSafetensors(rawFile({ w: { dtype: 'U8', shape: [2 ** 50], data_offsets: [0, 2 ** 50] } })),
        'TRUNCATED',
        /1125899906842624 bytes missing/,
      );
    });

    it('overlapping tensors', () => {
      const header = {
        a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
        b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
      };
      expectError(
        () => decodeSafetensors(rawFile(header, 12)),
        'OVERLAP',
        /overlap/,
        /"a" \[0,8\)/,
        /"b" \[4,12\)/,
      );
      const zeroInside = {
        a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
        e: { dtype: 'F32', shape: [0], data_offsets: [4, 4] },
      };
      expectError(() => decodeSafetensors(rawFile(zeroInside, 8)), 'OVERLAP', /"e"/);
    });

    it('gaps and unreferenced bytes', () => {
      const header = {
        a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
        b: { dtype: 'F32', shape: [2], data_offsets: [12, 20] },
      };
      expectError(() => decodeSafetensors(rawFile(header, 20)), 'GAP', /\[8,12\)/, /"b"/, /contiguous/);
      expectError(
        () => decodeSafetensors(rawFile({ b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12)),
        'GAP',
        /\[0,4\)/,
      );
      expectError(() => decodeSafetensors(rawFile({ a: header.a }, 11)), 'TRAILING_BYTES', /3 unreferenced/);
      // Offsets may appear in any order in the header; only coverage matters.
      const reversed = `{"b":${JSON.stringify({ ...header.b, data_offsets: [8, 16] })},"a":${JSON.stringify(header.a)}}`;
      assert.deepEqual([...decodeSafetensors(rawFile(reversed, 16)).tensors.keys()], ['a', 'b']);
    });

    it('parseSafetensorsHeader works from a header-only prefix and the file size', () => {
      const buf = encodeSafetensors({ w: { dtype: 'F32', shape: [3], data: new Float32Array([1, 2, 3]) } });
      const header = parseSafetensorsHeader(buf);
      const prefixOnly = parseSafetensorsHeader(buf.subarray(0, header.dataStart), buf.length);
      assert.deepEqual(prefixOnly, header);
      assert.deepEqual(header.tensors.get('w'), { dtype: 'F32', shape: [3], dataOffsets: [0, 12] });
      expectError(
        () => parseSafetensorsHeader(buf.subarray(0, header.dataStart), buf.length - 1),
        'TRUNCATED',
      );
      expectError(
        () => parseSafetensorsHeader(buf.subarray(0, 12), buf.length),
        'HEADER_LENGTH',
        /first 8 \+ N/,
      );
    });
  });

  describe('encoder input validation', () => {
    it('rejects inconsistent tensors with the tensor name in the message', () => {
      expectError(
        () => encodeSafetensors({ w: { dtype: 'F32', shape: [3], data: new Float32Array(2) } }),
        'ENCODE',
        /"w"/,
        /needs 3 elements, got 2/,
      );
      expectError(
        () => encodeSafetensors({ w: { dtype: 'F32', shape: [2], data: new Float64Array(2) } }),
        'ENCODE',
        /expects Float32Array/,
      );
      expectError(
        () => encodeSafetensors({ w: { dtype: 'F32', shape: [2], data: new Uint8Array(7) } }),
        'ENCODE',
        /needs 8 bytes/,
      );
      expectError(
        () => encodeSafetensors({ w: { dtype: 'X' as Dtype, shape: [1], data: new Uint8Array(1) } }),
        'ENCODE',
        /unknown dtype/,
      );
      expectError(
        () => encodeSafetensors({ w: { dtype: 'U8', shape: [-1], data: new Uint8Array(0) } }),
        'ENCODE',
        /shape/,
      );
      expectError(
        () => encodeSafetensors({ __metadata__: { dtype: 'U8', shape: [0], data: new Uint8Array(0) } }),
        'ENCODE',
        /reserved/,
      );
      expectError(() => encodeSafetensors({}, { epoch: 3 as unknown as string }), 'ENCODE', /"epoch"/);
    });
  });

  describe('robustness (fast-check): malformed input only ever raises SafetensorsError', () => {
    const validFileArb = fc
      .uniqueArray(
        fc.record({
          name: fc.string({ maxLength: 6 }),
          dtype: fc.constantFrom(...DTYPES),
          shape: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }),
        }),
        { maxLength: 5, selector: (t) => t.name },
      )
      .map((ts) => {
        const tensors: Record<string, TensorInput> = {};
        for (const t of ts.filter((x) => x.name !== '__metadata__')) {
          const n = t.shape.reduce((a, b) => a * b, 1) * DTYPE_SIZE[t.dtype];
          tensors[t.name] = {
            dtype: t.dtype,
            shape: t.shape,
            data: Uint8Array.from({ length: n }, (_, i) => i),
          };
        }
        return encodeSafetensors(tensors, { k: 'v' });
      });

    function decodeOrSafetensorsError(buf: Uint8Array): void {
      let decoded: ReturnType<typeof decodeSafetensors>;
      try {
        decoded = decodeSafetensors(buf);
      } catch (e) {
        if (e instanceof SafetensorsError) return;
        throw e;
      }
      // Anything accepted must be internally consistent.
      for (const t of decoded.tensors.values()) {
        const n = t.shape.reduce((a, b) => a * b, 1);
        assert.equal(t.data.length, n);
        assert.equal(t.data.byteLength, n * DTYPE_SIZE[t.dtype]);
      }
    }

    function headerEnd(buf: Buffer): number {
      return 8 + Number(buf.readBigUInt64LE(0));
    }

    it('random valid files round-trip through decode -> encode unchanged', () => {
      fc.assert(
        fc.property(validFileArb, (buf) => {
          const d = decodeSafetensors(buf);
          assert.ok(encodeSafetensors(d.tensors, d.metadata).equals(buf));
        }),
        { numRuns: 500 },
      );
    });

    it('random byte mutations (biased towards the header)', () => {
      fc.assert(
        fc.property(
          validFileArb,
          fc.array(fc.tuple(fc.boolean(), fc.nat(), fc.integer({ min: 0, max: 255 })), {
            minLength: 1,
            maxLength: 4,
          }),
          (buf, edits) => {
            const out = Buffer.from(buf);
            for (const [inHeader, pos, byte] of edits) {
              const limit = inHeader ? Math.min(headerEnd(buf), out.length) : out.length;
              out[pos % limit] = byte;
            }
            decodeOrSafetensorsError(out);
          },
        ),
        { numRuns: 2000 },
      );
    });

    it('truncations and extensions', () => {
      fc.assert(
        fc.property(validFileArb, fc.nat(), fc.uint8Array({ maxLength: 16 }), (buf, cut, extra) => {
          decodeOrSafetensorsError(buf.subarray(0, cut % (buf.length + 1)));
          decodeOrSafetensorsError(Buffer.concat([buf, extra]));
        }),
        { numRuns: 1000 },
      );
    });

    it('random header JSON and random field values in otherwise valid files', () => {
      const wild = fc.oneof(
        fc.jsonValue({ maxDepth: 2 }),
        fc.constantFrom(-1, 0.5, 2 ** 53, 2 ** 64, 1e308, -0, Number.MAX_SAFE_INTEGER, '', 'F32', []),
      );
      const headerArb = fc.oneof(
        fc.jsonValue({ maxDepth: 3 }),
        fc.dictionary(
          fc.oneof(fc.string({ maxLength: 4 }), fc.constant('__metadata__')),
          fc.oneof(
            wild,
            fc.record(
              {
                dtype: fc.oneof(fc.constantFrom(...DTYPES), wild),
                shape: fc.oneof(fc.array(fc.oneof(fc.nat(5), wild), { maxLength: 3 }), wild),
                data_offsets: fc.oneof(
                  fc.tuple(fc.nat(64), fc.nat(64)),
                  fc.array(wild, { maxLength: 3 }),
                  wild,
                ),
              },
              { requiredKeys: [] },
            ),
          ),
          { maxKeys: 4 },
        ),
      );
      fc.assert(
        fc.property(headerArb, fc.nat(64), (header, dataLen) => {
          decodeOrSafetensorsError(rawFile(JSON.stringify(header) ?? 'undefined', dataLen));
        }),
        { numRuns: 2000 },
      );
      fc.assert(
        fc.property(
          validFileArb,
          fc.nat(),
          fc.constantFrom('dtype', 'shape', 'data_offsets'),
          wild,
          (buf, i, f, v) => {
            const header = JSON.parse(buf.subarray(8, headerEnd(buf)).toString('utf8')) as Record<
              string,
              unknown
            >;
            const names = Object.keys(header).filter((k) => k !== '__metadata__');
            if (names.length === 0) return;
            (header[names[i % names.length]!] as Record<string, unknown>)[f] = v;
            decodeOrSafetensorsError(rawFile(header, buf.subarray(headerEnd(buf))));
          },
        ),
        { numRuns: 1000 },
      );
    });
  });

  describe('file access', () => {
    let dir: string;
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'safetensors-test-'));
    });
    after(() => {
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('readSafetensorsHeader + readTensor read single tensors from disk', async () => {
      const file = path.join(dir, 'a.safetensors');
      const buf = encodeSafetensors(
        {
          w: { dtype: 'F16', shape: [2], data: new Float32Array([0.5, -4]) },
          b: { dtype: 'I64', shape: [1], data: new BigInt64Array([-(2n ** 62n)]) },
        },
        { step: '7' },
      );
      fs.writeFileSync(file, buf);
      const header = await readSafetensorsHeader(file);
      assert.deepEqual(header, parseSafetensorsHeader(buf));
      assert.deepEqual(header.metadata, { step: '7' });
      const w = await readTensor(file, header, 'w', { halfAsFloat32: true });
      assert.deepEqual([...(w.data as Float32Array)], [0.5, -4]);
      const b = await readTensor(file, header, 'b');
      assert.deepEqual([...(b.data as BigInt64Array)], [-(2n ** 62n)]);
      await assert.rejects(readTensor(file, header, 'nope'), (e: unknown) => {
        return (
          e instanceof SafetensorsError &&
          e.code === 'NOT_FOUND' &&
          /"nope"/.test(e.message) &&
          /"w"/.test(e.message)
        );
      });
      fs.truncateSync(file, buf.length - 1);
      await assert.rejects(readTensor(file, header, 'w'), (e: unknown) => {
        return e instanceof SafetensorsError && e.code === 'FILE_CHANGED';
      });
      await assert.rejects(readSafetensorsHeader(file), (e: unknown) => {
        return e instanceof SafetensorsError && e.code === 'TRUNCATED' && e.message.startsWith(`${file}: `);
      });
    });

    it('handles a (sparse) 5 GB file without reading the big tensor', async function () {
      const file = path.join(dir, 'big.safetensors');
      const big = 5 * 2 ** 30; // above both 2^32 and the largest Buffer, so reading it all would fail
      const header = {
        a_small: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
        big: { dtype: 'U8', shape: [big], data_offsets: [8, 8 + big] },
        z_tail: { dtype: 'U8', shape: [3], data_offsets: [8 + big, 11 + big] },
      };
      const head = rawFile(header, new Uint8Array(new Float32Array([3.5, -1]).buffer));
      try {
        fs.writeFileSync(file, head);
        fs.truncateSync(file, head.length + big + 3);
        const fd = fs.openSync(file, 'r+');
        fs.writeSync(fd, Buffer.from([9, 8, 7]), 0, 3, head.length + big);
        fs.closeSync(fd);
      } catch {
        this.skip(); // filesystem without sparse-file support, or a quota
      }
      const h = await readSafetensorsHeader(file);
      assert.equal(h.fileSize, head.length + big + 3);
      assert.deepEqual([...((await readTensor(file, h, 'a_small')).data as Float32Array)], [3.5, -1]);
      assert.deepEqual([...((await readTensor(file, h, 'z_tail')).data as Uint8Array)], [9, 8, 7]);
      fs.rmSync(file);
    });
  });

  describe('cross-check with the independent Python reader (make_fixture.py parse)', () => {
    const python = findPython();
    let dir: string;
    before(function () {
      if (!python) {
        console.log('      (python3 not found: skipping the Python cross-check)');
        this.skip();
      }
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'safetensors-py-'));
    });
    after(() => {
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('Python decodes files written by encodeSafetensors to the same values', () => {
      // Deterministic pseudo-random bytes (xorshift) so a failure reproduces.
      let s = 0x9e3779b9;
      const rand = () => {
        s ^= s << 13;
        s ^= s >>> 17;
        s ^= s << 5;
        return s >>> 0;
      };
      const tensors: Record<string, TensorInput> = {};
      const shapes: number[][] = [[], [0], [5], [2, 3], [1, 2, 2]];
      for (const d of DTYPES) {
        shapes.forEach((shape, i) => {
          const n = shape.reduce((a, b) => a * b, 1) * DTYPE_SIZE[d];
          const bytes = Uint8Array.from({ length: n }, () => rand() & 0xff);
          if (d === 'BOOL') for (let j = 0; j < n; j++) bytes[j]! &= 1;
          tensors[`${d.toLowerCase()}.${i}`] = { dtype: d, shape, data: bytes };
        });
      }
      tensors['ünï ✓'] = { dtype: 'F64', shape: [3], data: new Float64Array([-0, Number.NaN, -Infinity]) };
      const metadata = { format: 'pt', clé: 'välue "quoted"\n' };
      const file = path.join(dir, 'ts.safetensors');
      const buf = encodeSafetensors(tensors, metadata);
      fs.writeFileSync(file, buf);

      const r = spawnSync(python!, [SCRIPT, 'parse', file], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const parsed = JSON.parse(r.stdout) as {
        metadata: Record<string, string>;
        header_order: string[];
        tensors: Record<string, { dtype: Dtype; shape: number[]; data_offsets: number[]; values: unknown[] }>;
      };
      assert.deepEqual(parsed.metadata, metadata);
      // The header lists tensors in data order, as the reference writer does.
      const byOffset = Object.keys(parsed.tensors).sort(
        (a, b) => parsed.tensors[a]!.data_offsets[0]! - parsed.tensors[b]!.data_offsets[0]!,
      );
      assert.deepEqual(
        parsed.header_order.filter(
          (n) => parsed.tensors[n]!.data_offsets[1]! > parsed.tensors[n]!.data_offsets[0]!,
        ),
        byOffset.filter((n) => parsed.tensors[n]!.data_offsets[1]! > parsed.tensors[n]!.data_offsets[0]!),
      );
      const ours = decodeSafetensors(buf);
      assert.deepEqual(Object.keys(parsed.tensors).sort(), [...ours.tensors.keys()].sort());
      for (const [name, t] of ours.tensors) {
        const py = parsed.tensors[name]!;
        assert.equal(py.dtype, t.dtype, name);
        assert.deepEqual(py.shape, t.shape, name);
        let mine: unknown[];
        if (t.dtype === 'F16') mine = [...f16BitsToF32(t.data as Uint16Array)];
        else if (t.dtype === 'BF16') mine = [...tensorToFloat32(t)];
        else mine = Array.from(t.data as ArrayLike<number | bigint>);
        assert.equal(py.values.length, mine.length, name);
        py.values.forEach((v, i) => {
          const m = mine[i];
          if (typeof m === 'bigint') assert.equal(v, m.toString(), `${name}[${i}]`);
          else assert.ok(Object.is(pyNumber(v), m), `${name}[${i}]: python ${v}, ours ${m}`);
        });
      }
    });

    it('Python rejects what we reject (gap, trailing bytes) and accepts the committed fixture', () => {
      const cases: Buffer[] = [
        rawFile({ a: { dtype: 'U8', shape: [1], data_offsets: [1, 2] } }, 2),
        rawFile({ a: { dtype: 'U8', shape: [1], data_offsets: [0, 1] } }, 2),
      ];
      cases.forEach((buf, i) => {
        assert.throws(() => decodeSafetensors(buf), SafetensorsError);
        const file = path.join(dir, `bad${i}.safetensors`);
        fs.writeFileSync(file, buf);
        const r = spawnSync(python!, [SCRIPT, 'parse', file], { encoding: 'utf8' });
        assert.equal(r.status, 1, `python accepted case ${i}: ${r.stdout}`);
      });
      const ok = spawnSync(python!, [SCRIPT, 'parse', path.join(FIXTURE_DIR, 'fixture.safetensors')]);
      assert.equal(ok.status, 0);
    });
  });
});
