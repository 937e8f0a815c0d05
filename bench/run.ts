/**
 * `npm run bench [-- options]`: the throughput benchmark (not a test). Runs each section of
 * bench/sections.ts in one process tree and prints a report, or one JSON object with --json.
 *
 *   --section NAME       run only this section (repeatable; default all)
 *   --models a,b         convnet, resnet18 (default both)
 *   --batch N            images per view (default 128)
 *   --threads a,b        thread counts, ours and PyTorch alike (default: the number of cores)
 *   --backends a,b       our backends (default onnxruntime,wasm)
 *   --no-pytorch         skip the PyTorch reference
 *   --warmup N --steps N steps per side (defaults: convnet 2 + 5, resnet18 1 + 3)
 *   --profile            per-kernel time shares of one step of ours
 *   --json               one JSON object on stdout (progress goes to stderr)
 */
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import type { BenchOptions } from './section';
import { SECTIONS } from './sections';

function list(v: string | undefined): string[] {
  return (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function positiveInts(name: string, v: string[]): number[] {
  return v.map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: expected positive integers, got '${s}'`);
    return n;
  });
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      section: { type: 'string', multiple: true },
      models: { type: 'string' },
      batch: { type: 'string', default: '128' },
      threads: { type: 'string' },
      backends: { type: 'string', default: 'onnxruntime,wasm' },
      'no-pytorch': { type: 'boolean', default: false },
      warmup: { type: 'string' },
      steps: { type: 'string' },
      profile: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const cores = os.availableParallelism?.() ?? os.cpus().length;
  const opts: BenchOptions = {
    models: list(values.models),
    batch: positiveInts('batch', [values.batch!])[0],
    threads: values.threads ? positiveInts('threads', list(values.threads)) : [cores],
    backends: list(values.backends),
    pytorch: !values['no-pytorch'],
    warmup: values.warmup === undefined ? undefined : Number(values.warmup),
    steps: values.steps === undefined ? undefined : positiveInts('steps', [values.steps])[0],
    profile: values.profile!,
  };
  const wanted = values.section ?? [];
  const unknown = wanted.filter((w) => !SECTIONS.some((s) => s.name === w));
  if (unknown.length > 0)
    throw new Error(
      `--section: unknown ${unknown.join(', ')}; known: ${SECTIONS.map((s) => s.name).join(', ')}`,
    );
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const out: Record<string, unknown> = { cores, node: process.version, options: opts, sections: {} };
  for (const section of SECTIONS) {
    if (wanted.length > 0 && !wanted.includes(section.name)) continue;
    log(`== ${section.name}: ${section.description}`);
    const r = await section.run(opts, log);
    (out.sections as Record<string, unknown>)[section.name] = r.data;
    if (!values.json) process.stdout.write(`\n== ${section.name}\n${r.text}\n`);
  }
  if (values.json) process.stdout.write(`${JSON.stringify(out)}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
