/**
 * A folder of PNG / JPEG files, one sub-folder per class:
 *
 *   root/train/<class>/*.png|jpg|jpeg  and  root/test/<class>/...   (explicit split), or
 *   root/<class>/*.png|jpg|jpeg                                      (no split: 20% held out)
 *
 * With `train/` but no `test/`, the hold-out is taken from `train/`. Class names are the training
 * class folder names, sorted; a test class folder must also exist under `train/`.
 *
 * Files: `.png`, `.jpg`, `.jpeg` (any case) are decoded by their content; other image formats
 * (`.gif`, `.bmp`, `.webp`, `.tif`, ...) are an error naming the file, because silently dropping
 * them would skew the classes. Everything else (`.txt`, `.json`, `.csv`, hidden files such as
 * `.DS_Store`, sub-folders inside a class folder) is skipped silently. Images are converted to RGB
 * (alpha dropped, grayscale expanded) and stretched to `imageSize` x `imageSize`.
 */

import { existsSync, statSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { rngFor } from '../rng';
import { type Dataset, DatasetError, type ImageSplit } from './types';

const DECODABLE = new Set(['.png', '.jpg', '.jpeg']);
const OTHER_IMAGE_FORMATS = new Set([
  '.gif',
  '.bmp',
  '.webp',
  '.tif',
  '.tiff',
  '.heic',
  '.heif',
  '.avif',
  '.ico',
  '.svg',
  '.jxl',
  '.jp2',
  '.ppm',
  '.pgm',
]);

export interface ImageFolderOptions {
  /** Output side in pixels. */
  imageSize: number;
  /** Fraction of each class held out as test when the folder has no `test/` (default 0.2). */
  holdout?: number;
  /** Seed of the hold-out choice and of the image order (default 0). */
  seed?: number;
}

interface Entry {
  file: string;
  label: number;
}

export async function loadImageFolder(root: string, opts: ImageFolderOptions): Promise<Dataset> {
  const size = opts.imageSize;
  if (!Number.isInteger(size) || size < 1) {
    throw new DatasetError(`imagefolder: imageSize must be a positive integer, got ${size}`, root);
  }
  const holdout = opts.holdout ?? 0.2;
  const seed = opts.seed ?? 0;
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new DatasetError(`imagefolder: dataset folder ${root} does not exist`, root);
  }
  const trainDir = join(root, 'train');
  const testDir = join(root, 'test');
  const hasTrain = isDir(trainDir);
  const hasTest = isDir(testDir);
  if (hasTest && !hasTrain) {
    throw new DatasetError(`imagefolder: ${root} has a test/ folder but no train/ folder`, testDir);
  }
  const classRoot = hasTrain ? trainDir : root;
  const classNames = await classFolders(classRoot);
  let train: Entry[] = [];
  let test: Entry[] = [];
  for (let label = 0; label < classNames.length; label++) {
    const files = await imageFiles(join(classRoot, classNames[label]));
    if (hasTest) {
      train.push(...files.map((file) => ({ file, label })));
      continue;
    }
    // At least one test image per class whenever the class can spare one, so every class is scored.
    const k = files.length < 2 ? 0 : Math.max(1, Math.round(holdout * files.length));
    const perm = rngFor(seed, 'imagefolder', 'holdout', classNames[label]).permutation(files.length);
    for (let i = 0; i < files.length; i++) (i < k ? test : train).push({ file: files[perm[i]], label });
  }
  if (hasTest) {
    const testClasses = await classFolders(testDir);
    for (const name of testClasses) {
      const label = classNames.indexOf(name);
      if (label < 0) {
        throw new DatasetError(
          `imagefolder: test class folder "${name}" has no matching folder in ${trainDir}`,
          join(testDir, name),
        );
      }
      test.push(...(await imageFiles(join(testDir, name))).map((file) => ({ file, label })));
    }
  }
  // Files come out class by class; shuffling once here makes any prefix (trainLimit) mix classes.
  train = shuffled(train, seed, 'train');
  test = shuffled(test, seed, 'test');
  return {
    name: `imagefolder:${basename(root)}`,
    classNames,
    train: await decodeAll(train, size),
    test: await decodeAll(test, size),
  };
}

function isDir(p: string): boolean {
  return existsSync(p) && statSync(p).isDirectory();
}

async function classFolders(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  if (entries.length === 0) throw new DatasetError(`imagefolder: ${dir} is empty`, dir);
  const names = entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
  if (names.length === 0) {
    throw new DatasetError(
      `imagefolder: no class folders in ${dir} (expected one sub-folder of images per class)`,
      dir,
    );
  }
  return names;
}

/** Image files of one class folder, sorted by name so that the order does not depend on the OS. */
async function imageFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files: string[] = [];
  for (const e of entries) {
    if (!e.isFile() || e.name.startsWith('.')) continue;
    const ext = extname(e.name).toLowerCase();
    if (DECODABLE.has(ext)) files.push(join(dir, e.name));
    else if (OTHER_IMAGE_FORMATS.has(ext)) {
      throw new DatasetError(
        `imagefolder: ${join(dir, e.name)}: ${ext} images are not supported (convert to PNG or JPEG)`,
        join(dir, e.name),
      );
    }
  }
  if (files.length === 0) {
    throw new DatasetError(`imagefolder: class folder ${dir} holds no PNG or JPEG images`, dir);
  }
  return files.sort();
}

