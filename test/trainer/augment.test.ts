/**
 * Batched augmentation against per-pixel float64 references written here from torchvision's
 * definitions (cropAndResize's box convention for the crop), on the cpu backend and, for the
 * equivalence checks, on wasm too; plus the parameter sampler's distributions, determinism, tensor
 * hygiene and a wasm timing.
 */
import * as assert from 'node:assert/strict';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import type { AugmentConfig } from '../../trainer/config/types';
import {
  type AugmentParams,
  applyAugment,
  augmentBatch,
  blurKernelSize,
  identityParams,
  outputSize,
  sampleAugmentParams,
} from '../../trainer/data/augment';
import type { ImageSplit } from '../../trainer/data/types';
import { Rng, rngFor } from '../../trainer/rng';

async function useBackend(name: 'cpu' | 'wasm'): Promise<void> {
  assert.ok(await tf.setBackend(name), `backend ${name} did not initialise`);
  await tf.ready();
}

/** The SimCLR ImageNet recipe (strength 1, blur on) plus BYOL's solarize, so every op is exercised. */
function simclrConfig(overrides: Partial<AugmentConfig> = {}): AugmentConfig {
  return {
    size: 0,
    cropScale: [0.08, 1],
    cropRatio: [3 / 4, 4 / 3],
    flip: 0.5,
    colorJitter: { p: 0.8, brightness: 0.8, contrast: 0.8, saturation: 0.8, hue: 0.2 },
    grayscale: 0.2,
    blur: { p: 0.5, sigma: [0.1, 2] },
    solarize: { p: 0.2, threshold: 0.5 },
    ...overrides,
  };
}

/** No random op at all: full-image crop, no flip, no colour, blur or solarize. */
function plainConfig(overrides: Partial<AugmentConfig> = {}): AugmentConfig {
  return {
    size: 0,
    cropScale: [1, 1],
    cropRatio: [1, 1],
    flip: 0,
    colorJitter: { p: 0, brightness: 0, contrast: 0, saturation: 0, hue: 0 },
    grayscale: 0,
    blur: { p: 0, sigma: [1, 1] },
    solarize: { p: 0, threshold: 0.5 },
    ...overrides,
  };
}

/** Float image batch in [0, 1), NHWC. `levels` > 0 quantises to multiples of 1/levels (forces ties). */
function randomImages(n: number, seed: number, levels = 0): Float32Array {
  const r = new Rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = levels > 0 ? Math.floor(r.next() * (levels + 1)) / levels : r.next();
  return out;
}

function randomSplit(n: number, h: number, w: number, c: 1 | 3, seed: number): ImageSplit {
  const r = new Rng(seed);
  const images = new Uint8Array(n * h * w * c);
  for (let i = 0; i < images.length; i++) images[i] = r.int(256);
  return { images, labels: new Int32Array(n), n, height: h, width: w, channels: c };
}

/** Runs applyAugment on plain data and returns the output values. */
function run(data: Float32Array, shape: [number, number, number, number], p: AugmentParams, size: number) {
  const x = tf.tensor4d(data, shape);
  const y = applyAugment(x, p, size);
  const out = y.dataSync() as Float32Array;
  assert.deepEqual(y.shape, [shape[0], size, size, shape[3]]);
  assert.equal(y.dtype, 'float32');
  x.dispose();
  y.dispose();
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string) {
  const d = maxAbsDiff(actual, expected);
  assert.ok(d <= tol, `${what}: max |diff| ${d.toExponential(2)} > ${tol}`);
}

// ---- references (float64, one pixel at a time) ----------------------------------------------

const clamp01 = (v: number) => Math.min(1, Math.max(0, v));
const luma = (r: number, g: number, b: number) => 0.299 * r + 0.587 * g + 0.114 * b;

/**
 * Bilinear crop of rows top..top+h-1, cols left..left+w-1 of image `b`, resized to S x S with
 * cropAndResize's convention (output row i samples source row top + i*(h-1)/(S-1)), optionally
 * mirrored left-right.
 */
