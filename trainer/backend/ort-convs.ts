/**
 * Convolution kernels for the tfjs 'wasm' backend computed by ONNX Runtime's native CPU kernels
 * (MLAS: AVX2/AVX-512 with FMA, its own thread pool), through the optional onnxruntime-node package.
 *
 * Why: wasm SIMD is 128 bits wide without fused multiply-add, so XNNPACK's convolutions run at a
 * fraction of what the same CPU does natively, and convolutions (forward and both gradients) are
 * over 90% of a conv net's training step. Everything else (BatchNorm, activations, the loss, the
 * optimiser, tensor storage) stays on wasm: the kernels read their inputs from the wasm heap and
 * ONNX Runtime writes each result straight into a wasm tensor, so nothing is copied.
 *
 * The package's public API runs sessions asynchronously (a Promise resolved on the next turn), but
 * TensorFlow.js kernels must return synchronously; its native binding is synchronous, so it is used
 * directly (`dist/binding.js`). That is internal to the package, hence the exact version pin in
 * package.json and the tests that run every kernel against the wasm kernels and tfjs's cpu backend.
 *
 * Data ONNX's kernels are not given here (NCHW layout, other dtypes) falls back to the kernel that
 * was registered before.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { callDisplacedKernel } from './displaced-kernels';
import { encodeModel, type OnnxGraph } from './onnx-model';
import {
  type ConvGeometry,
  filterGradGraph,
  forwardGraph,
  geometryKey,
  inputGradGraph,
  unsupportedReason,
} from './ort-conv-graphs';

const BACKEND = 'wasm';
export const ORT_PACKAGE = 'onnxruntime-node';

/** The parts of onnxruntime-node's synchronous binding used here. */
interface OrtTensor {
  readonly data: unknown;
}
interface OrtTensorConstructor {
  new (type: 'float32', data: Float32Array, dims: readonly number[]): OrtTensor;
}
interface BindingSession {
  loadModel(buffer: ArrayBuffer, byteOffset: number, byteLength: number, options: object): void;
  run(
    feeds: Record<string, OrtTensor>,
    fetches: Record<string, OrtTensor | null>,
    options: object,
  ): Record<string, OrtTensor>;
  dispose(): void;
}
interface OrtRuntime {
  version: string;
  Tensor: OrtTensorConstructor;
  newSession(): BindingSession;
}

let runtime: OrtRuntime | undefined;
let threads = Math.max(1, os.cpus().length);

function lazyRequire(): NodeJS.Require {
  const from = typeof __filename === 'string' ? __filename : path.join(process.cwd(), 'index.js');
  return createRequire(from);
}

/**
 * Loads onnxruntime-node (once) or throws an Error that says why. Its main entry is required first:
 * it registers the native binding's tensor type, which the binding needs before it runs anything.
 */
export function loadOrt(): OrtRuntime {
  if (runtime !== undefined) return runtime;
  const req = lazyRequire();
  let main: string;
  try {
    main = req.resolve(ORT_PACKAGE);
  } catch {
    throw new Error(`${ORT_PACKAGE} not installed (npm install ${ORT_PACKAGE})`);
  }
  const bindingFile = path.join(path.dirname(main), 'binding.js');
  if (!existsSync(bindingFile))
    throw new Error(`${ORT_PACKAGE}: ${bindingFile} missing (unsupported version?)`);
  const ort = req(ORT_PACKAGE) as { Tensor: OrtTensorConstructor };
  const b = req(bindingFile) as {
    binding: { InferenceSession: new () => BindingSession };
    initOrt: () => void;
  };
  b.initOrt();
  let version = 'unknown';
  try {
    version = (req(`${ORT_PACKAGE}/package.json`) as { version: string }).version;
  } catch {
    // an exports map that hides package.json: the version is only informational
  }
  runtime = { version, Tensor: ort.Tensor, newSession: () => new b.binding.InferenceSession() };
  return runtime;
}

