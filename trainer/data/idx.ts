/**
 * MNIST / Fashion-MNIST in the IDX format: a big-endian magic (0x0000 08 nd: uint8 data, nd
 * dimensions), nd big-endian uint32 sizes, then the bytes. Files may be gzip-compressed.
 */

import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { type Dataset, DatasetError, type ImageSplit } from './types';

const gunzipAsync = promisify(gunzip);

export const IDX_IMAGES_MAGIC = 0x00000803;
export const IDX_LABELS_MAGIC = 0x00000801;

export const MNIST_CLASSES: readonly string[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
export const FASHION_MNIST_CLASSES: readonly string[] = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

/** Base names of the four files; each may also carry a `.gz` suffix. */
export const IDX_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

export interface IdxImages {
  n: number;
  height: number;
  width: number;
  data: Uint8Array;
}

/** Reads a file's bytes, gunzipping when it starts with the gzip magic (whatever its name). */
export async function readMaybeGzip(file: string): Promise<Uint8Array> {
  let raw: Buffer;
  try {
    raw = await readFile(file);
  } catch (e) {
    throw new DatasetError(`cannot read ${file}: ${(e as Error).message}`, file);
  }
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      return await gunzipAsync(raw);
    } catch (e) {
      throw new DatasetError(`${file}: gzip data is corrupt or truncated (${(e as Error).message})`, file);
    }
  }
  return raw;
}

/**
 * Validates an IDX buffer against the expected magic and returns its dimension sizes and data.
 * Sizes in messages are of the decompressed bytes.
 */
export function parseIdx(buf: Uint8Array, file: string, magic: number): { dims: number[]; data: Uint8Array } {
  const ndims = magic & 0xff;
  if (buf.length < 4) {
    throw new DatasetError(
      `${file}: truncated: ${buf.length} bytes, shorter than the 4-byte IDX magic`,
      file,
    );
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const found = view.getUint32(0);
  if (found !== magic) {
    throw new DatasetError(
      `${file}: bad IDX magic 0x${hex8(found)}, expected 0x${hex8(magic)} ` +
        `(uint8 ${magic === IDX_IMAGES_MAGIC ? 'images' : 'labels'}, ${ndims} dimension${ndims === 1 ? '' : 's'})`,
      file,
    );
  }
  const header = 4 + 4 * ndims;
  if (buf.length < header) {
    throw new DatasetError(
      `${file}: truncated: expected at least ${header} header bytes, found ${buf.length} bytes`,
      file,
    );
  }
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i));
  const expected = header + dims.reduce((a, b) => a * b, 1);
  if (buf.length !== expected) {
    const what =
      buf.length < expected ? 'truncated' : `${buf.length - expected} trailing bytes after the data`;
    throw new DatasetError(
      `${file}: ${what}: dimensions ${dims.join(' x ')} need ${expected} bytes, found ${buf.length}`,
      file,
    );
  }
  return { dims, data: buf.subarray(header) };
}

export function parseIdxImages(buf: Uint8Array, file: string): IdxImages {
  const { dims, data } = parseIdx(buf, file, IDX_IMAGES_MAGIC);
  const [n, height, width] = dims;
  if (height === 0 || width === 0) {
    throw new DatasetError(`${file}: image size ${height} x ${width} is empty`, file);
  }
  return { n, height, width, data };
}

export function parseIdxLabels(buf: Uint8Array, file: string, numClasses: number): Int32Array {
  const { data } = parseIdx(buf, file, IDX_LABELS_MAGIC);
  const labels = new Int32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    if (data[i] >= numClasses) {
      throw new DatasetError(
        `${file}: label ${data[i]} at index ${i} is out of range (expected 0..${numClasses - 1})`,
        file,
      );
    }
    labels[i] = data[i];
  }
  return labels;
}

/**
 * Loads the four standard files from `folder`, each raw or `.gz`. Nothing is reordered: the
 * published files are already shuffled, so a prefix of a split is a fair subset.
 */
export async function loadIdxFolder(folder: string, kind: 'mnist' | 'fashion-mnist'): Promise<Dataset> {
  if (!existsSync(folder) || !statSync(folder).isDirectory()) {
    throw new DatasetError(`${kind}: dataset folder ${folder} does not exist`, folder);
  }
  const found: Partial<Record<keyof typeof IDX_FILES, string>> = {};
  const missing: string[] = [];
  for (const [role, base] of Object.entries(IDX_FILES) as [keyof typeof IDX_FILES, string][]) {
    const candidates = [base, `${base}.gz`];
    const hit = candidates.find((name) => existsSync(join(folder, name)));
    if (hit) found[role] = join(folder, hit);
    else missing.push(candidates.map((c) => `"${c}"`).join(' or '));
  }
  if (missing.length > 0) {
    throw new DatasetError(
      `${kind}: missing file${missing.length > 1 ? 's' : ''} in ${folder}: looked for ${missing.join('; and for ')}`,
      folder,
    );
  }
  const classNames = kind === 'mnist' ? [...MNIST_CLASSES] : [...FASHION_MNIST_CLASSES];
  const train = await loadIdxSplit(found.trainImages!, found.trainLabels!, classNames.length);
  const test = await loadIdxSplit(found.testImages!, found.testLabels!, classNames.length);
  if (train.height !== test.height || train.width !== test.width) {
    throw new DatasetError(
      `${kind}: training images are ${train.height} x ${train.width} but test images are ` +
        `${test.height} x ${test.width} (${found.testImages})`,
      found.testImages,
    );
  }
  return { name: kind, classNames, train, test };
}

export async function loadIdxSplit(
  imagesFile: string,
  labelsFile: string,
  numClasses: number,
): Promise<ImageSplit> {
  const img = parseIdxImages(await readMaybeGzip(imagesFile), imagesFile);
  const labels = parseIdxLabels(await readMaybeGzip(labelsFile), labelsFile, numClasses);
  if (img.n !== labels.length) {
    throw new DatasetError(
      `${imagesFile} holds ${img.n} images but ${labelsFile} holds ${labels.length} labels`,
      labelsFile,
    );
  }
  if (img.n === 0) throw new DatasetError(`${imagesFile} holds no images`, imagesFile);
  // A copy, so that `images.buffer` is exactly the pixels rather than the whole decompressed file.
  return { images: img.data.slice(), labels, n: img.n, height: img.height, width: img.width, channels: 1 };
}

function hex8(v: number): string {
  return (v >>> 0).toString(16).padStart(8, '0');
}
