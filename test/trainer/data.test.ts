import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import type { DatasetConfig } from '../../trainer/config/types';
import { loadCifar } from '../../trainer/data/cifar';
import { loadIdxFolder, parseIdx } from '../../trainer/data/idx';
import { loadImageFolder, resizeRgb } from '../../trainer/data/imagefolder';
import { datasetStats, loadDataset } from '../../trainer/data/load';
import { makeSynthetic, makeSyntheticSplit, writeContactSheet } from '../../trainer/data/synthetic';
import { type Dataset, DatasetError, type ImageSplit } from '../../trainer/data/types';
import { Rng } from '../../trainer/rng';

const FASHION = '/usr/share/datasets/fashion-mnist';

let tmp: string;
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'cl-data-'));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A fresh sub-folder of the test's temp dir. */
let dirCount = 0;
function freshDir(name: string): string {
  const d = join(tmp, `${name}-${dirCount++}`);
  mkdirSync(d, { recursive: true });
  return d;
}

function sha(bytes: Uint8Array): string {
  return createHash('sha1').update(bytes).digest('hex');
}

function counts(labels: Int32Array, k: number): number[] {
  const c = new Array(k).fill(0);
  for (const l of labels) c[l]++;
  return c;
}

/** Expects a DatasetError whose message contains every one of `parts`. */
async function rejectsWith(fn: () => Promise<unknown> | unknown, ...parts: string[]): Promise<DatasetError> {
  let caught: unknown;
  try {
    await fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof DatasetError, `expected a DatasetError, got ${String(caught)}`);
  for (const p of parts) assert.ok(caught.message.includes(p), `message "${caught.message}" lacks "${p}"`);
  return caught;
}

function baseConfig(over: Partial<DatasetConfig>): DatasetConfig {
  return {
    kind: 'synthetic',
    trainLimit: 0,
    testLimit: 0,
    syntheticTrain: 100,
    syntheticTest: 20,
    syntheticSeed: 0,
    imageSize: 32,
    ...over,
  };
}

