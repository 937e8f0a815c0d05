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
 * Known differences from torchvision (deliberate; details at the functions):
 * - Crop resampling maps the centres of the crop's corner pixels onto the centres of the output's
 *   corner pixels (cropAndResize's "align corners"), where torchvision uses half-pixel centres: the
 *   stretch differs by (h-1)/(S-1) vs h/S, under a pixel. No antialiasing when a crop is shrunk
 *   (only when `size` is below the crop size, never with `size` = the source size). Box corners are
 *   float32, so even a whole-image crop reproduces pixels only to ~1e-7 (exactly when side + 1 is a
 *   power of two).
 * - Crop sides round half up (Math.round) where Python rounds half to even.
 * - Blur: exact Gaussian, kernel side by SimCLR's 10 % rule (the config has no kernel size; BYOL's
 *   23 px at 224 agrees), reflect padding as torchvision. MoCo v2's PIL blur (box approximation,
 *   radius = sigma) is not reproduced.
 * - Brightness is multiplicative (torchvision, SimCLR v2), not SimCLR v1's additive variant.
 * - Everything else (blends clamped after each op, HSV hue shift, a random op order per image,
 *   ITU-R 601 grayscale, solarize) matches torchvision's tensor code up to float32 rounding.
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
const HUE = 3;

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

/*
 * Tensor side. After the crop each channel is kept as its own [B, S, S] tensor: per-image factors
 * are then [B, 1, 1] tensors and the gray image is a same-shape tensor, patterns that the wasm
 * backend's XNNPACK kernels run at memory speed. The alternatives are slow there: broadcasting a
 * [B,H,W,1] gray image over 3 channels, its comparison/select/maximum/mod/gather kernels (generic
 * per-element loops, some 50x slower than its arithmetic), and slices (each copies the whole
 * input). Hence also `gt` (an exact 0/1 mask from `step`) and `select` (an exact blend with such a
 * mask, since 0*v = 0 and v + 0 = v) instead of comparisons and `where`.
 */

/** One [B, S, S] tensor per channel. */
type Channels = tf.Tensor3D[];

/** Moves to the next stage's channels, freeing the previous stage's that were not passed through. */
function advance(prev: Channels, next: Channels): Channels {
  for (const t of prev) if (!next.includes(t)) t.dispose();
  return next;
}

/** Per-image values as a [B, 1, 1] tensor. */
function perImage(values: ArrayLike<number>): tf.Tensor3D {
  return tf.tensor3d(Float32Array.from(values), [values.length, 1, 1]);
}

function any(flags: ArrayLike<number>): boolean {
  for (let i = 0; i < flags.length; i++) if (flags[i] !== 0) return true;
  return false;
}

/** 1 where a > b, else 0 (exact: a - b > 0 iff a > b for finite floats). */
function gt(a: tf.Tensor3D | number, b: tf.Tensor3D): tf.Tensor3D;
function gt(a: tf.Tensor3D, b: tf.Tensor3D | number): tf.Tensor3D;
function gt(a: tf.Tensor3D | number, b: tf.Tensor3D | number): tf.Tensor3D {
  return tf.step(tf.sub(a, b)) as tf.Tensor3D;
}

/** c ? a : b for a 0/1 tensor c (broadcasting). */
function select(c: tf.Tensor3D, a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  return tf.add(tf.mul(c, a), tf.mul(tf.sub(1, c), b));
}

/** ITU-R 601 luma, summed in torchvision's order (a 1-channel image is its own gray). */
function luma(ch: Channels): tf.Tensor3D {
  if (ch.length === 1) return ch[0];
  const [wr, wg, wb] = LUMA;
  return tf.add(tf.add(tf.mul(ch[0], wr), tf.mul(ch[1], wg)), tf.mul(ch[2], wb));
}

/**
 * Images `idx` of [B, S, S] (repeats allowed): an identity-box cropAndResize, which samples whole
 * pixels with zero interpolation weight and so copies them exactly (wasm's gather is far slower).
 */
function gatherImages(x: tf.Tensor3D, idx: ArrayLike<number>): tf.Tensor3D {
  const [b, h, w] = x.shape;
  const k = idx.length;
  const boxes = new Float32Array(4 * k);
  for (let i = 0; i < k; i++) boxes.set([0, 0, 1, 1], 4 * i);
  const out = tf.image.cropAndResize(
    tf.reshape(x, [b, h, w, 1]),
    tf.tensor2d(boxes, [k, 4]),
    tf.tensor1d(Int32Array.from(idx), 'int32'),
    [h, w],
  );
  return tf.reshape(out, [k, h, w]);
}

