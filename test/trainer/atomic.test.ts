import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  type AtomicFs,
  AtomicWriteError,
  cleanupStaleTemps,
  writeFileAtomic,
} from '../../trainer/checkpoint/atomic';

function errno(code: string, syscall: string): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(`${code}: simulated failure, ${syscall}`);
  e.code = code;
  e.syscall = syscall;
  return e;
}

/** Real fs, with one step replaceable, recording opened/closed descriptors and opened paths. */
function instrumentedFs(overrides: Partial<AtomicFs> = {}) {
  const opened: string[] = [];
  const openFds = new Set<number>();
  const real: AtomicFs = {
    openSync: (p, flags, mode) => {
      const fd = fs.openSync(p, flags, mode);
      opened.push(p);
      openFds.add(fd);
      return fd;
    },
    writeSync: (fd, buf, off, len, pos) => fs.writeSync(fd, buf, off, len, pos),
    fsyncSync: (fd) => fs.fsyncSync(fd),
    closeSync: (fd) => {
      openFds.delete(fd);
      fs.closeSync(fd);
    },
    renameSync: (a, b) => fs.renameSync(a, b),
    unlinkSync: (p) => fs.unlinkSync(p),
  };
  return { fs: { ...real, ...overrides } as AtomicFs, real, opened, openFds };
}