describe('synthetic shapes', () => {
  it('has the declared shape, ten named classes and labels in range', () => {
    const ds = makeSynthetic({ train: 30, test: 12, seed: 1 });
    assert.equal(ds.classNames.length, 10);
    assert.equal(new Set(ds.classNames).size, 10);
    for (const [s, n] of [
      [ds.train, 30],
      [ds.test, 12],
    ] as const) {
      assert.equal(s.n, n);
      assert.deepEqual([s.height, s.width, s.channels], [32, 32, 3]);
      assert.equal(s.images.length, n * 32 * 32 * 3);
      assert.equal(s.labels.length, n);
      for (const l of s.labels) assert.ok(l >= 0 && l < 10);
    }
  });

  it('is deterministic in the seed, and the seed, the split and the index all change the images', () => {
    const a = makeSynthetic({ train: 200, test: 50, seed: 42 });
    const b = makeSynthetic({ train: 200, test: 50, seed: 42 });
    assert.ok(Buffer.from(a.train.images).equals(Buffer.from(b.train.images)));
    assert.deepEqual(a.train.labels, b.train.labels);
    assert.ok(Buffer.from(a.test.images).equals(Buffer.from(b.test.images)));

    const c = makeSynthetic({ train: 200, test: 50, seed: 43 });
    let differ = 0;
    for (let i = 0; i < a.train.images.length; i++) if (a.train.images[i] !== c.train.images[i]) differ++;
    assert.ok(differ > a.train.images.length * 0.5, `only ${differ} bytes differ between seeds`);

    // Train and test are separate streams: no test image repeats a training image, nor any other.
    const px = 32 * 32 * 3;
    const seen = new Set<string>();
    for (let i = 0; i < a.train.n; i++) seen.add(sha(a.train.images.subarray(i * px, (i + 1) * px)));
    assert.equal(seen.size, a.train.n);
    for (let i = 0; i < a.test.n; i++)
      assert.ok(!seen.has(sha(a.test.images.subarray(i * px, (i + 1) * px))));
  });

  it('balances the classes and does not order them', () => {
    const s = makeSyntheticSplit(1000, 5, 'train');
    assert.deepEqual(counts(s.labels, 10), new Array(10).fill(100));
    const odd = makeSyntheticSplit(1005, 5, 'train');
    for (const c of counts(odd.labels, 10)) assert.ok(c === 100 || c === 101);
    // Not cyclic or sorted: the label sequence has plenty of non +1 steps.
    let cyclic = 0;
    for (let i = 1; i < s.n; i++) if (s.labels[i] === (s.labels[i - 1] + 1) % 10) cyclic++;
    assert.ok(cyclic < 300, `${cyclic} of 999 steps look cyclic`);
  });

  it('draws colours independently of the class and keeps the shape visible', () => {
    const s = makeSyntheticSplit(2000, 9, 'train');
    const px = 32 * 32;
    const sum = Array.from({ length: 10 }, () => [0, 0, 0]);
    const num = new Array(10).fill(0);
    for (let i = 0; i < s.n; i++) {
      const l = s.labels[i];
      num[l]++;
      let min = 1;
      let max = 0;
      for (let p = 0; p < px; p++) {
        const o = (i * px + p) * 3;
        for (let c = 0; c < 3; c++) sum[l][c] += s.images[o + c] / 255 / px;
        const y = (0.299 * s.images[o] + 0.587 * s.images[o + 1] + 0.114 * s.images[o + 2]) / 255;
        min = Math.min(min, y);
        max = Math.max(max, y);
      }
      // The luma gap between shape and background is at least 0.25 minus noise and anti-aliasing.
      assert.ok(
        max - min > 0.15,
        `image ${i} (class ${l}) has a luma range of only ${(max - min).toFixed(3)}`,
      );
    }
    // Per-class mean colours: each image's mean has a standard deviation of about 0.2, so a class
    // mean over ~200 images lies within ~0.015 of 0.5 unless colour depends on the class.
    for (let l = 0; l < 10; l++) {
      for (let c = 0; c < 3; c++) {
        const m = sum[l][c] / num[l];
        assert.ok(Math.abs(m - 0.5) < 0.08, `class ${l} channel ${c} mean ${m.toFixed(3)}`);
      }
    }
  });

  it('is hard for raw pixels: 1-NN on pixels stays far from what shape would give', () => {
    const ds = makeSynthetic({ train: 1000, test: 200, seed: 11 });
    const d = 32 * 32 * 3;
    const centred = (s: ImageSplit) => {
      const f = new Float32Array(s.n * d);
      for (let i = 0; i < f.length; i++) f[i] = s.images[i] / 255 - 0.5;
      return f;
    };
    const tr = centred(ds.train);
    const te = centred(ds.test);
    let correct = 0;
    for (let q = 0; q < ds.test.n; q++) {
      let best = -1;
      let bestD = Number.POSITIVE_INFINITY;
      for (let t = 0; t < ds.train.n; t++) {
        let dist = 0;
        for (let j = 0; j < d; j++) {
          const e = te[q * d + j] - tr[t * d + j];
          dist += e * e;
        }
        if (dist < bestD) {
          bestD = dist;
          best = t;
        }
      }
      if (ds.train.labels[best] === ds.test.labels[q]) correct++;
    }
    // Chance is 10%; nuisance factors dominate the pixel distance by design.
    assert.ok(correct / ds.test.n < 0.35, `raw-pixel 1-NN accuracy ${correct / ds.test.n}`);
  });

  it('generates 10,000 images quickly', () => {
    const t0 = performance.now();
    const s = makeSyntheticSplit(10000, 3, 'train');
    const ms = performance.now() - t0;
    assert.equal(s.n, 10000);
    // About 0.7 s on one core here; the margin absorbs a loaded test machine.
    assert.ok(ms < 5000, `${ms.toFixed(0)} ms for 10k images`);
  });

  it('writes a contact sheet with one row per class', () => {
    const s = makeSyntheticSplit(100, 2, 'test');
    const file = join(freshDir('sheet'), 'sheet.png');
    writeContactSheet(s, file, 40, 2);
    const png = PNG.sync.read(readFileSync(file));
    // 4 per row, 10 rows, each cell 32*2 pixels plus a 2-pixel gap, plus the outer gap.
    assert.equal(png.width, 4 * 66 + 2);
    assert.equal(png.height, 10 * 66 + 2);
    // The top-left cell is the first image of class 0, enlarged: its pixel (0, 0) fills 2x2.
    const first = s.labels.indexOf(0);
    for (const [x, y] of [
      [2, 2],
      [3, 3],
    ]) {
      const o = (y * png.width + x) * 4;
      assert.deepEqual(
        [...png.data.subarray(o, o + 3)],
        [...s.images.subarray(first * 3072, first * 3072 + 3)],
      );
    }
  });
});

// --- IDX --------------------------------------------------------------------------------------

/** IDX bytes written from the format description: 0, 0, type 0x08, ndims, big-endian sizes, data. */
function idxBytes(dims: number[], data: Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  dims.forEach((d, i) => {
    header.writeUInt32BE(d, 4 + 4 * i);
  });
  return Buffer.concat([header, Buffer.from(data)]);
}

interface IdxFixture {
  trainImages: Uint8Array;
  trainLabels: Uint8Array;
  testImages: Uint8Array;
  testLabels: Uint8Array;
}

// Non-square (5 rows x 4 columns) so a height/width mix-up shows.
const IDX_H = 5;
const IDX_W = 4;

function idxFixture(seed: number, nTrain = 7, nTest = 3): IdxFixture {
  const rng = new Rng(seed);
  const bytes = (n: number, mod: number) => Uint8Array.from({ length: n }, () => rng.int(mod));
  return {
    trainImages: bytes(nTrain * IDX_H * IDX_W, 256),
    trainLabels: bytes(nTrain, 10),
    testImages: bytes(nTest * IDX_H * IDX_W, 256),
    testLabels: bytes(nTest, 10),
  };
}

