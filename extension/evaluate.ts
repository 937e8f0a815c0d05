/**
 * "Evaluate Checkpoint": runs `contrastive-lab eval CHECKPOINT --protocol P --json --progress-json`
 * as a worker process behind a cancellable progress notification. The worker appends its record to
 * the run's evals.jsonl; the Runs tree and the charts pick it up from that file (files are the
 * source of truth), and the command also shows the numbers in a notification.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { mallocEnv } from '../trainer/backend/malloc-env';
import { readSafetensorsHeader } from '../trainer/checkpoint/safetensors';
import type { EvalProtocol, EvalRecord, ToolProgress } from '../trainer/eval/contract';
import { inspectHeader } from '../trainer/inspect/inspect';
import { editorTrainerEnv } from '../trainer/run/priority';
import { modulesPath } from './backendPackages';
import { EVAL_PROTOCOLS, evalLong, evalRecordProblem, protocolLabel } from './evals';
import { lastJsonLine, startToolWorker, ToolCancelledError } from './evalsWorker';
import type { RunStore } from './runStore';

export const EVALUATE_COMMAND = 'contrastiveLab.evaluateCheckpoint';

/** What the tools need to know about a checkpoint before running: from its header alone. */
export interface CheckpointFacts {
  file: string;
  method?: string;
  arch?: string;
  step?: number;
  /** `<run>` when the file is `<run>/checkpoints/x.safetensors` of a run folder. */
  runDir?: string;
}

export async function checkpointFacts(file: string): Promise<CheckpointFacts> {
  const meta = inspectHeader(file, await readSafetensorsHeader(file)).metadata;
  const config = (meta.config ?? {}) as { method?: unknown; encoder?: { arch?: unknown } };
  const method = typeof config.method === 'string' ? config.method : meta.method;
  const arch = typeof config.encoder?.arch === 'string' ? config.encoder.arch : undefined;
  return { file, method, arch, step: meta.step, runDir: runDirOf(file) };
}

export function runDirOf(file: string): string | undefined {
  const dir = path.dirname(file);
  if (path.basename(dir) !== 'checkpoints') return undefined;
  const run = path.dirname(dir);
  return fs.existsSync(path.join(run, 'run.json')) ? run : undefined;
}

/** Protocols that apply: zero-shot needs a text tower, so only CLIP checkpoints offer it. */
export function protocolsFor(facts: CheckpointFacts): EvalProtocol[] {
  return EVAL_PROTOCOLS.filter((p) => p !== 'zeroshot' || facts.method === 'clip');
}

/** A checkpoint file from a Runs tree row, a Uri, a path, or an object carrying one. */
export function checkpointFileOf(arg: unknown): string | undefined {
  if (arg instanceof vscode.Uri) return arg.scheme === 'file' ? arg.fsPath : undefined;
  if (typeof arg === 'string' && arg) return path.resolve(arg);
  if (typeof arg === 'object' && arg !== null) {
    const o = arg as Record<string, unknown>;
    if (o.kind === 'checkpoint') return checkpointFileOf((o.checkpoint as { file?: unknown })?.file);
    for (const k of ['resourceUri', 'uri', 'file', 'fsPath']) {
      const f = checkpointFileOf(o[k]);
      if (f) return f;
    }
  }
  return undefined;
}

/** Asks for a checkpoint when the command came from the palette without one. */
export async function pickCheckpointFile(title: string): Promise<string | undefined> {
  const active = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  const picked = await vscode.window.showOpenDialog({
    canSelectMany: false,
    openLabel: 'Select',
    title,
    filters: { Safetensors: ['safetensors'] },
    defaultUri:
      active instanceof vscode.TabInputCustom && active.uri.fsPath.endsWith('.safetensors')
        ? active.uri
        : vscode.workspace.workspaceFolders?.[0]?.uri,
  });
  return picked?.[0]?.fsPath;
}

/** Where the tools' worker processes come from and how they are started. */
export interface ToolHost {
  context: vscode.ExtensionContext;
  log: vscode.LogOutputChannel;
}

export function toolProcess(host: ToolHost): { nodePath: string; script: string; env: NodeJS.ProcessEnv } {
  const cfg = vscode.workspace.getConfiguration('contrastiveLab');
  const backend = cfg.get<string>('backend') ?? 'auto';
  return {
    nodePath: cfg.get<string>('nodePath') || process.execPath,
    script: path.join(host.context.extensionPath, 'dist', 'trainer.js'),
    env: {
      ...(backend !== 'auto' ? { CONTRASTIVE_LAB_BACKEND: backend } : {}),
      ...mallocEnv(),
      ...editorTrainerEnv(process.env, os.cpus().length),
      NODE_PATH: modulesPath(host.context),
    },
  };
}

/** One evaluation in flight. */
export interface RunningEvaluation {
  readonly file: string;
  readonly protocol: EvalProtocol;
  readonly pid: number | undefined;
  /** The newest progress line. */
  readonly progress: ToolProgress | undefined;
  /** The record, or undefined when cancelled; rejects when the worker fails. */
  readonly done: Promise<EvalRecord | undefined>;
  /** Kills the worker: what the cancel button of the notification does. */
  cancel(): void;
}

export class Evaluations implements vscode.Disposable {
  /** In flight, newest last: the extension-host tests cancel through this, as the button does. */
  readonly running: RunningEvaluation[] = [];