function shuffled(entries: Entry[], seed: number, split: string): Entry[] {
  const perm = rngFor(seed, 'imagefolder', 'order', split).permutation(entries.length);
  return Array.from(perm, (i) => entries[i]);
}

async function decodeAll(entries: Entry[], size: number): Promise<ImageSplit> {
  const px = size * size * 3;
  const images = new Uint8Array(entries.length * px);
  const labels = new Int32Array(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const { file, label } = entries[i];
    const img = decodeImage(await readFile(file), file);
    images.set(resizeRgb(img.rgb, img.width, img.height, size, size), i * px);
    labels[i] = label;
  }
  return { images, labels, n: entries.length, height: size, width: size, channels: 3 };
}

export interface RgbImage {
  width: number;
  height: number;
  /** Row-major RGB bytes. */
  rgb: Uint8Array;
}

/** Decodes PNG or JPEG bytes (told apart by signature, not file name) to RGB. */
export function decodeImage(buf: Uint8Array, file: string): RgbImage {
  const isPng = buf.length >= 8 && buf[0] === 0x89 && buf[1] === 0x50 && buf[2] === 0x4e && buf[3] === 0x47;
  const isJpeg = buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff;
  if (!isPng && !isJpeg) {
    throw new DatasetError(`imagefolder: cannot decode ${file}: not a PNG or JPEG file`, file);
  }
  let width: number;
  let height: number;
  let rgba: Uint8Array;
  try {
    if (isPng) {
      // pngjs always yields 8-bit RGBA: palette, grayscale and 16-bit inputs are expanded for us.
      const png = PNG.sync.read(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength));
      ({ width, height } = png);
      rgba = png.data;
    } else {
      // jpeg-js expands grayscale and converts YCbCr/CMYK to RGB(A).
      const img = jpeg.decode(buf, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 1024 });
      ({ width, height } = img);
      rgba = img.data;
    }
  } catch (e) {
    throw new DatasetError(`imagefolder: cannot decode ${file}: ${(e as Error).message}`, file);
  }
  if (width < 1 || height < 1 || rgba.length < width * height * 4) {
    throw new DatasetError(`imagefolder: cannot decode ${file}: no pixel data`, file);
  }
  const rgb = new Uint8Array(width * height * 3);
  for (let p = 0, q = 0; p < width * height; p++, q += 4) {
    rgb[3 * p] = rgba[q];
    rgb[3 * p + 1] = rgba[q + 1];
    rgb[3 * p + 2] = rgba[q + 2];
  }
  return { width, height, rgb };
}

/**
 * Resizes RGB bytes to `dw` x `dh`, one axis at a time: area averaging when shrinking (every source
 * pixel contributes by its overlap, so thin lines do not vanish), bilinear with pixel-centre
 * alignment when enlarging.
 */
export function resizeRgb(src: Uint8Array, sw: number, sh: number, dw: number, dh: number): Uint8Array {
  if (sw === dw && sh === dh) return src.slice();
  const wx = axisWeights(sw, dw);
  const wy = axisWeights(sh, dh);
  // Horizontal pass: sh rows x dw columns.
  const tmp = new Float64Array(sh * dw * 3);
  for (let y = 0; y < sh; y++) {
    for (let x = 0; x < dw; x++) {
      const { idx, w } = wx[x];
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let j = 0; j < idx.length; j++) s += w[j] * src[(y * sw + idx[j]) * 3 + c];
        tmp[(y * dw + x) * 3 + c] = s;
      }
    }
  }
  const out = new Uint8ClampedArray(dw * dh * 3);
  for (let y = 0; y < dh; y++) {
    const { idx, w } = wy[y];
    for (let x = 0; x < dw; x++) {
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let j = 0; j < idx.length; j++) s += w[j] * tmp[(idx[j] * dw + x) * 3 + c];
        out[(y * dw + x) * 3 + c] = s;
      }
    }
  }
  return new Uint8Array(out.buffer);
}

/** For each output index along one axis, the source indices and weights (summing to 1). */
function axisWeights(from: number, to: number): { idx: number[]; w: number[] }[] {
  const scale = from / to;
  const table: { idx: number[]; w: number[] }[] = [];
  for (let o = 0; o < to; o++) {
    const idx: number[] = [];
    const w: number[] = [];
    if (scale >= 1) {
      const lo = o * scale;
      const hi = lo + scale;
      for (let i = Math.floor(lo); i < Math.min(from, Math.ceil(hi)); i++) {
        const overlap = Math.min(hi, i + 1) - Math.max(lo, i);
        if (overlap > 0) {
          idx.push(i);
          w.push(overlap / scale);
        }
      }
    } else {
      const x = Math.min(from - 1, Math.max(0, (o + 0.5) * scale - 0.5));
      const i0 = Math.floor(x);
      const f = x - i0;
      idx.push(i0);
      w.push(1 - f);
      if (f > 0) {
        idx.push(i0 + 1);
        w.push(f);
      }
    }
    table.push({ idx, w });
  }
  return table;
}
