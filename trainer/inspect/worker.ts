/**
 * The inspection worker: both ends of `contrastive-lab inspect` run as a child process.
 *
 * Child side, `inspectMain(argv)`: what `contrastive-lab inspect FILE [--json] [--diff OTHER]
 * [--progress] [--bins N]` does. stdout carries the result (a table, or with `--json` the
 * `Inspection` / `CheckpointDiff` as one JSON document); with `--progress`, stderr carries lines
 * `{"progress": done, "total": n}` (data bytes; elements for a diff). A malformed or unreadable file
 * gives `error: <message>` on stderr and exit code 2.
 *
 * Parent side, `runInspectWorker(...)`: spawns that command (no shell) and resolves with the parsed
 * JSON; used by the extension so that statistics of large files never run in the extension host.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { SafetensorsError } from '../checkpoint/safetensors';
import { formatBytes, formatInt, formatNumber, formatPercent, formatShape } from './format';
import {
  type CheckpointDiff,
  diffCheckpoints,
  InspectCancelledError,
  type Inspection,
  inspectCheckpoint,
  type TensorEntry,
} from './inspect';
import { compareGroups, compareNames, DEFAULT_BINS } from './stats';

export const INSPECT_USAGE =
  'contrastive-lab inspect FILE [--json] [--diff OTHER] [--bins N]   Tensors, stats and metadata of a .safetensors file';

interface Io {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

/** One line of the worker's stderr protocol. */
export interface ProgressLine {
  progress: number;
  total: number;
}

/** Parses a `{"progress": done, "total": n}` line; undefined for any other line. */
export function parseProgressLine(line: string): ProgressLine | undefined {
  if (!line.startsWith('{"progress"')) return undefined;
  try {
    const v = JSON.parse(line) as Partial<ProgressLine>;
    return typeof v.progress === 'number' && typeof v.total === 'number'
      ? { progress: v.progress, total: v.total }
      : undefined;
  } catch {
    return undefined;
  }
}

/** Throttled: at most one line per `everyMs`, plus the first and the last. */
function progressWriter(io: Io, everyMs = 100): (done: number, total: number) => void {
  let last = 0;
  return (done, total) => {
    const now = Date.now();
    if (done !== 0 && done !== total && now - last < everyMs) return;
    last = now;
    io.stderr.write(`${JSON.stringify({ progress: done, total })}\n`);
  };
}

/** Is this a problem with the user's input (exit 2), not a bug (exit 1)? */
function userError(e: unknown, file: string): string | undefined {
  if (e instanceof SafetensorsError) return e.message;
  const err = e as NodeJS.ErrnoException;
  if (typeof err?.code === 'string' && /^E[A-Z]+$/.test(err.code))
    return `cannot read ${file}: ${err.message}`;
  return undefined;
}

export async function inspectMain(argv: string[], io: Io = process): Promise<number> {
  let values: { json?: boolean; diff?: string; progress?: boolean; bins?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: {
        json: { type: 'boolean' },
        diff: { type: 'string' },
        progress: { type: 'boolean' },
        bins: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    }));
  } catch (e) {
    io.stderr.write(`error: ${(e as Error).message}\nusage: ${INSPECT_USAGE}\n`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(`usage: ${INSPECT_USAGE}\n`);
    return 0;
  }
  if (positionals.length !== 1) {
    io.stderr.write(
      `error: inspect takes exactly one FILE (got ${positionals.length}).\nusage: ${INSPECT_USAGE}\n`,
    );
    return 2;
  }
  const bins = values.bins === undefined ? DEFAULT_BINS : Number(values.bins);
  if (!Number.isInteger(bins) || bins < 1 || bins > 1024) {
    io.stderr.write(`error: --bins must be an integer from 1 to 1024 (got '${values.bins}').\n`);
    return 2;
  }
  const file = path.resolve(positionals[0]!);
  const onProgress = values.progress ? progressWriter(io) : undefined;
  let current = file;
  try {
    if (values.diff !== undefined) {
      const other = path.resolve(values.diff);
      current = `${file} or ${other}`;
      // FILE is the reference (a), --diff OTHER the later one (b): "how far did OTHER move from FILE".
      const diff = await diffCheckpoints(file, other, { onProgress });
      io.stdout.write(values.json ? `${JSON.stringify(diff)}\n` : diffTable(diff));
    } else {
      const insp = await inspectCheckpoint(file, { onProgress, bins });
      io.stdout.write(values.json ? `${JSON.stringify(insp)}\n` : inspectionTable(insp));
    }
    return 0;
  } catch (e) {
    const message = userError(e, current);
    if (message !== undefined) {
      io.stderr.write(`error: ${message}\n`);
      return 2;
    }
    io.stderr.write(`error: ${(e as Error)?.stack ?? String(e)}\n`);
    return 1;
  }
}

