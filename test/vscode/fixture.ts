/**
 * A workspace for the VS Code tests: a temp folder whose `runs/` holds real run folders written by
 * the real trainer (`dist/trainer.js train`), so the extension's views have something to list.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT } from './codeServer';

export const TRAINER = path.join(ROOT, 'dist', 'trainer.js');

/** Small enough to train in about 2 s on the wasm backend. */
export const TINY_CONFIG = {
  dataset: { kind: 'synthetic', syntheticTrain: 64, syntheticTest: 32 },
  encoder: { arch: 'convnet', width: 4 },
  head: { hidden: [8], out: 8 },
  training: { epochs: 2, batchSize: 16 },
};

/** Names of the runs the fixture trains (each a completed run of TINY_CONFIG). */
export const FIXTURE_RUNS = ['tiny-a', 'tiny-b'] as const;

export interface Workspace {
  dir: string;
  runsDir: string;
  /** Run name -> run folder (`runs/<id>`). */
  runs: Map<string, string>;
  dispose(): void;
}

/** Builds dist/ (trainer, extension, webviews) unless CL_SKIP_BUILD is set and it exists. */
export function ensureBuilt(): void {
  if (process.env.CL_SKIP_BUILD && fs.existsSync(TRAINER)) return;
  const r = spawnSync(process.execPath, [path.join(ROOT, 'build.mjs')], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`build failed:\n${r.stdout}\n${r.stderr}`);
}

export function makeWorkspace(prefix = 'cl-vscode-ws-'): Workspace {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const runsDir = path.join(dir, 'runs');
  const cfg = path.join(dir, 'tiny.contrastive.json');
  fs.writeFileSync(cfg, JSON.stringify(TINY_CONFIG, null, 2));
  const runs = new Map<string, string>();
  FIXTURE_RUNS.forEach((name, i) => {
    const r = spawnSync(
      process.execPath,
      [
        TRAINER,
        'train',
        '--config',
        cfg,
        '--runs-dir',
        runsDir,
        '--backend',
        'wasm',
        '--quiet',
        '--name',
        name,
      ].concat(['--seed', String(i + 1)]),
      { cwd: dir, encoding: 'utf8', timeout: 120_000 },
    );
    if (r.status !== 0) throw new Error(`trainer failed for fixture run ${name} (${r.status}):\n${r.stderr}`);
    const m = /run (\S+) -> (.+)/.exec(r.stderr);
    if (!m) throw new Error(`trainer did not print its run folder:\n${r.stderr}`);
    runs.set(name, m[2].trim());
  });
  return { dir, runsDir, runs, dispose: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Packages the extension as users get it (`vsce package --no-dependencies`, honouring
 * .vscodeignore) into `outDir`; returns the .vsix path. Build first (ensureBuilt).
 */
export function packageVsix(outDir: string): string {
  const vsix = path.join(outDir, 'contrastive-lab.vsix');
  const vsce = path.join(ROOT, 'node_modules', '.bin', 'vsce');
  const r = spawnSync(vsce, ['package', '--no-dependencies', '--allow-missing-repository', '--out', vsix], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'], // a prompt fails instead of waiting
    timeout: 120_000,
  });
  if (r.status !== 0 || !fs.existsSync(vsix)) {
    throw new Error(`vsce package failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
  return vsix;
}