/** `x` with its images `idx` replaced by images `from`, `from + 1`, ... of `update`. */
function scatterImages(
  x: tf.Tensor3D,
  idx: readonly number[],
  update: tf.Tensor3D,
  from: number,
): tf.Tensor3D {
  const b = x.shape[0];
  const sel = Int32Array.from({ length: b }, (_, i) => i);
  idx.forEach((img, j) => {
    sel[img] = b + from + j;
  });
  return gatherImages(tf.concat([x, update], 0), sel);
}

/**
 * Crop, resize and flip in one `cropAndResize`: zero-bordered [B, H+2, W+2, C] in, one [B, S, S]
 * tensor per channel out. A horizontal flip swaps the box's x1/x2, which cropAndResize samples as
 * a mirror (checked on the cpu and wasm kernels).
 *
 * The box maps the centres of the crop's first/last rows and columns onto the output's first/last
 * ones (cropAndResize's own convention). The one-pixel zero border is there because cropAndResize
 * writes black for a sample even a rounding error outside the image, and float32 box coordinates
 * do overshoot; with the border such a sample gives the border a ~1e-7 share instead.
 */
function cropResizeFlip(padded: tf.Tensor4D, p: AugmentParams, size: number): Channels {
  const [batch, ph, pw, channels] = padded.shape;
  // Padded row k + 1 holds source row k; cropAndResize maps y to padded row y * (ph - 1).
  const boxes = new Float32Array(batch * 4);
  for (let b = 0; b < batch; b++) {
    const top = p.crop[4 * b];
    const left = p.crop[4 * b + 1];
    const y1 = (top + 1) / (ph - 1);
    const y2 = (top + p.crop[4 * b + 2]) / (ph - 1);
    let x1 = (left + 1) / (pw - 1);
    let x2 = (left + p.crop[4 * b + 3]) / (pw - 1);
    if (p.flip[b]) [x1, x2] = [x2, x1];
    boxes.set([y1, x1, y2, x2], 4 * b);
  }
  const boxInd = tf.tensor1d(
    Int32Array.from({ length: batch }, (_, i) => i),
    'int32',
  );
  const out = tf.image.cropAndResize(padded, tf.tensor2d(boxes, [batch, 4]), boxInd, [size, size]);
  if (channels === 1) return [tf.reshape(out, [batch, size, size])];
  return tf.unstack(tf.transpose(out, [3, 0, 1, 2])) as Channels;
}

/**
 * torchvision's `adjust_hue` (RGB -> HSV, rotate H, -> RGB) for k images given as channels, with
 * per-image shifts in sixths of the circle ([k, 1, 1]). Returns [3k, S, S]: the k red outputs,
 * then the green, then the blue (one tensor, so the per-channel tail runs as one set of ops).
 *
 * Hue in sixths is computed as torchvision does, with its tie-breaking (red's formula if red is a
 * maximum, else green's if green is, else blue's); the way back uses the closed form of its
 * six-sector table, `out_n = max - (max - min) * ramp((n + 6H) mod 6)`, n = 5, 3, 1 for R, G, B,
 * `ramp(k) = clamp(k, 0, 1) - clamp(k - 3, 0, 1)`, which equals its per-sector v/p/q/t values.
 */
function hueShift([r, g, b]: Channels, shift6: tf.Tensor3D): tf.Tensor3D {
  const gOverR = gt(g, r);
  const bAtMostR = tf.sub(1, gt(b, r));
  const bAtMostG = tf.sub(1, gt(b, g));
  const isR = tf.mul(tf.sub(1, gOverR), bAtMostR);
  const notR = tf.sub(1, isR);
  const isG = tf.mul(notR, bAtMostG);
  const isB = tf.sub(notR, isG);
  const pick = (wr: tf.Tensor, wg: tf.Tensor, wb: tf.Tensor): tf.Tensor3D =>
    tf.add(tf.add(tf.mul(wr, r), tf.mul(wg, g)), tf.mul(wb, b));
  const maxc = pick(isR, isG, isB);
  const minB = tf.mul(bAtMostR, bAtMostG);
  const notMinB = tf.sub(1, minB);
  const minR = tf.mul(notMinB, gOverR);
  const minc = pick(minR, tf.sub(notMinB, minR), minB);
  const chroma = tf.sub(maxc, minc);
  // Gray pixels (chroma 0) divide by 1 instead, giving hue 0 as in torchvision.
  const div = tf.add(chroma, tf.sub(1, tf.step(chroma)));
  const hR = tf.div(tf.sub(g, b), div);
  const hG = tf.add(tf.div(tf.sub(b, r), div), 2);
  const hB = tf.add(tf.div(tf.sub(r, g), div), 4);
  const h6 = tf.add(tf.add(tf.add(tf.mul(isR, hR), tf.mul(isG, hG)), tf.mul(isB, hB)), shift6);
  const t = tf.concat([tf.add(h6, 5), tf.add(h6, 3), tf.add(h6, 1)], 0);
  const k = tf.sub(t, tf.mul(tf.floor(tf.div(t, 6)), 6));
  const ramp = tf.sub(tf.clipByValue(k, 0, 1), tf.clipByValue(tf.sub(k, 3), 0, 1));
  return tf.sub(tf.concat([maxc, maxc, maxc], 0), tf.mul(tf.concat([chroma, chroma, chroma], 0), ramp));
}

