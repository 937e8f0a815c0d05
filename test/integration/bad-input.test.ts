/**
 * Bad input through the real CLI: each case exits with a clear message naming the field or file,
 * and leaves existing files byte-for-byte untouched.
 */
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { listCheckpoints } from '../../trainer/checkpoint/checkpoint';
import { ensureBuilt, runCli, tempDir } from '../helpers/trainer-process';

/** Path -> sha256 of every file under `dir`. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile())
        out.set(path.relative(dir, p), createHash('sha256').update(fs.readFileSync(p)).digest('hex'));
    }
  };
  walk(dir);
  return out;
}

const TINY = {
  dataset: { kind: 'synthetic', syntheticTrain: 64, syntheticTest: 32 },
  encoder: { arch: 'convnet', width: 4 },
  head: { hidden: [8], out: 8 },
  training: { epochs: 1, batchSize: 16 },
  eval: { knn: { every: 1, k: 10, atStart: false } },
};

describe('bad input is refused clearly and loses nothing', function () {
  this.timeout(300000);
  let dir: string;
  let runsDir: string;
  let existingRun: string;

  before(() => {
    ensureBuilt();
    dir = tempDir('cl-bad-');
    runsDir = path.join(dir, 'runs');
    fs.writeFileSync(path.join(dir, 'tiny.json'), JSON.stringify(TINY));
    const r = runCli([
      'train',
      '--config',
      path.join(dir, 'tiny.json'),
      '--runs-dir',
      runsDir,
      '--name',
      'existing',
      '--backend',
      'wasm',
      '--quiet',
    ]);
    assert.equal(r.code, 0, r.stderr);
    existingRun = path.join(runsDir, fs.readdirSync(runsDir)[0]);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  function refused(args: string[], pattern: RegExp, config?: unknown) {
    if (config !== undefined) fs.writeFileSync(path.join(dir, 'bad.json'), JSON.stringify(config));
    const before = snapshot(dir);
    const r = runCli(['train', '--runs-dir', runsDir, '--backend', 'wasm', ...args]);
    assert.equal(r.code, 2, `exit code 2 expected, got ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace for bad input');
    assert.deepEqual(snapshot(dir), before, 'no file was created, changed or removed');
  }

  it('invalid config values name the field and the reason', () => {
    refused(['--config', path.join(dir, 'bad.json')], /training\.epochs: must be >= 1 \(got 0\)/, {
      training: { epochs: 0 },
    });
    refused(['--config', path.join(dir, 'bad.json')], /params\.temperature: must be > 0/, {
      params: { temperature: 0 },
    });
    refused(['--config', path.join(dir, 'bad.json')], /optimzer: unknown field/, { optimzer: {} });
    refused(['--config', path.join(dir, 'missing.json')], /Cannot read --config .*missing\.json/);
    fs.writeFileSync(path.join(dir, 'broken.json'), '{"training": ');
    refused(['--config', path.join(dir, 'broken.json')], /broken\.json is not valid JSON/);
  });

  it('an unknown method lists the known ones', () => {
    refused(['--method', 'simclr-v7'], /Unknown method 'simclr-v7'. Known methods: .*simclr-v1/);
  });

  it('a missing dataset path names the folder and the files looked for', () => {
    refused(
      ['--dataset', 'cifar10', '--data-path', path.join(dir, 'no-such-folder')],
      /no-such-folder does not exist/,
    );
    fs.mkdirSync(path.join(dir, 'empty'), { recursive: true });
    refused(
      ['--dataset', 'fashion-mnist', '--data-path', path.join(dir, 'empty')],
      /empty.*train-images-idx3-ubyte/s,
    );
  });

  it('a truncated IDX file is named with expected and actual sizes', () => {
    const idx = path.join(dir, 'idx');
    fs.mkdirSync(idx);
    const header = (magic: number, dims: number[]) => {
      const b = Buffer.alloc(4 + 4 * dims.length);
      b.writeUInt32BE(magic, 0);
      for (const [i, d] of dims.entries()) b.writeUInt32BE(d, 4 + 4 * i);
      return b;
    };
    for (const [split, n] of [
      ['train', 100],
      ['t10k', 20],
    ] as const) {
      fs.writeFileSync(
        path.join(idx, `${split}-images-idx3-ubyte`),
        Buffer.concat([header(0x803, [n, 28, 28]), Buffer.alloc(n * 784)]),
      );
      fs.writeFileSync(
        path.join(idx, `${split}-labels-idx1-ubyte`),
        Buffer.concat([header(0x801, [n]), Buffer.alloc(n)]),
      );
    }
    // Cut the training images short by 1000 bytes.
    const f = path.join(idx, 'train-images-idx3-ubyte');
    fs.truncateSync(f, fs.statSync(f).size - 1000);
    refused(
      ['--dataset', 'mnist', '--data-path', idx],
      /train-images-idx3-ubyte.*(truncated|expected|bytes)/s,
    );
  });

  it('a corrupt checkpoint is refused on resume, naming the file; the run folder is untouched', () => {
    const ck = listCheckpoints(existingRun).at(-1)!.file;
    const good = fs.readFileSync(ck);
    fs.writeFileSync(ck, good.subarray(0, good.length - 100));
    try {
      refused(['--resume', existingRun], new RegExp(`${path.basename(ck)}.*corrupt.*truncated`, 's'));
    } finally {
      fs.writeFileSync(ck, good);
    }
  });

  it('run names cannot escape the runs folder', () => {
    const before = fs.readdirSync(dir).sort();
    const r = runCli([
      'train',
      '--config',
      path.join(dir, 'tiny.json'),
      '--runs-dir',
      runsDir,
      '--name',
      '../../escape',
      '--backend',
      'wasm',
      '--quiet',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(fs.readdirSync(dir).sort(), before);
    assert.ok(fs.readdirSync(runsDir).some((d) => d.endsWith('-escape')));
  });
});