function refCrop(
  src: Float32Array,
  [, H, W, C]: number[],
  b: number,
  [top, left, h, w]: number[],
  flip: boolean,
  S: number,
): Float64Array {
  const out = new Float64Array(S * S * C);
  const at = (y: number, x: number, c: number) => src[((b * H + y) * W + x) * C + c];
  for (let i = 0; i < S; i++) {
    const y = S > 1 ? top + (i * (h - 1)) / (S - 1) : top + (h - 1) / 2;
    for (let j = 0; j < S; j++) {
      const jj = flip ? S - 1 - j : j;
      const x = S > 1 ? left + (jj * (w - 1)) / (S - 1) : left + (w - 1) / 2;
      const y0 = Math.floor(y);
      const x0 = Math.floor(x);
      const y1 = Math.min(y0 + 1, H - 1);
      const x1 = Math.min(x0 + 1, W - 1);
      const fy = y - y0;
      const fx = x - x0;
      for (let c = 0; c < C; c++) {
        const top_ = at(y0, x0, c) * (1 - fx) + at(y0, x1, c) * fx;
        const bot = at(y1, x0, c) * (1 - fx) + at(y1, x1, c) * fx;
        out[(i * S + j) * C + c] = top_ * (1 - fy) + bot * fy;
      }
    }
  }
  return out;
}

/** torchvision `_rgb2hsv` for one pixel. */
function rgbToHsv(r: number, g: number, b: number): [number, number, number] {
  const maxc = Math.max(r, g, b);
  const minc = Math.min(r, g, b);
  const eqc = maxc === minc;
  const cr = maxc - minc;
  const s = cr / (eqc ? 1 : maxc);
  const d = eqc ? 1 : cr;
  const rc = (maxc - r) / d;
  const gc = (maxc - g) / d;
  const bc = (maxc - b) / d;
  const hr = maxc === r ? bc - gc : 0;
  const hg = maxc === g && maxc !== r ? 2 + rc - bc : 0;
  const hb = maxc !== g && maxc !== r ? 4 + gc - rc : 0;
  return [((hr + hg + hb) / 6 + 1) % 1, s, maxc];
}

/** torchvision `_hsv2rgb` for one pixel (its six-sector table). */
function hsvToRgb(h: number, s: number, v: number): [number, number, number] {
  const i6 = Math.floor(h * 6);
  const f = h * 6 - i6;
  const p = clamp01(v * (1 - s));
  const q = clamp01(v * (1 - s * f));
  const t = clamp01(v * (1 - s * (1 - f)));
  const table: [number, number, number][] = [
    [v, t, p],
    [q, v, p],
    [p, v, t],
    [p, q, v],
    [t, p, v],
    [v, p, q],
  ];
  return table[((i6 % 6) + 6) % 6];
}

/** torchvision `adjust_hue` for one pixel. */
function refHue(r: number, g: number, b: number, factor: number): [number, number, number] {
  const [h, s, v] = rgbToHsv(r, g, b);
  return hsvToRgb((((h + factor) % 1) + 1) % 1, s, v);
}

/**
 * torchvision ColorJitter on one image (pixels as [n][c], modified in place), ops in `order`
 * (0 brightness, 1 contrast, 2 saturation, 3 hue); 1-channel images skip saturation and hue.
 */
function refJitter(px: number[][], order: ArrayLike<number>, f: [number, number, number, number]) {
  const rgb = px[0].length === 3;
  const gray = (p: number[]) => (rgb ? luma(p[0], p[1], p[2]) : p[0]);
  for (let s = 0; s < 4; s++) {
    const op = order[s];
    if (op === 0) {
      for (const p of px) for (let c = 0; c < p.length; c++) p[c] = clamp01(f[0] * p[c]);
    } else if (op === 1) {
      const mean = px.reduce((acc, p) => acc + gray(p), 0) / px.length;
      for (const p of px) for (let c = 0; c < p.length; c++) p[c] = clamp01(f[1] * p[c] + (1 - f[1]) * mean);
    } else if (op === 2 && rgb) {
      for (const p of px) {
        const g = gray(p);
        for (let c = 0; c < 3; c++) p[c] = clamp01(f[2] * p[c] + (1 - f[2]) * g);
      }
    } else if (op === 3 && rgb) {
      for (const p of px) {
        const [r, g, b] = refHue(p[0], p[1], p[2], f[3]);
        p[0] = r;
        p[1] = g;
        p[2] = b;
      }
    }
  }
}