/** Threads of ONNX Runtime's pool for sessions created from now on (part of the session key). */
export function setOrtThreads(n: number): void {
  threads = Math.max(1, Math.floor(n));
}

const sessions = new Map<string, BindingSession>();

function session(kind: string, g: ConvGeometry, build: (g: ConvGeometry) => OnnxGraph): BindingSession {
  const key = `${kind}:${geometryKey(g)}:${threads}`;
  let s = sessions.get(key);
  if (s === undefined) {
    const rt = loadOrt();
    const bytes = encodeModel(build(g));
    s = rt.newSession();
    s.loadModel(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      // Each session's arena would keep its own peak for good; chunked runs keep glibc's heap warm.
      enableCpuMemArena: false,
      // Idle pool threads must sleep, not spin: the wasm threads run the next op on the same cores.
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
    sessions.set(key, s);
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Kernels

type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
type RoundingMode = 'floor' | 'round' | 'ceil' | undefined;
type Pair = [number, number];
interface ConvAttrs {
  strides: number | Pair;
  pad: Pad;
  dataFormat?: string;
  dilations?: number | Pair;
  dimRoundingMode?: RoundingMode;
}
interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: tf.KernelBackend;
  attrs?: tf.NamedAttrMap;
}

/** The wasm backend's heap access (public methods of its BackendWasm class). */
interface WasmHeap {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
}

function geometry(
  xShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  attrs: ConvAttrs,
): ConvGeometry {
  const info = tf.backend_util.computeConv2DInfo(
    xShape,
    filterShape,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  const p = info.padInfo;
  // tfjs's ceil/round output rounding lets the last window run past the input; its cpu kernel
  // reads zeros there. The same is extra bottom/right padding under ONNX's floor rule.
  const pastEnd = (out: number, k: number, s: number, d: number, size: number, before: number) =>
    (out - 1) * s + (k - 1) * d + 1 - size - before;
  const bottom = Math.max(
    p.bottom,
    pastEnd(info.outHeight, info.filterHeight, info.strideHeight, info.dilationHeight, info.inHeight, p.top),
  );
  const right = Math.max(
    p.right,
    pastEnd(info.outWidth, info.filterWidth, info.strideWidth, info.dilationWidth, info.inWidth, p.left),
  );
  return {
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    outChannels: info.outChannels,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    dilationHeight: info.dilationHeight,
    dilationWidth: info.dilationWidth,
    pad: { top: p.top, bottom, left: p.left, right },
  };
}

function float32Input(inputs: tf.NamedTensorInfoMap, name: string): tf.TensorInfo {
  const t = inputs[name];
  if (t === undefined) throw new Error(`onnxruntime conv kernel: missing input '${name}'`);
  return t;
}

/** Fallback kernels (what was registered before), by kernel name. */
const fallbacks = new Map<string, tf.KernelConfig>();

function fallback(name: string, args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const k = fallbacks.get(name);
  if (k === undefined) throw new Error(`onnxruntime conv kernel ${name}: no fallback kernel`);
  return callDisplacedKernel(k, args);
}

/** Counts of kernel calls served by ONNX Runtime and by the fallback (for tests and logs). */
export const ortKernelCalls = { ort: 0, fallback: 0 };

/** Whether ONNX Runtime can serve this call; a gradient's dy must also have the forward's output size. */
function supported(attrs: ConvAttrs, g: ConvGeometry, inputs: tf.TensorInfo[], dy?: tf.TensorInfo): boolean {
  if (attrs.dataFormat != null && attrs.dataFormat !== 'NHWC') return false;
  if (inputs.some((t) => t.dtype !== 'float32')) return false;
  if (dy !== undefined && (dy.shape[1] !== g.outHeight || dy.shape[2] !== g.outWidth)) return false;
  return unsupportedReason(g) === null;
}

/**
 * Bytes of the largest per-run intermediate (a re-layout of the activations, the filter gradient's
 * cols matrix) that a chunk of the batch may need. Small enough that glibc's malloc serves these
 * buffers from its heap and reuses them: larger ones are mapped fresh from the kernel on every run,
 * and faulting in those pages cost more than the convolution itself (measured 2-5x slower).
 */
let chunkBytes = 8 * 1024 * 1024;

/** Sets the per-run intermediate budget (tests use a tiny one so that every kernel splits). */
export function setOrtChunkBytes(bytes: number): void {
  chunkBytes = Math.max(1, Math.floor(bytes));
}

/** Images per run so that `bytesPerImage` times the chunk stays within the chunk budget. */
function chunkImages(n: number, bytesPerImage: number): number {
  return Math.max(1, Math.min(n, Math.floor(chunkBytes / Math.max(1, bytesPerImage))));
}

interface Operand {
  name: string;
  data: Float32Array;
  dims: readonly number[];
  /** Split along the batch (first) axis with the run, or passed whole. */
  batched: boolean;
  output?: boolean;
}

/**
 * Runs `s` over the batch a chunk at a time, on views of the operands (no copies). Unbatched
 * operands go whole to every run; `intermediatePerImage` is a graph buffer larger than any operand.
 */
function runChunked(s: BindingSession, n: number, operands: Operand[], intermediatePerImage = 0): void {
  if (n === 0) return;
  const { Tensor } = loadOrt();
  const perImage = Math.max(
    intermediatePerImage,
    ...operands.filter((o) => o.batched).map((o) => (o.data.length / n) * 4),
  );
  const chunk = chunkImages(n, perImage);
  for (let start = 0; start < n; start += chunk) {
    const len = Math.min(chunk, n - start);
    const feeds: Record<string, OrtTensor> = {};
    const fetches: Record<string, OrtTensor> = {};
    for (const o of operands) {
      let t: OrtTensor;
      if (o.batched) {
        const stride = o.data.length / n;
        t = new Tensor('float32', o.data.subarray(start * stride, (start + len) * stride), [
          len,
          ...o.dims.slice(1),
        ]);
      } else {
        t = new Tensor('float32', o.data, o.dims);
      }
      (o.output ? fetches : feeds)[o.name] = t;
    }
    s.run(feeds, fetches, {});
  }
}

function conv2D(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const attrs = (args.attrs ?? {}) as unknown as ConvAttrs;
  const x = float32Input(args.inputs, 'x');
  const filter = float32Input(args.inputs, 'filter');
  const g = geometry(
    x.shape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    attrs,
  );
  if (!supported(attrs, g, [x, filter])) {
    ortKernelCalls.fallback++;
    return fallback(tf.Conv2D, args);
  }
  const n = x.shape[0];
  const s = session('forward', g, forwardGraph);
  const heap = args.backend as unknown as WasmHeap;
  const out = heap.makeOutput([n, g.outHeight, g.outWidth, g.outChannels], 'float32');
  // Views are taken after makeOutput: an allocation can grow (and so replace) the wasm heap.
  runChunked(s, n, [
    { name: 'x', data: heap.typedArrayFromHeap(x), dims: x.shape, batched: true },
    { name: 'w', data: heap.typedArrayFromHeap(filter), dims: filter.shape, batched: false },
    { name: 'y', data: heap.typedArrayFromHeap(out), dims: out.shape, batched: true, output: true },
  ]);
  ortKernelCalls.ort++;
  return out;
}

function conv2DBackpropInput(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const attrs = (args.attrs ?? {}) as unknown as ConvAttrs & { inputShape: [number, number, number, number] };
  const dy = float32Input(args.inputs, 'dy');
  const filter = float32Input(args.inputs, 'filter');
  const g = geometry(attrs.inputShape, filter.shape as [number, number, number, number], attrs);
  if (!supported(attrs, g, [dy, filter], dy)) {
    ortKernelCalls.fallback++;
    return fallback(tf.Conv2DBackpropInput, args);
  }
  const s = session('input-grad', g, inputGradGraph);
  const heap = args.backend as unknown as WasmHeap;
  const out = heap.makeOutput([...attrs.inputShape], 'float32');
  runChunked(s, attrs.inputShape[0], [
    { name: 'dy', data: heap.typedArrayFromHeap(dy), dims: dy.shape, batched: true },
    { name: 'w', data: heap.typedArrayFromHeap(filter), dims: filter.shape, batched: false },
    { name: 'dx', data: heap.typedArrayFromHeap(out), dims: out.shape, batched: true, output: true },
  ]);
  ortKernelCalls.ort++;
  return out;
}

function conv2DBackpropFilter(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const attrs = (args.attrs ?? {}) as unknown as ConvAttrs & {
    filterShape: [number, number, number, number];
  };
  const x = float32Input(args.inputs, 'x');
  const dy = float32Input(args.inputs, 'dy');
  const g = geometry(x.shape as [number, number, number, number], attrs.filterShape, attrs);
  if (!supported(attrs, g, [x, dy], dy)) {
    ortKernelCalls.fallback++;
    return fallback(tf.Conv2DBackpropFilter, args);
  }
  const s = session('filter-grad', g, filterGradGraph);
  const heap = args.backend as unknown as WasmHeap;
  const out = heap.makeOutput([...attrs.filterShape], 'float32');
  const rows = g.filterHeight * g.filterWidth * g.inChannels;
  const dims = [rows, g.outChannels];
  const dw = heap.typedArrayFromHeap(out);
  dw.fill(0);
  // The result accumulates in place over the chunks: Gemm copies C (acc) into its output first,
  // here the same buffer. The cols matrix, kh*kw times a chunk of x, sets the chunk size.
  runChunked(
    s,
    x.shape[0],
    [
      { name: 'x', data: heap.typedArrayFromHeap(x), dims: x.shape, batched: true },
      { name: 'dy', data: heap.typedArrayFromHeap(dy), dims: dy.shape, batched: true },
      { name: 'acc', data: dw, dims, batched: false },
      { name: 'dw', data: dw, dims, batched: false, output: true },
    ],
    g.outHeight * g.outWidth * rows * 4,
  );
  ortKernelCalls.ort++;
  return out;
}

const KERNELS: tf.KernelConfig[] = [
  { kernelName: tf.Conv2D, backendName: BACKEND, kernelFunc: conv2D as tf.KernelFunc },
  {
    kernelName: tf.Conv2DBackpropInput,
    backendName: BACKEND,
    kernelFunc: conv2DBackpropInput as tf.KernelFunc,
  },
  {
    kernelName: tf.Conv2DBackpropFilter,
    backendName: BACKEND,
    kernelFunc: conv2DBackpropFilter as tf.KernelFunc,
  },
];

const isOurs = (k: tf.KernelConfig) => tf.getKernel(k.kernelName, BACKEND)?.kernelFunc === k.kernelFunc;

/**
 * Routes the wasm backend's convolutions through ONNX Runtime (loading it first; throws when it
 * cannot load). Register the wasm training kernels before this: they become the fallbacks.
 */
export function registerOrtConvKernels(): void {
  loadOrt();
  for (const k of KERNELS) {
    if (isOurs(k)) continue;
    const existing = tf.getKernel(k.kernelName, BACKEND);
    if (existing === undefined)
      throw new Error(`onnxruntime conv kernels: no wasm ${k.kernelName} to fall back to`);
    fallbacks.set(k.kernelName, existing);
    tf.unregisterKernel(k.kernelName, BACKEND);
    tf.registerKernel(k);
  }
}

/** Puts the previous (wasm) kernels back. */
export function unregisterOrtConvKernels(): void {
  for (const k of KERNELS) {
    if (!isOurs(k)) continue;
    const prev = fallbacks.get(k.kernelName);
    tf.unregisterKernel(k.kernelName, BACKEND);
    if (prev !== undefined) {
      tf.registerKernel(prev);
      // Setup again: harmless, and needed when the backend started with this module's kernel.
      const backend = tf.findBackend(BACKEND);
      if (backend !== null) prev.setupFunc?.(backend);
    }
  }
}

export function ortConvKernelsRegistered(): boolean {
  return KERNELS.every(isOurs);
}
