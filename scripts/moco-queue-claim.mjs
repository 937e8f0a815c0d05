#!/usr/bin/env node
// Measures MoCo's claim that a bigger queue of negatives does not hurt (and in the paper helps)
// the learned representation, at laptop scale: the same MoCo laptop preset, seed and epochs, only
// params.queueSize changes. Each configuration is a real CLI run, one after another (a run uses
// every core it is given, so running them side by side would only slow each down). The kNN top-1
// per epoch comes from each run's metrics.jsonl; the table is printed at the end.
//
// A measurement, not a test: it takes minutes per configuration. Build first (`npm run build`).
//
//   node scripts/moco-queue-claim.mjs                                  # moco-v2, K 256 vs 4096, 5 epochs
//   node scripts/moco-queue-claim.mjs --method moco-v1 --queues 256,1024,4096 --epochs 3
//   node scripts/moco-queue-claim.mjs --train 2000                     # smaller built-in dataset
//   cp -r dist /tmp/cl-dist && node scripts/moco-queue-claim.mjs --trainer /tmp/cl-dist/trainer.js
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const { values } = parseArgs({
  options: {
    method: { type: 'string', default: 'moco-v2' },
    queues: { type: 'string', default: '256,4096' },
    epochs: { type: 'string', default: '5' },
    seed: { type: 'string', default: '0' },
    train: { type: 'string' },
    backend: { type: 'string', default: 'wasm' },
    'runs-dir': { type: 'string', default: '/tmp/moco-queue-claim' },
    // A copy of dist/ (trainer.js with its wasm/ folder) keeps every configuration on the same build
    // when dist/ may be rebuilt while the runs go on.
    trainer: { type: 'string', default: path.join(root, 'dist', 'trainer.js') },
  },
});

function positiveInt(name, text) {
  const v = Number(text);
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer (got '${text}')`);
  return v;
}

if (values.method !== 'moco-v1' && values.method !== 'moco-v2')
  throw new Error(`--method must be moco-v1 or moco-v2 (got '${values.method}')`);
const queues = values.queues.split(',').map((q) => positiveInt('queues', q.trim()));
const epochs = positiveInt('epochs', values.epochs);
const seed = Number(values.seed);
if (!Number.isInteger(seed) || seed < 0)
  throw new Error(`--seed must be an integer >= 0 (got '${values.seed}')`);
const train = values.train === undefined ? undefined : positiveInt('train', values.train);
const trainer = path.resolve(values.trainer);
if (!fs.existsSync(trainer)) throw new Error(`${trainer} is missing: run \`npm run build\` first`);
const runsDir = path.resolve(values['runs-dir']);
fs.mkdirSync(runsDir, { recursive: true });

/** One CLI run; resolves to its run folder (printed by the CLI as "run ID -> DIR") and wall time. */
function trainOnce(queueSize) {
  const name = `${values.method}-k${queueSize}-s${seed}`;
  const config = { method: values.method, params: { queueSize } };
  if (train !== undefined) config.dataset = { kind: 'synthetic', syntheticTrain: train };
  const configFile = path.join(runsDir, `${name}.json`);
  fs.writeFileSync(configFile, `${JSON.stringify(config, null, 2)}\n`);
  const args = [trainer, 'train', '--config', configFile, '--preset', 'laptop', '--epochs', String(epochs)];
  args.push('--seed', String(seed), '--runs-dir', runsDir, '--name', name, '--backend', values.backend);
  const shown = path.relative(root, trainer).startsWith('..') ? trainer : path.relative(root, trainer);
  process.stdout.write(`\n$ node ${shown} ${args.slice(1).join(' ')}\n`);
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let runDir;
    let tail = '';
    const onData = (chunk) => {
      const text = chunk.toString();
      tail = (tail + text).slice(-4000);
      const m = /^run \S+ -> (.+)$/m.exec(text);
      if (m && !runDir) runDir = m[1].trim();
      // Progress bars redraw with \r; only the per-epoch kNN lines are worth echoing.
      for (const line of text.split(/[\r\n]/))
        if (/^epoch \d+: knn_top1/.test(line)) process.stdout.write(`  ${line}\n`);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0 || !runDir) reject(new Error(`run ${name} failed (exit ${code}):\n${tail}`));
      else resolve({ runDir, seconds: (Date.now() - t0) / 1000 });
    });
  });
}

function knnCurve(runDir) {
  return fs
    .readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l))
    .filter((r) => typeof r.knn_top1 === 'number')
    .map((r) => ({ epoch: Math.round(r.epoch), knn: r.knn_top1 }));
}

const pct = (v) => `${(v * 100).toFixed(1)}%`;
const minutes = (s) => `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
const rows = [];
for (const k of queues) {
  const { runDir, seconds } = await trainOnce(k);
  const curve = knnCurve(runDir);
  if (curve.length < 2)
    throw new Error(`${runDir}/metrics.jsonl has ${curve.length} kNN rows; expected one per epoch`);
  rows.push({ k, curve, seconds, runDir });
}

const dataset = `built-in synthetic${train === undefined ? '' : `, ${train} training images`}`;
process.stdout.write(
  `\n${values.method} laptop preset, ${dataset}, seed ${seed}, ${epochs} epochs, backend ${values.backend}\n\n`,
);
process.stdout.write(
  '| queue K | kNN top-1 start -> end | best | per epoch | wall time |\n|---|---|---|---|---|\n',
);
for (const { k, curve, seconds } of rows) {
  const start = curve[0].knn;
  const end = curve.at(-1).knn;
  const best = Math.max(...curve.map((c) => c.knn));
  const per = curve.map((c) => pct(c.knn)).join(' ');
  process.stdout.write(
    `| ${k} | ${pct(start)} -> ${pct(end)} | ${pct(best)} | ${per} | ${minutes(seconds)} |\n`,
  );
}
process.stdout.write(`\nrun folders: ${rows.map((r) => r.runDir).join(', ')}\n`);
