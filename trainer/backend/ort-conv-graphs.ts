/**
 * ONNX graphs for the three convolution kernels of a training step, in TensorFlow.js's layouts
 * (activations NHWC, filters [kh, kw, in, out]) so that ONNX Runtime reads and writes the wasm
 * heap's tensors in place. Pure: geometry in, graph out; ort-convs.ts runs them.
 *
 * - forward: Transpose to NCHW, Conv, Transpose back. ONNX Runtime's optimiser turns this into its
 *   blocked-layout (NCHWc) direct convolution and folds the transposes into the re-layouts.
 *   Strided 1x1 layers (ResNet's shortcuts) instead run as a GEMM on a strided slice, in NHWC.
 * - input gradient: for stride-1 layers with enough input channels, a forward Conv of dy with the
 *   spatially flipped filter (in/out swapped) padded by k-1-p, which ONNX Runtime runs faster than
 *   its ConvTranspose; for strided 1x1 layers a GEMM scattered back to the pixels they read;
 *   otherwise ConvTranspose with the forward weights, strides and pads (exactly the adjoint of the
 *   forward conv, with no zero-inserted input for strided layers).
 * - filter gradient: one GEMM, dW = cols(x)^T · dy, where cols(x) stacks the kh*kw shifted,
 *   strided views of the padded input along channels (im2col in NHWC). A chunk of the batch at a
 *   time, accumulated through Gemm's C input, bounds the cols buffer.
 */
import type { OnnxGraph } from './onnx-model';

/** The convolution as TensorFlow.js describes it (backend_util.computeConv2DInfo, channelsLast). */
export interface ConvGeometry {
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  outChannels: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  dilationHeight: number;
  dilationWidth: number;
  pad: { top: number; bottom: number; left: number; right: number };
}

/** Everything a graph depends on, as one cache key (the batch size is a symbolic dimension). */
export function geometryKey(g: ConvGeometry): string {
  return [
    g.inHeight,
    g.inWidth,
    g.inChannels,
    g.outHeight,
    g.outWidth,
    g.outChannels,
    g.filterHeight,
    g.filterWidth,
    g.strideHeight,
    g.strideWidth,
    g.dilationHeight,
    g.dilationWidth,
    g.pad.top,
    g.pad.bottom,
    g.pad.left,
    g.pad.right,
  ].join(',');
}

/** Output size ONNX's Conv computes for one axis (floor rounding, explicit pads). */
function onnxOutSize(inSize: number, k: number, stride: number, dilation: number, p0: number, p1: number) {
  return Math.floor((inSize + p0 + p1 - ((k - 1) * dilation + 1)) / stride) + 1;
}

/**
 * Why ONNX's conv cannot express this geometry exactly, or null when it can. TensorFlow's output
 * size can differ from ONNX's floor rule only with an explicit ceil/round rounding mode; such
 * layers stay on the wasm kernels.
 */
export function unsupportedReason(g: ConvGeometry): string | null {
  const { pad } = g;
  if (Math.min(pad.top, pad.bottom, pad.left, pad.right) < 0) return 'negative padding';
  const oh = onnxOutSize(g.inHeight, g.filterHeight, g.strideHeight, g.dilationHeight, pad.top, pad.bottom);
  const ow = onnxOutSize(g.inWidth, g.filterWidth, g.strideWidth, g.dilationWidth, pad.left, pad.right);
  if (oh !== g.outHeight || ow !== g.outWidth)
    return `output ${g.outHeight}x${g.outWidth} is not ONNX's ${oh}x${ow} for these pads`;
  return null;
}

const TO_NCHW = [0, 3, 1, 2];
const TO_NHWC = [0, 2, 3, 1];
/** [kh, kw, in, out] -> [out, in, kh, kw], ONNX's Conv weight layout. */
const FILTER_TO_OIHW = [3, 2, 0, 1];

function convAttrs(g: ConvGeometry): Record<string, number[]> {
  return {
    kernel_shape: [g.filterHeight, g.filterWidth],
    strides: [g.strideHeight, g.strideWidth],
    dilations: [g.dilationHeight, g.dilationWidth],
    pads: [g.pad.top, g.pad.left, g.pad.bottom, g.pad.right],
  };
}

const filterDims = (g: ConvGeometry) => [g.filterHeight, g.filterWidth, g.inChannels, g.outChannels];
const inputDims = (g: ConvGeometry) => ['n', g.inHeight, g.inWidth, g.inChannels];
const outputDims = (g: ConvGeometry) => ['n', g.outHeight, g.outWidth, g.outChannels];