function writeIdxFolder(dir: string, f: IdxFixture, gz: (name: string) => boolean): void {
  const put = (name: string, buf: Buffer) =>
    writeFileSync(join(dir, gz(name) ? `${name}.gz` : name), gz(name) ? gzipSync(buf) : buf);
  const n = (imgs: Uint8Array) => imgs.length / (IDX_H * IDX_W);
  put('train-images-idx3-ubyte', idxBytes([n(f.trainImages), IDX_H, IDX_W], f.trainImages));
  put('train-labels-idx1-ubyte', idxBytes([f.trainLabels.length], f.trainLabels));
  put('t10k-images-idx3-ubyte', idxBytes([n(f.testImages), IDX_H, IDX_W], f.testImages));
  put('t10k-labels-idx1-ubyte', idxBytes([f.testLabels.length], f.testLabels));
}

function assertMatchesFixture(ds: Dataset, f: IdxFixture): void {
  for (const [s, imgs, labels] of [
    [ds.train, f.trainImages, f.trainLabels],
    [ds.test, f.testImages, f.testLabels],
  ] as const) {
    assert.deepEqual([s.n, s.height, s.width, s.channels], [labels.length, IDX_H, IDX_W, 1]);
    assert.deepEqual([...s.images], [...imgs]);
    assert.deepEqual([...s.labels], [...labels]);
  }
}

describe('IDX (MNIST / Fashion-MNIST)', () => {
  it('reads raw, gzip and mixed folders back exactly', async () => {
    const f = idxFixture(1);
    for (const gz of [() => false, () => true, (n: string) => n.startsWith('train')]) {
      const dir = freshDir('idx');
      writeIdxFolder(dir, f, gz);
      assertMatchesFixture(await loadIdxFolder(dir, 'mnist'), f);
    }
  });

  it('names the classes of each kind', async () => {
    const dir = freshDir('idx');
    writeIdxFolder(dir, idxFixture(2), () => true);
    const mnist = await loadIdxFolder(dir, 'mnist');
    assert.deepEqual(mnist.classNames, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    const fashion = await loadIdxFolder(dir, 'fashion-mnist');
    assert.deepEqual(fashion.classNames, [
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
    ]);
    assert.equal(fashion.name, 'fashion-mnist');
  });

  it('rejects a truncated file, naming it with the expected and actual sizes', async () => {
    const f = idxFixture(3);
    for (const gz of [false, true]) {
      const dir = freshDir('idx');
      writeIdxFolder(dir, f, () => gz);
      // 7 images of 5x4 after a 16-byte header: 156 bytes; drop the last one.
      const full = idxBytes([7, IDX_H, IDX_W], f.trainImages);
      const name = gz ? 'train-images-idx3-ubyte.gz' : 'train-images-idx3-ubyte';
      const cut = full.subarray(0, full.length - 1);
      writeFileSync(join(dir, name), gz ? gzipSync(cut) : cut);
      await rejectsWith(() => loadIdxFolder(dir, 'mnist'), name, 'truncated', '156', '155');
    }
  });

  it('rejects trailing bytes', async () => {
    const f = idxFixture(4);
    const dir = freshDir('idx');
    writeIdxFolder(dir, f, () => false);
    // 7 labels after an 8-byte header: 15 bytes, plus 3 extra.
    const buf = Buffer.concat([idxBytes([7], f.trainLabels), Buffer.from([1, 2, 3])]);
    writeFileSync(join(dir, 'train-labels-idx1-ubyte'), buf);
    await rejectsWith(() => loadIdxFolder(dir, 'mnist'), 'train-labels-idx1-ubyte', '3 trailing', '15', '18');
  });

  it('rejects a wrong magic number', async () => {
    const f = idxFixture(5);
    const dir = freshDir('idx');
    writeIdxFolder(dir, f, () => false);
    // A labels file where the images should be.
    writeFileSync(join(dir, 't10k-images-idx3-ubyte'), idxBytes([3], f.testLabels));
    await rejectsWith(
      () => loadIdxFolder(dir, 'mnist'),
      't10k-images-idx3-ubyte',
      '0x00000801',
      '0x00000803',
    );
    // Not IDX at all, and shorter than the magic.
    assert.throws(() => parseIdx(Buffer.from([0, 0]), 'tiny', 0x801), /tiny.*truncated/);
    const int32 = idxBytes([2], new Uint8Array(2));
    int32[2] = 0x0c;
    assert.throws(() => parseIdx(int32, 'ints', 0x801), /ints.*0x00000c01/);
  });

  it('rejects corrupt gzip data, naming the file', async () => {
    const dir = freshDir('idx');
    writeIdxFolder(dir, idxFixture(6), () => true);
    const gz = readFileSync(join(dir, 't10k-labels-idx1-ubyte.gz'));
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte.gz'), gz.subarray(0, 12));
    await rejectsWith(() => loadIdxFolder(dir, 'mnist'), 't10k-labels-idx1-ubyte.gz', 'gzip');
  });

  it('rejects labels out of range and count mismatches', async () => {
    const f = idxFixture(7);
    const dir = freshDir('idx');
    writeIdxFolder(dir, f, () => false);
    const bad = Uint8Array.from(f.testLabels);
    bad[1] = 10;
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), idxBytes([3], bad));
    await rejectsWith(() => loadIdxFolder(dir, 'mnist'), 't10k-labels-idx1-ubyte', 'label 10', 'index 1');

    writeIdxFolder(dir, f, () => false);
    writeFileSync(join(dir, 'train-labels-idx1-ubyte'), idxBytes([6], f.trainLabels.subarray(0, 6)));
    await rejectsWith(
      () => loadIdxFolder(dir, 'mnist'),
      'train-images-idx3-ubyte holds 7 images',
      'train-labels-idx1-ubyte holds 6 labels',
    );
  });

  it('lists exactly the missing file names and the folder', async () => {
    const dir = freshDir('idx');
    writeIdxFolder(dir, idxFixture(8), () => true);
    rmSync(join(dir, 't10k-images-idx3-ubyte.gz'));
    rmSync(join(dir, 't10k-labels-idx1-ubyte.gz'));
    const e = await rejectsWith(
      () => loadIdxFolder(dir, 'fashion-mnist'),
      dir,
      '"t10k-images-idx3-ubyte" or "t10k-images-idx3-ubyte.gz"',
      '"t10k-labels-idx1-ubyte" or "t10k-labels-idx1-ubyte.gz"',
    );
    assert.ok(!e.message.includes('train-'), 'files that are present are not listed');
    await rejectsWith(() => loadIdxFolder(join(dir, 'nope'), 'mnist'), join(dir, 'nope'), 'does not exist');
  });

  it('real Fashion-MNIST: sizes, class histogram, and bytes checked against a separate parse', async function () {
    if (!existsSync(join(FASHION, 'train-images-idx3-ubyte.gz'))) {
      console.log(
        `      (skipped: Fashion-MNIST is not installed at ${FASHION}; apt-get install dataset-fashion-mnist)`,
      );
      this.skip();
    }
    const ds = await loadIdxFolder(FASHION, 'fashion-mnist');
    assert.deepEqual([ds.train.n, ds.train.height, ds.train.width, ds.train.channels], [60000, 28, 28, 1]);
    assert.deepEqual([ds.test.n, ds.test.height, ds.test.width, ds.test.channels], [10000, 28, 28, 1]);
    // Published facts: 6,000 training and 1,000 test images per class; the first is an ankle boot.
    assert.deepEqual(counts(ds.train.labels, 10), new Array(10).fill(6000));
    assert.deepEqual(counts(ds.test.labels, 10), new Array(10).fill(1000));
    assert.equal(ds.train.labels[0], 9);
    // The usual normalisation constants quoted for Fashion-MNIST: mean 0.2860, std 0.3530.
    const st = datasetStats(ds.train);
    assert.ok(Math.abs(st.mean[0] - 0.286) < 0.001, `mean ${st.mean[0]}`);
    assert.ok(Math.abs(st.std[0] - 0.353) < 0.001, `std ${st.std[0]}`);

    // Minimal parse: images start after 16 header bytes, labels after 8.
    const img = gunzipSync(readFileSync(join(FASHION, 'train-images-idx3-ubyte.gz')));
    assert.equal(img.readUInt32BE(0), 0x803);
    assert.deepEqual([...ds.train.images.subarray(0, 784)], [...img.subarray(16, 16 + 784)]);
    const last = 59999 * 784;
    assert.deepEqual(
      [...ds.train.images.subarray(last, last + 784)],
      [...img.subarray(16 + last, 16 + last + 784)],
    );
    const lab = gunzipSync(readFileSync(join(FASHION, 't10k-labels-idx1-ubyte.gz')));
    assert.deepEqual([...ds.test.labels], [...lab.subarray(8)]);
  });
});

