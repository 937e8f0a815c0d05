/**
 * CIFAR-10 / CIFAR-100 "binary version" batches. A record is the label byte(s) then a 32x32 image
 * stored planar: 1024 red bytes, 1024 green, 1024 blue, each row-major.
 */

import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Dataset, DatasetError, type ImageSplit } from './types';

export type CifarVariant = 'cifar10' | 'cifar100';

export const CIFAR10_CLASSES: readonly string[] = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
];

const SIDE = 32;
const PLANE = SIDE * SIDE;
const IMAGE_BYTES = 3 * PLANE;

interface VariantInfo {
  /** Label bytes before each image (CIFAR-100: coarse then fine). */
  labelBytes: number;
  numClasses: number;
  trainFiles: string[];
  testFiles: string[];
  namesFile: string;
  /** The folder the official archive unpacks to, tried when the files are not at the top. */
  archiveFolder: string;
}

const VARIANTS: Record<CifarVariant, VariantInfo> = {
  cifar10: {
    labelBytes: 1,
    numClasses: 10,
    trainFiles: [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`),
    testFiles: ['test_batch.bin'],
    namesFile: 'batches.meta.txt',
    archiveFolder: 'cifar-10-batches-bin',
  },
  cifar100: {
    labelBytes: 2,
    numClasses: 100,
    trainFiles: ['train.bin'],
    testFiles: ['test.bin'],
    namesFile: 'fine_label_names.txt',
    archiveFolder: 'cifar-100-binary',
  },
};

export function cifarRecordSize(variant: CifarVariant): number {
  return VARIANTS[variant].labelBytes + IMAGE_BYTES;
}

/** Parses one batch file's bytes into NHWC images and (fine) labels. */
export function parseCifarBatch(
  buf: Uint8Array,
  file: string,
  variant: CifarVariant,
): { n: number; images: Uint8Array; labels: Int32Array } {
  const { labelBytes, numClasses } = VARIANTS[variant];
  const record = labelBytes + IMAGE_BYTES;
  if (buf.length === 0) throw new DatasetError(`${file}: file is empty`, file);
  if (buf.length % record !== 0) {
    throw new DatasetError(
      `${file}: truncated or not a ${variant} batch: ${buf.length} bytes is not a multiple of the ` +
        `${record}-byte record (${Math.floor(buf.length / record)} whole records, ${buf.length % record} bytes left over)`,
      file,
    );
  }
  const n = buf.length / record;
  const images = new Uint8Array(n * IMAGE_BYTES);
  const labels = new Int32Array(n);
  for (let k = 0; k < n; k++) {
    const base = k * record;
    if (variant === 'cifar100' && buf[base] >= 20) {
      throw new DatasetError(
        `${file}: coarse label ${buf[base]} of record ${k} is out of range (0..19)`,
        file,
      );
    }
    const label = buf[base + labelBytes - 1];
    if (label >= numClasses) {
      throw new DatasetError(
        `${file}: label ${label} of record ${k} is out of range (0..${numClasses - 1})`,
        file,
      );
    }
    labels[k] = label;
    const src = base + labelBytes;
    const dst = k * IMAGE_BYTES;
    for (let p = 0; p < PLANE; p++) {
      images[dst + 3 * p] = buf[src + p];
      images[dst + 3 * p + 1] = buf[src + PLANE + p];
      images[dst + 3 * p + 2] = buf[src + 2 * PLANE + p];
    }
  }
  return { n, images, labels };
}

/**
 * Loads CIFAR-10 (`data_batch_1..5.bin`, `test_batch.bin`) or CIFAR-100 (`train.bin`, `test.bin`)
 * from `folder` or from the archive's own sub-folder inside it. Records keep the file order: the
 * published batches are already shuffled, so a prefix of a split is a fair subset.
 */
export async function loadCifar(folder: string, variant: CifarVariant): Promise<Dataset> {
  const info = VARIANTS[variant];
  if (!existsSync(folder) || !statSync(folder).isDirectory()) {
    throw new DatasetError(`${variant}: dataset folder ${folder} does not exist`, folder);
  }
  const needed = [...info.trainFiles, ...info.testFiles];
  const nested = join(folder, info.archiveFolder);
  let dir = folder;
  if (!needed.some((f) => existsSync(join(folder, f))) && existsSync(nested)) dir = nested;
  const missing = needed.filter((f) => !existsSync(join(dir, f)));
  if (missing.length > 0) {
    throw new DatasetError(
      `${variant}: missing file${missing.length > 1 ? 's' : ''} in ${dir}: ${missing.map((m) => `"${m}"`).join(', ')}`,
      join(dir, missing[0]),
    );
  }
  const train = await loadBatches(dir, info.trainFiles, variant);
  const test = await loadBatches(dir, info.testFiles, variant);
  const classNames = await readClassNames(join(dir, info.namesFile), variant);
  return { name: variant, classNames, train, test };
}

async function loadBatches(dir: string, files: string[], variant: CifarVariant): Promise<ImageSplit> {
  const parts: { n: number; images: Uint8Array; labels: Int32Array }[] = [];
  for (const f of files) {
    const path = join(dir, f);
    let buf: Buffer;
    try {
      buf = await readFile(path);
    } catch (e) {
      throw new DatasetError(`cannot read ${path}: ${(e as Error).message}`, path);
    }
    parts.push(parseCifarBatch(buf, path, variant));
  }
  const n = parts.reduce((a, p) => a + p.n, 0);
  const images = new Uint8Array(n * IMAGE_BYTES);
  const labels = new Int32Array(n);
  let at = 0;
  for (const p of parts) {
    images.set(p.images, at * IMAGE_BYTES);
    labels.set(p.labels, at);
    at += p.n;
  }
  return { images, labels, n, height: SIDE, width: SIDE, channels: 3 };
}

/** Names from the archive's text file (one per line, blank lines ignored), else the defaults. */
async function readClassNames(file: string, variant: CifarVariant): Promise<string[]> {
  const { numClasses } = VARIANTS[variant];
  if (!existsSync(file)) {
    return variant === 'cifar10'
      ? [...CIFAR10_CLASSES]
      : Array.from({ length: numClasses }, (_, i) => `class ${i}`);
  }
  const names = (await readFile(file, 'utf8'))
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length !== numClasses) {
    throw new DatasetError(`${file}: expected ${numClasses} class names, found ${names.length}`, file);
  }
  return names;
}