/**
 * A strided 1x1 conv without padding (ResNet's shortcuts): it reads every s-th pixel, so it is a
 * GEMM on a strided slice of x, and its input gradient a GEMM scattered back to those pixels, both
 * in TensorFlow's layouts. ONNX Runtime's Conv and ConvTranspose between Transposes took 2-3x as
 * long at batch 256 (32x32x64 -> 128: forward 36 -> 20 ms). A 3x3 stem as a K = 27 GEMM was no
 * faster than its Conv, so only these take it.
 */
export function stridedPointwise(g: ConvGeometry): boolean {
  const { pad } = g;
  return (
    g.filterHeight === 1 &&
    g.filterWidth === 1 &&
    (g.strideHeight > 1 || g.strideWidth > 1) &&
    pad.top + pad.bottom + pad.left + pad.right === 0
  );
}

/** y[n, oh, ow, co] = conv(x[n, h, w, ci], w[kh, kw, ci, co]). */
export function forwardGraph(g: ConvGeometry): OnnxGraph {
  if (stridedPointwise(g)) return forwardGemmGraph(g);
  return {
    nodes: [
      { op: 'Transpose', inputs: ['x'], outputs: ['x_nchw'], attrs: { perm: TO_NCHW } },
      { op: 'Transpose', inputs: ['w'], outputs: ['w_oihw'], attrs: { perm: FILTER_TO_OIHW } },
      { op: 'Conv', inputs: ['x_nchw', 'w_oihw'], outputs: ['y_nchw'], attrs: convAttrs(g) },
      { op: 'Transpose', inputs: ['y_nchw'], outputs: ['y'], attrs: { perm: TO_NHWC } },
    ],
    inputs: [
      { name: 'x', dims: inputDims(g) },
      { name: 'w', dims: filterDims(g) },
    ],
    outputs: [{ name: 'y', dims: outputDims(g) }],
  };
}

/** y = cols(x) · w, with w read as [kh*kw*ci, co]: TensorFlow's layouts in and out, no transpose. */
function forwardGemmGraph(g: ConvGeometry): OnnxGraph {
  const { nodes, int64, cols, rows } = colsOf(g);
  int64.w_shape = [rows, g.outChannels];
  int64.y_shape = [-1, g.outHeight, g.outWidth, g.outChannels];
  nodes.push(
    { op: 'Reshape', inputs: [cols, 'cols_shape'], outputs: ['cols'] },
    { op: 'Reshape', inputs: ['w', 'w_shape'], outputs: ['w_rows'] },
    { op: 'MatMul', inputs: ['cols', 'w_rows'], outputs: ['y_rows'] },
    { op: 'Reshape', inputs: ['y_rows', 'y_shape'], outputs: ['y'] },
  );
  return {
    nodes,
    inputs: [
      { name: 'x', dims: inputDims(g) },
      { name: 'w', dims: filterDims(g) },
    ],
    outputs: [{ name: 'y', dims: outputDims(g) }],
    int64,
  };
}

/**
 * dx of a strided 1x1 conv: dy · w^T lands on every s-th pixel and zeros elsewhere. The zeros come
 * from padding a [n, oh, 1, ow, 1, ci] view to [n, oh, sh, ow, sw, ci], which read as
 * [n, oh*sh, ow*sw, ci] puts each row at (i*sh, j*sw); a slice trims it to h x w (oh*s >= h).
 */
function pointwiseInputGradGraph(g: ConvGeometry): OnnxGraph {
  const sh = g.strideHeight;
  const sw = g.strideWidth;
  const int64: Record<string, number[]> = {
    dy_shape: [-1, g.outChannels],
    w_shape: [g.inChannels, g.outChannels],
    spread_shape: [-1, g.outHeight, 1, g.outWidth, 1, g.inChannels],
    pads: [0, 0, 0, 0, 0, 0, 0, 0, sh - 1, 0, sw - 1, 0],
    grid_shape: [-1, g.outHeight * sh, g.outWidth * sw, g.inChannels],
    trim_start: [0, 0],
    trim_end: [g.inHeight, g.inWidth],
    trim_axes: [1, 2],
  };
  return {
    nodes: [
      { op: 'Reshape', inputs: ['dy', 'dy_shape'], outputs: ['dy_rows'] },
      { op: 'Reshape', inputs: ['w', 'w_shape'], outputs: ['w_rows'] },
      { op: 'Gemm', inputs: ['dy_rows', 'w_rows'], outputs: ['dx_rows'], attrs: { transB: 1 } },
      { op: 'Reshape', inputs: ['dx_rows', 'spread_shape'], outputs: ['dx_spread'] },
      { op: 'Pad', inputs: ['dx_spread', 'pads'], outputs: ['dx_padded'] },
      { op: 'Reshape', inputs: ['dx_padded', 'grid_shape'], outputs: ['dx_grid'] },
      { op: 'Slice', inputs: ['dx_grid', 'trim_start', 'trim_end', 'trim_axes'], outputs: ['dx'] },
    ],
    inputs: [
      { name: 'dy', dims: outputDims(g) },
      { name: 'w', dims: filterDims(g) },
    ],
    outputs: [{ name: 'dx', dims: inputDims(g) }],
    int64,
  };
}

