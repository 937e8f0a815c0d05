/**
 * Batched image augmentation for contrastive views (SimCLR / MoCo v2 / BYOL family), following
 * torchvision semantics.
 *
 * Sampling and application are split: `sampleAugmentParams` draws every random decision into plain
 * typed arrays (cheap, testable, replayable from the seed), and `applyAugment` turns them into a
 * fixed number of batched tensor ops, so the cost does not grow with a per-image JS loop issuing
 * kernels. Pipeline order: random resized crop + horizontal flip, colour jitter (probability p),
 * grayscale, Gaussian blur, solarize.
 *
 * Known differences from torchvision (all deliberate, see the individual functions):
 * - Crop resampling maps the centres of the crop's corner pixels onto the centres of the output's
 *   corner pixels ("align corners"), where torchvision uses half-pixel centres; the stretch differs
 *   by (h-1)/(S-1) vs h/S, i.e. by under a pixel. No antialiasing when the crop is shrunk (only
 *   happens when `size` is below the crop size; never with `size` = the source size).
 * - Everything else (brightness/contrast/saturation blends with clamping after each op, HSV hue
 *   shift, per-image random op order, ITU-R 601 grayscale, Gaussian blur with reflect padding,
 *   solarize) matches torchvision's tensor implementation up to float32 rounding.
 * - Brightness is multiplicative (torchvision, SimCLR v2), not SimCLR v1's additive variant.
 */

import * as tf from '@tensorflow/tfjs-core';
import type { AugmentConfig } from '../config/types';
import { Rng } from '../rng';
import type { ImageSplit } from './types';

/** Colour-jitter op ids as stored in `AugmentParams.jitterOrder`. */
export const JITTER_OPS = ['brightness', 'contrast', 'saturation', 'hue'] as const;
const BRIGHTNESS = 0;
const CONTRAST = 1;
const SATURATION = 2;

/** ITU-R 601-2 luma weights, as torchvision's `rgb_to_grayscale`. */
export const LUMA: readonly [number, number, number] = [0.299, 0.587, 0.114];

/**
 * Every random decision for one batch. Per-image arrays have `batch` entries (`crop` and
 * `jitterOrder` have 4 per image). Factors are drawn for every image; only those whose flag is set
 * are applied.
 */
export interface AugmentParams {
  batch: number;
  /** Source image size the crop windows refer to. */
  srcH: number;
  srcW: number;
  /** Crop window in source pixels: top, left, height, width. */
  crop: Int32Array;
  flip: Uint8Array;
  /** Colour jitter applied at all (the `colorJitter.p` draw). */
  jitter: Uint8Array;
  brightness: Float32Array;
  contrast: Float32Array;
  saturation: Float32Array;
  /** Hue shift as a fraction of the hue circle, in [-hue, hue]. */
  hue: Float32Array;
  /** Per image, a permutation of the op ids of `JITTER_OPS`: the order the ops are applied in. */
  jitterOrder: Uint8Array;
  grayscale: Uint8Array;
  blur: Uint8Array;
  blurSigma: Float32Array;
  solarize: Uint8Array;
  solarizeThreshold: number;
}

/** Output side for a config and source size (`size` 0 = the source's own, the shorter side if not square). */
export function outputSize(cfg: AugmentConfig, srcH: number, srcW: number): number {
  return cfg.size > 0 ? cfg.size : Math.min(srcH, srcW);
}

/**
 * Gaussian blur kernel side for an image side, SimCLR's rule: 10 % of the side, made odd
 * (`radius = floor(floor(side / 10) / 2)`, 23 at 224, 3 at 32). Below 20 px it is 1, i.e. no blur.
 */
export function blurKernelSize(side: number): number {
  return 2 * Math.floor(Math.floor(side / 10) / 2) + 1;
}

/** Normalised 1-D Gaussian taps, as torchvision's `_get_gaussian_kernel1d`. */
export function gaussianKernel1d(size: number, sigma: number): Float64Array {
  const half = (size - 1) / 2;
  const k = new Float64Array(size);
  let sum = 0;
  for (let i = 0; i < size; i++) {
    const x = (i - half) / sigma;
    k[i] = Math.exp(-0.5 * x * x);
    sum += k[i];
  }
  for (let i = 0; i < size; i++) k[i] /= sum;
  return k;
}