// --- CIFAR ------------------------------------------------------------------------------------

/** A pixel value that differs by record, channel and position, so any mix-up shows. */
function cifarValue(rec: number, c: number, p: number): number {
  return (rec * 37 + c * 101 + p * 13) % 256;
}

/** CIFAR binary records from the format description: label byte(s), then R, G, B planes of 1024. */
function cifarRecords(first: number, n: number, labels: (rec: number) => number[]): Buffer {
  const out: number[] = [];
  for (let k = 0; k < n; k++) {
    out.push(...labels(first + k));
    for (let c = 0; c < 3; c++) for (let p = 0; p < 1024; p++) out.push(cifarValue(first + k, c, p));
  }
  return Buffer.from(out);
}

function writeCifar10(dir: string, trainCounts = [2, 1, 3, 1, 2], testCount = 3): void {
  mkdirSync(dir, { recursive: true });
  let rec = 0;
  trainCounts.forEach((n, i) => {
    writeFileSync(
      join(dir, `data_batch_${i + 1}.bin`),
      cifarRecords(rec, n, (r) => [r % 10]),
    );
    rec += n;
  });
  writeFileSync(
    join(dir, 'test_batch.bin'),
    cifarRecords(1000, testCount, (r) => [(r * 3) % 10]),
  );
}

