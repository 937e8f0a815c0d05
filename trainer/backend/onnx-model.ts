/**
 * Writes small ONNX models (protobuf wire format) for ONNX Runtime to run: the convolution kernels
 * in ort-convs.ts build one graph per layer geometry at run time. Only the parts of ModelProto those
 * graphs use are written: nodes with int / int-list attributes, float32 inputs and outputs (fixed or
 * symbolic dimensions) and int64 constants. A full protobuf library and the ONNX schema would add a
 * dependency and a code generator for about sixty lines; the tests load every graph written here
 * into the real ONNX Runtime and check its numbers.
 *
 * Field numbers are those of onnx/onnx.proto (IR version 8).
 */

export type Dim = number | string;

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  /** A number is an INT attribute, an array an INTS attribute. */
  attrs?: Record<string, number | number[]>;
}

export interface OnnxValue {
  name: string;
  dims: Dim[];
}

export interface OnnxGraph {
  nodes: OnnxNode[];
  inputs: OnnxValue[];
  outputs: OnnxValue[];
  /** Named int64 constants (shapes, pads, slice bounds), stored as initializers. */
  int64?: Record<string, number[]>;
}

const IR_VERSION = 8;
export const OPSET = 17;
const ELEM_FLOAT = 1;
const ELEM_INT64 = 7;
const ATTR_INT = 2;
const ATTR_INTS = 7;

/** Growable byte buffer with the few protobuf encodings needed. */
class Writer {
  private bytes: number[] = [];

  varint(value: number | bigint): this {
    let v = BigInt(value);
    if (v < 0n) v += 1n << 64n; // two's complement, as protobuf encodes negative int64
    while (v >= 0x80n) {
      this.bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.bytes.push(Number(v));
    return this;
  }

  int(field: number, value: number): this {
    return this.varint((field << 3) | 0).varint(value);
  }

  raw(field: number, data: Uint8Array | number[]): this {
    this.varint((field << 3) | 2).varint(data.length);
    for (const b of data) this.bytes.push(b);
    return this;
  }

  str(field: number, s: string): this {
    return this.raw(field, new TextEncoder().encode(s));
  }

  msg(field: number, build: (w: Writer) => void): this {
    const inner = new Writer();
    build(inner);
    return this.raw(field, inner.bytes);
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

function writeAttr(w: Writer, name: string, value: number | number[]): void {
  w.str(1, name);
  if (Array.isArray(value)) {
    for (const v of value) w.int(8, v);
    w.int(20, ATTR_INTS);
  } else {
    w.int(3, value).int(20, ATTR_INT);
  }
}

function writeValueInfo(w: Writer, v: OnnxValue): void {
  w.str(1, v.name);
  w.msg(2, (type) =>
    type.msg(1, (tensor) => {
      tensor.int(1, ELEM_FLOAT);
      tensor.msg(2, (shape) => {
        for (const d of v.dims)
          shape.msg(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.str(2, d)));
      });
    }),
  );
}

function writeInt64Tensor(w: Writer, name: string, values: number[]): void {
  const raw = new DataView(new ArrayBuffer(values.length * 8));
  for (let i = 0; i < values.length; i++) raw.setBigInt64(i * 8, BigInt(values[i]), true);
  w.int(1, values.length).int(2, ELEM_INT64).str(8, name).raw(9, new Uint8Array(raw.buffer));
}

/** Serialises `graph` as an ONNX ModelProto (default domain, opset 17). */
export function encodeModel(graph: OnnxGraph): Uint8Array {
  const w = new Writer();
  w.int(1, IR_VERSION);
  w.str(2, 'contrastive-lab');
  w.msg(8, (opset) => opset.str(1, '').int(2, OPSET));
  w.msg(7, (g) => {
    for (const n of graph.nodes)
      g.msg(1, (node) => {
        for (const i of n.inputs) node.str(1, i);
        for (const o of n.outputs) node.str(2, o);
        node.str(4, n.op);
        for (const [name, value] of Object.entries(n.attrs ?? {}))
          node.msg(5, (a) => writeAttr(a, name, value));
      });
    g.str(2, 'graph');
    for (const [name, values] of Object.entries(graph.int64 ?? {}))
      g.msg(5, (t) => writeInt64Tensor(t, name, values));
    for (const v of graph.inputs) g.msg(11, (vi) => writeValueInfo(vi, v));
    for (const v of graph.outputs) g.msg(12, (vi) => writeValueInfo(vi, v));
  });
  return w.finish();
}