/** Parameters that leave every image unchanged apart from resizing (full-image crop, no flip, no colour ops). */
export function identityParams(batch: number, srcH: number, srcW: number): AugmentParams {
  const crop = new Int32Array(batch * 4);
  const jitterOrder = new Uint8Array(batch * 4);
  for (let b = 0; b < batch; b++) {
    crop[4 * b + 2] = srcH;
    crop[4 * b + 3] = srcW;
    for (let s = 0; s < 4; s++) jitterOrder[4 * b + s] = s;
  }
  return {
    batch,
    srcH,
    srcW,
    crop,
    flip: new Uint8Array(batch),
    jitter: new Uint8Array(batch),
    brightness: new Float32Array(batch).fill(1),
    contrast: new Float32Array(batch).fill(1),
    saturation: new Float32Array(batch).fill(1),
    hue: new Float32Array(batch),
    jitterOrder,
    grayscale: new Uint8Array(batch),
    blur: new Uint8Array(batch),
    blurSigma: new Float32Array(batch).fill(1),
    solarize: new Uint8Array(batch),
    solarizeThreshold: 0.5,
  };
}

/** torchvision `RandomResizedCrop.get_params`: 10 tries, then a centre crop clamped to the ratio range. */
function sampleCrop(
  r: Rng,
  srcH: number,
  srcW: number,
  scale: readonly [number, number],
  ratio: readonly [number, number],
  out: Int32Array,
  o: number,
): void {
  const area = srcH * srcW;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * r.uniform(scale[0], scale[1]);
    const aspect = Math.exp(r.uniform(logLo, logHi));
    const w = Math.round(Math.sqrt(target * aspect));
    const h = Math.round(Math.sqrt(target / aspect));
    if (w > 0 && w <= srcW && h > 0 && h <= srcH) {
      out[o] = r.int(srcH - h + 1);
      out[o + 1] = r.int(srcW - w + 1);
      out[o + 2] = h;
      out[o + 3] = w;
      return;
    }
  }
  const inRatio = srcW / srcH;
  const rMin = Math.min(ratio[0], ratio[1]);
  const rMax = Math.max(ratio[0], ratio[1]);
  let w = srcW;
  let h = srcH;
  if (inRatio < rMin) h = Math.max(1, Math.min(srcH, Math.round(w / rMin)));
  else if (inRatio > rMax) w = Math.max(1, Math.min(srcW, Math.round(h * rMax)));
  out[o] = Math.floor((srcH - h) / 2);
  out[o + 1] = Math.floor((srcW - w) / 2);
  out[o + 2] = h;
  out[o + 3] = w;
}

/**
 * Draws all augmentation decisions for `batch` images of `srcH x srcW`.
 *
 * Each image gets its own sub-generator seeded by one draw from `rng`, so the variable number of
 * crop attempts in one image cannot shift the randomness of the next, and image b's parameters
 * depend only on `rng` and b.
 */
export function sampleAugmentParams(
  rng: Rng,
  batch: number,
  srcH: number,
  srcW: number,
  cfg: AugmentConfig,
): AugmentParams {
  if (!Number.isInteger(batch) || batch < 0) throw new RangeError(`batch must be a non-negative integer`);
  if (srcH < 1 || srcW < 1) throw new RangeError(`source size must be positive, got ${srcH}x${srcW}`);
  const p = identityParams(batch, srcH, srcW);
  p.solarizeThreshold = cfg.solarize.threshold;
  const cj = cfg.colorJitter;
  const [sigLo, sigHi] = cfg.blur.sigma;
  for (let b = 0; b < batch; b++) {
    const r = new Rng(Math.floor(rng.next() * 4294967296));
    sampleCrop(r, srcH, srcW, cfg.cropScale, cfg.cropRatio, p.crop, 4 * b);
    p.flip[b] = r.bernoulli(cfg.flip) ? 1 : 0;
    p.jitter[b] = r.bernoulli(cj.p) ? 1 : 0;
    // torchvision ranges: [max(0, 1 - s), 1 + s] for the blends, [-h, h] for hue; s = 0 gives exactly 1.
    p.brightness[b] = r.uniform(Math.max(0, 1 - cj.brightness), 1 + cj.brightness);
    p.contrast[b] = r.uniform(Math.max(0, 1 - cj.contrast), 1 + cj.contrast);
    p.saturation[b] = r.uniform(Math.max(0, 1 - cj.saturation), 1 + cj.saturation);
    p.hue[b] = r.uniform(-cj.hue, cj.hue);
    p.jitterOrder.set(r.permutation(4), 4 * b);
    p.grayscale[b] = r.bernoulli(cfg.grayscale) ? 1 : 0;
    p.blur[b] = r.bernoulli(cfg.blur.p) ? 1 : 0;
    p.blurSigma[b] = r.uniform(sigLo, sigHi);
    p.solarize[b] = r.bernoulli(cfg.solarize.p) ? 1 : 0;
  }
  return p;
}