// ---------------------------------------------------------------------------------------------
// Human-readable output
// ---------------------------------------------------------------------------------------------

/** Columns padded to their widest cell; `right` columns are right-aligned. */
function alignRows(rows: string[][], right: boolean[], indent = '  '): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => [...(r[c] ?? '')].length)));
  return rows.map(
    (r) =>
      indent +
      r
        .map((cell, c) => {
          const pad = ' '.repeat(widths[c]! - [...cell].length);
          return right[c] ? pad + cell : cell + pad;
        })
        .join('  ')
        .trimEnd(),
  );
}

function plain(v: number | null | undefined): string {
  return formatNumber(v).replace('∞', 'inf').replace(/^–$/, '-');
}

function byGroupThenName<T extends { group: string; name: string }>(xs: readonly T[]): T[] {
  return [...xs].sort((a, b) => compareGroups(a.group, b.group) || compareNames(a.name, b.name));
}

export function inspectionTable(insp: Inspection): string {
  const m = insp.metadata;
  const out: string[] = [];
  const kv = (k: string, v: string) => out.push(`${`${k} `.padEnd(14)}${v}`);
  kv('file', `${insp.file} (${formatBytes(insp.bytes)}, header ${formatBytes(insp.headerBytes)})`);
  kv(
    'format',
    insp.isContrastiveLabCheckpoint
      ? `Contrastive Lab checkpoint v${m.formatVersion ?? '?'}`
      : `safetensors${m.format ? ` (format '${m.format}')` : ''}`,
  );
  if (m.method !== undefined) kv('method', m.method);
  if (m.step !== undefined || m.epoch !== undefined) {
    kv('step', `${m.step ?? '?'}${m.epoch !== undefined ? ` (epoch ${m.epoch})` : ''}`);
  }
  if (m.knnTop1 !== undefined) kv('kNN top-1', `${(m.knnTop1 * 100).toFixed(2)}% at save`);
  if (m.createdAt !== undefined) kv('created', `${m.createdAt}${m.backend ? ` on ${m.backend}` : ''}`);
  const cfg = m.config as
    | { encoder?: { arch?: string; width?: number }; dataset?: { kind?: string } }
    | undefined;
  if (cfg && typeof cfg === 'object') {
    const enc = cfg.encoder
      ? `${cfg.encoder.arch ?? '?'}${cfg.encoder.width ? ` width ${cfg.encoder.width}` : ''}`
      : '';
    kv('config', `${[enc, cfg.dataset?.kind].filter(Boolean).join(' on ')} (--json shows all of it)`);
  }
  if (m.normalization) {
    const list = (xs: number[]) => `[${xs.map((x) => formatNumber(x)).join(', ')}]`;
    kv('normalize', `mean ${list(m.normalization.mean)} std ${list(m.normalization.std)}`);
  }
  const known = new Set([
    'format',
    'formatVersion',
    'method',
    'step',
    'epoch',
    'knnTop1',
    'createdAt',
    'backend',
    'config',
    'normalization',
  ]);
  for (const [k, v] of Object.entries(m.raw)) {
    if (!known.has(k)) kv(k, v.length > 100 ? `${v.slice(0, 97)}...` : v);
  }
  for (const p of m.problems) kv('warning', p);
  kv(
    'tensors',
    `${formatInt(insp.totals.tensors)} in ${insp.groups.length} group${insp.groups.length === 1 ? '' : 's'}, ` +
      `${formatInt(insp.totals.parameters)} elements (${formatInt(insp.totals.buffers)} in buffers), ` +
      formatBytes(insp.totals.bytes),
  );

  const header = ['name', 'shape', 'dtype', 'params', 'mean', 'std', 'min', 'max', 'norm', 'zeros'];
  const right = [false, false, false, true, true, true, true, true, true, true];
  const rows: string[][] = [header];
  const groupAt = new Map<number, string>();
  for (const g of insp.groups) {
    groupAt.set(rows.length, g.group);
    for (const t of byGroupThenName(insp.tensors.filter((x) => x.group === g.group)))
      rows.push(tensorCells(t));
  }
  const lines = alignRows(rows, right);
  out.push('', lines[0]!);
  for (let i = 1; i < lines.length; i++) {
    const g = groupAt.get(i);
    if (g !== undefined) {
      const tot = insp.groups.find((x) => x.group === g)!;
      out.push(
        '',
        `${g}: ${formatInt(tot.tensors)} tensor${tot.tensors === 1 ? '' : 's'}, ${formatInt(tot.parameters)} elements, ${formatBytes(tot.bytes)}`,
      );
    }
    out.push(lines[i]!);
  }
  const notes = insp.tensors.filter((t) => t.statsError);
  if (notes.length) out.push('', ...notes.map((t) => `${t.name}: ${t.statsError}`));
  return `${out.join('\n')}\n`;
}

