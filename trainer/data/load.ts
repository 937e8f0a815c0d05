/** One entry point from a `DatasetConfig` to an in-memory `Dataset`. */

import type { DatasetConfig } from '../config/types';
import { loadCifar } from './cifar';
import { loadIdxFolder } from './idx';
import { loadImageFolder } from './imagefolder';
import { makeSynthetic } from './synthetic';
import { type Dataset, DatasetError, type ImageSplit } from './types';

/** Where the Debian package `dataset-fashion-mnist` installs the files. */
export const DEFAULT_FASHION_MNIST_PATH = '/usr/share/datasets/fashion-mnist';

/**
 * Loads the configured dataset and applies `trainLimit` / `testLimit` (0 = all) by keeping the
 * first images of each split. That prefix is a fair, roughly class-balanced subset for every kind:
 * the MNIST and CIFAR files are published already shuffled, the synthetic labels are a random
 * permutation, and the image-folder loader shuffles once with a fixed seed.
 *
 * `path` is used as given (relative paths resolve against the working directory).
 */
export async function loadDataset(cfg: DatasetConfig): Promise<Dataset> {
  const ds = await loadUnlimited(cfg);
  return {
    ...ds,
    train: limitSplit(ds.train, cfg.trainLimit, 'trainLimit'),
    test: limitSplit(ds.test, cfg.testLimit, 'testLimit'),
  };
}

async function loadUnlimited(cfg: DatasetConfig): Promise<Dataset> {
  switch (cfg.kind) {
    case 'synthetic':
      return makeSynthetic({ train: cfg.syntheticTrain, test: cfg.syntheticTest, seed: cfg.syntheticSeed });
    case 'fashion-mnist':
      return loadIdxFolder(cfg.path || DEFAULT_FASHION_MNIST_PATH, 'fashion-mnist');
    case 'mnist':
      return loadIdxFolder(
        requirePath(cfg, 'the folder holding train-images-idx3-ubyte[.gz] and the other three IDX files'),
        'mnist',
      );
    case 'cifar10':
      return loadCifar(
        requirePath(cfg, 'the folder holding data_batch_1.bin ... data_batch_5.bin and test_batch.bin'),
        'cifar10',
      );
    case 'cifar100':
      return loadCifar(requirePath(cfg, 'the folder holding train.bin and test.bin'), 'cifar100');
    case 'imagefolder':
      return loadImageFolder(requirePath(cfg, 'the root folder of the class sub-folders'), {
        imageSize: cfg.imageSize,
      });
    default:
      throw new DatasetError(`unknown dataset kind "${(cfg as { kind: string }).kind}"`);
  }
}

function requirePath(cfg: DatasetConfig, what: string): string {
  if (!cfg.path) {
    throw new DatasetError(`dataset kind "${cfg.kind}" needs "path": ${what}`);
  }
  return cfg.path;
}

/** The first `limit` images of a split (0 = all), copied so the rest can be freed. */
export function limitSplit(split: ImageSplit, limit: number, what = 'limit'): ImageSplit {
  if (!Number.isInteger(limit) || limit < 0) {
    throw new DatasetError(`dataset ${what} must be a non-negative integer, got ${limit}`);
  }
  if (limit === 0 || limit >= split.n) return split;
  const per = split.height * split.width * split.channels;
  return {
    ...split,
    images: split.images.slice(0, limit * per),
    labels: split.labels.slice(0, limit),
    n: limit,
  };
}

export interface ChannelStats {
  /** Per channel, of pixel values scaled to [0, 1]. */
  mean: number[];
  /** Population standard deviation per channel, same scale. */
  std: number[];
}

/**
 * Per-channel mean and standard deviation, for input normalisation. Computed from a histogram of
 * the 256 byte values, so it is exact and cheap even for tens of millions of pixels.
 */
export function datasetStats(split: ImageSplit): ChannelStats {
  const ch = split.channels;
  const hist = Array.from({ length: ch }, () => new Float64Array(256));
  const total = split.n * split.height * split.width;
  const data = split.images;
  for (let c = 0; c < ch; c++) {
    const h = hist[c];
    for (let i = c; i < total * ch; i += ch) h[data[i]]++;
  }
  const mean: number[] = [];
  const std: number[] = [];
  for (let c = 0; c < ch; c++) {
    if (total === 0) {
      mean.push(0);
      std.push(0);
      continue;
    }
    let s = 0;
    for (let v = 0; v < 256; v++) s += hist[c][v] * v;
    const m = s / total;
    let ss = 0;
    for (let v = 0; v < 256; v++) ss += hist[c][v] * (v - m) * (v - m);
    mean.push(m / 255);
    std.push(Math.sqrt(ss / total) / 255);
  }
  return { mean, std };
}
