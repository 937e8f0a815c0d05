/**
 * `contrastive-lab embed`: a 2-D picture of a checkpoint's test-split features for the embeddings
 * view (PCA and/or UMAP), with the points' images for hover previews and, for ViT methods, the last
 * block's attention maps over the first few images. Written as an EmbeddingFile.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { UMAP } from 'umap-js';
import { writeFileAtomic } from '../checkpoint/atomic';
import { Rng } from '../rng';
import { imagesToTensor } from '../train';
import type { EmbeddingFile, ToolProgress } from './contract';
import { EvalInputError } from './evaluate';
import { splitFeatures, stageProgress } from './features';
import { pca2 } from './pca';
import { openCheckpoint } from './restore';

export type Projection = 'pca' | 'umap' | 'both';
export const PROJECTIONS: readonly Projection[] = ['pca', 'umap', 'both'];
export const DEFAULT_EMBED_LIMIT = 2000;
/** Attention maps are computed for this many points (the first ones). */
export const ATTENTION_POINTS = 8;

export interface UmapSettings {
  nNeighbors: number;
  minDist: number;
  seed: number;
}
export const UMAP_DEFAULTS: Readonly<UmapSettings> = { nNeighbors: 15, minDist: 0.1, seed: 0 };

export interface EmbedOptions {
  checkpoint: string;
  /** Where to write the file; nothing is written without it. */
  out?: string;
  projection?: Projection;
  /** Number of test images (the first ones of the split, a class-balanced prefix for every loader). */
  limit?: number;
  dataPath?: string;
  randomInit?: boolean;
  umap?: Partial<UmapSettings>;
  onProgress?: (p: ToolProgress) => void;
}

/**
 * UMAP of the rows of `x` ([n, d]) to 2-D. Rows are L2-normalised first, so Euclidean neighbours are
 * the cosine neighbours that kNN and the contrastive losses use. Every random draw (tree splits,
 * neighbour descent, the initial layout, negative samples) comes from `settings.seed`, so the
 * result is reproducible.
 */
export async function umap2(
  x: ArrayLike<number>,
  n: number,
  d: number,
  settings: UmapSettings,
  onProgress?: (done: number, total: number) => void,
): Promise<{ x: number[]; y: number[]; nNeighbors: number }> {
  if (n < 3) throw new EvalInputError(`UMAP needs at least 3 points (got ${n}); use --projection pca.`);
  const rows: number[][] = [];
  for (let i = 0; i < n; i++) {
    let norm = 0;
    for (let j = 0; j < d; j++) norm += x[i * d + j] ** 2;
    const inv = 1 / Math.max(Math.sqrt(norm), 1e-12);
    rows.push(Array.from({ length: d }, (_, j) => x[i * d + j] * inv));
  }
  const rng = new Rng(settings.seed);
  const nNeighbors = Math.min(settings.nNeighbors, n - 1);
  const umap = new UMAP({
    nComponents: 2,
    nNeighbors,
    minDist: settings.minDist,
    random: () => rng.next(),
  });
  const epochs = umap.initializeFit(rows);
  for (let e = 0; e < epochs; e++) {
    umap.step();
    if (e % 10 === 9 || e === epochs - 1) {
      onProgress?.(e + 1, epochs);
      await new Promise((r) => setImmediate(r));
    }
  }
  const emb = umap.getEmbedding();
  return { x: emb.map((p) => p[0]), y: emb.map((p) => p[1]), nNeighbors };
}

export async function embedCheckpoint(opts: EmbedOptions): Promise<EmbeddingFile> {
  const projection = opts.projection ?? 'pca';
  if (!PROJECTIONS.includes(projection))
    throw new EvalInputError(`unknown projection '${projection}' (expected pca, umap or both).`);
  const limit = opts.limit ?? DEFAULT_EMBED_LIMIT;
  if (!(Number.isInteger(limit) && limit >= 1))
    throw new EvalInputError(`limit must be a positive integer (got ${limit}).`);
  const report = (fraction: number, message: string) =>
    opts.onProgress?.({ type: 'progress', fraction: Math.min(1, Math.max(0, fraction)), message });
  report(0, 'loading checkpoint and dataset');
  const ck = await openCheckpoint(opts.checkpoint, { dataPath: opts.dataPath, randomInit: opts.randomInit });
  try {
    const { data, model, meta } = ck;
    const split = data.test;
    const n = Math.min(limit, split.n);
    const withUmap = projection !== 'pca';
    const featEnd = withUmap ? 0.3 : 0.8;
    const feats = await splitFeatures(model, split, n, stageProgress(report, 0.05, featEnd, 'test features'));
    const d = feats.shape[1];
    const values = (await feats.data()) as Float32Array;
    feats.dispose();

    const projections: EmbeddingFile['projections'] = {};
    if (projection !== 'umap') {
      report(featEnd, 'PCA');
      const p = pca2(values, n, d);
      projections.pca = { x: [...p.x], y: [...p.y], explainedVariance: p.explainedVariance };
    }
    if (withUmap) {
      const settings = { ...UMAP_DEFAULTS, ...opts.umap };
      const u = await umap2(values, n, d, settings, stageProgress(report, 0.35, 0.9, 'UMAP'));
      projections.umap = { x: u.x, y: u.y, nNeighbors: u.nNeighbors, minDist: settings.minDist };
    }

    let attention: EmbeddingFile['attention'];
    if (model.attentionMaps) {
      report(0.92, 'attention maps');
      const m = Math.min(ATTENTION_POINTS, n);
      const maps = tf.tidy(() => model.attentionMaps!(imagesToTensor(split, 0, m)));
      const [, heads, gridH, gridW] = maps.shape;
      const flat = (await maps.data()) as Float32Array;
      maps.dispose();
      const cell = gridH * gridW;
      attention = {
        points: Array.from({ length: m }, (_, i) => i),
        heads,
        gridH,
        gridW,
        maps: Array.from({ length: m }, (_, i) =>
          Array.from({ length: heads }, (_, h) => {
            // The [CLS] row without its weight on [CLS] itself, renormalised over the patches as
            // DINO's visualisation does, so each map is a distribution over the grid.
            const row = Array.from(flat.subarray((i * heads + h) * cell, (i * heads + h + 1) * cell));
            const sum = row.reduce((a, v) => a + v, 0);
            return sum > 0 ? row.map((v) => v / sum) : row;
          }),
        ),
      };
    }

    const px = split.height * split.width * split.channels;
    const file: EmbeddingFile = {
      format: 'contrastive-lab/embeddings',
      version: 1,
      checkpoint: ck.file,
      method: meta.method,
      step: ck.randomInit ? 0 : meta.step,
      epoch: ck.randomInit ? 0 : meta.epoch,
      classNames: [...data.classNames],
      indices: Array.from({ length: n }, (_, i) => i),
      labels: Array.from(split.labels.subarray(0, n)),
      projections,
      images: {
        height: split.height,
        width: split.width,
        channels: split.channels,
        pixelsBase64: Buffer.from(split.images.buffer, split.images.byteOffset, n * px).toString('base64'),
      },
      ...(attention ? { attention } : {}),
    };
    if (opts.out) {
      report(0.97, 'writing');
      const out = path.resolve(opts.out);
      fs.mkdirSync(path.dirname(out), { recursive: true });
      writeFileAtomic(out, JSON.stringify(file));
    }
    report(1, 'done');
    return file;
  } finally {
    ck.dispose();
  }
}