function assertCifarSplit(s: ImageSplit, first: number, labelOf: (rec: number) => number): void {
  assert.deepEqual([s.height, s.width, s.channels], [32, 32, 3]);
  for (let k = 0; k < s.n; k++) {
    assert.equal(s.labels[k], labelOf(first + k));
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        for (let c = 0; c < 3; c++) {
          const got = s.images[((k * 32 + y) * 32 + x) * 3 + c];
          if (got !== cifarValue(first + k, c, y * 32 + x)) {
            assert.fail(`record ${k} pixel (${y}, ${x}) channel ${c}: ${got}`);
          }
        }
      }
    }
  }
}

describe('CIFAR binary batches', () => {
  it('CIFAR-10: concatenates the five batches and converts planar RGB to NHWC', async () => {
    const dir = freshDir('cifar10');
    writeCifar10(dir);
    const ds = await loadCifar(dir, 'cifar10');
    assert.equal(ds.train.n, 9);
    assert.equal(ds.test.n, 3);
    assertCifarSplit(ds.train, 0, (r) => r % 10);
    assertCifarSplit(ds.test, 1000, (r) => (r * 3) % 10);
    // One hand-placed pixel: red, green and blue of (row 1, column 2) of the first training image.
    const p = 1 * 32 + 2;
    assert.deepEqual(
      [...ds.train.images.subarray(p * 3, p * 3 + 3)],
      [(p * 13) % 256, (101 + p * 13) % 256, (202 + p * 13) % 256],
    );
    assert.deepEqual(ds.classNames, [
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
    ]);
  });

  it('CIFAR-10: reads names from batches.meta.txt and finds the archive sub-folder', async () => {
    const root = freshDir('cifar10');
    const dir = join(root, 'cifar-10-batches-bin');
    writeCifar10(dir);
    const names = Array.from({ length: 10 }, (_, i) => `thing ${i}`);
    writeFileSync(join(dir, 'batches.meta.txt'), `${names.join('\n')}\n\n`);
    const ds = await loadCifar(root, 'cifar10');
    assert.deepEqual(ds.classNames, names);
    assert.equal(ds.train.n, 9);
  });

  it('CIFAR-100: uses the fine label (second byte) and fine_label_names.txt', async () => {
    const dir = freshDir('cifar100');
    const fine = (r: number) => (r * 41) % 100;
    writeFileSync(
      join(dir, 'train.bin'),
      cifarRecords(0, 5, (r) => [r % 20, fine(r)]),
    );
    writeFileSync(
      join(dir, 'test.bin'),
      cifarRecords(50, 2, (r) => [r % 20, fine(r)]),
    );
    let ds = await loadCifar(dir, 'cifar100');
    assertCifarSplit(ds.train, 0, fine);
    assertCifarSplit(ds.test, 50, fine);
    assert.equal(ds.classNames.length, 100);
    assert.equal(new Set(ds.classNames).size, 100);
    const names = Array.from({ length: 100 }, (_, i) => `fine_${i}`);
    writeFileSync(join(dir, 'fine_label_names.txt'), names.join('\r\n'));
    ds = await loadCifar(dir, 'cifar100');
    assert.deepEqual(ds.classNames, names);
  });

  it('rejects truncated batches, labels out of range and missing files', async () => {
    const dir = freshDir('cifar10');
    writeCifar10(dir);
    const b3 = readFileSync(join(dir, 'data_batch_3.bin'));
    writeFileSync(join(dir, 'data_batch_3.bin'), b3.subarray(0, b3.length - 1));
    await rejectsWith(() => loadCifar(dir, 'cifar10'), 'data_batch_3.bin', '3073', String(b3.length - 1));

    writeCifar10(dir);
    const t = readFileSync(join(dir, 'test_batch.bin'));
    t[3073] = 10;
    writeFileSync(join(dir, 'test_batch.bin'), t);
    await rejectsWith(() => loadCifar(dir, 'cifar10'), 'test_batch.bin', 'label 10', 'record 1');

    writeCifar10(dir);
    rmSync(join(dir, 'test_batch.bin'));
    rmSync(join(dir, 'data_batch_4.bin'));
    await rejectsWith(() => loadCifar(dir, 'cifar10'), dir, '"data_batch_4.bin"', '"test_batch.bin"');

    const d100 = freshDir('cifar100');
    writeFileSync(
      join(d100, 'train.bin'),
      cifarRecords(0, 2, () => [1, 100]),
    );
    writeFileSync(
      join(d100, 'test.bin'),
      cifarRecords(0, 1, () => [1, 2]),
    );
    await rejectsWith(() => loadCifar(d100, 'cifar100'), 'train.bin', 'label 100', 'record 0');
    // A CIFAR-10 batch is not a whole number of CIFAR-100 records.
    writeFileSync(
      join(d100, 'train.bin'),
      cifarRecords(0, 2, () => [1]),
    );
    await rejectsWith(() => loadCifar(d100, 'cifar100'), 'train.bin', '3074');
  });
});

// --- image folder -----------------------------------------------------------------------------

/** Writes an RGBA PNG; `colorType` 0 stores grayscale (from the red channel, as r = g = b). */
function writePng(
  file: string,
  w: number,
  h: number,
  rgba: (x: number, y: number) => number[],
  colorType: 0 | 6 = 6,
) {
  const png = new PNG({ width: w, height: h });
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) png.data.set(rgba(x, y), (y * w + x) * 4);
  writeFileSync(file, PNG.sync.write(png, { colorType }));
}