/**
 * Whether the input gradient runs as a forward Conv: stride and dilation 1, pads within the kernel
 * (the flipped conv pads by k-1-p), and enough input channels, which are the rows of that Conv's
 * GEMM. At batch 256 on 2 threads, ConvTranspose -> Conv: 32x32x64 193-386 -> 124-138 ms,
 * 16x16x128 107 -> 91, 8x8x256 equal, 4x4x512 181 -> 122; with 3 input channels 23 -> 40 ms.
 */
export function inputGradAsConv(g: ConvGeometry): boolean {
  const unit = g.strideHeight === 1 && g.strideWidth === 1 && g.dilationHeight === 1 && g.dilationWidth === 1;
  const { pad } = g;
  const padsFit =
    Math.max(pad.top, pad.bottom) <= g.filterHeight - 1 && Math.max(pad.left, pad.right) <= g.filterWidth - 1;
  return unit && padsFit && g.inChannels >= 32;
}

/** dx[n, h, w, ci] from dy[n, oh, ow, co] and w[kh, kw, ci, co]: the forward conv's adjoint. */
export function inputGradGraph(g: ConvGeometry): OnnxGraph {
  if (inputGradAsConv(g)) return inputGradAsConvGraph(g);
  if (stridedPointwise(g)) return pointwiseInputGradGraph(g);
  // ConvTranspose's output is s*(o-1) + (k-1)*d + 1 - pads; the rows a strided forward conv never
  // read come back as output_padding (always < stride), as zeros.
  const extent = (o: number, k: number, s: number, d: number, p0: number, p1: number) =>
    s * (o - 1) + (k - 1) * d + 1 - p0 - p1;
  const eh = extent(g.outHeight, g.filterHeight, g.strideHeight, g.dilationHeight, g.pad.top, g.pad.bottom);
  const ew = extent(g.outWidth, g.filterWidth, g.strideWidth, g.dilationWidth, g.pad.left, g.pad.right);
  return {
    nodes: [
      { op: 'Transpose', inputs: ['dy'], outputs: ['dy_nchw'], attrs: { perm: TO_NCHW } },
      // ConvTranspose's weight is [in of the transpose = out of the forward, out, kh, kw]: the
      // forward conv's OIHW weight, unchanged.
      { op: 'Transpose', inputs: ['w'], outputs: ['w_oihw'], attrs: { perm: FILTER_TO_OIHW } },
      {
        op: 'ConvTranspose',
        inputs: ['dy_nchw', 'w_oihw'],
        outputs: ['dx_nchw'],
        attrs: { ...convAttrs(g), output_padding: [g.inHeight - eh, g.inWidth - ew] },
      },
      { op: 'Transpose', inputs: ['dx_nchw'], outputs: ['dx'], attrs: { perm: TO_NHWC } },
    ],
    inputs: [
      { name: 'dy', dims: outputDims(g) },
      { name: 'w', dims: filterDims(g) },
    ],
    outputs: [{ name: 'dx', dims: inputDims(g) }],
  };
}

/**
 * dx = conv(dy, flip(w)) for a stride-1 conv: each output pixel of the forward conv spreads over
 * the k x k inputs it read, which is dy correlated with the spatially reversed filter whose in and
 * out channels are swapped, padded by k-1-p on each side (so dx comes out at the input's size).
 */
