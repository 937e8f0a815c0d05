/**
 * A run's `evals.jsonl`: one EvalRecord per line, appended, never rewritten. No TensorFlow.js, so the
 * extension can read it too.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EVALS_FILE, type EvalRecord } from './contract';

/**
 * The run folder of a checkpoint: the folder two levels up when the file lies in
 * `<run>/checkpoints/` and that folder has a `config.json`; undefined for a checkpoint elsewhere.
 */
export function runDirOfCheckpoint(file: string): string | undefined {
  const dir = path.dirname(path.resolve(file));
  if (path.basename(dir) !== 'checkpoints') return undefined;
  const run = path.dirname(dir);
  return fs.existsSync(path.join(run, 'config.json')) ? run : undefined;
}

/** How a record names its checkpoint: relative to the run folder when inside it, else absolute. */
export function checkpointLabel(file: string, runDir: string | undefined): string {
  const abs = path.resolve(file);
  if (!runDir) return abs;
  const rel = path.relative(runDir, abs);
  return rel.startsWith('..') || path.isAbsolute(rel) ? abs : rel.split(path.sep).join('/');
}

/**
 * Appends one record as one line with a single write to a file opened for appending, so concurrent
 * evaluations never interleave and a killed worker leaves either the whole line or none. A torn
 * last line left by an earlier crash is closed first so this record stays parseable.
 */
export function appendEvalRecord(runDir: string, record: EvalRecord): string {
  const file = path.join(runDir, EVALS_FILE);
  const fd = fs.openSync(file, 'a+');
  try {
    const size = fs.fstatSync(fd).size;
    let prefix = '';
    if (size > 0) {
      const last = Buffer.alloc(1);
      fs.readSync(fd, last, 0, 1, size - 1);
      if (last[0] !== 0x0a) prefix = '\n';
    }
    fs.writeSync(fd, `${prefix}${JSON.stringify(record)}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return file;
}

export interface ParsedEvals {
  records: EvalRecord[];
  /** Lines skipped, with why (a torn line from a crash, an unknown shape). */
  warnings: string[];
}

/** Parses evals.jsonl text; malformed lines are skipped with a warning, never fatal. */
export function parseEvals(text: string): ParsedEvals {
  const records: EvalRecord[] = [];
  const warnings: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    try {
      const r = JSON.parse(line) as EvalRecord;
      if (typeof r?.top1 !== 'number' || typeof r.protocol !== 'string' || typeof r.step !== 'number')
        throw new Error('not an evaluation record (needs protocol, step and top1)');
      records.push(r);
    } catch (e) {
      warnings.push(`line ${i + 1}: skipped (${(e as Error).message})`);
    }
  });
  return { records, warnings };
}

export function readEvals(runDir: string): ParsedEvals {
  const file = path.join(runDir, EVALS_FILE);
  if (!fs.existsSync(file)) return { records: [], warnings: [] };
  return parseEvals(fs.readFileSync(file, 'utf8'));
}