/** Image b of an NHWC batch as [pixel][channel]. */
function pixels(data: ArrayLike<number>, b: number, n: number, C: number): number[][] {
  return Array.from({ length: n }, (_, i) => Array.from({ length: C }, (_, c) => data[(b * n + i) * C + c]));
}

/** Direct 2-D convolution of image b with the normalised Gaussian outer-product kernel, reflect padding. */
function refBlur(data: ArrayLike<number>, b: number, S: number, C: number, sigma: number, radius: number) {
  const k1: number[] = [];
  for (let t = -radius; t <= radius; t++) k1.push(Math.exp(-(t * t) / (2 * sigma * sigma)));
  const sum = k1.reduce((a, v) => a + v, 0);
  const reflect = (i: number) => (i < 0 ? -i : i > S - 1 ? 2 * (S - 1) - i : i);
  const out = new Float64Array(S * S * C);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      for (let c = 0; c < C; c++) {
        let acc = 0;
        for (let dy = -radius; dy <= radius; dy++) {
          for (let dx = -radius; dx <= radius; dx++) {
            const wgt = (k1[dy + radius] * k1[dx + radius]) / (sum * sum);
            acc += wgt * data[((b * S + reflect(y + dy)) * S + reflect(x + dx)) * C + c];
          }
        }
        out[(y * S + x) * C + c] = acc;
      }
    }
  }
  return out;
}

function imageSlice(data: Float32Array, b: number, perImage: number): Float32Array {
  return data.subarray(b * perImage, (b + 1) * perImage);
}

