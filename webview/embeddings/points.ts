/**
 * Pure helpers of the embeddings view (no DOM): the points grouped by class, the uint8 images of
 * the embedding file turned into RGBA for a canvas, attention maps turned into heat-map RGBA, and the
 * class colours. Unit tested against plain loops.
 */
import type { EmbeddingsData, EmbeddingsProjection } from './messages';

/** Standard base64 to bytes (atob exists in browsers and in Node 16+). */
export function decodeBase64(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Why `d` cannot be drawn (the first problem found), or undefined when it can. */
export function embeddingsProblem(d: unknown): string | undefined {
  if (typeof d !== 'object' || d === null) return 'not a JSON object';
  const f = d as Partial<EmbeddingsData>;
  if (f.format !== 'contrastive-lab/embeddings')
    return `"format" is ${JSON.stringify(f.format)}, expected "contrastive-lab/embeddings"`;
  if (f.version !== 1)
    return `"version" ${JSON.stringify(f.version)} is not supported (this editor reads version 1)`;
  if (!Array.isArray(f.labels) || !Array.isArray(f.indices)) return '"labels" and "indices" must be arrays';
  const n = f.labels.length;
  if (f.indices.length !== n) return `"indices" has ${f.indices.length} entries but "labels" has ${n}`;
  if (!Array.isArray(f.classNames)) return '"classNames" must be an array';
  if (typeof f.projections !== 'object' || f.projections === null) return '"projections" is missing';
  for (const key of ['pca', 'umap'] as const) {
    const p = f.projections[key];
    if (p === undefined) continue;
    if (!Array.isArray(p.x) || !Array.isArray(p.y) || p.x.length !== n || p.y.length !== n)
      return `"projections.${key}" must have x and y with ${n} entries each`;
  }
  if (!f.projections.pca && !f.projections.umap) return 'no projection (pca or umap) in the file';
  const im = f.images;
  if (im !== undefined) {
    if (typeof im.pixelsBase64 !== 'string' || !(im.height > 0 && im.width > 0 && im.channels > 0))
      return '"images" needs height, width, channels and pixelsBase64';
  }
  return undefined;
}

export function availableProjections(d: EmbeddingsData): EmbeddingsProjection[] {
  return (['pca', 'umap'] as const).filter((p) => d.projections[p] !== undefined);
}

export interface ClassPoints {
  label: number;
  name: string;
  /** Positions into the file's arrays (point numbers), in file order. */
  points: number[];
}

/** Points grouped by label, in label order; labels beyond classNames are named by number. */
export function pointsByClass(d: EmbeddingsData): ClassPoints[] {
  const groups = new Map<number, number[]>();
  d.labels.forEach((label, i) => {
    let g = groups.get(label);
    if (!g) {
      g = [];
      groups.set(label, g);
    }
    g.push(i);
  });
  return [...groups.keys()]
    .sort((a, b) => a - b)
    .map((label) => ({ label, name: d.classNames[label] ?? `class ${label}`, points: groups.get(label)! }));
}

/**
 * RGBA of image `k` from N x H x W x C uint8 pixels (row-major). One channel is grey, two are
 * grey+alpha, three or more take the first three as RGB.
 */
export function imageRgba(
  pixels: Uint8Array,
  k: number,
  h: number,
  w: number,
  c: number,
): Uint8ClampedArray<ArrayBuffer> {
  const out = new Uint8ClampedArray(h * w * 4);
  const base = k * h * w * c;
  for (let p = 0; p < h * w; p++) {
    const src = base + p * c;
    const dst = p * 4;
    if (c >= 3) {
      out[dst] = pixels[src];
      out[dst + 1] = pixels[src + 1];
      out[dst + 2] = pixels[src + 2];
    } else {
      out[dst] = out[dst + 1] = out[dst + 2] = pixels[src];
    }
    out[dst + 3] = c === 2 ? pixels[src + 1] : 255;
  }
  return out;
}

/** Viridis at five stops; enough for a heat map read by eye. */
const VIRIDIS: [number, number, number][] = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];

/** Viridis colour for t in [0, 1] (linear between stops). */
export function viridis(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const a = VIRIDIS[i];
  const b = VIRIDIS[i + 1];
  return [0, 1, 2].map((j) => Math.round(a[j] + (b[j] - a[j]) * f)) as [number, number, number];
}

/** RGBA of a row-major map, each value scaled from the map's min..max onto viridis. */
export function heatmapRgba(map: readonly number[]): Uint8ClampedArray<ArrayBuffer> {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of map) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const span = hi > lo ? hi - lo : 1;
  const out = new Uint8ClampedArray(map.length * 4);
  map.forEach((v, i) => {
    const [r, g, b] = viridis(Number.isFinite(v) && Number.isFinite(lo) ? (v - lo) / span : 0);
    out.set([r, g, b, 255], i * 4);
  });
  return out;
}

/** Element-wise mean of the heads' maps (what one glance at "where does [CLS] look" wants). */
export function meanMap(maps: readonly (readonly number[])[]): number[] {
  if (!maps.length) return [];
  const out = new Array<number>(maps[0].length).fill(0);
  for (const m of maps) for (let i = 0; i < out.length; i++) out[i] += m[i] / maps.length;
  return out;
}

/** Ten distinct colours (Tableau 10), then ten more (its light variants) for up to twenty classes. */
const CLASS_COLOURS = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
  '#a0cbe8',
  '#ffbe7d',
  '#ff9d9a',
  '#8cd17d',
  '#b6992d',
  '#f1ce63',
  '#86bcb6',
  '#d4a6c8',
  '#d7b5a6',
  '#79706e',
];

export function classColour(label: number): string {
  return CLASS_COLOURS[((label % CLASS_COLOURS.length) + CLASS_COLOURS.length) % CLASS_COLOURS.length];
}
