/**
 * Shared helpers for the tests that run inside the extension host (bundled into each test file).
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ContrastiveLabApi } from '../../../extension/extension';
import type { RunsNode } from '../../../extension/runsTree';
import type { PartialConfig } from '../../../trainer/config/config';
import { resolveConfig } from '../../../trainer/config/resolve';
import { createRunFolder, type RunInfo } from '../../../trainer/run/runfolder';

export const EXTENSION_ID = 'contrastive-lab.contrastive-lab';

export interface Fixture {
  /** The workspace folder (a temp folder). */
  workspace: string;
  /** `<workspace>/runs` */
  runsDir: string;
  /** Run name (tiny-a, tiny-b) -> absolute run folder, each a completed run by the real trainer. */
  runs: Record<string, string>;
}

/** What runSuite.ts put in the workspace (passed through the environment). */
export function fixture(): Fixture {
  const raw = process.env.CL_VSCODE_FIXTURE;
  if (!raw) throw new Error('CL_VSCODE_FIXTURE is not set: run this suite through `npm run test:vscode`');
  return JSON.parse(raw) as Fixture;
}

export function extension(): vscode.Extension<unknown> {
  const ext = vscode.extensions.getExtension(EXTENSION_ID);
  if (!ext) throw new Error(`extension ${EXTENSION_ID} is not loaded`);
  return ext;
}

/** Polls `pred` until it returns a truthy value (returned) or `timeoutMs` passes (throws `what`). */
export async function waitFor<T>(what: string, pred: () => T | Promise<T>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await pred();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---- added for the trees, config editor and run lifecycle tests ----------------------------------

/** waitFor, typed for the value it found (never undefined or null). */
export async function waitForValue<T>(
  what: string,
  pred: () => T | Promise<T>,
  timeoutMs = 20_000,
): Promise<NonNullable<T>> {
  return (await waitFor(what, pred, timeoutMs)) as NonNullable<T>;
}

/** Trains in about a second on the wasm backend: 64 images / batch 16 = 4 steps per epoch. */
export const TINY: PartialConfig = {
  dataset: { kind: 'synthetic', syntheticTrain: 64, syntheticTest: 32 },
  encoder: { arch: 'convnet', width: 4 },
  head: { hidden: [8], out: 8 },
  training: { epochs: 2, batchSize: 16 },
  eval: { knn: { every: 1, k: 10 } },
};

/**
 * The extension's API once its own activation events have started it. Never calls activate():
 * extension.test.ts checks that activation happens by itself, and these files sort before it.
 */
export async function api(): Promise<ContrastiveLabApi> {
  const ext = extension();
  await waitFor('the extension to activate by itself', () => ext.isActive, 30_000);
  const exports = ext.exports as ContrastiveLabApi;
  // The runs folder is scanned after activation: suites start from a store that has read it.
  await exports.store.ready;
  return exports;
}

export function readRunJson(runDir: string): RunInfo {
  return JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8')) as RunInfo;
}

/** Polls run.json until its status is one of `statuses`; returns it. */
export async function waitForStatus(
  runDir: string,
  statuses: string[],
  timeoutMs = 120_000,
): Promise<RunInfo> {
  try {
    return await waitForValue(
      `${path.basename(runDir)} to reach status ${statuses.join('/')}`,
      () => {
        const info = readRunJson(runDir);
        return statuses.includes(info.status) ? info : undefined;
      },
      timeoutMs,
    );
  } catch (e) {
    throw new Error(`${(e as Error).message} (status now: ${safeStatus(runDir)})`);
  }
}

function safeStatus(runDir: string): string {
  try {
    return readRunJson(runDir).status;
  } catch {
    return 'no run.json';
  }
}

/** `checkpoints/*.safetensors` of a run folder. */
export function checkpointFiles(runDir: string): string[] {
  const dir = path.join(runDir, 'checkpoints');
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors')) : [];
}

/** Rows of metrics.jsonl (a torn last line is skipped). */
export function metricRows(runDir: string): Record<string, number>[] {
  const file = path.join(runDir, 'metrics.jsonl');
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((l) => {
      try {
        return l.trim() ? [JSON.parse(l)] : [];
      } catch {
        return [];
      }
    });
}

/** A queued run folder in `runsDir` made the way the extension's "New Run" makes one. */
export function createQueuedRun(runsDir: string, name: string, config: PartialConfig = TINY): string {
  return createRunFolder(runsDir, resolveConfig(config, 'laptop'), { name }).dir;
}

/**
 * Trains a run with the real CLI (`dist/trainer.js train`) as a user would from a terminal; resolves
 * with the run folder. Asynchronous, so the extension host keeps handling file events meanwhile.
 */
export function trainWithCli(runsDir: string, name: string, config: PartialConfig = TINY): Promise<string> {
  const trainer = path.join(extension().extensionPath, 'dist', 'trainer.js');
  const cfg = path.join(path.dirname(runsDir), `.${name}.contrastive.json`);
  fs.writeFileSync(cfg, JSON.stringify(config));
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [
        trainer,
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
      ],
      { cwd: path.dirname(runsDir), timeout: 120_000, env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' } },
      (err, _stdout, stderr) => {
        fs.rmSync(cfg, { force: true });
        const m = /run (\S+) -> (.+)/.exec(stderr);
        if (err || !m) reject(new Error(`trainer failed for ${name}: ${err?.message ?? ''}\n${stderr}`));
        else resolve(m[2].trim());
      },
    );
  });
}

