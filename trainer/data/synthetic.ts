/**
 * The built-in "synthetic-shapes" dataset: 32x32 RGB images of ten shapes, generated from a seed.
 *
 * It exists to show that contrastive training learns something a random network does not, so the
 * class is carried by shape alone. Everything a randomly initialised ConvNet is sensitive to
 * (foreground and background colour, position, scale, mirroring, a slight tilt, a background
 * gradient, noise) is
 * drawn at random and independently of the class, so raw pixels and random features cluster by
 * colour and place, while SimCLR's crop / colour-jitter / grayscale augmentations make exactly
 * those factors useless for telling two images apart.
 */

import { writeFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import { type Rng, rngFor } from '../rng';
import { type Dataset, DatasetError, type ImageSplit } from './types';

export const SYNTHETIC_SIZE = 32;

export const SYNTHETIC_CLASSES: readonly string[] = [
  'circle',
  'square',
  'triangle',
  'plus',
  'ring',
  'horizontal stripes',
  'vertical stripes',
  'checkerboard',
  'star',
  'L-shape',
];

enum Shape {
  Circle,
  Square,
  Triangle,
  Plus,
  Ring,
  HStripes,
  VStripes,
  Checkerboard,
  Star,
  LShape,
}

export interface SyntheticOptions {
  /** Number of training and test images. */
  train: number;
  test: number;
  seed: number;
}

export function makeSynthetic(opts: SyntheticOptions): Dataset {
  return {
    name: 'synthetic-shapes',
    classNames: [...SYNTHETIC_CLASSES],
    train: makeSyntheticSplit(opts.train, opts.seed, 'train'),
    test: makeSyntheticSplit(opts.test, opts.seed, 'test'),
  };
}

/**
 * One split. Each image has its own stream `(seed, 'synthetic', split, index)`, so the two splits
 * never share an image and any image can be regenerated on its own.
 */
export function makeSyntheticSplit(n: number, seed: number, split: 'train' | 'test'): ImageSplit {
  if (!Number.isInteger(n) || n < 0) {
    throw new DatasetError(`synthetic ${split} size must be a non-negative integer, got ${n}`);
  }
  const pixels = SYNTHETIC_SIZE * SYNTHETIC_SIZE * 3;
  const images = new Uint8Array(n * pixels);
  // The clamped view rounds and saturates on store, which is exactly the float -> uint8 step.
  const out = new Uint8ClampedArray(images.buffer);
  const labels = new Int32Array(n);
  const numClasses = SYNTHETIC_CLASSES.length;
  // Cyclic labels under a permutation: counts differ by at most one, order carries no information.
  const order = rngFor(seed, 'synthetic', split, 'labels').permutation(n);
  const scratch = new Float64Array(2 * MAX_VERTICES);
  for (let i = 0; i < n; i++) {
    labels[i] = order[i] % numClasses;
    renderShape(labels[i] as Shape, rngFor(seed, 'synthetic', split, i), out, i * pixels, scratch);
  }
  return { images, labels, n, height: SYNTHETIC_SIZE, width: SYNTHETIC_SIZE, channels: 3 };
}

// Polygon outlines in units of the shape radius (the shape fits in the unit circle at any angle).
const MAX_VERTICES = 12;
const TRIANGLE = regularPolygon(3, 1, 1);
const STAR = regularPolygon(5, 1, 0.45);
const PLUS = (() => {
  const a = 0.95;
  const t = 0.3;
  return [t, a, -t, a, -t, t, -a, t, -a, -t, -t, -t, -t, -a, t, -a, t, -t, a, -t, a, t, t, t];
})();
const L_SHAPE = (() => {
  // A 2a x 2a square outline (fits the unit circle when rotated) with bars of thickness w.
  const a = 0.7;
  const w = 0.42;
  return [-a, -a, -a + w, -a, -a + w, a - w, a, a - w, a, a, -a, a];
})();

/** `k` points alternating between radius `outer` and `inner` (k triangle corners when equal). */
function regularPolygon(k: number, outer: number, inner: number): number[] {
  const pts: number[] = [];
  const m = outer === inner ? k : 2 * k;
  for (let j = 0; j < m; j++) {
    const ang = -Math.PI / 2 + (2 * Math.PI * j) / m;
    const rad = j % 2 === 1 && m === 2 * k ? inner : outer;
    pts.push(rad * Math.cos(ang), rad * Math.sin(ang));
  }
  return pts;
}

/** Rec. 601 luma: the brightness the grayscale augmentation keeps. */
function luma(r: number, g: number, b: number): number {
  return 0.299 * r + 0.587 * g + 0.114 * b;
}

/** Minimum luma gap between the shape and every point of the background. */
const MIN_CONTRAST = 0.25;

function renderShape(
  shape: Shape,
  rng: Rng,
  out: Uint8ClampedArray,
  offset: number,
  poly: Float64Array,
): void {
  const S = SYNTHETIC_SIZE;
  // Shape diameter 40%..80% of the side, centre anywhere that keeps it inside the image.
  const r = (rng.uniform(0.4, 0.8) * S) / 2;
  const cx = rng.uniform(r, S - r);
  const cy = rng.uniform(r, S - r);
  // Only a small tilt: the nuisances vary along what contrastive augmentations teach invariance
  // to (colour, position, scale, mirror), not rotation, which no augmentation here covers.
  const stripes = shape === Shape.HStripes || shape === Shape.VStripes;
  const theta = rng.uniform(-0.17, 0.17);
  // Mirroring keeps the L class closed under the horizontal flip augmentation.
  const mirror = rng.bernoulli(0.5) ? -1 : 1;
  const bands = 3 + rng.int(2);
  const cells = 3 + rng.int(2);

  // Colours: uniform RGB, rejected until the shape stands out from both ends of the gradient,
  // so the shape survives grayscale whichever way round the contrast goes.
  let fg: number[];
  let bg0: number[];
  let bg1: number[];
  let tries = 0;
  for (;;) {
    fg = [rng.next(), rng.next(), rng.next()];
    bg0 = [rng.next(), rng.next(), rng.next()];
    bg1 = bg0.map((c) => Math.min(1, Math.max(0, c + rng.uniform(-0.3, 0.3))));
    const lf = luma(fg[0], fg[1], fg[2]);
    const gap = Math.min(
      Math.abs(lf - luma(bg0[0], bg0[1], bg0[2])),
      Math.abs(lf - luma(bg1[0], bg1[1], bg1[2])),
    );
    if (gap >= MIN_CONTRAST || ++tries > 100) break;
  }
  const gAngle = rng.uniform(0, 2 * Math.PI);
  const gx = Math.cos(gAngle) / (S * Math.SQRT2);
  const gy = Math.sin(gAngle) / (S * Math.SQRT2);
  const noise = rng.uniform(0.02, 0.06);

  let verts: number[] | null = null;
  if (shape === Shape.Triangle) verts = TRIANGLE;
  else if (shape === Shape.Star) verts = STAR;
  else if (shape === Shape.Plus) verts = PLUS;
  else if (shape === Shape.LShape) verts = L_SHAPE;
  const nv = verts ? verts.length / 2 : 0;
  if (verts) {
    for (let j = 0; j < nv; j++) {
      poly[2 * j] = verts[2 * j] * r * (shape === Shape.LShape ? mirror : 1);
      poly[2 * j + 1] = verts[2 * j + 1] * r;
    }
  }
  const cos = Math.cos(theta);
  const sin = Math.sin(theta);
  const boxSquare = r * Math.SQRT1_2;
  // Stripes turn by at most 10 degrees, so a patch wider than the rotation-safe square still fits.
  const boxStripes = 0.85 * r;
  // Coverage is 0 beyond the bounding circle plus the anti-aliasing half pixel.
  const reach = (stripes ? boxStripes * Math.SQRT2 : r) + 1;
  const reach2 = reach * reach;
  const period = (4 * boxStripes) / (2 * bands - 1);
  const boxChecker = r * Math.SQRT1_2;
  const cell = (2 * boxChecker) / cells;

  let o = offset;
  for (let y = 0; y < S; y++) {
    const py = y + 0.5 - cy;
    for (let x = 0; x < S; x++) {
      const px = x + 0.5 - cx;
      let cov = 0;
      if (px * px + py * py <= reach2) {
        // Pixel centre in the shape's own frame.
        const u = cos * px + sin * py;
        const v = -sin * px + cos * py;
        let d: number;
        switch (shape) {
          case Shape.Circle:
            d = Math.hypot(u, v) - r;
            break;
          case Shape.Ring:
            d = Math.abs(Math.hypot(u, v) - 0.775 * r) - 0.225 * r;
            break;
          case Shape.Square:
            d = sdBox(u, v, boxSquare, boxSquare);
            break;
          case Shape.HStripes:
            d = Math.max(sdBox(u, v, boxStripes, boxStripes), sdBands(v + boxStripes, period));
            break;
          case Shape.VStripes:
            d = Math.max(sdBox(u, v, boxStripes, boxStripes), sdBands(u + boxStripes, period));
            break;
          case Shape.Checkerboard:
            d = Math.max(
              sdBox(u, v, boxChecker, boxChecker),
              sdChecker(u + boxChecker, v + boxChecker, cell, cells),
            );
            break;
          default:
            d = sdPolygon(poly, nv, u, v);
        }
        // Signed distance in pixels -> area coverage of a unit pixel (analytic anti-aliasing).
        cov = d <= -0.5 ? 1 : d >= 0.5 ? 0 : 0.5 - d;
      }
      const t = 0.5 + px * gx + py * gy;
      const bits = rng.next() * 4294967296;
      for (let c = 0; c < 3; c++) {
        const back = bg0[c] + (bg1[c] - bg0[c]) * t;
        // Ten noise bits per channel from one draw: uniform in [-noise, noise].
        const nz = ((((bits >>> (10 * c)) & 1023) / 1023) * 2 - 1) * noise;
        out[o++] = (back + (fg[c] - back) * cov + nz) * 255;
      }
    }
  }
}

function sdBox(u: number, v: number, hx: number, hy: number): number {
  const qx = Math.abs(u) - hx;
  const qy = Math.abs(v) - hy;
  const ox = Math.max(qx, 0);
  const oy = Math.max(qy, 0);
  return Math.sqrt(ox * ox + oy * oy) + Math.min(Math.max(qx, qy), 0);
}

/** Bands of width period/2 starting at 0: [0, p/2) inside, [p/2, p) outside, repeating. */
function sdBands(a: number, period: number): number {
  const half = period / 2;
  const m = a - Math.floor(a / period) * period;
  return m < half ? -Math.min(m, half - m) : Math.min(m - half, period - m);
}

/**
 * Checkerboard of `cells` x `cells` squares starting at 0, cell (0, 0) inside. Only edges between
 * cells count: measuring to the outer edge too would draw a faint outline around background cells.
 */
function sdChecker(a: number, b: number, cell: number, cells: number): number {
  const ia = Math.min(cells - 1, Math.max(0, Math.floor(a / cell)));
  const ib = Math.min(cells - 1, Math.max(0, Math.floor(b / cell)));
  const dist = Math.min(innerEdge(a - ia * cell, ia, cell, cells), innerEdge(b - ib * cell, ib, cell, cells));
  return ((ia + ib) & 1) === 0 ? -dist : dist;
}

function innerEdge(f: number, i: number, cell: number, cells: number): number {
  const lo = i > 0 ? Math.abs(f) : Number.POSITIVE_INFINITY;
  const hi = i < cells - 1 ? Math.abs(cell - f) : Number.POSITIVE_INFINITY;
  return Math.min(lo, hi);
}

/** Exact signed distance to a simple polygon (negative inside), after Inigo Quilez. */
function sdPolygon(p: Float64Array, n: number, u: number, v: number): number {
  let d = (u - p[0]) * (u - p[0]) + (v - p[1]) * (v - p[1]);
  let s = 1;
  for (let i = 0, j = n - 1; i < n; j = i, i++) {
    const vix = p[2 * i];
    const viy = p[2 * i + 1];
    const ex = p[2 * j] - vix;
    const ey = p[2 * j + 1] - viy;
    const wx = u - vix;
    const wy = v - viy;
    const h = Math.min(1, Math.max(0, (wx * ex + wy * ey) / (ex * ex + ey * ey)));
    const bx = wx - ex * h;
    const by = wy - ey * h;
    d = Math.min(d, bx * bx + by * by);
    const c1 = v >= viy;
    const c2 = v < p[2 * j + 1];
    const c3 = ex * wy > ey * wx;
    if ((c1 && c2 && c3) || (!c1 && !c2 && !c3)) s = -s;
  }
  return s * Math.sqrt(d);
}

/**
 * Writes a PNG grid of examples for eyeballing a split: one row per class (in label order), about
 * `count / classes` images per row, each enlarged `scale` times with nearest-neighbour pixels.
 */
export function writeContactSheet(split: ImageSplit, file: string, count: number, scale = 3): void {
  let numClasses = 0;
  for (let i = 0; i < split.n; i++) numClasses = Math.max(numClasses, split.labels[i] + 1);
  if (numClasses === 0) throw new DatasetError('contact sheet: the split holds no images', file);
  const perRow = Math.max(1, Math.ceil(count / numClasses));
  const gap = 2;
  const cw = split.width * scale + gap;
  const ch = split.height * scale + gap;
  const png = new PNG({ width: perRow * cw + gap, height: numClasses * ch + gap });
  png.data.fill(255);
  const used = new Int32Array(numClasses);
  const hw = split.height * split.width;
  for (let i = 0; i < split.n; i++) {
    const label = split.labels[i];
    const col = used[label];
    if (col >= perRow) continue;
    used[label]++;
    const ox = gap + col * cw;
    const oy = gap + label * ch;
    for (let y = 0; y < split.height * scale; y++) {
      for (let x = 0; x < split.width * scale; x++) {
        const src = (i * hw + Math.floor(y / scale) * split.width + Math.floor(x / scale)) * split.channels;
        const dst = ((oy + y) * png.width + ox + x) * 4;
        for (let c = 0; c < 3; c++) png.data[dst + c] = split.images[src + (split.channels === 3 ? c : 0)];
        png.data[dst + 3] = 255;
      }
    }
  }
  writeFileSync(file, PNG.sync.write(png));
}
