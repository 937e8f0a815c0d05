/**
 * Crash-safe file replacement: readers (the extension, a resumed trainer) see either the old file or
 * the new one, never a torn write, even across a power loss.
 *
 * Synchronous on purpose: callers update small run files in straight-line code, and a checkpoint
 * write must finish before the step that depends on it continues.
 */

import { randomBytes } from 'node:crypto';
import * as nodeFs from 'node:fs';
import * as path from 'node:path';

/** The fs calls used here; injectable so tests can fail any step (ENOSPC, EIO) on demand. */
export interface AtomicFs {
  openSync(path: string, flags: string, mode?: number): number;
  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number;
  fsyncSync(fd: number): void;
  closeSync(fd: number): void;
  renameSync(oldPath: string, newPath: string): void;
  unlinkSync(path: string): void;
}

export interface AtomicOptions {
  fs?: AtomicFs;
}

/** Carries the cause's errno `code` (e.g. 'ENOSPC') so callers can branch on it. */
export class AtomicWriteError extends Error {
  override readonly name = 'AtomicWriteError';
  readonly code: string | undefined;
  constructor(
    message: string,
    readonly target: string,
    cause: unknown,
  ) {
    super(message, { cause });
    this.code = (cause as NodeJS.ErrnoException | undefined)?.code;
  }
}

// `.<name>.<pid>.<12 hex>.tmp`: the leading dot hides it from listings and globs like *.safetensors;
// the pid lets cleanupStaleTemps tell a crashed writer's leftovers from a live writer's.
const TEMP_PATTERN = /^\..*\.(\d+)\.[0-9a-f]{12}\.tmp$/;

function tempPathFor(target: string): string {
  // Keep the temp name within NAME_MAX (255) even for long target names.
  const base = path.basename(target).slice(0, 120);
  return path.join(path.dirname(target), `.${base}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Errors meaning "this platform/filesystem cannot fsync a directory" (Windows, some network FSes). */
const DIR_FSYNC_UNSUPPORTED = new Set(['EISDIR', 'EPERM', 'EACCES', 'EINVAL', 'ENOTSUP', 'EBADF']);

/**
 * Replaces `target` with `data`: temp file in the same directory (rename is only atomic within one
 * filesystem), fsync, rename over the target, fsync the directory so the rename itself is durable.
 * On failure before the rename the temp file is removed and `target` is untouched.
 */
export function writeFileAtomic(
  target: string,
  data: Uint8Array | string,
  options: AtomicOptions = {},
): void {
  const fs = options.fs ?? nodeFs;
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const tmp = tempPathFor(target);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', 0o666);
    let done = 0;
    while (done < bytes.byteLength) {
      done += fs.writeSync(fd, bytes, done, bytes.byteLength - done, done);
    }
    fs.fsyncSync(fd);
    const closing = fd;
    fd = undefined;
    fs.closeSync(closing);
    fs.renameSync(tmp, target);
  } catch (e) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        // Already failing; the original error is the one worth reporting.
      }
    }
    try {
      fs.unlinkSync(tmp);
    } catch {
      // ENOENT when open itself failed.
    }
    throw new AtomicWriteError(
      `could not write ${target}: ${describe(e)} (previous contents left unchanged)`,
      target,
      e,
    );
  }

  const dir = path.dirname(target);
  let dirFd: number | undefined;
  try {
    dirFd = fs.openSync(dir, 'r');
    fs.fsyncSync(dirFd);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === undefined || !DIR_FSYNC_UNSUPPORTED.has(code)) {
      throw new AtomicWriteError(
        `wrote ${target} but could not fsync its directory ${dir}: ${describe(e)} ` +
          '(new contents are in place but may not survive a power loss)',
        target,
        e,
      );
    }
  } finally {
    if (dirFd !== undefined) fs.closeSync(dirFd);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes temp files left in `dir` by writers that died mid-write, returning their paths. A temp is
 * stale when its pid is not running, or is this process's pid (reused after a restart, common in
 * containers) and the file predates this process. Temps of other live processes are left alone.
 */
export function cleanupStaleTemps(dir: string): string[] {
  const removed: string[] = [];
  const startedAt = Date.now() - process.uptime() * 1000;
  let entries: nodeFs.Dirent[];
  try {
    entries = nodeFs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return removed;
    throw e;
  }
  for (const entry of entries) {
    const match = TEMP_PATTERN.exec(entry.name);
    if (!match || !entry.isFile()) continue;
    const pid = Number(match[1]);
    // kill(0) would probe our own process group, not a writer.
    if (!Number.isSafeInteger(pid) || pid <= 0) continue;
    const file = path.join(dir, entry.name);
    let stale: boolean;
    if (pid === process.pid) {
      try {
        stale = nodeFs.statSync(file).mtimeMs < startedAt;
      } catch {
        continue;
      }
    } else {
      stale = !processAlive(pid);
    }
    if (!stale) continue;
    try {
      nodeFs.unlinkSync(file);
      removed.push(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  return removed;
}