function perImage(values: Float32Array | Uint8Array): tf.Tensor4D {
  return tf.tensor4d(Float32Array.from(values), [values.length, 1, 1, 1]);
}

function any(flags: Uint8Array): boolean {
  return flags.some((f) => f !== 0);
}

/** [B,H,W,3] -> [B,H,W,1] luma. */
function toGray(x: tf.Tensor4D): tf.Tensor4D {
  const [b, h, w] = x.shape;
  return tf.reshape(tf.matMul(tf.reshape(x, [b * h * w, 3]), tf.tensor2d(LUMA, [3, 1])), [b, h, w, 1]);
}

/**
 * Crop, resize and flip in one `cropAndResize`. A horizontal flip swaps the box's x1/x2, which
 * cropAndResize samples as a mirror (checked on the cpu and wasm kernels).
 *
 * The image is first padded by one replicated edge pixel: cropAndResize writes the extrapolation
 * value (black) for any sample even a rounding error past the last row or column, and float32 box
 * coordinates do overshoot. With the pad such a sample reads the replicated edge instead.
 */
function cropResizeFlip(images: tf.Tensor4D, p: AugmentParams, size: number): tf.Tensor4D {
  const [batch, h, w] = images.shape;
  const padded = tf.mirrorPad(
    images,
    [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ],
    'symmetric',
  );
  // Padded row index k + 1 holds source row k; cropAndResize maps y to y * (paddedH - 1) = y * (h + 1).
  const boxes = new Float32Array(batch * 4);
  for (let b = 0; b < batch; b++) {
    const top = p.crop[4 * b];
    const left = p.crop[4 * b + 1];
    const y1 = (top + 1) / (h + 1);
    const y2 = (top + p.crop[4 * b + 2]) / (h + 1);
    let x1 = (left + 1) / (w + 1);
    let x2 = (left + p.crop[4 * b + 3]) / (w + 1);
    if (p.flip[b]) [x1, x2] = [x2, x1];
    boxes.set([y1, x1, y2, x2], 4 * b);
  }
  const boxInd = tf.tensor1d(Int32Array.from({ length: batch }, (_, i) => i), 'int32');
  return tf.image.cropAndResize(padded, tf.tensor2d(boxes, [batch, 4]), boxInd, [size, size], 'bilinear');
}

/**
 * torchvision's `adjust_hue` (RGB -> HSV, rotate H, -> RGB) for [k,H,W,3] images with per-image
 * shifts given in sixths of the circle ([k,1,1,1]).
 *
 * Instead of torchvision's six-sector table this uses the equivalent closed form
 * `out_n = V - V*S*clamp(min(k, 4 - k), 0, 1)` with `k = (n + 6H) mod 6`, n = 5, 3, 1 for R, G, B,
 * and V*S = max - min; it needs no per-sector stack and no Einsum (missing on wasm).
 */
function hueShift(x: tf.Tensor4D, shift6: tf.Tensor4D): tf.Tensor4D {
  const [r, g, b] = tf.split(x, 3, 3);
  const maxc = tf.max(x, 3, true);
  const chroma = tf.sub(maxc, tf.min(x, 3, true));
  const grey = tf.equal(chroma, 0);
  const div = tf.where(grey, tf.onesLike(chroma), chroma);
  // Same tie-breaking as torchvision: red wins over green, green over blue.
  const h6 = tf.where(
    tf.equal(maxc, r),
    tf.div(tf.sub(g, b), div),
    tf.where(tf.equal(maxc, g), tf.add(tf.div(tf.sub(b, r), div), 2), tf.add(tf.div(tf.sub(r, g), div), 4)),
  );
  const k = tf.mod(tf.add(tf.add(h6, tf.tensor1d([5, 3, 1])), shift6), 6);
  const ramp = tf.clipByValue(tf.minimum(k, tf.sub(4, k)), 0, 1);
  return tf.sub(maxc, tf.mul(chroma, ramp));
}

