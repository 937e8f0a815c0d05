/**
 * Command lines of the checkpoint tools, `contrastive-lab eval` and `contrastive-lab embed`. The
 * extension runs them as worker processes: results on stdout (eval `--json`) or in the `--out` file
 * (embed), ToolProgress lines on stderr with `--progress-json`, cancellation by killing the process.
 *
 * Errors are thrown to the CLI's dispatcher, which maps input problems (EvalInputError,
 * CheckpointError, DatasetError, ConfigError) to exit code 2.
 */
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { BackendInfo } from '../backend/choose';
import type { EvalProtocol, EvalRecord, ToolProgress } from './contract';
import { DEFAULT_EMBED_LIMIT, embedCheckpoint, PROJECTIONS, type Projection } from './embed';
import { EVAL_PROTOCOLS, EvalInputError, evaluateCheckpoint } from './evaluate';

export const EVAL_USAGE = `contrastive-lab eval CHECKPOINT --protocol knn|linear|zeroshot [--k N] [--temperature T]
                     [--json] [--progress-json] [--no-append] [--random-init] [--data-path DIR]
                     [--backend auto|tensorflow-gpu|tensorflow|onnxruntime|wasm|cpu]`;
export const EMBED_USAGE = `contrastive-lab embed CHECKPOINT --out FILE.json [--projection pca|umap|both] [--limit N]
                      [--progress-json] [--random-init] [--data-path DIR] [--backend ...]`;

interface Io {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

export interface ToolDeps {
  startBackend(preference: string | undefined): Promise<BackendInfo>;
}

function parse<T extends Record<string, { type: 'string' | 'boolean'; short?: string }>>(
  argv: string[],
  options: T,
  usage: string,
) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new EvalInputError(`${(e as Error).message}\nusage: ${usage}`);
  }
}

function oneCheckpoint(positionals: string[], usage: string): string {
  if (positionals.length !== 1)
    throw new EvalInputError(
      `expected exactly one CHECKPOINT file (got ${positionals.length}).\nusage: ${usage}`,
    );
  return path.resolve(positionals[0]!);
}

function positiveInt(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new EvalInputError(`--${flag} must be a positive integer (got '${v}').`);
  return n;
}

function positiveNumber(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!(Number.isFinite(n) && n > 0))
    throw new EvalInputError(`--${flag} must be a positive number (got '${v}').`);
  return n;
}

/** Progress as JSON lines (for a parent process), or one human line per stage. */
function progressSink(io: Io, json: boolean | undefined): (p: ToolProgress) => void {
  let lastMessage = '';
  let lastJson = 0;
  return (p) => {
    if (json) {
      const now = Date.now();
      // Throttled, but stage changes and the end always go out.
      if (p.message === lastMessage && p.fraction < 1 && now - lastJson < 100) return;
      lastJson = now;
      lastMessage = p.message;
      io.stderr.write(`${JSON.stringify(p)}\n`);
    } else if (p.message !== lastMessage) {
      lastMessage = p.message;
      if (p.message !== 'done') io.stderr.write(`${p.message}...\n`);
    }
  };
}

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;

export function formatEvalRecord(r: EvalRecord, appendedTo?: string): string {
  const kv = (k: string, v: string) => `${k.padEnd(11)}${v}`;
  const settings = Object.entries(r.options)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return `${[
    kv('checkpoint', r.checkpoint),
    kv(
      'method',
      `${r.method}, step ${r.step} (epoch ${r.epoch})${r.options.randomInit ? ', random init' : ''}`,
    ),
    kv('protocol', r.protocol),
    kv('top-1', pct(r.top1)),
    r.top5 !== undefined ? kv('top-5', pct(r.top5)) : '',
    r.alignment !== undefined ? kv('alignment', `${r.alignment.toFixed(4)} (lower is better)`) : '',
    r.uniformity !== undefined ? kv('uniformity', `${r.uniformity.toFixed(4)} (lower is better)`) : '',
    kv('settings', settings),
    kv('dataset', `${r.dataset.kind}: ${r.dataset.train} train / ${r.dataset.test} test images`),
    kv('backend', r.backend),
    kv('time', `${r.seconds.toFixed(1)} s`),
    kv('appended', appendedTo ?? 'no (--no-append, or the checkpoint is not in a run folder)'),
  ]
    .filter(Boolean)
    .join('\n')}\n`;
}