  constructor(
    private readonly host: ToolHost,
    private readonly store: RunStore,
  ) {}

  /** "my-run step 8": the run's name when the checkpoint is in a run folder the store knows. */
  labelFor(facts: CheckpointFacts): string {
    const run = facts.runDir ? this.store.byDir(facts.runDir) : undefined;
    const runName = run?.info.name || (facts.runDir ? path.basename(facts.runDir) : '');
    const what = facts.step !== undefined ? `step ${facts.step}` : path.basename(facts.file);
    return runName ? `${runName} ${what}` : what;
  }

  start(file: string, protocol: EvalProtocol, onProgress?: (p: ToolProgress) => void): RunningEvaluation {
    const ctrl = new AbortController();
    const tool = toolProcess(this.host);
    let progress: ToolProgress | undefined;
    const worker = startToolWorker({
      ...tool,
      args: ['eval', file, '--protocol', protocol, '--json', '--progress-json'],
      cwd: path.dirname(file),
      signal: ctrl.signal,
      onProgress: (p) => {
        progress = p;
        onProgress?.(p);
      },
      onLog: (line) => this.host.log.trace(`[eval] ${line}`),
    });
    const done = worker.done.then(
      (stdout) => {
        const rec = lastJsonLine(stdout);
        const problem = evalRecordProblem(rec);
        if (problem) throw new Error(`the eval worker's output is not an evaluation record: ${problem}`);
        return rec as EvalRecord;
      },
      (e) => {
        if (e instanceof ToolCancelledError) return undefined;
        throw e;
      },
    );
    const job: RunningEvaluation = {
      file,
      protocol,
      pid: worker.pid,
      get progress() {
        return progress;
      },
      done,
      cancel: () => ctrl.abort(),
    };
    this.running.push(job);
    const forget = () => {
      const i = this.running.indexOf(job);
      if (i >= 0) this.running.splice(i, 1);
      // The watcher would see evals.jsonl change too; this makes the tree prompt.
      const run = runDirOf(file);
      if (run) this.store.refresh(run);
    };
    done.then(forget, forget);
    return job;
  }

  dispose(): void {
    for (const j of this.running.splice(0)) j.cancel();
  }
}

/**
 * The command: `(checkpoint?, protocol?)`. Without a protocol it asks; without a checkpoint it asks
 * for a file. Resolves with the record (undefined when cancelled or nothing was picked).
 */
export async function evaluateCheckpointCommand(
  evaluations: Evaluations,
  host: ToolHost,
  arg?: unknown,
  protocolArg?: unknown,
): Promise<EvalRecord | undefined> {
  if (!vscode.workspace.isTrusted) {
    void vscode.window.showErrorMessage(
      'Evaluation runs a worker process, which Contrastive Lab does only in a trusted workspace.',
    );
    return undefined;
  }
  const file = checkpointFileOf(arg) ?? (await pickCheckpointFile('Evaluate a checkpoint'));
  if (!file) return undefined;
  let facts: CheckpointFacts;
  try {
    facts = await checkpointFacts(file);
  } catch (e) {
    void vscode.window.showErrorMessage(`Cannot evaluate ${path.basename(file)}: ${(e as Error).message}`);
    return undefined;
  }
  const allowed = protocolsFor(facts);
  let protocol: EvalProtocol | undefined;
  if (typeof protocolArg === 'string') {
    if (!allowed.includes(protocolArg as EvalProtocol)) {
      void vscode.window.showErrorMessage(
        `Protocol '${protocolArg}' does not apply to ${path.basename(file)} (${facts.method ?? 'unknown method'}): use ${allowed.join(', ')}.`,
      );
      return undefined;
    }
    protocol = protocolArg as EvalProtocol;
  } else {
    const detail: Record<EvalProtocol, string> = {
      knn: 'weighted k-nearest neighbours on frozen features: quick',
      linear: 'a linear classifier trained on frozen features: the standard protocol, slower',
      zeroshot: 'class names through the text tower, no labels used',
    };
    const pick = await vscode.window.showQuickPick(
      allowed.map((p) => ({ label: protocolLabel(p), description: detail[p], protocol: p })),
      { placeHolder: `Evaluate ${path.basename(file)} with` },
    );
    protocol = pick?.protocol;
  }
  if (!protocol) return undefined;
  const chosen = protocol;

  const label = evaluations.labelFor(facts);
  try {
    const record = await vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: `Evaluating ${label} (${protocolLabel(chosen)})`,
        cancellable: true,
      },
      (progress, token) => {
        let shown = 0;
        const job = evaluations.start(file, chosen, (p) => {
          const pct = 100 * p.fraction;
          progress.report({ increment: Math.max(0, pct - shown), message: p.message });
          shown = Math.max(shown, pct);
        });
        token.onCancellationRequested(() => job.cancel());
        return job.done;
      },
    );
    if (!record) {
      vscode.window.setStatusBarMessage(`Evaluation of ${label} cancelled`, 4000);
      return undefined;
    }
    void vscode.window.showInformationMessage(`${label}: ${evalLong(record)}`);
    return record;
  } catch (e) {
    const msg = (e as Error).message;
    host.log.error(`evaluating ${file} (${chosen}) failed: ${msg}`);
    void vscode.window
      .showErrorMessage(`Evaluation of ${label} failed: ${msg.split('\n')[0]}`, 'Show Log')
      .then((pick) => pick && host.log.show());
    return undefined;
  }
}
