/**
 * `npx tsx bench/extension/main.ts [--json] [--runs N] [--lines N] [--no-browser] [--no-code-server]
 * [--code-server-only]`: the extension section alone (also part of `npm run bench`; there
 * CL_BENCH_NO_BROWSER=1 / CL_BENCH_NO_CODE_SERVER=1 skip the browser parts).
 */
import { parseArgs } from 'node:util';
import { runExtensionBench } from './section';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      runs: { type: 'string' },
      lines: { type: 'string' },
      'no-browser': { type: 'boolean', default: false },
      'no-code-server': { type: 'boolean', default: false },
      'code-server-only': { type: 'boolean', default: false },
    },
  });
  const num = (name: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: expected a positive integer, got '${v}'`);
    return n;
  };
  const r = await runExtensionBench({
    json: values.json,
    runs: num('runs', values.runs),
    lines: num('lines', values.lines),
    noBrowser: values['no-browser'],
    noCodeServer: values['no-code-server'],
    codeServerOnly: values['code-server-only'],
  });
  process.stdout.write(values.json ? `${JSON.stringify(r.data)}\n` : `${r.text}\n`);
}

main().catch((e) => {
  process.stderr.write(`bench/extension: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