function tensorCells(t: TensorEntry): string[] {
  const s = t.stats;
  const flags =
    s && s.finite < s.count
      ? ` !${s.nan ? ` ${s.nan} NaN` : ''}${s.posInf + s.negInf ? ` ${s.posInf + s.negInf} inf` : ''}`
      : '';
  return [
    t.name + (t.kind === 'buffer' ? ' (buffer)' : '') + flags,
    formatShape(t.shape, 'x'),
    t.dtype,
    formatInt(t.parameters),
    plain(s?.mean),
    plain(s?.std),
    plain(s?.min),
    plain(s?.max),
    s ? plain(s.l2) : '-',
    s ? formatPercent(s.zeroFraction) : '-',
  ];
}

export function diffTable(d: CheckpointDiff): string {
  const where = (x: CheckpointDiff['a']) =>
    `${x.step !== undefined ? `step ${x.step}` : ''}${x.epoch !== undefined ? ` (epoch ${x.epoch})` : ''}  ${x.file}`;
  const out = [
    `a: ${where(d.a)}`,
    `b: ${where(d.b)}`,
    `${d.changed.length} tensors in both, ${d.added.length} added, ${d.removed.length} removed, ${d.reshaped.length} reshaped`,
    '',
    'relative change |b-a| / |a| by group:',
  ];
  const rel = (r: number | null) => (r === null ? 'n/a' : formatPercent(r));
  out.push(
    ...alignRows(
      [
        ['group', 'tensors', '|a|', '|b-a|', 'relative'],
        ...d.groups.map((g) => [
          g.group,
          String(g.tensors),
          plain(g.normA),
          plain(g.diffNorm),
          rel(g.relative),
        ]),
      ],
      [false, true, true, true, true],
    ),
  );
  out.push('', 'by tensor:');
  out.push(
    ...alignRows(
      [
        ['name', 'shape', '|a|', '|b-a|', 'relative', 'max|b-a|'],
        ...byGroupThenName(d.changed).map((c) => [
          c.name,
          formatShape(c.shape, 'x'),
          plain(c.normA),
          plain(c.diffNorm),
          rel(c.relative),
          plain(c.maxAbsDiff),
        ]),
      ],
      [false, false, true, true, true, true],
    ),
  );
  const list = (title: string, xs: { name: string }[], show: (x: never) => string) => {
    if (!xs.length) return;
    out.push('', `${title}:`);
    for (const x of byGroupThenName(xs as { name: string; group: string }[]))
      out.push(`  ${x.name}  ${show(x as never)}`);
  };
  list(
    'added (in b only)',
    d.added,
    (x: CheckpointDiff['added'][number]) => `${formatShape(x.shape, 'x')} ${x.dtype}`,
  );
  list(
    'removed (in a only)',
    d.removed,
    (x: CheckpointDiff['removed'][number]) => `${formatShape(x.shape, 'x')} ${x.dtype}`,
  );
  list(
    'reshaped',
    d.reshaped,
    (x: CheckpointDiff['reshaped'][number]) =>
      `${formatShape(x.shapeA, 'x')} -> ${formatShape(x.shapeB, 'x')}`,
  );
  return `${out.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// Parent side
// ---------------------------------------------------------------------------------------------

export interface InspectWorkerOptions {
  /** The Node executable (in VS Code: `process.execPath`, run as Node through ELECTRON_RUN_AS_NODE). */
  nodePath: string;
  /** The bundled CLI, `dist/trainer.js`. */
  script: string;
  file: string;
  cwd?: string;
  /** Added to `process.env`. */
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/** The worker failed: `message` is its `error:` line (or its stderr, or its exit status). */
export class InspectWorkerError extends Error {
  override readonly name = 'InspectWorkerError';
  constructor(
    message: string,
    /** 2: the file is malformed or unreadable; 1: a bug; null: killed. */
    readonly exitCode: number | null,
  ) {
    super(message);
  }
}

/**
 * Runs `node dist/trainer.js inspect --json --progress -- FILE` and resolves with its Inspection.
 * No shell is involved and `--` stops FILE from being read as an option. Aborting kills the child
 * and rejects with `InspectCancelledError`.
 */
export function runInspectWorker(opts: InspectWorkerOptions): Promise<Inspection> {
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(new InspectCancelledError());
      return;
    }
    const child = spawn(opts.nodePath, [opts.script, 'inspect', '--json', '--progress', '--', opts.file], {
      cwd: opts.cwd,
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      shell: false,
      windowsHide: true,
    });
    const stdout: Buffer[] = [];
    const errorLines: string[] = [];
    const other: string[] = [];
    let pending = '';
    let cancelled = false;
    const onAbort = () => {
      cancelled = true;
      child.kill();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout!.on('data', (d: Buffer) => stdout.push(d));
    child.stderr!.setEncoding('utf8');
    const onLine = (line: string) => {
      if (!line) return;
      const p = parseProgressLine(line);
      if (p) opts.onProgress?.(p.progress, p.total);
      else if (line.startsWith('error: ')) errorLines.push(line.slice(7));
      else if (errorLines.length) errorLines.push(line);
      else {
        other.push(line);
        if (other.length > 50) other.shift();
      }
    };
    child.stderr!.on('data', (d: string) => {
      const lines = (pending + d).split('\n');
      pending = lines.pop()!;
      for (const l of lines) onLine(l);
    });
    child.on('error', (e) => {
      opts.signal?.removeEventListener('abort', onAbort);
      reject(
        new InspectWorkerError(`cannot start the inspection worker (${opts.nodePath}): ${e.message}`, null),
      );
    });
    child.on('close', (code) => {
      opts.signal?.removeEventListener('abort', onAbort);
      onLine(pending);
      if (cancelled) {
        reject(new InspectCancelledError());
        return;
      }
      if (code === 0) {
        try {
          resolve(JSON.parse(Buffer.concat(stdout).toString('utf8')) as Inspection);
        } catch (e) {
          reject(
            new InspectWorkerError(
              `the inspection worker printed invalid JSON: ${(e as Error).message}`,
              code,
            ),
          );
        }
        return;
      }
      const why =
        errorLines.join('\n') || other.join('\n') || `the inspection worker exited with code ${code}`;
      reject(new InspectWorkerError(why, code));
    });
  });
}