function writeJpeg(file: string, w: number, h: number, rgb: number[]) {
  const data = Buffer.alloc(w * h * 4);
  for (let p = 0; p < w * h; p++) data.set([...rgb, 255], p * 4);
  writeFileSync(file, jpeg.encode({ width: w, height: h, data }, 100).data);
}

function pixel(s: ImageSplit, i: number, x: number, y: number): number[] {
  const o = ((i * s.height + y) * s.width + x) * 3;
  return [...s.images.subarray(o, o + 3)];
}

describe('image folder', () => {
  it('decodes PNG (RGBA and grayscale) and JPEG into RGB, with an explicit train/test split', async () => {
    const root = freshDir('imgs');
    for (const d of ['train/cat', 'train/dog', 'test/cat', 'test/dog'])
      mkdirSync(join(root, d), { recursive: true });
    // cat: RGBA PNGs whose colour encodes the file index; alpha varies and must simply be dropped.
    for (let i = 0; i < 3; i++) {
      writePng(join(root, 'train/cat', `c${i}.png`), 6, 6, (x, y) => [
        10 * i + x,
        100 + y,
        200,
        (x * 40) % 256,
      ]);
    }
    writePng(join(root, 'test/cat', 'c9.png'), 6, 6, () => [90, 100, 200, 0]);
    // dog: a grayscale PNG and JPEGs (one with an upper-case extension).
    writePng(join(root, 'train/dog', 'g.png'), 6, 6, (x) => [40 * x, 40 * x, 40 * x, 255], 0);
    writeJpeg(join(root, 'train/dog', 'j.JPG'), 6, 6, [200, 40, 90]);
    writeJpeg(join(root, 'test/dog', 'j.jpeg'), 6, 6, [30, 160, 220]);
    writeFileSync(join(root, 'train/dog', 'notes.txt'), 'not an image');
    writeFileSync(join(root, 'train/dog', '.DS_Store'), 'junk');

    const ds = await loadImageFolder(root, { imageSize: 6 });
    assert.deepEqual(ds.classNames, ['cat', 'dog']);
    assert.equal(ds.train.n, 5, 'text and hidden files are skipped');
    assert.equal(ds.test.n, 2);
    assert.deepEqual(counts(ds.train.labels, 2), [3, 2]);
    // The split is shuffled, so find each training image by its content.
    const found = new Set<string>();
    for (let i = 0; i < ds.train.n; i++) {
      const [r, g, b] = pixel(ds.train, i, 0, 0);
      if (ds.train.labels[i] === 0) {
        const k = r / 10;
        assert.ok(Number.isInteger(k) && k < 3 && g === 100 && b === 200);
        found.add(`cat${k}`);
        assert.deepEqual(pixel(ds.train, i, 5, 4), [10 * k + 5, 104, 200]);
      } else if (r === g && g === b) {
        found.add('gray');
        for (let x = 0; x < 6; x++) assert.deepEqual(pixel(ds.train, i, x, 3), [40 * x, 40 * x, 40 * x]);
      } else {
        found.add('jpeg');
        for (const [got, want] of pixel(ds.train, i, 3, 3).map((v, c) => [v, [200, 40, 90][c]])) {
          assert.ok(Math.abs(got - want) <= 4, `jpeg pixel ${got} vs ${want}`);
        }
      }
    }
    assert.equal(found.size, 5);
    const testCat = ds.test.labels.indexOf(0);
    assert.deepEqual(pixel(ds.test, testCat, 2, 2), [90, 100, 200]);
    const testDog = ds.test.labels.indexOf(1);
    pixel(ds.test, testDog, 1, 1).forEach((v, c) => {
      assert.ok(Math.abs(v - [30, 160, 220][c]) <= 4);
    });
  });

  it('resizes by area averaging when shrinking and bilinearly when enlarging', async () => {
    // 8x8 of 2x2 blocks, each block holding four different values: the 4x4 result is their mean.
    const blockVals = (bx: number, by: number) => [
      4 * bx + 8 * by,
      4 * bx + 8 * by + 2,
      4 * bx + 8 * by + 4,
      4 * bx + 8 * by + 6,
    ];
    const src = new Uint8Array(8 * 8 * 3);
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 8; x++) {
        const v = blockVals(x >> 1, y >> 1)[(y & 1) * 2 + (x & 1)];
        src.set([v, 255 - v, 7], (y * 8 + x) * 3);
      }
    }
    const out = resizeRgb(src, 8, 8, 4, 4);
    for (let by = 0; by < 4; by++) {
      for (let bx = 0; bx < 4; bx++) {
        const mean = blockVals(bx, by).reduce((a, b) => a + b) / 4;
        assert.deepEqual([...out.subarray((by * 4 + bx) * 3, (by * 4 + bx) * 3 + 3)], [mean, 255 - mean, 7]);
      }
    }
    // 2x1 -> 4x1: output centres at source x = -0.25, 0.25, 0.75, 1.25 (clamped to the edge pixels).
    const up = resizeRgb(Uint8Array.from([0, 0, 0, 100, 200, 40]), 2, 1, 4, 1);
    assert.deepEqual([...up], [0, 0, 0, 25, 50, 10, 75, 150, 30, 100, 200, 40]);
    // 3x1 -> 2x1, a non-integer factor: output 0 covers source [0, 1.5), output 1 covers [1.5, 3).
    const down = resizeRgb(Uint8Array.from([0, 0, 0, 90, 90, 90, 180, 180, 180]), 3, 1, 2, 1);
    assert.deepEqual([...down], [(0 + 0.5 * 90) / 1.5, 30, 30, (0.5 * 90 + 180) / 1.5, 150, 150]);

    // Through the loader: a 12x12 PNG of 3x3 blocks becomes a 4x4 image of the block colours.
    const root = freshDir('imgs');
    mkdirSync(join(root, 'train/a'), { recursive: true });
    mkdirSync(join(root, 'test/a'), { recursive: true });
    const colour = (x: number, y: number) => [20 * Math.floor(x / 3), 20 * Math.floor(y / 3), 128, 255];
    writePng(join(root, 'train/a/x.png'), 12, 12, colour);
    writePng(join(root, 'test/a/y.png'), 12, 12, colour);
    const ds = await loadImageFolder(root, { imageSize: 4 });
    assert.deepEqual(pixel(ds.train, 0, 3, 1), [60, 20, 128]);
  });

  it('holds out a deterministic 20% of each class when there is no split', async () => {
    const root = freshDir('imgs');
    const sizes: Record<string, number> = { b: 10, a: 2, c: 1 };
    for (const [cls, n] of Object.entries(sizes)) {
      mkdirSync(join(root, cls));
      // Red = class letter, green = file index: every image is unique and identifies its class.
      for (let i = 0; i < n; i++)
        writePng(join(root, cls, `${i}.png`), 4, 4, () => [cls.charCodeAt(0), i, 0, 255]);
    }
    const ds = await loadImageFolder(root, { imageSize: 4 });
    assert.deepEqual(ds.classNames, ['a', 'b', 'c']);
    // round(0.2 n), at least one when the class has two or more images.
    assert.deepEqual(counts(ds.test.labels, 3), [1, 2, 0]);
    assert.deepEqual(counts(ds.train.labels, 3), [1, 8, 1]);
    const ids = (s: ImageSplit) =>
      Array.from({ length: s.n }, (_, i) => {
        const [r, g] = pixel(s, i, 0, 0);
        assert.equal(String.fromCharCode(r), ds.classNames[s.labels[i]]);
        return `${String.fromCharCode(r)}${g}`;
      });
    const tr = ids(ds.train);
    const te = ids(ds.test);
    assert.deepEqual(new Set([...tr, ...te]).size, 13, 'train and test are disjoint and cover every file');
    const again = await loadImageFolder(root, { imageSize: 4 });
    assert.deepEqual(ids(again.test), te);
    assert.deepEqual(ids(again.train), tr);
    const other = await loadImageFolder(root, { imageSize: 4, seed: 1 });
    assert.equal(other.test.n, 3);
    assert.notDeepEqual(new Set(ids(other.test)), new Set(te), 'the seed picks the held-out files');
  });

  it('names the problem: undecodable file, unsupported image format, empty folders', async () => {
    const root = freshDir('imgs');
    mkdirSync(join(root, 'x'));
    writePng(join(root, 'x', 'ok.png'), 2, 2, () => [1, 2, 3, 255]);
    writeFileSync(join(root, 'x', 'broken.png'), 'this is not a png');
    await rejectsWith(() => loadImageFolder(root, { imageSize: 2 }), 'broken.png', 'cannot decode');

    const good = readFileSync(join(root, 'x', 'ok.png'));
    writeFileSync(join(root, 'x', 'broken.png'), good.subarray(0, 40));
    await rejectsWith(() => loadImageFolder(root, { imageSize: 2 }), 'broken.png');

    rmSync(join(root, 'x', 'broken.png'));
    writeFileSync(join(root, 'x', 'anim.gif'), 'GIF89a');
    await rejectsWith(() => loadImageFolder(root, { imageSize: 2 }), 'anim.gif', 'not supported');
    rmSync(join(root, 'x', 'anim.gif'));

    mkdirSync(join(root, 'y'));
    writeFileSync(join(root, 'y', 'readme.txt'), 'no images here');
    await rejectsWith(() => loadImageFolder(root, { imageSize: 2 }), join(root, 'y'), 'no PNG or JPEG');

    const flat = freshDir('imgs');
    writePng(join(flat, 'loose.png'), 2, 2, () => [1, 2, 3, 255]);
    await rejectsWith(() => loadImageFolder(flat, { imageSize: 2 }), flat, 'no class folders');
    await rejectsWith(() => loadImageFolder(freshDir('empty'), { imageSize: 2 }), 'is empty');

    const split = freshDir('imgs');
    mkdirSync(join(split, 'train/a'), { recursive: true });
    mkdirSync(join(split, 'test/b'), { recursive: true });
    writePng(join(split, 'train/a/1.png'), 2, 2, () => [1, 2, 3, 255]);
    writePng(join(split, 'test/b/1.png'), 2, 2, () => [1, 2, 3, 255]);
    await rejectsWith(() => loadImageFolder(split, { imageSize: 2 }), '"b"', 'no matching folder');
  });
});

