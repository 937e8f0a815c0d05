/**
 * The run folder, the API between the trainer and everything that watches it (DESIGN.md):
 *
 *   runs/<run-id>/config.json  run.json  metrics.jsonl  checkpoints/*.safetensors  trainer.log
 *
 * Bump RUN_FORMAT_VERSION when the layout or a file's meaning changes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../checkpoint/atomic';
import type { RunConfig } from '../config/types';

export const RUN_FORMAT_VERSION = 1;

export type RunStatus = 'queued' | 'running' | 'stopping' | 'completed' | 'failed' | 'stopped';

export interface RunInfo {
  formatVersion: number;
  id: string;
  name: string;
  method: string;
  tags: string[];
  notes: string;
  status: RunStatus;
  createdAt: string;
  startedAt?: string;
  endedAt?: string;
  /** Set while a trainer process owns the run. */
  pid?: number;
  host?: string;
  /** Path of the JSON-RPC socket a client can attach to while the run is live. */
  socket?: string;
  backend?: string;
  backendDetail?: string;
  devices?: string[];
  git?: { commit: string; dirty: boolean } | null;
  versions?: Record<string, string>;
  command?: string[];
  error?: string;
  /** Last known position, for views that do not read metrics.jsonl. */
  step?: number;
  epoch?: number;
  totalSteps?: number;
  /** How many times the run was resumed. */
  resumes?: number;
}

export const RUN_FILES = {
  config: 'config.json',
  run: 'run.json',
  metrics: 'metrics.jsonl',
  log: 'trainer.log',
  checkpoints: 'checkpoints',
} as const;

/** A safe run id: letters, digits, '.', '_' and '-', no leading dot, at most 100 chars. */
const RUN_ID_RE = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$/;

export function isValidRunId(id: string): boolean {
  return RUN_ID_RE.test(id) && id !== '.' && id !== '..';
}

/** Turns a free-form name into a run-id fragment. */
export function slugify(name: string): string {
  return (
    name
      .normalize('NFKD')
      .replace(/[^A-Za-z0-9._-]+/g, '-')
      .replace(/^[-.]+|[-.]+$/g, '')
      .slice(0, 60) || 'run'
  );
}

/**
 * Resolves `runsDir/id`, refusing ids that could escape the runs folder (separators, `..`,
 * absolute paths), so a run name from a config or an RPC call can never write elsewhere.
 */
export function runPath(runsDir: string, id: string): string {
  if (!isValidRunId(id)) {
    throw new Error(
      `Invalid run id '${id}': use letters, digits, '.', '_' and '-' only (no path separators, no leading dot).`,
    );
  }
  const root = path.resolve(runsDir);
  const p = path.resolve(root, id);
  if (path.dirname(p) !== root) throw new Error(`Run id '${id}' escapes the runs folder ${root}.`);
  return p;
}

function timestampId(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}-${pad(d.getHours())}${pad(d.getMinutes())}${pad(d.getSeconds())}`;
}

/** Creates a new, empty run folder with a unique id and writes config.json and run.json. */
export function createRunFolder(
  runsDir: string,
  config: RunConfig,
  opts: { name?: string; tags?: string[]; notes?: string; id?: string } = {},
): { dir: string; info: RunInfo } {
  fs.mkdirSync(runsDir, { recursive: true });
  const base = opts.id ?? `${timestampId(new Date())}-${slugify(opts.name ?? config.method)}`;
  let id = base;
  let dir = runPath(runsDir, id);
  for (let i = 2; fs.existsSync(dir); i++) {
    if (opts.id) throw new Error(`A run named '${opts.id}' already exists in ${path.resolve(runsDir)}.`);
    id = `${base}-${i}`;
    dir = runPath(runsDir, id);
  }
  fs.mkdirSync(path.join(dir, RUN_FILES.checkpoints), { recursive: true });
  const info: RunInfo = {
    formatVersion: RUN_FORMAT_VERSION,
    id,
    name: opts.name ?? id,
    method: config.method,
    tags: opts.tags ?? [],
    notes: opts.notes ?? '',
    status: 'queued',
    createdAt: new Date().toISOString(),
  };
  writeFileAtomic(path.join(dir, RUN_FILES.config), `${JSON.stringify(config, null, 2)}\n`);
  writeRunInfo(dir, info);
  return { dir, info };
}

export function readRunInfo(dir: string): RunInfo {
  const file = path.join(dir, RUN_FILES.run);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`Not a run folder: cannot read ${file} (${(e as Error).message}).`);
  }
  try {
    return JSON.parse(text) as RunInfo;
  } catch (e) {
    throw new Error(`Corrupt ${file}: ${(e as Error).message}.`);
  }
}

export function writeRunInfo(dir: string, info: RunInfo): void {
  writeFileAtomic(path.join(dir, RUN_FILES.run), `${JSON.stringify(info, null, 2)}\n`);
}

/** Read-modify-write of run.json (the trainer is its only writer while it runs). */
export function updateRunInfo(dir: string, patch: Partial<RunInfo>): RunInfo {
  const info = { ...readRunInfo(dir), ...patch };
  writeRunInfo(dir, info);
  return info;
}

export function readRunConfig(dir: string): unknown {
  const file = path.join(dir, RUN_FILES.config);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`Cannot read ${file}: ${(e as Error).message}.`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${file} is not valid JSON: ${(e as Error).message}.`);
  }
}