// ---- equivalence with the references, on both backends --------------------------------------

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`augment ops vs per-pixel references (${backend})`, () => {
    before(() => useBackend(backend));
    after(() => useBackend('cpu'));

    it('crop + resize + flip equals bilinear sampling of the crop window', () => {
      // Non-square source, output smaller than some crops and larger than others, crops touching
      // every border (where cropAndResize would extrapolate black on an overshoot).
      const shape: [number, number, number, number] = [5, 12, 9, 3];
      const data = randomImages(5 * 12 * 9 * 3, 1);
      const p = identityParams(5, 12, 9);
      const crops = [
        [0, 0, 12, 9],
        [2, 1, 5, 6],
        [7, 3, 5, 6],
        [0, 4, 3, 5],
        [11, 8, 1, 1],
      ];
      crops.forEach((c, b) => {
        p.crop.set(c, 4 * b);
      });
      p.flip.set([0, 1, 0, 1, 1]);
      for (const S of [7, 16, 1]) {
        const out = run(data, shape, p, S);
        for (let b = 0; b < 5; b++) {
          const ref = refCrop(data, shape, b, crops[b], p.flip[b] === 1, S);
          assertClose(imageSlice(out, b, S * S * 3), ref, 1e-5, `image ${b}, S=${S}`);
        }
      }
    });

    it('a full-image crop at the source size reproduces the image', () => {
      // Exactly when side + 1 (the padded extent minus one) is a power of two, so the box corners are
      // exact in float32; otherwise to float32 rounding of the box.
      const exact = randomImages(3 * 7 * 7 * 1, 2);
      assert.deepEqual(run(exact, [3, 7, 7, 1], identityParams(3, 7, 7), 7), exact);
      const data = randomImages(3 * 8 * 8 * 3, 2);
      assert.ok(maxAbsDiff(run(data, [3, 8, 8, 3], identityParams(3, 8, 8), 8), data) < 1e-6);
    });

    it('flip mirrors the columns of the unflipped crop', () => {
      const shape: [number, number, number, number] = [2, 10, 10, 3];
      const data = randomImages(2 * 10 * 10 * 3, 3);
      const p = identityParams(2, 10, 10);
      p.crop.set([1, 2, 7, 6, 3, 0, 6, 9]);
      const plain = run(data, shape, p, 8);
      p.flip.fill(1);
      const flipped = run(data, shape, p, 8);
      for (let b = 0; b < 2; b++) {
        for (let i = 0; i < 8; i++) {
          for (let j = 0; j < 8; j++) {
            for (let c = 0; c < 3; c++) {
              const a = flipped[((b * 8 + i) * 8 + j) * 3 + c];
              const e = plain[((b * 8 + i) * 8 + (7 - j)) * 3 + c];
              assert.ok(Math.abs(a - e) < 1e-6, `b${b} (${i},${j}) c${c}: ${a} vs ${e}`);
            }
          }
        }
      }
    });

    it('grayscale uses the ITU-R 601 weights, only on flagged images, keeping 3 channels', () => {
      const shape: [number, number, number, number] = [3, 6, 6, 3];
      const data = randomImages(3 * 36 * 3, 4);
      const p = identityParams(3, 6, 6);
      p.grayscale.set([1, 0, 1]);
      const out = run(data, shape, p, 6);
      const ref = Float64Array.from(data);
      for (const b of [0, 2]) {
        for (let i = 0; i < 36; i++) {
          const o = (b * 36 + i) * 3;
          const y = luma(data[o], data[o + 1], data[o + 2]);
          ref.fill(y, o, o + 3);
        }
      }
      assertClose(out, ref, 1e-6, 'grayscale');
    });

    it('solarize maps pixels >= threshold to 1 - x on flagged images only', () => {
      // 7x7 so the crop is exact (see above) and quantised to eighths so some pixels sit exactly
      // on the 0.25 threshold, which tells >= from >.
      const shape: [number, number, number, number] = [2, 7, 7, 3];
      const data = randomImages(2 * 49 * 3, 5, 8);
      const p = identityParams(2, 7, 7);
      p.solarize.set([1, 0]);
      p.solarizeThreshold = 0.25;
      const out = run(data, shape, p, 7);
      const ref = Array.from(data, (v, i) => (i < 147 && v >= 0.25 ? 1 - v : v));
      assert.ok(
        Array.from(data.subarray(0, 147)).some((v) => v === 0.25),
        'test data should hit the threshold exactly',
      );
      assertClose(out, ref, 1e-7, 'solarize');
    });

    it('Gaussian blur equals a direct 2-D convolution with reflect padding, per-image sigma', () => {
      // 40 px gives SimCLR's 10 % kernel: radius floor(floor(40/10)/2) = 2, i.e. 5 taps.
      for (const C of [3, 1] as const) {
        const S = 40;
        const shape: [number, number, number, number] = [3, S, S, C];
        const data = randomImages(3 * S * S * C, 6 + C);
        const p = identityParams(3, S, S);
        p.blur.set([1, 0, 1]);
        p.blurSigma.set([0.7, 1.9, 1.6]);
        const out = run(data, shape, p, S);
        for (let b = 0; b < 3; b++) {
          const ref = p.blur[b] ? refBlur(data, b, S, C, p.blurSigma[b], 2) : imageSlice(data, b, S * S * C);
          assertClose(imageSlice(out, b, S * S * C), ref, 1e-5, `C=${C} image ${b}`);
        }
      }
    });

    it('brightness, contrast and saturation each follow torchvision`s blend formulas', () => {
      const shape: [number, number, number, number] = [3, 8, 8, 3];
      const data = randomImages(3 * 64 * 3, 8);
      const factors = [0.35, 1.7, 1.25];
      for (const op of [0, 1, 2]) {
        const p = identityParams(3, 8, 8);
        p.jitter.fill(1);
        const arr = [p.brightness, p.contrast, p.saturation][op];
        arr.set(factors);
        const out = run(data, shape, p, 8);
        for (let b = 0; b < 3; b++) {
          const px = pixels(data, b, 64, 3);
          const f = factors[b];
          const mean = px.reduce((a, q) => a + luma(q[0], q[1], q[2]), 0) / 64;
          const ref = px.flatMap((q) => {
            const g = luma(q[0], q[1], q[2]);
            if (op === 0) return q.map((v) => clamp01(f * v));
            if (op === 1) return q.map((v) => clamp01(f * v + (1 - f) * mean));
            return q.map((v) => clamp01(f * v + (1 - f) * g));
          });
          assertClose(imageSlice(out, b, 192), ref, 1e-6, `op ${op} image ${b}`);
        }
      }
    });

    it('hue shift equals torchvision`s HSV round trip, ties and gray pixels included', () => {
      const B = 6;
      const shape: [number, number, number, number] = [B, 8, 8, 3];
      // Eighths give many exact ties between channels and fully gray pixels.
      const data = randomImages(B * 64 * 3, 9, 8);
      const p = identityParams(B, 8, 8);
      p.jitter.fill(1);
      const shifts = [0.5, -0.5, 0.13, -0.37, 0.02, 0.25];
      p.hue.set(shifts);
      const out = run(data, shape, p, 8);
      for (let b = 0; b < B; b++) {
        const ref = pixels(data, b, 64, 3).flatMap((q) => refHue(q[0], q[1], q[2], shifts[b]));
        assertClose(imageSlice(out, b, 192), ref, 2e-6, `image ${b}`);
      }
    });

    it('sampled colour jitter (random per-image order, probability mask) matches the reference', () => {
      for (const C of [3, 1] as const) {
        const B = 8;
        const shape: [number, number, number, number] = [B, 8, 8, C];
        const data = randomImages(B * 64 * C, 10 + C);
        const cfg = plainConfig({
          colorJitter: { p: 0.75, brightness: 0.8, contrast: 0.8, saturation: 0.8, hue: 0.4 },
        });
        const p = sampleAugmentParams(rngFor(11, C), B, 8, 8, cfg);
        assert.ok(p.jitter.includes(0) && p.jitter.includes(1), 'want both jittered and untouched images');
        const out = run(data, shape, p, 8);
        for (let b = 0; b < B; b++) {
          const px = pixels(data, b, 64, C);
          if (p.jitter[b]) {
            const f: [number, number, number, number] = [
              p.brightness[b],
              p.contrast[b],
              p.saturation[b],
              p.hue[b],
            ];
            refJitter(px, p.jitterOrder.subarray(4 * b, 4 * b + 4), f);
          }
          assertClose(imageSlice(out, b, 64 * C), px.flat(), 2e-6, `C=${C} image ${b}`);
        }
      }
    });
  });
}