/**
 * Colour jitter with a per-image random op order, as torchvision (which permutes per call, i.e.
 * per image). Slot s applies, to each image, the op at position s of its own permutation.
 * Brightness, contrast and saturation are all `a*x + g*gray + m*mean(gray)` followed by a clamp,
 * so one set of batched ops per slot covers every image (a = 1, g = m = 0 is an exact identity).
 * Hue is the only non-linear op; it runs on just the images whose slot s is hue, gathered out and
 * scattered back, so each image pays for at most one HSV round trip.
 * For 1-channel images only brightness and contrast apply (torchvision skips the others too).
 */
function colorJitter(x: tf.Tensor4D, p: AugmentParams): tf.Tensor4D {
  const [batch, , , channels] = x.shape;
  for (let s = 0; s < 4; s++) {
    const a = new Float32Array(batch).fill(1);
    const g = new Float32Array(batch);
    const m = new Float32Array(batch);
    const hueIdx: number[] = [];
    const hueShift6: number[] = [];
    for (let b = 0; b < batch; b++) {
      if (!p.jitter[b]) continue;
      const op = p.jitterOrder[4 * b + s];
      if (op === BRIGHTNESS) {
        a[b] = p.brightness[b];
      } else if (op === CONTRAST) {
        a[b] = p.contrast[b];
        m[b] = 1 - p.contrast[b];
      } else if (channels === 3 && op === SATURATION) {
        a[b] = p.saturation[b];
        g[b] = 1 - p.saturation[b];
      } else if (channels === 3 && op === 3 && p.hue[b] !== 0) {
        hueIdx.push(b);
        hueShift6.push(6 * p.hue[b]);
      }
    }
    const useG = g.some((v) => v !== 0);
    const useM = m.some((v) => v !== 0);
    if (useG || useM || a.some((v) => v !== 1)) {
      let y: tf.Tensor4D = tf.mul(x, perImage(a));
      if (useG || useM) {
        const gray = channels === 3 ? toGray(x) : x;
        let t: tf.Tensor4D | null = useG ? tf.mul(gray, perImage(g)) : null;
        if (useM) {
          const mt = tf.mul(tf.mean(gray, [1, 2, 3], true), perImage(m)) as tf.Tensor4D;
          t = t ? tf.add(t, mt) : mt;
        }
        y = tf.add(y, t as tf.Tensor4D);
      }
      x = tf.clipByValue(y, 0, 1);
    }
    if (hueIdx.length > 0) {
      const shift = tf.tensor4d(hueShift6, [hueIdx.length, 1, 1, 1]);
      if (hueIdx.length === batch) {
        x = hueShift(x, shift);
      } else {
        const shifted = hueShift(tf.gather(x, tf.tensor1d(hueIdx, 'int32')), shift);
        const sel = Int32Array.from({ length: batch }, (_, i) => i);
        hueIdx.forEach((b, j) => {
          sel[b] = batch + j;
        });
        x = tf.gather(tf.concat([x, shifted], 0), tf.tensor1d(sel, 'int32'));
      }
    }
  }
  return x;
}

/** Per-image grayscale (3 channels kept), as RandomGrayscale; the 0/1 blend is exact either way. */
function grayscale(x: tf.Tensor4D, p: AugmentParams): tf.Tensor4D {
  if (x.shape[3] !== 3 || !any(p.grayscale)) return x;
  const gm = perImage(p.grayscale);
  return tf.add(tf.mul(x, tf.sub(1, gm)), tf.mul(toGray(x), gm));
}

/**
 * Exact separable Gaussian blur with a per-image sigma and reflect padding (torchvision's; SimCLR's
 * TF code zero-pads). The batch is folded into the channel axis ([1, H, W, B*C]) so one depthwise
 * convolution per axis applies every image's own kernel; images without blur get a unit impulse,
 * which reproduces them exactly. This is far cheaper than per-image [S,S] blur matrices applied by
 * batched matMul (O(k) instead of O(S) work per pixel) and needs only wasm-supported kernels.
 */