/** One jitter slot's blends for all images: clamp(a*x + g*gray + m*mean(gray)), factors per image. */
function linearStep(ch: Channels, a: Float32Array, g: Float32Array | null, m: Float32Array | null): Channels {
  const aT = perImage(a);
  let t: tf.Tensor3D | null = null;
  if (g || m) {
    const gray = luma(ch);
    if (g) t = tf.mul(gray, perImage(g));
    if (m) {
      const offset: tf.Tensor3D = tf.mul(tf.mean(gray, [1, 2], true), perImage(m));
      t = t ? tf.add(t, offset) : offset;
    }
  }
  return ch.map((x) => {
    const y: tf.Tensor3D = tf.mul(x, aT);
    return tf.clipByValue(t ? tf.add(y, t) : y, 0, 1);
  });
}

/**
 * Colour jitter with a per-image random op order, as torchvision (which permutes per call, i.e.
 * per image). Slot s applies, to each image, the op at position s of its own permutation.
 * Brightness, contrast and saturation are all `a*x + g*gray + m*mean(gray)` followed by a clamp,
 * so one set of batched ops per slot covers every image (a = 1, g = m = 0 is an exact identity).
 * Hue, the one non-linear op, runs only on the images whose slot s is hue, gathered out and put
 * back, so each image pays for at most one HSV round trip.
 * 1-channel images get only brightness and contrast (torchvision skips the others for them too).
 */
function colorJitter(ch: Channels, p: AugmentParams): Channels {
  const batch = p.batch;
  const rgb = ch.length === 3;
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
      } else if (rgb && op === SATURATION) {
        a[b] = p.saturation[b];
        g[b] = 1 - p.saturation[b];
      } else if (rgb && op === HUE && p.hue[b] !== 0) {
        hueIdx.push(b);
        hueShift6.push(6 * p.hue[b]);
      }
    }
    const useG = any(g);
    const useM = any(m);
    if (useG || useM || a.some((v) => v !== 1)) {
      ch = advance(
        ch,
        tf.tidy(() => linearStep(ch, a, useG ? g : null, useM ? m : null)),
      );
    }
    if (hueIdx.length > 0) {
      ch = advance(
        ch,
        tf.tidy(() => {
          const shifted = hueShift(
            ch.map((x) => gatherImages(x, hueIdx)),
            perImage(hueShift6),
          );
          return ch.map((x, c) => scatterImages(x, hueIdx, shifted, c * hueIdx.length));
        }),
      );
    }
  }
  return ch;
}

/** Per-image grayscale (3 channels kept), as RandomGrayscale. */
function grayscale(ch: Channels, p: AugmentParams): Channels {
  if (ch.length !== 3 || !any(p.grayscale)) return ch;
  return tf.tidy(() => {
    const gray = luma(ch);
    const mask = perImage(p.grayscale);
    return ch.map((x) => select(mask, gray, x));
  });
}

/**
 * Exact separable Gaussian blur with a per-image sigma and reflect padding (torchvision's; SimCLR's
 * TF code zero-pads). Per channel, the images are folded into the channel axis ([1, S, S, B]) so
 * one depthwise convolution per axis applies every image's own kernel; images without blur get a
 * unit impulse, which reproduces them exactly. Cheaper than per-image [S,S] blur matrices applied
 * by batched matMul (O(k) instead of O(S) work per pixel) and uses only kernels wasm has.
 */
function gaussianBlur(ch: Channels, p: AugmentParams): Channels {
  const [batch, h, w] = ch[0].shape;
  const ks = Math.min(blurKernelSize(h), blurKernelSize(w));
  if (ks === 1 || !any(p.blur)) return ch;
  const r = (ks - 1) / 2;
  // depthwiseConv2d filter layout [kh, kw, inChannels, 1]: tap t of image b at t * batch + b.
  const taps = new Float32Array(ks * batch);
  for (let b = 0; b < batch; b++) {
    const k = p.blur[b] ? gaussianKernel1d(ks, p.blurSigma[b]) : null;
    for (let t = 0; t < ks; t++) taps[t * batch + b] = k ? k[t] : t === r ? 1 : 0;
  }
  const vertTaps = tf.tensor4d(taps, [ks, 1, batch, 1]);
  const horizTaps = tf.tensor4d(taps, [1, ks, batch, 1]);
  const pad: [number, number][] = [
    [0, 0],
    [r, r],
    [r, r],
    [0, 0],
  ];
  return ch.map((x) =>
    tf.tidy(() => {
      const folded: tf.Tensor4D = tf.reshape(tf.transpose(x, [1, 2, 0]), [1, h, w, batch]);
      const vert = tf.depthwiseConv2d(tf.mirrorPad(folded, pad, 'reflect'), vertTaps, 1, 'valid');
      const both = tf.depthwiseConv2d(vert, horizTaps, 1, 'valid');
      return tf.transpose(tf.reshape(both, [h, w, batch]), [2, 0, 1]);
    }),
  );
}