describe('augment on cpu vs wasm', () => {
  after(() => useBackend('cpu'));

  it('the full pipeline agrees within 1e-5 between backends', async () => {
    const split = randomSplit(12, 40, 40, 3, 12);
    const idx = Int32Array.from([3, 0, 7, 7, 11, 5, 2, 9]);
    const cfg = simclrConfig({
      blur: { p: 0.7, sigma: [0.1, 2] },
      solarize: { p: 0.5, threshold: 0.5 },
    });
    const outs: Float32Array[] = [];
    for (const backend of ['cpu', 'wasm'] as const) {
      await useBackend(backend);
      const y = augmentBatch(split, idx, cfg, rngFor(5, 'view'));
      outs.push(y.dataSync() as Float32Array);
      y.dispose();
    }
    const p = sampleAugmentParams(rngFor(5, 'view'), idx.length, 40, 40, cfg);
    for (const flags of [p.flip, p.jitter, p.grayscale, p.blur, p.solarize]) {
      assert.ok(flags.includes(1), 'every op should be active on some image');
    }
    assertClose(outs[1], outs[0], 1e-5, 'cpu vs wasm');
  });
});

// ---- sampler, plumbing, determinism -----------------------------------------------------------

describe('sampleAugmentParams', () => {
  it('crop windows lie inside the image and respect the scale and ratio ranges', () => {
    for (const [H, W, scale, ratio] of [
      [224, 224, [0.08, 1], [3 / 4, 4 / 3]],
      [60, 100, [0.2, 0.6], [0.5, 2]],
    ] as [number, number, [number, number], [number, number]][]) {
      const n = 20000;
      const p = sampleAugmentParams(
        rngFor(1, H),
        n,
        H,
        W,
        plainConfig({ cropScale: scale, cropRatio: ratio }),
      );
      let minArea = 1;
      let maxArea = 0;
      let minLogRatio = Infinity;
      let maxLogRatio = -Infinity;
      let sumTopFrac = 0;
      let slack = 0;
      let sumLogRatio = 0;
      for (let b = 0; b < n; b++) {
        const [top, left, h, w] = p.crop.subarray(4 * b, 4 * b + 4);
        assert.ok(h >= 1 && w >= 1 && top >= 0 && left >= 0 && top + h <= H && left + w <= W, `box ${b}`);
        // Sides are rounded to whole pixels, so the exact area/ratio may miss the range by half a pixel per side.
        assert.ok(
          (h + 0.5) * (w + 0.5) >= scale[0] * H * W && (h - 0.5) * (w - 0.5) <= scale[1] * H * W,
          `area ${b}`,
        );
        assert.ok((w + 0.5) / (h - 0.5) >= ratio[0] && (w - 0.5) / (h + 0.5) <= ratio[1], `ratio ${b}`);
        const area = (h * w) / (H * W);
        minArea = Math.min(minArea, area);
        maxArea = Math.max(maxArea, area);
        minLogRatio = Math.min(minLogRatio, Math.log(w / h));
        maxLogRatio = Math.max(maxLogRatio, Math.log(w / h));
        sumLogRatio += Math.log(w / h);
        if (H - h > 0) {
          sumTopFrac += top / (H - h);
          slack++;
        }
      }
      // The draws cover the ranges, and the window position is uniform over the free space.
      assert.ok(minArea < scale[0] + 0.02 && maxArea > scale[1] - 0.05, `area range ${minArea}..${maxArea}`);
      assert.ok(minLogRatio < Math.log(ratio[0]) + 0.05 && maxLogRatio > Math.log(ratio[1]) - 0.05);
      assert.ok(Math.abs(sumTopFrac / slack - 0.5) < 0.02, `mean top position ${sumTopFrac / slack}`);
      if (H === W) {
        // Log-uniform aspect over a range symmetric in log space: mean log ratio 0 (uniform in the
        // ratio itself would give about +0.03).
        assert.ok(Math.abs(sumLogRatio / n) < 0.01, `mean log ratio ${sumLogRatio / n}`);
      }
    }
  });

  it('falls back to a centred crop clamped to the ratio range when 10 tries fail', () => {
    // A 10x100 strip cannot hold any square window with >= 90 % of its area.
    const p = sampleAugmentParams(
      rngFor(2),
      50,
      10,
      100,
      plainConfig({ cropScale: [0.9, 1], cropRatio: [1, 1] }),
    );
    for (let b = 0; b < 50; b++)
      assert.deepEqual(Array.from(p.crop.subarray(4 * b, 4 * b + 4)), [0, 45, 10, 10]);
  });

  it('flags hit their probabilities and factors stay in torchvision`s ranges', () => {
    const n = 20000;
    const cfg = simclrConfig({
      flip: 0.5,
      grayscale: 0.3,
      blur: { p: 0.6, sigma: [0.1, 2] },
      solarize: { p: 0.1, threshold: 0.4 },
      colorJitter: { p: 0.8, brightness: 0.4, contrast: 1.5, saturation: 0.2, hue: 0.1 },
    });
    const p = sampleAugmentParams(rngFor(3), n, 32, 32, cfg);
    const rate = (f: Uint8Array) => f.reduce((a, v) => a + v, 0) / n;
    // 5 standard errors of a binomial proportion.
    const near = (got: number, want: number, what: string) =>
      assert.ok(Math.abs(got - want) < 5 * Math.sqrt((want * (1 - want)) / n), `${what}: ${got} vs ${want}`);
    near(rate(p.flip), 0.5, 'flip');
    near(rate(p.jitter), 0.8, 'jitter');
    near(rate(p.grayscale), 0.3, 'grayscale');
    near(rate(p.blur), 0.6, 'blur');
    near(rate(p.solarize), 0.1, 'solarize');
    assert.equal(p.solarizeThreshold, 0.4);
    const within = (a: Float32Array, lo: number, hi: number, what: string) => {
      let min = Infinity;
      let max = -Infinity;
      for (const v of a) {
        min = Math.min(min, v);
        max = Math.max(max, v);
      }
      assert.ok(min >= lo - 1e-6 && max <= hi + 1e-6, `${what} in [${min}, ${max}]`);
      assert.ok(min < lo + 0.02 * (hi - lo) && max > hi - 0.02 * (hi - lo), `${what} should span its range`);
    };
    within(p.brightness, 0.6, 1.4, 'brightness');
    within(p.contrast, 0, 2.5, 'contrast'); // 1 - 1.5 < 0 is clipped to 0, as torchvision does
    within(p.saturation, 0.8, 1.2, 'saturation');
    within(p.hue, -0.1, 0.1, 'hue');
    within(p.blurSigma, 0.1, 2, 'sigma');
    const slotCounts = Array.from({ length: 4 }, () => [0, 0, 0, 0]);
    for (let b = 0; b < n; b++) {
      const order = Array.from(p.jitterOrder.subarray(4 * b, 4 * b + 4));
      assert.deepEqual([...order].sort(), [0, 1, 2, 3]);
      order.forEach((op, s) => {
        slotCounts[s][op]++;
      });
    }
    for (const row of slotCounts) for (const c of row) near(c / n, 0.25, 'op position');
  });

  it('depends only on the generator state (same seed, same draws; other seed, other draws)', () => {
    const cfg = simclrConfig();
    const a = sampleAugmentParams(rngFor(7, 'augment', 3), 64, 32, 32, cfg);
    const b = sampleAugmentParams(rngFor(7, 'augment', 3), 64, 32, 32, cfg);
    const c = sampleAugmentParams(rngFor(7, 'augment', 4), 64, 32, 32, cfg);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a.crop, c.crop);
  });
});