// --- loadDataset and statistics ---------------------------------------------------------------

describe('loadDataset', () => {
  it('builds the synthetic set from the config and keeps the first images under a limit', async () => {
    const cfg = baseConfig({ syntheticTrain: 150, syntheticTest: 40, syntheticSeed: 6, trainLimit: 100 });
    const ds = await loadDataset(cfg);
    const full = makeSynthetic({ train: 150, test: 40, seed: 6 });
    assert.equal(ds.train.n, 100);
    assert.equal(ds.test.n, 40);
    assert.ok(Buffer.from(ds.train.images).equals(Buffer.from(full.train.images.subarray(0, 100 * 3072))));
    assert.deepEqual([...ds.train.labels], [...full.train.labels.subarray(0, 100)]);
    assert.ok(Buffer.from(ds.test.images).equals(Buffer.from(full.test.images)));
    // A limit above the size is "all".
    assert.equal((await loadDataset({ ...cfg, testLimit: 1000 })).test.n, 40);
    await rejectsWith(() => loadDataset({ ...cfg, trainLimit: -1 }), 'trainLimit');
  });

  it('dispatches to the file loaders and applies limits', async () => {
    const idx = freshDir('idx');
    const f = idxFixture(9);
    writeIdxFolder(idx, f, () => true);
    const m = await loadDataset(baseConfig({ kind: 'mnist', path: idx, trainLimit: 4, testLimit: 2 }));
    assert.equal(m.name, 'mnist');
    assert.deepEqual([...m.train.images], [...f.trainImages.subarray(0, 4 * IDX_H * IDX_W)]);
    assert.deepEqual([...m.test.labels], [...f.testLabels.subarray(0, 2)]);

    const cifar = freshDir('cifar10');
    writeCifar10(cifar);
    const c = await loadDataset(baseConfig({ kind: 'cifar10', path: cifar, testLimit: 1 }));
    assert.equal(c.train.n, 9);
    assertCifarSplit(c.test, 1000, (r) => (r * 3) % 10);
    assert.equal(c.test.n, 1);

    const img = freshDir('imgs');
    mkdirSync(join(img, 'only'));
    for (let i = 0; i < 5; i++) writePng(join(img, 'only', `${i}.png`), 3, 3, () => [i, 0, 0, 255]);
    const g = await loadDataset(baseConfig({ kind: 'imagefolder', path: img, imageSize: 7 }));
    assert.deepEqual([g.train.n, g.test.n, g.train.height, g.train.width, g.train.channels], [4, 1, 7, 7, 3]);
  });

  it('says which kinds need a path', async () => {
    for (const kind of ['mnist', 'cifar10', 'cifar100', 'imagefolder'] as const) {
      await rejectsWith(() => loadDataset(baseConfig({ kind })), kind, '"path"');
    }
  });

  it('defaults fashion-mnist to the Debian package folder', async () => {
    const cfg = baseConfig({ kind: 'fashion-mnist', trainLimit: 50, testLimit: 20 });
    if (!existsSync(join(FASHION, 'train-images-idx3-ubyte.gz'))) {
      await rejectsWith(() => loadDataset(cfg), FASHION);
      return;
    }
    const ds = await loadDataset(cfg);
    assert.deepEqual([ds.train.n, ds.test.n, ds.train.height], [50, 20, 28]);
  });
});

