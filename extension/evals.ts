/**
 * A run's `evals.jsonl` as the extension sees it: parsing (a torn or foreign line is skipped with a
 * warning, never fatal), matching records to checkpoints, the short labels the Runs tree shows, and
 * the chart rows that put evaluations beside the training curves. Pure Node (no `vscode`), so it is
 * unit tested against real files.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EVALS_FILE, type EvalProtocol, type EvalRecord } from '../trainer/eval/contract';
import type { MetricRow } from '../trainer/run/metrics';

export const EVAL_PROTOCOLS: readonly EvalProtocol[] = ['knn', 'linear', 'zeroshot'];

const LABELS: Record<EvalProtocol, string> = { knn: 'kNN', linear: 'linear', zeroshot: 'zero-shot' };

export function protocolLabel(p: EvalProtocol): string {
  return LABELS[p] ?? p;
}

/** Why `v` is not an EvalRecord (the first problem found), or undefined when it is one. */
export function evalRecordProblem(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not a JSON object';
  const r = v as Record<string, unknown>;
  for (const k of ['step', 'epoch', 'top1'] as const)
    if (typeof r[k] !== 'number' || !Number.isFinite(r[k])) return `"${k}" is not a finite number`;
  if (!EVAL_PROTOCOLS.includes(r.protocol as EvalProtocol))
    return `"protocol" is ${JSON.stringify(r.protocol)}, expected one of ${EVAL_PROTOCOLS.join(', ')}`;
  if (typeof r.checkpoint !== 'string' || !r.checkpoint) return '"checkpoint" is not a file name';
  if (typeof r.time !== 'string') return '"time" is not an ISO date string';
  return undefined;
}

export interface ParsedEvals {
  records: EvalRecord[];
  warnings: string[];
}

/** Parses evals.jsonl text; lines that are not EvalRecords are skipped with a warning naming the line. */
export function parseEvals(text: string): ParsedEvals {
  const records: EvalRecord[] = [];
  const warnings: string[] = [];
  const lines = text.split('\n');
  // The piece after the last newline is empty, or a line still being written (or torn by a crash).
  for (let i = 0; i < lines.length - 1; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      warnings.push(`line ${i + 1}: skipped (${(e as Error).message})`);
      continue;
    }
    const problem = evalRecordProblem(v);
    if (problem) warnings.push(`line ${i + 1}: skipped (${problem})`);
    else records.push(v as EvalRecord);
  }
  if (!text.endsWith('\n') && lines[lines.length - 1].trim())
    warnings.push(`line ${lines.length}: incomplete last line skipped`);
  return { records, warnings };
}

export function evalsFile(runDir: string): string {
  return path.join(runDir, EVALS_FILE);
}

/** The run's evaluation records; none when the file does not exist (never evaluated). */
export function readEvals(runDir: string): ParsedEvals {
  let text: string;
  try {
    text = fs.readFileSync(evalsFile(runDir), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], warnings: [] };
    return { records: [], warnings: [`cannot read ${evalsFile(runDir)}: ${(e as Error).message}`] };
  }
  return parseEvals(text);
}

/** Absolute path of the checkpoint a record names (relative names are relative to the run folder). */
export function recordCheckpointPath(runDir: string, r: EvalRecord): string {
  return path.resolve(runDir, r.checkpoint);
}

/** The records of one checkpoint file, in file order (oldest first). */
export function evalsOfCheckpoint(
  runDir: string,
  records: readonly EvalRecord[],
  file: string,
): EvalRecord[] {
  const want = path.resolve(file);
  return records.filter((r) => recordCheckpointPath(runDir, r) === want);
}

/** The newest record per protocol (file order decides: lines are appended as evaluations finish). */
export function latestByProtocol(records: readonly EvalRecord[]): EvalRecord[] {
  const latest = new Map<EvalProtocol, EvalRecord>();
  for (const r of records) latest.set(r.protocol, r);
  return EVAL_PROTOCOLS.flatMap((p) => {
    const r = latest.get(p);
    return r ? [r] : [];
  });
}

export function formatPercent(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

/** "linear 41.2%" */
export function evalShort(r: EvalRecord): string {
  return `${protocolLabel(r.protocol)} ${formatPercent(r.top1)}`;
}

/** "linear top-1 41.2% · alignment 0.512 · uniformity -2.31" for notifications and hovers. */
export function evalLong(r: EvalRecord): string {
  const parts = [`${protocolLabel(r.protocol)} top-1 ${formatPercent(r.top1)}`];
  if (typeof r.top5 === 'number') parts.push(`top-5 ${formatPercent(r.top5)}`);
  if (typeof r.alignment === 'number') parts.push(`alignment ${r.alignment.toFixed(3)}`);
  if (typeof r.uniformity === 'number') parts.push(`uniformity ${r.uniformity.toFixed(3)}`);
  return parts.join(' · ');
}

/** The metric key an evaluation's top-1 is charted under, e.g. `eval_linear_top1`. */
export function evalMetricKey(p: EvalProtocol): string {
  return `eval_${p}_top1`;
}

/**
 * A chart row for an evaluation, at its checkpoint's step. `timeAt(step)` gives the training row's
 * wall time at that step so the point sits right on the relative-time axis; the record's own time
 * is when the evaluation finished, possibly days later, and is only the fallback.
 */
export function evalChartRow(r: EvalRecord, timeAt?: (step: number) => number | undefined): MetricRow {
  const fallback = Date.parse(r.time) / 1000;
  const row: MetricRow = {
    step: r.step,
    epoch: r.epoch,
    time: timeAt?.(r.step) ?? (Number.isFinite(fallback) ? fallback : Number.NaN),
    [evalMetricKey(r.protocol)]: r.top1,
  };
  if (typeof r.alignment === 'number' && Number.isFinite(r.alignment)) row.eval_alignment = r.alignment;
  if (typeof r.uniformity === 'number' && Number.isFinite(r.uniformity)) row.eval_uniformity = r.uniformity;
  return row;
}

/** Wall time of the last row at or before `step` (rows sorted by step), for evalChartRow. */
export function timeAtStep(rows: readonly MetricRow[], step: number): number | undefined {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (rows[mid].step <= step) lo = mid + 1;
    else hi = mid;
  }
  const t = lo > 0 ? rows[lo - 1].time : undefined;
  return typeof t === 'number' && Number.isFinite(t) ? t : undefined;
}
