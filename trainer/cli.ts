/**
 * Command line: `contrastive-lab train | serve | methods | inspect | eval | embed`.
 *
 * `train` runs a run in this process with a progress bar (and a socket, so the editor can attach);
 * `serve` speaks JSON-RPC on stdio for the extension; `methods` lists the methods and presets.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { SingleBar } from 'cli-progress';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';
import { BACKEND_PREFERENCES, type BackendPreference, describeBackend, initBackend } from './backend/choose';
import { ConfigError, type PartialConfig } from './config/config';
import type { DatasetKind } from './config/types';
import { formatDuration } from './duration';
import { EMBED_USAGE, EVAL_USAGE, embedMain, evalMain } from './eval/tool-cli';
import { inspectMain } from './inspect/worker';
import { METHOD_INFOS } from './methods/catalog';
import { serveConnection, serveSockets } from './rpc/server';
import { applyNiceFromEnv } from './run/priority';
import { RunSession } from './session';
import { readRunMetrics } from './train';
import { TRAINER_VERSION } from './versions';

const USAGE = `Contrastive Lab trainer ${TRAINER_VERSION}

Usage:
  contrastive-lab train [--config FILE] [--method ID] [--preset laptop|paper] [--dataset KIND]
                        [--data-path DIR] [--epochs N] [--batch-size N] [--seed N]
                        [--backend auto|tensorflow-gpu|tensorflow|onnxruntime|wasm|cpu] [--runs-dir DIR] [--name NAME]
  contrastive-lab train --resume RUN_DIR [--checkpoint FILE]
  contrastive-lab serve            JSON-RPC on stdio (used by the VS Code extension)
  contrastive-lab methods [--json] List the methods with their metadata and presets
  contrastive-lab inspect FILE [--json] [--diff OTHER] [--bins N]
                                   Tensors, stats and metadata of a .safetensors file; with --diff,
                                   the relative change of each tensor from FILE to OTHER
  ${EVAL_USAGE}
                                   Evaluate a checkpoint (kNN, linear probe, CLIP zero-shot) with
                                   alignment and uniformity; appends to its run's evals.jsonl
  ${EMBED_USAGE}
                                   2-D projection of test-split features (default 2,000 points)

Datasets: synthetic (built in, default), fashion-mnist, mnist, cifar10, cifar100, imagefolder.
Backends are tried in order tensorflow-gpu, tensorflow, onnxruntime, wasm, cpu unless --backend is given.`;

class UsageError extends Error {}

function wasmDir(): string | undefined {
  const d = path.join(__dirname, 'wasm');
  return fs.existsSync(d) ? d : undefined;
}

function intFlag(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0)
    throw new UsageError(`--${name} must be a non-negative integer (got '${v}').`);
  return n;
}

async function startBackend(pref: string | undefined) {
  const p = (pref ?? 'auto') as BackendPreference;
  if (!BACKEND_PREFERENCES.includes(p)) {
    throw new UsageError(`--backend must be one of ${BACKEND_PREFERENCES.join(', ')} (got '${pref}').`);
  }
  return initBackend(p, { wasmDir: wasmDir() });
}

async function cmdTrain(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      method: { type: 'string' },
      preset: { type: 'string' },
      dataset: { type: 'string' },
      'data-path': { type: 'string' },
      epochs: { type: 'string' },
      'batch-size': { type: 'string' },
      seed: { type: 'string' },
      backend: { type: 'string' },
      'runs-dir': { type: 'string' },
      name: { type: 'string' },
      resume: { type: 'string' },
      checkpoint: { type: 'string' },
      quiet: { type: 'boolean' },
    },
    strict: true,
  });
  let user: PartialConfig = {};
  if (values.config) {
    let text: string;
    try {
      text = fs.readFileSync(values.config, 'utf8');
    } catch (e) {
      throw new UsageError(`Cannot read --config ${values.config}: ${(e as Error).message}`);
    }
    try {
      user = JSON.parse(text);
    } catch (e) {
      throw new UsageError(`--config ${values.config} is not valid JSON: ${(e as Error).message}`);
    }
  }
  const over: PartialConfig = {};
  if (values.method) over.method = values.method;
  if (values.seed !== undefined) over.seed = intFlag('seed', values.seed);
  if (values.dataset || values['data-path']) {
    over.dataset = {};
    if (values.dataset) over.dataset.kind = values.dataset as DatasetKind;
    if (values['data-path']) over.dataset.path = path.resolve(values['data-path']);
  }
  if (values.epochs !== undefined || values['batch-size'] !== undefined) {
    over.training = {
      epochs: intFlag('epochs', values.epochs),
      batchSize: intFlag('batch-size', values['batch-size']),
    };
  }
  const { deepMerge } = await import('./config/config');
  user = deepMerge(user, over);
  const preset = (values.preset ?? 'laptop') as 'laptop' | 'paper';
  if (preset !== 'laptop' && preset !== 'paper')
    throw new UsageError(`--preset must be laptop or paper (got '${values.preset}').`);

  const backend = await startBackend(values.backend);
  const out = process.stderr;
  out.write(`backend: ${describeBackend(backend)}\n`);
  const session = new RunSession(backend, process.argv.slice(1));
  serveSockets(session);
  const tty = out.isTTY && !values.quiet;
  const bar = tty
    ? new SingleBar({
        stream: out,
        format:
          'epoch {ep}/{epochs} |{bar}| step {value}/{total} | {ips} img/s | ETA {etaf} | loss {loss} | knn {knn}',
        hideCursor: true,
        barsize: 24,
      })
    : null;
  let knn = '-';
  let barStarted = false;
  let lastLine = 0;
  session.on('metrics', ({ rows }) => {
    for (const r of rows) if (typeof r.knn_top1 === 'number') knn = `${(r.knn_top1 * 100).toFixed(1)}%`;
  });
  session.on('log', ({ level, message }) => {
    if (level === 'warn' || level === 'error') {
      if (bar && barStarted) bar.stop();
      out.write(`${level}: ${message}\n`);
      barStarted = false;
    } else if (!tty && !values.quiet) out.write(`${message}\n`);
  });
  session.on('progress', (p) => {
    const payload = {
      ep: Math.min(p.epochs, Math.floor(p.epoch) + 1),
      epochs: p.epochs,
      ips: p.imagesPerSec.toFixed(1),
      etaf: formatDuration(p.etaSeconds ?? Number.NaN),
      loss: p.loss.toFixed(4),
      knn,
    };
    if (bar) {
      if (!barStarted) {
        bar.start(p.totalSteps, p.step, payload);
        barStarted = true;
      } else bar.update(p.step, payload);
    } else if (!values.quiet && (Date.now() - lastLine > 10000 || p.step === p.totalSteps)) {
      lastLine = Date.now();
      out.write(
        `epoch ${payload.ep}/${p.epochs} step ${p.step}/${p.totalSteps} ${payload.ips} img/s ETA ${payload.etaf} loss ${payload.loss} knn ${knn}\n`,
      );
    }
  });

  const t0 = Date.now();
  const res = await session.start(
    values.resume
      ? { resumeDir: values.resume, checkpoint: values.checkpoint }
      : { config: user, preset, runsDir: values['runs-dir'] ?? 'runs', name: values.name },
  );
  out.write(`run ${res.runId} -> ${res.runDir}\n`);
  if (res.socket) out.write(`attach: ${res.socket}\n`);

  let interrupts = 0;
  const onSignal = () => {
    interrupts++;
    if (interrupts > 1) {
      out.write('\nsecond interrupt: exiting without a final checkpoint\n');
      process.exit(130);
    }
    out.write('\nstopping after this step (checkpoint follows); press Ctrl-C again to abort\n');
    session.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const result = await session.done;
  if (bar && barStarted) bar.stop();
  const rows = readRunMetrics(res.runDir);
  const losses = rows.filter((r) => typeof r.loss === 'number');
  const knns = rows.filter((r) => typeof r.knn_top1 === 'number');
  const pct = (v: number | undefined) => (v === undefined ? '-' : `${(v * 100).toFixed(2)}%`);
  const snap = session.snapshot();
  out.write(
    [
      '',
      `run        ${res.runId} (${snap?.status ?? 'failed'})`,
      `folder     ${res.runDir}`,
      `method     ${res.config.method} on ${res.config.dataset.kind}, ${res.config.encoder.arch}`,
      `backend    ${describeBackend(backend)}`,
      `steps      ${result?.step ?? snap?.progress?.step ?? 0} in ${formatDuration((Date.now() - t0) / 1000)}`,
      `loss       ${losses.length ? `${losses[0].loss.toFixed(4)} -> ${losses.at(-1)!.loss.toFixed(4)}` : '-'}`,
      `knn_top1   ${knns.length ? `${pct(knns[0].knn_top1)} (step ${knns[0].step}) -> ${pct(knns.at(-1)!.knn_top1)} (step ${knns.at(-1)!.step})` : '-'}`,
      snap?.info.error ? `error      ${snap.info.error}` : '',
      '',
    ]
      .filter((l, i, a) => l !== '' || i === 0 || i === a.length - 1)
      .join('\n'),
  );
  return snap?.status === 'failed' ? 1 : 0;
}

async function cmdServe(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { backend: { type: 'string' } }, strict: true });
  // stdout carries the protocol: everything human-readable goes to stderr.
  console.log = console.error;
  console.info = console.error;
  console.warn = console.error;
  const backend = await startBackend(values.backend);
  const session = new RunSession(backend, process.argv.slice(1));
  serveSockets(session);
  const conn = createMessageConnection(
    new StreamMessageReader(process.stdin),
    new StreamMessageWriter(process.stdout),
  );
  let exiting = false;
  const exitWhenIdle = async () => {
    if (exiting) return;
    exiting = true;
    await session.done;
    // Give the last notifications a moment to flush.
    setTimeout(() => process.exit(0), 50);
  };
  const stopServing = serveConnection(conn, session, { onShutdown: () => void exitWhenIdle() });
  // One trainer process per run: once its run has ended, the process goes.
  session.on('status', (p) => {
    if (p.status === 'completed' || p.status === 'stopped' || p.status === 'failed') void exitWhenIdle();
  });
  // The client went away (window reloaded, editor closed): a run keeps going and can be
  // re-attached through its socket; an idle trainer exits. Writes to the dead pipe are dropped,
  // never allowed to crash the run or block it on a full pipe.
  process.stdout.on('error', () => undefined);
  const clientGone = () => {
    stopServing();
    conn.dispose();
    void exitWhenIdle();
  };
  conn.onClose(clientGone);
  process.stdin.on('end', clientGone);
  process.stdin.on('error', clientGone);
  process.on('SIGTERM', () => {
    session.stop();
    void exitWhenIdle();
  });
  conn.listen();
  return new Promise<number>(() => undefined);
}

function cmdMethods(argv: string[]): number {
  const { values } = parseArgs({ args: argv, options: { json: { type: 'boolean' } }, strict: true });
  const infos = [...METHOD_INFOS.values()];
  if (values.json) {
    process.stdout.write(`${JSON.stringify(infos, null, 2)}\n`);
    return 0;
  }
  for (const m of infos) {
    process.stdout.write(
      `${m.id.padEnd(12)} ${m.name} (${m.venue} ${m.year}, ${m.family})\n    ${m.keyIdea}\n`,
    );
  }
  return 0;
}

/** Implemented in inspect/worker.ts, which the extension also runs as a child process. */
function cmdInspect(argv: string[]): Promise<number> {
  return inspectMain(argv);
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  // Before any backend creates its compute threads (they inherit the priority).
  const niceProblem = applyNiceFromEnv();
  if (niceProblem !== null) console.error(`warning: ${niceProblem}`);
  try {
    switch (cmd) {
      case 'train':
        return await cmdTrain(rest);
      case 'serve':
        return await cmdServe(rest);
      case 'methods':
        return cmdMethods(rest);
      case 'inspect':
        return await cmdInspect(rest);
      case 'eval':
        return await evalMain(rest, { startBackend });
      case 'embed':
        return await embedMain(rest, { startBackend });
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(`${USAGE}\n`);
        return cmd ? 0 : 2;
      case '--version':
        process.stdout.write(`${TRAINER_VERSION}\n`);
        return 0;
      default:
        throw new UsageError(`Unknown command '${cmd}'.\n\n${USAGE}`);
    }
  } catch (e) {
    const err = e as Error;
    if (
      e instanceof ConfigError ||
      e instanceof UsageError ||
      err.name === 'DatasetError' ||
      err.name === 'EvalInputError' ||
      err.name === 'CheckpointError'
    ) {
      process.stderr.write(`error: ${err.message}\n`);
      return 2;
    }
    if (
      /^(Unknown method|Invalid run id|Run |Not a run folder|Cannot read)/.test(err.message) ||
      (err as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION'
    ) {
      process.stderr.write(`error: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`error: ${err.stack ?? err.message}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    // `serve` never resolves; `train` exits when its run ends.
    process.exitCode = code;
    setTimeout(() => process.exit(code), 100).unref();
  });
}