/** A tree item reduced to what a user sees. */
export interface ShownItem {
  label: string;
  description: string;
  contextValue: string;
  collapsible: boolean;
  node: RunsNode;
}

function shown(tree: vscode.TreeDataProvider<RunsNode>, node: RunsNode): ShownItem {
  const item = tree.getTreeItem(node) as vscode.TreeItem;
  const label = typeof item.label === 'string' ? item.label : (item.label?.label ?? '');
  return {
    label,
    description: typeof item.description === 'string' ? item.description : '',
    contextValue: item.contextValue ?? '',
    collapsible: (item.collapsibleState ?? 0) !== vscode.TreeItemCollapsibleState.None,
    node,
  };
}

export interface RunsTreeSnapshot {
  /** Group label without its count (e.g. `completed`) -> the runs shown under it. */
  groups: Map<string, { item: ShownItem; runs: (ShownItem & { children: ShownItem[] })[] }>;
}

/** Walks the Runs tree through its TreeDataProvider, as the view does. */
export async function runsTreeSnapshot(): Promise<RunsTreeSnapshot> {
  const { runs: tree } = await api();
  const groups: RunsTreeSnapshot['groups'] = new Map();
  for (const g of await tree.getChildren()) {
    const gi = shown(tree, g);
    const runs: (ShownItem & { children: ShownItem[] })[] = [];
    for (const r of await tree.getChildren(g))
      runs.push({ ...shown(tree, r), children: (await tree.getChildren(r)).map((c) => shown(tree, c)) });
    groups.set(gi.label.replace(/\s*\(\d+\)$/, ''), { item: gi, runs });
  }
  return { groups };
}

/** The group and row of the run labelled `name` in the Runs tree, if shown. */
export async function findRunInTree(
  name: string,
): Promise<{ group: string; run: ShownItem & { children: ShownItem[] } } | undefined> {
  for (const [group, g] of (await runsTreeSnapshot()).groups) {
    const run = g.runs.find((r) => r.label === name);
    if (run) return { group, run };
  }
  return undefined;
}

/**
 * Leaves the workspace as the fixture made it (other files count its runs): ends a trainer this
 * test started if it still runs, then deletes the run folder.
 */
export async function removeRun(runDir: string | undefined): Promise<void> {
  if (!runDir || !fs.existsSync(runDir)) return;
  try {
    const info = readRunJson(runDir);
    if ((info.status === 'running' || info.status === 'stopping') && info.pid) {
      try {
        process.kill(info.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  } catch {
    // no run.json
  }
  fs.rmSync(runDir, { recursive: true, force: true });
}