export async function evalMain(argv: string[], deps: ToolDeps, io: Io = process): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      protocol: { type: 'string' },
      k: { type: 'string' },
      temperature: { type: 'string' },
      json: { type: 'boolean' },
      'progress-json': { type: 'boolean' },
      'no-append': { type: 'boolean' },
      'random-init': { type: 'boolean' },
      'data-path': { type: 'string' },
      backend: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    EVAL_USAGE,
  );
  if (values.help) {
    io.stdout.write(`usage: ${EVAL_USAGE}\n`);
    return 0;
  }
  const checkpoint = oneCheckpoint(positionals, EVAL_USAGE);
  const protocol = values.protocol as EvalProtocol | undefined;
  if (!protocol || !EVAL_PROTOCOLS.includes(protocol))
    throw new EvalInputError(
      `${protocol ? `unknown protocol '${protocol}'` : '--protocol is required'} (expected one of ${EVAL_PROTOCOLS.join(', ')}).`,
    );
  const k = positiveInt('k', values.k);
  const temperature = positiveNumber('temperature', values.temperature);
  if ((k !== undefined || temperature !== undefined) && protocol !== 'knn')
    throw new EvalInputError(`--k and --temperature apply to --protocol knn only.`);
  const backend = await deps.startBackend(values.backend);
  const { record, appendedTo } = await evaluateCheckpoint({
    checkpoint,
    protocol,
    k,
    temperature,
    dataPath: values['data-path'],
    randomInit: values['random-init'],
    append: !values['no-append'],
    backend: backend.name,
    onProgress: progressSink(io, values['progress-json']),
  });
  io.stdout.write(values.json ? `${JSON.stringify(record)}\n` : formatEvalRecord(record, appendedTo));
  return 0;
}

export async function embedMain(argv: string[], deps: ToolDeps, io: Io = process): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      out: { type: 'string' },
      projection: { type: 'string' },
      limit: { type: 'string' },
      'progress-json': { type: 'boolean' },
      'random-init': { type: 'boolean' },
      'data-path': { type: 'string' },
      backend: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    EMBED_USAGE,
  );
  if (values.help) {
    io.stdout.write(`usage: ${EMBED_USAGE}\n`);
    return 0;
  }
  const checkpoint = oneCheckpoint(positionals, EMBED_USAGE);
  if (!values.out) throw new EvalInputError(`--out FILE.json is required.\nusage: ${EMBED_USAGE}`);
  const projection = (values.projection ?? 'pca') as Projection;
  if (!PROJECTIONS.includes(projection))
    throw new EvalInputError(`unknown projection '${projection}' (expected ${PROJECTIONS.join(', ')}).`);
  const limit = positiveInt('limit', values.limit) ?? DEFAULT_EMBED_LIMIT;
  await deps.startBackend(values.backend);
  const t0 = Date.now();
  const file = await embedCheckpoint({
    checkpoint,
    out: values.out,
    projection,
    limit,
    dataPath: values['data-path'],
    randomInit: values['random-init'],
    onProgress: progressSink(io, values['progress-json']),
  });
  const parts: string[] = [];
  const { pca, umap } = file.projections;
  if (pca)
    parts.push(
      `PCA (explained variance ${pct(pca.explainedVariance[0])} + ${pct(pca.explainedVariance[1])})`,
    );
  if (umap) parts.push(`UMAP (${umap.nNeighbors} neighbours, min dist ${umap.minDist})`);
  io.stdout.write(
    `wrote ${path.resolve(values.out)}: ${file.indices.length} test points of ${file.method} step ${file.step}; ` +
      `${parts.join(', ')}; ${file.attention ? `attention maps for ${file.attention.points.length} points` : 'no attention maps (not a ViT)'}; ` +
      `${((Date.now() - t0) / 1000).toFixed(1)} s\n`,
  );
  return 0;
}