function gaussianBlur(x: tf.Tensor4D, p: AugmentParams): tf.Tensor4D {
  const [batch, h, w, channels] = x.shape;
  const ks = Math.min(blurKernelSize(h), blurKernelSize(w));
  if (ks === 1 || !any(p.blur)) return x;
  const r = (ks - 1) / 2;
  const bc = batch * channels;
  // depthwiseConv2d filter layout [kh, kw, inChannels, multiplier]: tap t of channel c is at t*bc + c.
  const taps = new Float32Array(ks * bc);
  for (let b = 0; b < batch; b++) {
    const k = p.blur[b] ? gaussianKernel1d(ks, p.blurSigma[b]) : null;
    for (let t = 0; t < ks; t++) {
      const v = k ? k[t] : t === r ? 1 : 0;
      for (let c = 0; c < channels; c++) taps[t * bc + b * channels + c] = v;
    }
  }
  const folded = tf.reshape(tf.transpose(x, [1, 2, 0, 3]), [1, h, w, bc]);
  const pad = tf.mirrorPad(
    folded,
    [
      [0, 0],
      [r, r],
      [r, r],
      [0, 0],
    ],
    'reflect',
  );
  const vert = tf.depthwiseConv2d(pad, tf.tensor4d(taps, [ks, 1, bc, 1]), 1, 'valid');
  const both = tf.depthwiseConv2d(vert, tf.tensor4d(taps, [1, ks, bc, 1]), 1, 'valid');
  return tf.transpose(tf.reshape(both, [h, w, batch, channels]), [2, 0, 1, 3]);
}

/** Per-image solarize: pixels >= threshold become 1 - x. */
function solarize(x: tf.Tensor4D, p: AugmentParams): tf.Tensor4D {
  if (!any(p.solarize)) return x;
  const mask = tf.cast(perImage(p.solarize), 'bool');
  const cond = tf.logicalAnd(tf.greaterEqual(x, p.solarizeThreshold), mask);
  return tf.where(cond, tf.sub(1, x), x);
}

/**
 * Applies `params` to float32 images [B,H,W,C] in [0,1]; returns float32 [B,S,S,C] in [0,1],
 * S = `outSize`. Does not dispose `images`.
 */
export function applyAugment(images: tf.Tensor4D, params: AugmentParams, outSize: number): tf.Tensor4D {
  const [batch, h, w, channels] = images.shape;
  if (batch !== params.batch) throw new RangeError(`params are for ${params.batch} images, got ${batch}`);
  if (h !== params.srcH || w !== params.srcW) {
    throw new RangeError(`params are for ${params.srcH}x${params.srcW} images, got ${h}x${w}`);
  }
  if (channels !== 1 && channels !== 3) throw new RangeError(`expected 1 or 3 channels, got ${channels}`);
  if (!Number.isInteger(outSize) || outSize < 1) throw new RangeError(`bad output size ${outSize}`);
  if (batch === 0) return tf.zeros([0, outSize, outSize, channels]);
  return tf.tidy(() => {
    let x = cropResizeFlip(tf.cast(images, 'float32'), params, outSize);
    x = colorJitter(x, params);
    x = grayscale(x, params);
    x = gaussianBlur(x, params);
    x = solarize(x, params);
    return tf.clipByValue(x, 0, 1);
  });
}

/**
 * Gathers `indices` from `split`, scales to [0,1], samples parameters from `rng` and applies them:
 * float32 [B,S,S,C] with S = `outputSize(cfg, height, width)`.
 */
export function augmentBatch(split: ImageSplit, indices: Int32Array, cfg: AugmentConfig, rng: Rng): tf.Tensor4D {
  const { height: h, width: w, channels: c } = split;
  const px = h * w * c;
  const data = new Float32Array(indices.length * px);
  for (let b = 0; b < indices.length; b++) {
    const i = indices[b];
    if (!(i >= 0 && i < split.n)) throw new RangeError(`image index ${i} outside 0..${split.n - 1}`);
    const src = split.images.subarray(i * px, (i + 1) * px);
    const off = b * px;
    for (let k = 0; k < px; k++) data[off + k] = src[k] / 255;
  }
  const params = sampleAugmentParams(rng, indices.length, h, w, cfg);
  return tf.tidy(() => applyAugment(tf.tensor4d(data, [indices.length, h, w, c]), params, outputSize(cfg, h, w)));
}