/** Per-image solarize: pixels >= threshold become 1 - x. */
function solarize(ch: Channels, p: AugmentParams): Channels {
  if (!any(p.solarize)) return ch;
  const mask = perImage(p.solarize);
  return ch.map((x) =>
    tf.tidy(() => {
      const hit: tf.Tensor3D = tf.mul(tf.sub(1, gt(p.solarizeThreshold, x)), mask);
      return select(hit, tf.sub(1, x), x);
    }),
  );
}

function checkShapes(batch: number, h: number, w: number, channels: number, p: AugmentParams, size: number) {
  if (batch !== p.batch) throw new RangeError(`params are for ${p.batch} images, got ${batch}`);
  if (h !== p.srcH || w !== p.srcW)
    throw new RangeError(`params are for ${p.srcH}x${p.srcW} images, got ${h}x${w}`);
  if (channels !== 1 && channels !== 3) throw new RangeError(`expected 1 or 3 channels, got ${channels}`);
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`bad output size ${size}`);
}

/** The pipeline on zero-bordered images [B, H+2, W+2, C]; returns [B, S, S, C]. */
function augmentPadded(padded: tf.Tensor4D, params: AugmentParams, outSize: number): tf.Tensor4D {
  // Nested tidies free each stage's temporaries as soon as it ends: keeping the working set small
  // lets the wasm heap reuse warm memory, which makes the elementwise kernels several times faster.
  let ch = tf.tidy(() => cropResizeFlip(padded, params, outSize));
  ch = colorJitter(ch, params);
  ch = advance(ch, grayscale(ch, params));
  ch = advance(
    ch,
    tf.tidy(() => gaussianBlur(ch, params)),
  );
  ch = advance(
    ch,
    tf.tidy(() => solarize(ch, params)),
  );
  const [batch] = padded.shape;
  const out =
    ch.length === 1
      ? tf.reshape(ch[0], [batch, outSize, outSize, 1])
      : tf.transpose(tf.stack(ch), [1, 2, 3, 0]);
  return tf.clipByValue(out, 0, 1) as tf.Tensor4D;
}

/**
 * Applies `params` to float32 images [B,H,W,C] in [0,1]; returns float32 [B,S,S,C] in [0,1],
 * S = `outSize`. Does not dispose `images`.
 */
export function applyAugment(images: tf.Tensor4D, params: AugmentParams, outSize: number): tf.Tensor4D {
  const [batch, h, w, channels] = images.shape;
  checkShapes(batch, h, w, channels, params, outSize);
  if (batch === 0) return tf.zeros([0, outSize, outSize, channels]);
  return tf.tidy(() => {
    const padded = tf.pad(tf.cast(images, 'float32'), [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ]) as tf.Tensor4D;
    return augmentPadded(padded, params, outSize);
  });
}

/**
 * Gathers `indices` from `split`, scales to [0,1], samples parameters from `rng` and applies them:
 * float32 [B,S,S,C] with S = `outputSize(cfg, height, width)`.
 */
export function augmentBatch(
  split: ImageSplit,
  indices: Int32Array,
  cfg: AugmentConfig,
  rng: Rng,
): tf.Tensor4D {
  const { height: h, width: w, channels: c } = split;
  const batch = indices.length;
  const size = outputSize(cfg, h, w);
  const params = sampleAugmentParams(rng, batch, h, w, cfg);
  if (batch === 0) return tf.zeros([0, size, size, c]);
  // Built here with its zero border already in place, which saves the device a pad (a slow
  // generic loop on wasm).
  const ph = h + 2;
  const pw = w + 2;
  const row = w * c;
  const data = new Float32Array(batch * ph * pw * c);
  for (let b = 0; b < batch; b++) {
    const i = indices[b];
    if (!(i >= 0 && i < split.n)) throw new RangeError(`image index ${i} outside 0..${split.n - 1}`);
    for (let y = 0; y < h; y++) {
      const src = (i * h + y) * row;
      const dst = ((b * ph + y + 1) * pw + 1) * c;
      for (let k = 0; k < row; k++) data[dst + k] = split.images[src + k] / 255;
    }
  }
  return tf.tidy(() => augmentPadded(tf.tensor4d(data, [batch, ph, pw, c]), params, size));
}