describe('datasetStats', () => {
  it('gives per-channel mean and population std in [0, 1] units', () => {
    // Two 1x2 RGB images: R = 0, 255, 0, 255; G = 51 everywhere; B = 0, 0, 0, 255.
    const split: ImageSplit = {
      images: Uint8Array.from([0, 51, 0, 255, 51, 0, 0, 51, 0, 255, 51, 255]),
      labels: new Int32Array(2),
      n: 2,
      height: 1,
      width: 2,
      channels: 3,
    };
    const st = datasetStats(split);
    const close = (a: number[], b: number[]) => {
      for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < 1e-12, `${a} vs ${b}`);
    };
    close(st.mean, [0.5, 0.2, 0.25]);
    close(st.std, [0.5, 0, Math.sqrt(0.25 * 0.75)]);
  });

  it('agrees with a direct two-pass computation on random data, grayscale too', () => {
    const rng = new Rng(77);
    for (const channels of [1, 3] as const) {
      const n = 13;
      const images = Uint8Array.from({ length: n * 5 * 4 * channels }, () =>
        Math.floor(rng.next() ** 2 * 256),
      );
      const st = datasetStats({ images, labels: new Int32Array(n), n, height: 5, width: 4, channels });
      for (let c = 0; c < channels; c++) {
        const v: number[] = [];
        for (let i = c; i < images.length; i += channels) v.push(images[i] / 255);
        const mean = v.reduce((a, b) => a + b) / v.length;
        const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
        assert.ok(Math.abs(st.mean[c] - mean) < 1e-12);
        assert.ok(Math.abs(st.std[c] - std) < 1e-12);
      }
    }
  });
});