function inputGradAsConvGraph(g: ConvGeometry): OnnxGraph {
  const kh = g.filterHeight;
  const kw = g.filterWidth;
  const { pad } = g;
  return {
    nodes: [
      { op: 'Transpose', inputs: ['dy'], outputs: ['dy_nchw'], attrs: { perm: TO_NCHW } },
      // [kh, kw, ci, co] -> [ci, co, kh, kw]: the forward's inputs are this conv's outputs.
      { op: 'Transpose', inputs: ['w'], outputs: ['w_io'], attrs: { perm: [2, 3, 0, 1] } },
      // Reversed along kh and kw (a negative step; the end lies before the first element).
      {
        op: 'Slice',
        inputs: ['w_io', 'flip_start', 'flip_end', 'flip_axes', 'flip_steps'],
        outputs: ['w_flip'],
      },
      {
        op: 'Conv',
        inputs: ['dy_nchw', 'w_flip'],
        outputs: ['dx_nchw'],
        attrs: {
          kernel_shape: [kh, kw],
          strides: [1, 1],
          dilations: [1, 1],
          pads: [kh - 1 - pad.top, kw - 1 - pad.left, kh - 1 - pad.bottom, kw - 1 - pad.right],
        },
      },
      { op: 'Transpose', inputs: ['dx_nchw'], outputs: ['dx'], attrs: { perm: TO_NHWC } },
    ],
    inputs: [
      { name: 'dy', dims: outputDims(g) },
      { name: 'w', dims: filterDims(g) },
    ],
    outputs: [{ name: 'dx', dims: inputDims(g) }],
    int64: { flip_start: [-1, -1], flip_end: [-kh - 1, -kw - 1], flip_axes: [2, 3], flip_steps: [-1, -1] },
  };
}

/**
 * cols(x) in NHWC: the kh*kw shifted, strided views of the padded input `x`, concatenated along
 * channels ([n, oh, ow, kh*kw*ci], tap-major), and the int64 constants its nodes use. Row `r` of
 * cols times row `r` of the [kh, kw, ci, co] filter read as [kh*kw*ci, co] is one term of the conv.
 */
function colsOf(g: ConvGeometry): {
  nodes: OnnxGraph['nodes'];
  int64: Record<string, number[]>;
  cols: string;
  rows: number;
} {
  const { pad } = g;
  const taps = g.filterHeight * g.filterWidth;
  const rows = taps * g.inChannels;
  const int64: Record<string, number[]> = { cols_shape: [-1, rows] };
  const nodes: OnnxGraph['nodes'] = [];
  const padded = pad.top + pad.bottom + pad.left + pad.right > 0;
  const unitStep = g.strideHeight === 1 && g.strideWidth === 1;
  let cols = 'x';
  if (taps === 1 && !padded && unitStep) {
    // A 1x1, stride-1 conv: the input already is its own cols matrix.
  } else {
    let src = 'x';
    if (padded) {
      int64.pads = [0, pad.top, pad.left, 0, 0, pad.bottom, pad.right, 0];
      nodes.push({ op: 'Pad', inputs: ['x', 'pads'], outputs: ['x_pad'] });
      src = 'x_pad';
    }
    int64.axes = [1, 2];
    int64.steps = [g.strideHeight, g.strideWidth];
    const tapNames: string[] = [];
    for (let i = 0; i < g.filterHeight; i++) {
      for (let j = 0; j < g.filterWidth; j++) {
        const r0 = i * g.dilationHeight;
        const c0 = j * g.dilationWidth;
        const name = `tap_${i}_${j}`;
        int64[`${name}_start`] = [r0, c0];
        int64[`${name}_end`] = [
          r0 + (g.outHeight - 1) * g.strideHeight + 1,
          c0 + (g.outWidth - 1) * g.strideWidth + 1,
        ];
        nodes.push({
          op: 'Slice',
          inputs: [src, `${name}_start`, `${name}_end`, 'axes', 'steps'],
          outputs: [name],
        });
        tapNames.push(name);
      }
    }
    if (tapNames.length === 1) {
      cols = tapNames[0];
    } else {
      nodes.push({ op: 'Concat', inputs: tapNames, outputs: ['cols_nhwc'], attrs: { axis: 3 } });
      cols = 'cols_nhwc';
    }
  }
  return { nodes, int64, cols, rows };
}

/**
 * dw[kh*kw*ci, co] = acc + cols(x)^T · dy, for one chunk of the batch. The row order of cols
 * (tap-major, then channel) makes the result's memory exactly TensorFlow's [kh, kw, ci, co] filter.
 */
export function filterGradGraph(g: ConvGeometry): OnnxGraph {
  const { nodes, int64, cols, rows } = colsOf(g);
  int64.dy_shape = [-1, g.outChannels];
  nodes.push({ op: 'Reshape', inputs: [cols, 'cols_shape'], outputs: ['cols'] });
  nodes.push({ op: 'Reshape', inputs: ['dy', 'dy_shape'], outputs: ['dy_rows'] });
  nodes.push({ op: 'Gemm', inputs: ['cols', 'dy_rows', 'acc'], outputs: ['dw'], attrs: { transA: 1 } });
  return {
    nodes,
    inputs: [
      { name: 'x', dims: inputDims(g) },
      { name: 'dy', dims: outputDims(g) },
      { name: 'acc', dims: [rows, g.outChannels] },
    ],
    outputs: [{ name: 'dw', dims: [rows, g.outChannels] }],
    int64,
  };
}
