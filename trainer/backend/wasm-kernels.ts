/**
 * Training kernels for the tfjs 'wasm' backend.
 *
 * The wasm backend ships forward convolutions (XNNPACK) but lacks the kernels a backward pass needs:
 * Conv2DBackpropFilter, UnsortedSegmentSum (the gradient of gather) and both depthwise gradients, and
 * its Conv2DBackpropInput is about 8x slower than a forward conv. Each kernel here re-expresses the
 * gradient as forward ops the backend already runs fast, so no new native code is needed.
 *
 * Kernel pattern: compute with ordinary ops inside `tf.tidy`, then `backend.incRef` the result's
 * data so that disposing the temporary tensor at the end of the tidy leaves the buffer alive for the
 * engine, which wraps the returned `{dataId, shape, dtype}` in a fresh tensor. Ops called inside a
 * kernel are not recorded on the gradient tape (the engine's kernelDepth is > 0 there).
 */
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone registers no gradient functions (the @tensorflow/tfjs bundle does this import);
// without it tf.grad fails with "gradient function not found" for even the simplest ops.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { callDisplacedKernel } from './displaced-kernels';

type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
type RoundingMode = 'floor' | 'round' | 'ceil' | undefined;
type Pair = [number, number];

const BACKEND = 'wasm';

function input(inputs: tf.NamedTensorInfoMap, name: string, backend: tf.KernelBackend): tf.Tensor {
  const info = inputs[name];
  if (info === undefined) throw new Error(`wasm training kernel: missing input '${name}'`);
  if (info instanceof tf.Tensor) return info;
  // A bare TensorInfo (not what runKernel passes, but allowed): the wrapper gets its own reference,
  // so disposing it at the end of the tidy leaves the caller's buffer alone.
  backend.incRef(info.dataId);
  return tf.engine().makeTensorFromTensorInfo(info, backend);
}

/** Runs `compute` in a tidy and hands its result's buffer to the engine as a kernel output. */
function emit(backend: tf.KernelBackend, compute: () => tf.Tensor): tf.TensorInfo {
  let info: tf.TensorInfo | undefined;
  tf.tidy(() => {
    const out = compute();
    backend.incRef(out.dataId);
    info = { dataId: out.dataId, shape: out.shape.slice(), dtype: out.dtype };
  });
  return info!;
}

function checkUnitDilations(kernel: string, dilations: unknown): void {
  if (dilations == null) return;
  const [dh, dw] = typeof dilations === 'number' ? [dilations, dilations] : (dilations as Pair);
  if (dh !== 1 || dw !== 1) {
    throw new Error(`${kernel} (wasm training kernels): dilations other than 1 are not supported`);
  }
}

function checkNHWC(kernel: string, dataFormat: unknown): void {
  if (dataFormat != null && dataFormat !== 'NHWC') {
    throw new Error(`${kernel} (wasm training kernels): only NHWC is supported, got ${String(dataFormat)}`);
  }
}

/**
 * A stride-1 conv reading `pre` zeros before and `post` after the data along one axis. Negative
 * amounts mean "the output should skip this many rows" (a numeric pad larger than k-1, or input rows
 * no window reaches); the conv cannot pad negatively, so pad zero and crop the output instead.
 */
interface AxisPlan {
  pre: number;
  post: number;
  cropStart: number;
}

function planAxis(pre: number, post: number): AxisPlan {
  return { pre: Math.max(0, pre), post: Math.max(0, post), cropStart: Math.max(0, -pre) };
}

function cropTo(t: tf.Tensor4D, h: AxisPlan, w: AxisPlan, outH: number, outW: number): tf.Tensor4D {
  const [n, th, tw, c] = t.shape;
  if (h.cropStart === 0 && w.cropStart === 0 && th === outH && tw === outW) return t;
  return tf.slice(t, [0, h.cropStart, w.cropStart, 0], [n, outH, outW, c]);
}

/** Spreads dy on a stride grid: dy[i] lands at i*stride, the gaps are zeros. Length oh*stride. */
function zeroInsert(dy: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return dy;
  const [n, oh, ow, c] = dy.shape;
  const grid = tf.pad(tf.reshape(dy, [n, oh, 1, ow, 1, c]), [
    [0, 0],
    [0, 0],
    [0, sh - 1],
    [0, 0],
    [0, sw - 1],
    [0, 0],
  ]);
  return tf.reshape(grid, [n, oh * sh, ow * sw, c]);
}