function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  return r.pid!;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('atomic file writes', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomic-test-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('creates, then replaces, the target; leaves nothing else behind', () => {
    const target = path.join(dir, 'run.json');
    writeFileAtomic(target, '{"a":1}\n');
    assert.equal(fs.readFileSync(target, 'utf8'), '{"a":1}\n');
    const bytes = Buffer.from([0, 1, 2, 255]);
    writeFileAtomic(target, bytes);
    assert.ok(fs.readFileSync(target).equals(bytes));
    writeFileAtomic(target, '');
    assert.equal(fs.readFileSync(target, 'utf8'), '');
    assert.deepEqual(fs.readdirSync(dir), ['run.json']);
  });

  it('writes through a hidden temp file in the same directory, named with pid and random suffix', () => {
    const target = path.join(dir, 'ckpt.safetensors');
    const io = instrumentedFs();
    writeFileAtomic(target, 'x', { fs: io.fs });
    const tmp = io.opened[0]!;
    assert.equal(path.dirname(tmp), dir);
    assert.match(
      path.basename(tmp),
      new RegExp(`^\\.ckpt\\.safetensors\\.${process.pid}\\.[0-9a-f]{12}\\.tmp$`),
    );
    assert.equal(io.opened[1], dir, 'the directory is opened (for fsync) after the rename');
    assert.equal(io.openFds.size, 0, 'every descriptor is closed');
  });

  it('completes short writes', () => {
    const target = path.join(dir, 'big.bin');
    const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
    const io = instrumentedFs({
      writeSync: (fd, buf, off, len, pos) => fs.writeSync(fd, buf, off, Math.min(len, 7), pos),
    });
    writeFileAtomic(target, data, { fs: io.fs });
    assert.ok(fs.readFileSync(target).equals(data));
  });

  const failures: [string, (io: ReturnType<typeof instrumentedFs>) => Partial<AtomicFs>, string][] = [
    [
      'ENOSPC halfway through the write',
      (io) => ({
        writeSync: (fd, buf, off, len, pos) => {
          io.real.writeSync(fd, buf, off, Math.floor(len / 2), pos);
          throw errno('ENOSPC', 'write');
        },
      }),
      'ENOSPC',
    ],
    [
      'EIO from fsync',
      () => ({
        fsyncSync: () => {
          throw errno('EIO', 'fsync');
        },
      }),
      'EIO',
    ],
    [
      'EXDEV from rename',
      () => ({
        renameSync: () => {
          throw errno('EXDEV', 'rename');
        },
      }),
      'EXDEV',
    ],
    [
      'EMFILE from open',
      () => ({
        openSync: () => {
          throw errno('EMFILE', 'open');
        },
      }),
      'EMFILE',
    ],
  ];

  for (const [label, makeOverrides, code] of failures) {
    it(`on ${label}: old file byte-identical, no temp file, error names target and cause`, () => {
      const target = path.join(dir, 'model.safetensors');
      const old = Buffer.from('previous checkpoint \u0000\u00ff contents');
      fs.writeFileSync(target, old);
      const io = instrumentedFs();
      const faulty = instrumentedFs(makeOverrides(io));
      let caught: unknown;
      try {
        writeFileAtomic(target, Buffer.alloc(4096, 7), { fs: faulty.fs });
      } catch (e) {
        caught = e;
      }
      assert.ok(caught instanceof AtomicWriteError, String(caught));
      assert.ok(caught.message.includes(target), caught.message);
      assert.ok(caught.message.includes(code), caught.message);
      assert.match(caught.message, /previous contents left unchanged/);
      assert.equal(caught.code, code);
      assert.equal((caught.cause as NodeJS.ErrnoException).code, code);
      assert.ok(fs.readFileSync(target).equals(old));
      assert.deepEqual(fs.readdirSync(dir), ['model.safetensors']);
      assert.equal(faulty.openFds.size, 0, 'the temp descriptor is closed');
    });
  }

  it('a target whose directory is a regular file fails cleanly (ENOTDIR)', () => {
    const notADir = path.join(dir, 'file');
    fs.writeFileSync(notADir, 'keep');
    const target = path.join(notADir, 'run.json');
    assert.throws(
      () => writeFileAtomic(target, 'x'),
      (e: unknown) => e instanceof AtomicWriteError && e.code === 'ENOTDIR' && e.message.includes(target),
    );
    assert.equal(fs.readFileSync(notADir, 'utf8'), 'keep');
    assert.deepEqual(fs.readdirSync(dir), ['file']);
  });

  it('a failing directory fsync is reported as such (the new contents are already in place)', () => {
    const target = path.join(dir, 'run.json');
    fs.writeFileSync(target, 'old');
    let fsyncs = 0;
    const io = instrumentedFs({
      fsyncSync: (fd) => {
        if (++fsyncs === 2) throw errno('EIO', 'fsync');
        fs.fsyncSync(fd);
      },
    });
    assert.throws(
      () => writeFileAtomic(target, 'new', { fs: io.fs }),
      (e: unknown) =>
        e instanceof AtomicWriteError &&
        /could not fsync its directory/.test(e.message) &&
        e.message.includes(target),
    );
    assert.equal(fs.readFileSync(target, 'utf8'), 'new');
    assert.equal(io.openFds.size, 0);

    // Platforms that cannot fsync a directory (Windows: EISDIR/EPERM) are not an error.
    fsyncs = 0;
    const unsupported = instrumentedFs({
      fsyncSync: (fd) => {
        if (++fsyncs === 2) throw errno('EISDIR', 'fsync');
        fs.fsyncSync(fd);
      },
    });
    writeFileAtomic(target, 'newer', { fs: unsupported.fs });
    assert.equal(fs.readFileSync(target, 'utf8'), 'newer');
  });

  it('concurrent writers in separate processes: readers only ever see a complete version', async function () {
    this.timeout(60_000);
    const target = path.join(dir, 'shared.bin');
    const size = 64 * 1024;
    const writer = (fill: number) => `
      const { writeFileAtomic } = require(${JSON.stringify(path.resolve(__dirname, '../../trainer/checkpoint/atomic'))});
      const data = Buffer.alloc(${size}, ${fill});
      for (let i = 0; i < 150; i++) writeFileAtomic(${JSON.stringify(target)}, data);
    `;
    writeFileAtomic(target, Buffer.alloc(size, 0));
    const children = [1, 2, 3].map((fill) =>
      spawn(process.execPath, ['-r', 'tsx/cjs', '-e', writer(fill)], {
        stdio: ['ignore', 'ignore', 'inherit'],
      }),
    );
    const exited = children.map((c) => new Promise<number | null>((resolve) => c.on('exit', resolve)));
    let running = true;
    void Promise.all(exited).then(() => {
      running = false;
    });
    let reads = 0;
    try {
      while (running) {
        const buf = fs.readFileSync(target);
        assert.equal(buf.length, size, 'torn write: wrong length');
        assert.ok(
          buf.every((b) => b === buf[0]),
          'torn write: mixed contents',
        );
        reads++;
        await new Promise((r) => setImmediate(r));
      }
    } finally {
      for (const c of children) if (c.exitCode === null) c.kill();
    }
    assert.deepEqual(await Promise.all(exited), [0, 0, 0]);
    assert.ok(reads > 0);
    assert.deepEqual(
      fs.readdirSync(dir).filter((n) => n !== 'shared.bin'),
      [],
      'no temp files left behind',
    );
  });

  describe('cleanupStaleTemps', () => {
    it('removes only our temp files whose writer is gone', () => {
      const dead = deadPid();
      assert.ok(!alive(dead));
      const live = process.ppid;
      assert.ok(alive(live));
      const make = (name: string, mtime?: Date) => {
        const p = path.join(dir, name);
        fs.writeFileSync(p, 'partial');
        if (mtime) fs.utimesSync(p, mtime, mtime);
        return name;
      };
      const longAgo = new Date(Date.now() - 10 * 24 * 3600 * 1000);
      const removable = [
        make(`.model.safetensors.${dead}.0123456789ab.tmp`),
        make(`.run.json.${dead}.ffffffffffff.tmp`),
        // Our own pid on a file older than this process: a previous incarnation with a reused pid.
        make(`.run.json.${process.pid}.aaaaaaaaaaaa.tmp`, longAgo),
      ];
      const kept = [
        make(`.run.json.${process.pid}.bbbbbbbbbbbb.tmp`), // could be ours, in flight
        make(`.run.json.${live}.cccccccccccc.tmp`, longAgo), // another live process
        make('.hidden'),
        make('model.safetensors'),
        make('foo.tmp'),
        make(`.x.${dead}.zzzzzzzzzzzz.tmp`), // not hex
        make(`.x.${dead}.abc.tmp`), // suffix too short
        make(`x.${dead}.0123456789ab.tmp`), // no leading dot
        make(`.x.${dead}.0123456789ab.tmp.bak`),
      ];
      fs.mkdirSync(path.join(dir, `.d.${dead}.0123456789ab.tmp`));
      kept.push(`.d.${dead}.0123456789ab.tmp`);

      const removed = cleanupStaleTemps(dir);
      assert.deepEqual(removed.map((p) => path.basename(p)).sort(), removable.sort());
      assert.deepEqual(fs.readdirSync(dir).sort(), kept.sort());
      assert.deepEqual(cleanupStaleTemps(dir), []);
    });

    it('removes what a failed write in a crashed process would leave, and tolerates a missing dir', () => {
      const target = path.join(dir, 'ckpt.safetensors');
      const script = `
        const { writeFileAtomic } = require(${JSON.stringify(path.resolve(__dirname, '../../trainer/checkpoint/atomic'))});
        const fs = require('node:fs');
        writeFileAtomic(${JSON.stringify(target)}, 'x', { fs: { ...fs, renameSync: () => process.exit(3) } });
      `;
      const r = spawnSync(process.execPath, ['-r', 'tsx/cjs', '-e', script], { encoding: 'utf8' });
      assert.equal(r.status, 3, r.stderr);
      const leftovers = fs.readdirSync(dir);
      assert.equal(leftovers.length, 1);
      assert.match(leftovers[0]!, /^\.ckpt\.safetensors\.\d+\.[0-9a-f]{12}\.tmp$/);
      assert.deepEqual(cleanupStaleTemps(dir), [path.join(dir, leftovers[0]!)]);
      assert.deepEqual(fs.readdirSync(dir), []);
      assert.deepEqual(cleanupStaleTemps(path.join(dir, 'missing')), []);
    });
  });
});