describe('augmentBatch', () => {
  before(() => useBackend('cpu'));

  it('returns [B, S, S, C] float32 in [0, 1], S = size or the source side', () => {
    const split = randomSplit(10, 12, 12, 3, 20);
    const idx = Int32Array.from([0, 9, 4]);
    for (const size of [0, 20]) {
      const y = augmentBatch(split, idx, simclrConfig({ size }), rngFor(1));
      const S = outputSize(simclrConfig({ size }), 12, 12);
      assert.equal(S, size || 12);
      assert.deepEqual(y.shape, [3, S, S, 3]);
      assert.equal(y.dtype, 'float32');
      const v = y.dataSync();
      assert.ok(v.every((x) => x >= 0 && x <= 1));
      y.dispose();
    }
    const empty = augmentBatch(split, new Int32Array(0), simclrConfig(), rngFor(1));
    assert.deepEqual(empty.shape, [0, 12, 12, 3]);
    empty.dispose();
  });

  it('gathers the right images and scales uint8 to [0, 1]', () => {
    const split = randomSplit(6, 5, 7, 1, 21);
    const idx = Int32Array.from([4, 1, 4]);
    // Non-square 5x7 source at size 5; a ratio of exactly 7/5 makes the crop the full image, squeezed.
    const cfg = plainConfig({ cropRatio: [7 / 5, 7 / 5] });
    const y = augmentBatch(split, idx, cfg, rngFor(2));
    assert.deepEqual(y.shape, [3, 5, 5, 1]);
    const data = Float32Array.from(split.images, (v) => v / 255);
    const out = y.dataSync();
    y.dispose();
    idx.forEach((img, b) => {
      const ref = refCrop(data, [6, 5, 7, 1], img, [0, 0, 5, 7], false, 5);
      assertClose(out.subarray(b * 25, (b + 1) * 25), ref, 1e-6, `image ${b}`);
    });
    assert.throws(() => augmentBatch(split, Int32Array.from([6]), cfg, rngFor(2)), RangeError);
  });

  it('applies the sampled flags: exactly the images drawn for grayscale come out gray (about p of them)', () => {
    const n = 400;
    const split = randomSplit(n, 4, 4, 3, 22);
    const idx = Int32Array.from({ length: n }, (_, i) => i);
    const cfg = plainConfig({ grayscale: 0.3 });
    const y = augmentBatch(split, idx, cfg, rngFor(3, 'g'));
    const out = y.dataSync();
    y.dispose();
    const p = sampleAugmentParams(rngFor(3, 'g'), n, 4, 4, cfg);
    let grays = 0;
    for (let b = 0; b < n; b++) {
      let isGray = true;
      for (let i = 0; i < 16; i++) {
        const o = (b * 16 + i) * 3;
        if (out[o] !== out[o + 1] || out[o] !== out[o + 2]) isGray = false;
      }
      assert.equal(isGray, p.grayscale[b] === 1, `image ${b}`);
      if (isGray) grays++;
    }
    assert.ok(Math.abs(grays / n - 0.3) < 5 * Math.sqrt((0.3 * 0.7) / n), `gray fraction ${grays / n}`);
  });

  it('is deterministic given the generator, and differs for another seed', () => {
    const split = randomSplit(8, 24, 24, 3, 23);
    const idx = Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7]);
    const cfg = simclrConfig();
    const get = (seed: number) => {
      const y = augmentBatch(split, idx, cfg, rngFor(seed, 'augment', 0, 1));
      const v = y.dataSync() as Float32Array;
      y.dispose();
      return v;
    };
    const a = get(1);
    assert.deepEqual(get(1), a);
    assert.ok(maxAbsDiff(get(2), a) > 0.1);
  });

  it('leaves no tensors behind (and applyAugment does not dispose its input)', () => {
    const split = randomSplit(8, 24, 24, 3, 24);
    const idx = Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7]);
    const cfg = simclrConfig({ blur: { p: 0.8, sigma: [0.1, 2] }, solarize: { p: 0.5, threshold: 0.5 } });
    const before = tf.memory().numTensors;
    augmentBatch(split, idx, cfg, rngFor(4)).dispose();
    assert.equal(tf.memory().numTensors, before);
    const x = tf.randomUniform([8, 24, 24, 3]) as tf.Tensor4D;
    const withInput = tf.memory().numTensors;
    applyAugment(x, sampleAugmentParams(rngFor(5), 8, 24, 24, cfg), 24).dispose();
    assert.equal(tf.memory().numTensors, withInput);
    assert.ok(!x.isDisposed);
    x.dispose();
  });

  it('rejects parameters drawn for another batch or image size', () => {
    const x = tf.zeros([2, 8, 8, 3]) as tf.Tensor4D;
    assert.throws(() => applyAugment(x, identityParams(3, 8, 8), 8), RangeError);
    assert.throws(() => applyAugment(x, identityParams(2, 8, 9), 8), RangeError);
    x.dispose();
  });

  it('uses SimCLR`s blur kernel size (10 % of the side, odd)', () => {
    assert.equal(blurKernelSize(224), 23);
    assert.equal(blurKernelSize(96), 9);
    assert.equal(blurKernelSize(32), 3);
    assert.equal(blurKernelSize(19), 1);
  });
});