/**
 * [N,H,W,C] -> [C,H,W,N]. Done as a 2-D transpose ([N, HWC] -> [HWC, N]) followed by a swap of
 * N-long blocks, because wasm's generic 4-D transpose moves one element at a time: measured 2-3x
 * slower than these two steps for [128,32,32,32].
 */
function nhwcToCHWN(x: tf.Tensor4D): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const t = tf.transpose(tf.reshape(x, [n, h * w * c]));
  const chwn = c === 1 ? t : tf.transpose(tf.reshape(t, [h * w, c, n]), [1, 0, 2]);
  return tf.reshape(chwn, [c, h, w, n]);
}

interface InputGradPlan {
  h: AxisPlan;
  w: AxisPlan;
  pads: tf.backend_util.ExplicitPadding;
}

/**
 * Padding for the input gradient as a stride-1 correlation of the zero-inserted dy with the flipped
 * filter: dx[h] = sum_a dyz[h + top - (k-1) + a] * flip(W)[a], so dyz is padded by k-1-top before and
 * by whatever makes the output exactly `in` long after. Asymmetric SAME padding (stride 2 on even
 * sizes puts the extra row at the bottom) is carried by `top`/`left` alone.
 */
function inputGradPlan(info: tf.backend_util.Conv2DInfo): InputGradPlan {
  const lenH = info.outHeight * info.strideHeight;
  const lenW = info.outWidth * info.strideWidth;
  const preH = info.filterHeight - 1 - info.padInfo.top;
  const preW = info.filterWidth - 1 - info.padInfo.left;
  const h = planAxis(preH, info.inHeight + info.filterHeight - 1 - lenH - preH);
  const w = planAxis(preW, info.inWidth + info.filterWidth - 1 - lenW - preW);
  return {
    h,
    w,
    pads: [
      [0, 0],
      [h.pre, h.post],
      [w.pre, w.post],
      [0, 0],
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Conv2D gradients

function conv2DBackpropFilter(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: tf.KernelBackend;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const { inputs, backend } = args;
  const attrs = (args.attrs ?? {}) as unknown as {
    strides: number | Pair;
    pad: Pad;
    dataFormat?: string;
    dimRoundingMode?: RoundingMode;
    filterShape: [number, number, number, number];
  };
  checkNHWC('Conv2DBackpropFilter', attrs.dataFormat);
  return emit(backend, () => {
    const x = input(inputs, 'x', backend) as tf.Tensor4D;
    const dy = input(inputs, 'dy', backend) as tf.Tensor4D;
    const info = tf.backend_util.computeConv2DInfo(
      x.shape,
      attrs.filterShape,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
    );
    if (useTaps(info.inChannels)) return filterGradByTaps(x, dy, info);
    const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
    // dW[a,b,ci,co] = sum_{n,i,j} xpad[n, i*sh+a, j*sw+b, ci] * dy[n,i,j,co]: a correlation of x
    // (batch := ci, channels := n) with dy (kernel oh x ow, channels n -> co) dilated by the stride.
    const xT = nhwcToCHWN(x);
    const dyT = tf.transpose(dy, [1, 2, 0, 3]);
    const spanH = (info.outHeight - 1) * sh + 1;
    const spanW = (info.outWidth - 1) * sw + 1;
    const h = planAxis(info.padInfo.top, kh + spanH - 1 - info.inHeight - info.padInfo.top);
    const w = planAxis(info.padInfo.left, kw + spanW - 1 - info.inWidth - info.padInfo.left);
    const g = tf.conv2d(
      xT,
      dyT,
      1,
      [
        [0, 0],
        [h.pre, h.post],
        [w.pre, w.post],
        [0, 0],
      ],
      'NHWC',
      [sh, sw],
    );
    return tf.transpose(cropTo(g, h, w, kh, kw), [1, 2, 0, 3]);
  });
}

/** How Conv2DBackpropFilter is computed (see `setFilterGradMethod`). */
export type FilterGradMethod = 'auto' | 'taps' | 'conv';
let filterGradMethod: FilterGradMethod = 'auto';

/**
 * 'auto' picks 'taps' only for few input channels: measured at batch 256 (2 threads, loaded
 * machine) taps took 215 ms vs 538 for the conv on the 3-channel ResNet stem, but 6494 vs 4071 on
 * the 64-channel layer, where its dy-sized right operand no longer fits the caches (chunking the
 * batch to fit made it ~10x slower still: per-call costs dominate).
 */
function useTaps(ci: number): boolean {
  return filterGradMethod === 'taps' || (filterGradMethod === 'auto' && ci <= 8);
}

/**
 * Chooses the filter-gradient algorithm: 'taps' (one matMul per filter tap), 'conv' (one forward conv
 * with dy as the filter) or 'auto' (default: by input channels, see useTaps). All are exact; the
 * switch exists for benchmarks and tests.
 */
export function setFilterGradMethod(method: FilterGradMethod): void {
  filterGradMethod = method;
}

/**
 * dW[a,b] = X_ab^T dy, where X_ab [N*oh*ow, Ci] holds the input pixels tap (a,b) reads. The wasm
 * matMul is fast only with an untransposed left operand, so x is transposed once to [Ci, N, H, W]
 * and each tap is a (strided) slice of it, [Ci, N*oh*ow], times dy as [N*oh*ow, Co].
 * Why not the single conv with dy as its filter: wasm's Conv2D re-lays out every new filter with an
 * element-by-element transpose before XNNPACK packs it, and for a dy-sized filter that costs more
 * than the convolution itself (measured: 691 ms vs 437 ms with the filter's operator cached, for
 * x [64,32,32,64]). XNNPACK's matMul packs dy once per call, sequentially.
 */
function filterGradByTaps(x: tf.Tensor4D, dy: tf.Tensor4D, info: tf.backend_util.Conv2DInfo): tf.Tensor {
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const { outHeight: oh, outWidth: ow, inChannels: ci, outChannels: co } = info;
  const n = x.shape[0];
  const { top, left } = info.padInfo;
  // Windows read padded rows 0 .. (oh-1)*sh + kh - 1; rows past that are never sliced, so only pad.
  const padH = Math.max(0, (oh - 1) * sh + kh - top - info.inHeight);
  const padW = Math.max(0, (ow - 1) * sw + kw - left - info.inWidth);
  const xp =
    top + padH + left + padW > 0
      ? tf.pad(x, [
          [0, 0],
          [top, padH],
          [left, padW],
          [0, 0],
        ])
      : x;
  const [, hp, wp] = xp.shape;
  const xT = tf.reshape(tf.transpose(tf.reshape(xp, [n * hp * wp, ci])), [ci, n, hp, wp]);
  const rows = n * oh * ow;
  const dy2 = tf.reshape(dy, [rows, co]) as tf.Tensor2D;
  const taps: tf.Tensor2D[] = [];
  for (let a = 0; a < kh; a++) {
    for (let b = 0; b < kw; b++) {
      // Each tap's copy of x is freed before the next one is made.
      taps.push(
        tf.tidy(() => {
          const xs =
            hp === oh && wp === ow
              ? xT
              : sh === 1 && sw === 1
                ? tf.slice(xT, [0, 0, a, b], [ci, n, oh, ow])
                : tf.stridedSlice(
                    xT,
                    [0, 0, a, b],
                    [ci, n, a + (oh - 1) * sh + 1, b + (ow - 1) * sw + 1],
                    [1, 1, sh, sw],
                  );
          return tf.matMul(tf.reshape(xs, [ci, rows]) as tf.Tensor2D, dy2);
        }),
      );
    }
  }
  return tf.reshape(taps.length === 1 ? taps[0] : tf.stack(taps), [kh, kw, ci, co]);
}

function conv2DBackpropInput(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: tf.KernelBackend;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const { inputs, backend } = args;
  const attrs = (args.attrs ?? {}) as unknown as {
    strides: number | Pair;
    pad: Pad;
    dataFormat?: string;
    dimRoundingMode?: RoundingMode;
    inputShape: [number, number, number, number];
  };
  checkNHWC('Conv2DBackpropInput', attrs.dataFormat);
  return emit(backend, () => {
    const dy = input(inputs, 'dy', backend) as tf.Tensor4D;
    const filter = input(inputs, 'filter', backend) as tf.Tensor4D;
    const info = tf.backend_util.computeConv2DInfo(
      attrs.inputShape,
      filter.shape,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
    );
    const strided = info.strideHeight > 1 || info.strideWidth > 1;
    const pointwise = info.filterHeight === 1 && info.filterWidth === 1;
    if (strided && !pointwise && stridedInputGradMethod === 'phases') {
      return inputGradByPhases(dy, filter, info);
    }
    const plan = inputGradPlan(info);
    // Flip spatially and swap in/out channels: [kh,kw,ci,co] -> [kh,kw,co,ci].
    const wf = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
    if (pointwise) {
      // A 1x1 conv commutes with the zero-insertion: apply the filter on the small dy first, so
      // strided 1x1 layers (ResNet shortcuts) do not pay stride^2 times the work on zeros.
      const spread = zeroInsert(tf.conv2d(dy, wf, 1, 'valid'), info.strideHeight, info.strideWidth);
      const padded =
        plan.h.pre + plan.h.post + plan.w.pre + plan.w.post > 0 ? tf.pad(spread, plan.pads) : spread;
      return cropTo(padded, plan.h, plan.w, info.inHeight, info.inWidth);
    }
    const dyz = zeroInsert(dy, info.strideHeight, info.strideWidth);
    const dx = tf.conv2d(dyz, wf, 1, plan.pads);
    return cropTo(dx, plan.h, plan.w, info.inHeight, info.inWidth);
  });
}

/** How Conv2DBackpropInput handles strides > 1 (see `setStridedInputGradMethod`). */
export type StridedInputGradMethod = 'phases' | 'zero-insert';
let stridedInputGradMethod: StridedInputGradMethod = 'phases';

/**
 * Chooses the strided input-gradient algorithm: 'zero-insert' (one conv over the zero-spread dy;
 * stride^2 times a forward conv's work, most of it multiplying zeros) or 'phases' (default; one small
 * conv per output phase, the forward conv's work in total, plus an interleave). Both are exact; the
 * switch exists for benchmarks and as a fallback.
 */
export function setStridedInputGradMethod(method: StridedInputGradMethod): void {
  stridedInputGradMethod = method;
}

/** One axis of the phase decomposition, for output phase (residue) r of the padded coordinate. */
interface PhaseAxis {
  /** Filter taps r, r+s, r+2s, ... that land on this phase. */
  taps: number;
  pre: AxisPlan;
}

/**
 * Input gradient of a strided conv without multiplying zeros. In padded coordinates u = h + top,
 * dx[u] = sum over taps a with a = u (mod s) of dy[(u - a) / s] * W[a]. Splitting u by its residue r
 * gives s*s independent stride-1 correlations of dy with the sub-filters W[r::s] (flipped); the phase
 * results are then interleaved back onto the u grid and the input window [top, top + in) is cut out.
 */
function inputGradByPhases(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  info: tf.backend_util.Conv2DInfo,
): tf.Tensor4D {
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  const [n, oh, ow] = dy.shape;
  const [, , ci, co] = filter.shape;
  const vh = Math.ceil((info.padInfo.top + info.inHeight) / sh);
  const vw = Math.ceil((info.padInfo.left + info.inWidth) / sw);
  // P[v] = sum_t dy[v - t] W[r + s t]: pad dy by taps-1 before and crop/pad so v runs over [0, V).
  const axis = (k: number, s: number, r: number, len: number, v: number): PhaseAxis => {
    const taps = r < k ? Math.ceil((k - r) / s) : 0;
    return { taps, pre: planAxis(taps - 1, v - len) };
  };
  const rows: tf.Tensor[] = [];
  for (let rh = 0; rh < sh; rh++) {
    const cols: tf.Tensor4D[] = [];
    for (let rw = 0; rw < sw; rw++) {
      const ah = axis(kh, sh, rh, oh, vh);
      const aw = axis(kw, sw, rw, ow, vw);
      if (ah.taps === 0 || aw.taps === 0) {
        cols.push(tf.zeros([n, vh, vw, ci]));
        continue;
      }
      const sub = tf.stridedSlice(filter, [rh, rw, 0, 0], [kh, kw, ci, co], [sh, sw, 1, 1]) as tf.Tensor4D;
      const subFlipped = tf.transpose(tf.reverse(sub, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
      const phase = tf.conv2d(dy, subFlipped, 1, [
        [0, 0],
        [ah.pre.pre, ah.pre.post],
        [aw.pre.pre, aw.pre.post],
        [0, 0],
      ]);
      cols.push(cropTo(phase, ah.pre, aw.pre, vh, vw));
    }
    // [N, vh, vw, sw, ci] -> columns u = v*sw + rw
    rows.push(sw === 1 ? cols[0] : tf.reshape(tf.stack(cols, 3), [n, vh, vw * sw, ci]));
  }
  const grid = sh === 1 ? rows[0] : tf.reshape(tf.stack(rows, 2), [n, vh * sh, vw * sw, ci]);
  return tf.slice(
    grid,
    [0, info.padInfo.top, info.padInfo.left, 0],
    [n, info.inHeight, info.inWidth, ci],
  ) as tf.Tensor4D;
}

// ---------------------------------------------------------------------------------------------
// Depthwise gradients

function depthwiseBackpropInput(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: tf.KernelBackend;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const { inputs, backend } = args;
  const attrs = (args.attrs ?? {}) as unknown as {
    strides: number | Pair;
    pad: Pad;
    dilations?: number | Pair;
    dimRoundingMode?: RoundingMode;
    inputShape: [number, number, number, number];
  };
  checkUnitDilations('DepthwiseConv2dNativeBackpropInput', attrs.dilations);
  return emit(backend, () => {
    const dy = input(inputs, 'dy', backend) as tf.Tensor4D;
    const filter = input(inputs, 'filter', backend) as tf.Tensor4D;
    const [kh, kw, c, mult] = filter.shape;
    const info = tf.backend_util.computeConv2DInfo(
      attrs.inputShape,
      filter.shape,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
      true,
    );
    const plan = inputGradPlan(info);
    const dyz = zeroInsert(dy, info.strideHeight, info.strideWidth);
    // Output channel c*mult+m came from input channel c through filter[:,:,c,m]; treating the
    // c*mult channels as independent, each one flows back through its own flipped 2-D filter, and
    // the mult contributions of an input channel are summed afterwards (a last-axis reduction).
    const wf = tf.reshape(tf.reverse(filter, [0, 1]), [kh, kw, c * mult, 1]) as tf.Tensor4D;
    const g = cropTo(tf.depthwiseConv2d(dyz, wf, 1, plan.pads), plan.h, plan.w, info.inHeight, info.inWidth);
    if (mult === 1) return g;
    const [n, h, w] = g.shape;
    return tf.sum(tf.reshape(g, [n, h, w, c, mult]), 4);
  });
}

function depthwiseBackpropFilter(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: tf.KernelBackend;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const { inputs, backend } = args;
  const attrs = (args.attrs ?? {}) as unknown as {
    strides: number | Pair;
    pad: Pad;
    dilations?: number | Pair;
    dimRoundingMode?: RoundingMode;
    filterShape: [number, number, number, number];
  };
  checkUnitDilations('DepthwiseConv2dNativeBackpropFilter', attrs.dilations);
  return emit(backend, () => {
    const x = input(inputs, 'x', backend) as tf.Tensor4D;
    const dy = input(inputs, 'dy', backend) as tf.Tensor4D;
    const [kh, kw, c, mult] = attrs.filterShape;
    const info = tf.backend_util.computeConv2DInfo(
      x.shape,
      attrs.filterShape,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
      true,
    );
    const { strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow } = info;
    const n = x.shape[0];
    const { top, left } = info.padInfo;
    // Windows read rows top-padded x from 0 to (oh-1)*sh + kh - 1; pad (or not) to exactly that.
    const needH = (oh - 1) * sh + kh;
    const needW = (ow - 1) * sw + kw;
    const xp = tf.pad(x, [
      [0, 0],
      [top, Math.max(0, needH - top - info.inHeight)],
      [left, Math.max(0, needW - left - info.inWidth)],
      [0, 0],
    ]);
    const rows = n * oh * ow;
    const ones = tf.ones([1, rows]);
    const dyR = mult === 1 ? dy : tf.reshape(dy, [n, oh, ow, c, mult]);
    // One tap at a time: dW[a,b,c,m] = sum over (n,i,j) of x at the tap's strided grid times dy.
    // Sums over the leading axes go through a ones-row matMul, which wasm does without transposing.
    const taps: tf.Tensor2D[] = [];
    for (let a = 0; a < kh; a++) {
      for (let b = 0; b < kw; b++) {
        const xs = tf.stridedSlice(
          xp,
          [0, a, b, 0],
          [n, a + (oh - 1) * sh + 1, b + (ow - 1) * sw + 1, c],
          [1, sh, sw, 1],
        );
        const prod = mult === 1 ? tf.mul(xs, dyR) : tf.mul(tf.expandDims(xs, 4), dyR);
        taps.push(tf.matMul(ones, tf.reshape(prod, [rows, c * mult])));
      }
    }
    return tf.reshape(tf.concat(taps, 0), [kh, kw, c, mult]);
  });
}

// ---------------------------------------------------------------------------------------------
// UnsortedSegmentSum

/** Bound on the one-hot block (rows x segments) built per matMul, to keep memory flat. */
const SEGMENT_BLOCK_ELEMS = 1 << 22;

function unsortedSegmentSum(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: tf.KernelBackend;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const { inputs, backend } = args;
  const { numSegments } = (args.attrs ?? {}) as unknown as { numSegments: number };
  return emit(backend, () => {
    const x = input(inputs, 'x', backend);
    const ids = tf.reshape(input(inputs, 'segmentIds', backend), [-1]);
    const n = ids.shape[0];
    // segmentIds may cover several leading axes of x; everything after them is summed as a row.
    const lead = input(inputs, 'segmentIds', backend).rank;
    const rest = x.shape.slice(lead);
    const width = rest.reduce((p, d) => p * d, 1);
    const xf = tf.reshape(x.dtype === 'float32' ? x : tf.cast(x, 'float32'), [n, width]);
    const idsI = ids.dtype === 'int32' ? ids : tf.cast(ids, 'int32');
    // oneHot gives an all-zero row for ids outside [0, numSegments), which drops them as TF does.
    // It is built as int32 and cast: wasm's OneHot ignores the dtype argument and writes int32 bits
    // into a tensor labelled float32 (every 1 reads back as ~1e-45).
    const chunk = Math.max(1, Math.floor(SEGMENT_BLOCK_ELEMS / Math.max(1, numSegments)));
    let acc: tf.Tensor2D | null = null;
    for (let start = 0; start < n; start += chunk) {
      const len = Math.min(chunk, n - start);
      const oh = tf.cast(tf.oneHot(tf.slice(idsI, [start], [len]) as tf.Tensor1D, numSegments), 'float32');
      const part = tf.matMul(oh, tf.slice(xf, [start, 0], [len, width]), true, false) as tf.Tensor2D;
      acc = acc === null ? part : (tf.add(acc, part) as tf.Tensor2D);
    }
    const summed = acc ?? tf.zeros([numSegments, width]);
    const shaped = tf.reshape(summed, [numSegments, ...rest]);
    return x.dtype === 'float32' ? shaped : tf.cast(shaped, x.dtype);
  });
}

// ---------------------------------------------------------------------------------------------
// Identity

/**
 * Identity that shares its input's buffer, as the cpu backend's does. tfjs-core clones every
 * tensor it saves for the backward pass through this kernel, and wasm's own Identity copies the
 * data, so each saved activation cost a full copy in time and in peak memory. Tensors are
 * immutable (a Variable's assign swaps buffers, never writes into one), so sharing is safe.
 */
function identity(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend }): tf.TensorInfo {
  const x = args.inputs.x;
  if (x === undefined) throw new Error("wasm training kernel: missing input 'x'");
  args.backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
}

/** The wasm backend's own BatchMatMul: batchMatMul hands it untransposed operands. */
let stockBatchMatMul: tf.KernelConfig | undefined;

/**
 * BatchMatMul with its transposes made explicit. Stock wasm multiplies a transposed operand in a
 * generic loop that is 10-15x slower than its XNNPACK path (256x256 by 256x256: 1.2 ms plain,
 * 12.6 ms transposeB, 18 ms transposeA; 512x128 by 128x512 transposeA: 61 ms vs 4.9), and every
 * backward pass through a dense layer or a similarity matrix asks for one. A transpose is a single
 * pass over the operand.
 */
function batchMatMul(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: tf.KernelBackend;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo | tf.TensorInfo[] {
  const stock = stockBatchMatMul;
  if (stock === undefined) throw new Error('wasm training kernels: the stock BatchMatMul was not found');
  const { backend } = args;
  const { transposeA, transposeB } = (args.attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean };
  if (!transposeA && !transposeB) return callDisplacedKernel(stock, args);
  return emit(backend, () => {
    const a = input(args.inputs, 'a', backend);
    const b = input(args.inputs, 'b', backend);
    const flip = (t: tf.Tensor) => {
      const perm = t.shape.map((_, i) => i);
      perm.push(...perm.splice(-2).reverse());
      return tf.transpose(t, perm);
    };
    // Runs this kernel again, now without transposes: the stock XNNPACK path.
    return tf.matMul(transposeA ? flip(a) : a, transposeB ? flip(b) : b);
  });
}

// ---------------------------------------------------------------------------------------------
// Registration

const KERNELS: tf.KernelConfig[] = [
  {
    kernelName: tf.Conv2DBackpropFilter,
    backendName: BACKEND,
    kernelFunc: conv2DBackpropFilter as tf.KernelFunc,
  },
  {
    kernelName: tf.Conv2DBackpropInput,
    backendName: BACKEND,
    kernelFunc: conv2DBackpropInput as tf.KernelFunc,
  },
  {
    kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
    backendName: BACKEND,
    kernelFunc: depthwiseBackpropFilter as tf.KernelFunc,
  },
  {
    kernelName: tf.DepthwiseConv2dNativeBackpropInput,
    backendName: BACKEND,
    kernelFunc: depthwiseBackpropInput as tf.KernelFunc,
  },
  {
    kernelName: tf.UnsortedSegmentSum,
    backendName: BACKEND,
    kernelFunc: unsortedSegmentSum as tf.KernelFunc,
  },
  {
    kernelName: tf.Identity,
    backendName: BACKEND,
    kernelFunc: identity as tf.KernelFunc,
  },
  {
    kernelName: tf.BatchMatMul,
    backendName: BACKEND,
    kernelFunc: batchMatMul as tf.KernelFunc,
  },
];

/** The wasm backend's own Conv2DBackpropInput, kept so benchmarks can compare against it. */
let stockConv2DBackpropInput: tf.KernelConfig | undefined;

function isOurs(config: tf.KernelConfig): boolean {
  return tf.getKernel(config.kernelName, BACKEND)?.kernelFunc === config.kernelFunc;
}

/** Names of the kernels this module provides on 'wasm'. */
export const WASM_TRAINING_KERNELS: readonly string[] = KERNELS.map((k) => k.kernelName);

/**
 * Registers the training kernels on the 'wasm' backend. Safe to call repeatedly and before or after
 * the backend is initialised (kernels are looked up by name at each call).
 */
export function registerWasmTrainingKernels(): void {
  for (const config of KERNELS) {
    if (isOurs(config)) continue;
    const existing = tf.getKernel(config.kernelName, BACKEND);
    if (existing !== undefined) {
      // Conv2DBackpropInput, Identity and BatchMatMul exist in stock wasm: the first is replaced
      // because it runs ~8x slower than a forward conv, the second because it copies (see
      // identity), the third wrapped (see batchMatMul). tfjs refuses to register a second kernel
      // under the same name, so the stock one has to be unregistered first. The stock
      // Conv2DBackpropInput is kept for `withStockConv2DBackpropInput`.
      if (config.kernelName === tf.Conv2DBackpropInput && stockConv2DBackpropInput === undefined) {
        stockConv2DBackpropInput = existing;
      }
      // BatchMatMul: ours wraps the stock kernel (see batchMatMul).
      if (config.kernelName === tf.BatchMatMul && stockBatchMatMul === undefined) stockBatchMatMul = existing;
      tf.unregisterKernel(config.kernelName, BACKEND);
    }
    tf.registerKernel(config);
  }
}

/** True when every training kernel of this module is the one registered on 'wasm'. */
export function wasmTrainingKernelsRegistered(): boolean {
  return KERNELS.every(isOurs);
}

/**
 * Runs `fn` with the stock wasm Conv2DBackpropInput temporarily restored (for benchmarks and
 * comparisons); the replacement is put back afterwards. The wasm backend must be active.
 */
export function withStockConv2DBackpropInput<T>(fn: () => T): T {
  const stock = stockConv2DBackpropInput;
  const ours = KERNELS.find((k) => k.kernelName === tf.Conv2DBackpropInput)!;
  if (stock === undefined || !isOurs(ours)) return fn();
  tf.unregisterKernel(ours.kernelName, BACKEND);
  tf.registerKernel(stock);
  try {
    // Its setup binds the native function; it is skipped at backend init when ours was registered
    // first, and running it again is harmless.
    stock.setupFunc?.(tf.findBackend(BACKEND) as tf.KernelBackend);
    return fn();
  } finally {
    tf.unregisterKernel(stock.kernelName, BACKEND);
    tf.registerKernel(ours);
  }
}
