/**
 * Contrastive Lab: activation wires the run store, the trainer client, the two tree views, the
 * commands, the config editor, the charts and the status bar together.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { resolveConfig } from '../trainer/config/resolve';
import { METHOD_INFOS } from '../trainer/methods/catalog';
import type { MethodInfo } from '../trainer/methods/types';
import { createRunFolder, RUN_FILES, readRunConfig, updateRunInfo } from '../trainer/run/runfolder';
import { GPU_PACKAGE, installBackendPackage, ORT_PACKAGE } from './backendPackages';
import { ChartsPanel } from './chartsPanel';
import { CheckpointEditorProvider } from './checkpointEditor';
import { exportMetricsCsv } from './compareExport';
import { ConfigEditorProvider } from './configEditor';
import { EmbeddingsPanel, showEmbeddingsCommand } from './embeddingsPanel';
import { Evaluations, evaluateCheckpointCommand } from './evaluate';
import { MethodsTree, methodMarkdown } from './methodsTree';
import { type RunEntry, RunStore } from './runStore';
import { type RunsNode, RunsTree } from './runsTree';
import { RunStatusBar } from './statusBar';
import { TrainerClient } from './trainerClient';

/** Set by the bundle's first line (build.mjs); absent when this file is bundled another way. */
declare const __CL_BUNDLE_START__: number | undefined;

/** What activate() returns: used by the extension-host test suite to inspect real state. */
export interface ContrastiveLabApi {
  /** performance.now() when the extension's bundle began to load (NaN outside dist/extension.js). */
  loadedAt: number;
  store: RunStore;
  client: TrainerClient;
  methods: MethodsTree;
  runs: RunsTree;
  /** Evaluations in flight (cancel() is what the notification's cancel button does). */
  evaluations: Evaluations;
  /** The open embeddings view of a checkpoint, if any. */
  embeddingsPanelFor(checkpoint: string): EmbeddingsPanel | undefined;
  ChartsPanel: typeof ChartsPanel;
}

function runsDirectory(): string | undefined {
  const ws = vscode.workspace.workspaceFolders?.[0];
  const setting =
    vscode.workspace.getConfiguration('contrastiveLab', ws?.uri).get<string>('runsDirectory') || 'runs';
  if (path.isAbsolute(setting)) return setting;
  return ws ? path.join(ws.uri.fsPath, setting) : undefined;
}

export function activate(context: vscode.ExtensionContext): ContrastiveLabApi {
  const log = vscode.window.createOutputChannel('Contrastive Lab', { log: true });
  const store = new RunStore(runsDirectory());
  const client = new TrainerClient(context, log);
  const methods = new MethodsTree();
  const runs = new RunsTree(store);
  const statusBar = new RunStatusBar((id) => store.get(id)?.info.name ?? id);
  const tools = { context, log };
  const evaluations = new Evaluations(tools, store);
  context.subscriptions.push(log, store, client, statusBar, evaluations);
  void vscode.commands.executeCommand('setContext', 'contrastiveLab.runsGrouping', 'status');
  // The "no runs yet" welcome shows only once the folder was read, not while it loads.
  void store.listed.then(() =>
    vscode.commands.executeCommand('setContext', 'contrastiveLab.runsLoaded', true),
  );

  const runsView = vscode.window.createTreeView('contrastiveLab.runs', {
    treeDataProvider: runs,
    canSelectMany: true,
  });
  context.subscriptions.push(
    runsView,
    vscode.window.createTreeView('contrastiveLab.methods', { treeDataProvider: methods }),
  );

  // Methods: the trainer's `initialize` is the source; the bundled copy covers untrusted
  // workspaces (no process may be spawned there) and the moment before the trainer answers.
  methods.setMethods([...METHOD_INFOS.values()]);
  const loadMethods = () => {
    if (!vscode.workspace.isTrusted) return;
    client
      .describe()
      .then((init) => {
        methods.setMethods(init.methods);
        log.info(`trainer ${init.trainerVersion} on ${init.backend.detail}`);
      })
      .catch((e) => log.warn(`could not ask the trainer for its methods: ${(e as Error).message}`));
  };
  // Until the Runs view has its runs, the extension host's thread is left to the workbench's
  // round trip: the scan's second pass and the trainer's spawn (15-45 ms of this thread) wait.
  store.deferSummaries(Promise.race([runs.answered, new Promise((r) => setTimeout(r, 1500))]));
  void store.ready.then(loadMethods);
  context.subscriptions.push(vscode.workspace.onDidGrantWorkspaceTrust(loadMethods));

  // Live updates from trainers this window talks to.
  context.subscriptions.push(
    client.onProgress.event((p) => statusBar.update(p)),
    client.onMetrics.event((m) => ChartsPanel.pushRows(m.runId, m.rows)),
    client.onStatus.event((s) => {
      if (s.status !== 'running' && s.status !== 'stopping') statusBar.ended(s.runId);
      const r = store.get(s.runId);
      if (r) store.refresh(r.dir);
      if (s.status === 'failed') log.error(`run ${s.runId} failed: ${s.error ?? ''}`);
    }),
    client.onCheckpoint.event((c) => {
      const r = store.get(c.runId);
      if (r) store.refresh(r.dir);
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('contrastiveLab.runsDirectory')) store.setRunsDir(runsDirectory());
    }),
  );

  // Runs outlive the window: re-attach to live runs (also CLI-started ones) through their sockets.
  const attachLive = () => {
    for (const r of store.all()) {
      if ((r.status === 'running' || r.status === 'stopping') && r.info.socket && !client.isLive(r.id)) {
        void client
          .attach(r.id, r.dir, r.info.socket)
          .then((ok) => ok && log.info(`attached to live run ${r.id}`));
      }
    }
  };
  attachLive();
  context.subscriptions.push(store.onDidChange((r) => (r === undefined ? attachLive() : undefined)));

  context.subscriptions.push(CheckpointEditorProvider.register(context, { log }));
  context.subscriptions.push(
    ConfigEditorProvider.register(context, {
      onStart: async (uri) => {
        await startRun(path.dirname(uri.fsPath));
      },
      isRunning: (uri) => {
        const r = store.byDir(path.dirname(uri.fsPath));
        return r?.status === 'running' || r?.status === 'stopping';
      },
      onDidChangeRunning: store.onDidChange,
      describeMethod: (id) => {
        const m = methods.all().find((x) => x.id === id);
        return m
          ? { name: m.name, paper: m.paper, year: m.year, keyIdea: m.keyIdea, paramKeys: m.paramKeys }
          : undefined;
      },
    }),
    // A charts tab restored on reload asks before the scan has listed the runs.
    ChartsPanel.registerSerializer(context, async (ids) => {
      await store.listed;
      return ids.flatMap((id) => {
        const r = store.get(id);
        return r ? [{ id: r.id, name: r.info.name, dir: r.dir }] : [];
      });
    }),
  );

  // ---- helpers -------------------------------------------------------------------------------

  const requireTrust = (): boolean => {
    if (vscode.workspace.isTrusted) return true;
    void vscode.window
      .showErrorMessage(
        'Contrastive Lab runs trainers only in a trusted workspace. Browsing runs and charts works without trust.',
        'Manage Workspace Trust',
      )
      .then((pick) => pick && vscode.commands.executeCommand('workbench.trust.manage'));
    return false;
  };

  /** The run an argument refers to: a tree node, a run id, a run folder, a config Uri, or the selection. */
  const runOf = async (arg: unknown, placeHolder = 'Select a run'): Promise<RunEntry | undefined> => {
    if (arg && typeof arg === 'object' && 'kind' in arg) {
      const n = arg as RunsNode;
      if (n.kind === 'run' || n.kind === 'checkpoint') return store.get(n.run.id) ?? n.run;
    }
    if (arg instanceof vscode.Uri) {
      const p = arg.fsPath;
      return store.byDir(path.basename(p) === RUN_FILES.config ? path.dirname(p) : p);
    }
    if (typeof arg === 'string') return store.get(arg) ?? store.byDir(arg);
    const sel = runsView.selection.find((n) => n.kind === 'run');
    if (sel && sel.kind === 'run') return store.get(sel.run.id);
    const pick = await vscode.window.showQuickPick(
      store
        .all()
        .map((r) => ({ label: r.info.name || r.id, description: `${r.status} · ${r.info.method}`, run: r })),
      { placeHolder },
    );
    return pick?.run;
  };

  const methodOf = async (arg: unknown): Promise<MethodInfo | undefined> => {
    if (arg && typeof arg === 'object' && 'method' in arg) return (arg as { method: MethodInfo }).method;
    if (typeof arg === 'string') return methods.all().find((m) => m.id === arg);
    const pick = await vscode.window.showQuickPick(
      methods.all().map((m) => ({
        label: m.name,
        description: `${m.venue} ${m.year} · ${m.family}`,
        detail: m.keyIdea,
        m,
      })),
      { placeHolder: 'Method of the new run', matchOnDetail: true },
    );
    return pick?.m;
  };

  const ensureRunsDir = (): string | undefined => {
    const dir = store.runsDir;
    if (!dir) void vscode.window.showErrorMessage('Open a folder first: runs live in its runs/ folder.');
    return dir;
  };

  const openConfig = async (dir: string) => {
    await vscode.commands.executeCommand(
      'vscode.openWith',
      vscode.Uri.file(path.join(dir, RUN_FILES.config)),
      ConfigEditorProvider.viewType,
    );
  };

  const newRun = async (arg?: unknown) => {
    if (!requireTrust()) return;
    const method = await methodOf(arg);
    const dir = method && ensureRunsDir();
    if (!method || !dir) return;
    const name = await vscode.window.showInputBox({
      prompt: `Name of the new ${method.name} run`,
      value: `${method.id}-${new Date().toISOString().slice(5, 16).replace(/[-T:]/g, '')}`,
      validateInput: (v) => (v.trim() ? undefined : 'A name is required'),
    });
    if (!name) return;
    const created = createRunFolder(dir, resolveConfig({ method: method.id }, 'laptop'), {
      name: name.trim(),
    });
    store.refresh(created.dir);
    await openConfig(created.dir);
    return created.dir;
  };

  const startRun = async (runDir: string, resume = false, checkpoint?: string) => {
    if (!requireTrust()) return;
    const entry = store.byDir(runDir);
    const label = entry?.info.name ?? path.basename(runDir);
    return vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: `${resume ? 'Resuming' : 'Starting'} ${label}`,
        cancellable: true,
      },
      async (progress, token) => {
        progress.report({ message: 'loading the dataset and building the model…' });
        try {
          const res = await client.start(resume ? { resumeDir: runDir, checkpoint } : { runDir }, token);
          store.refresh(res.runDir);
          ChartsPanel.show(context, [{ id: res.runId, name: label, dir: res.runDir }]);
          return res;
        } catch (e) {
          if (token.isCancellationRequested) return;
          const msg = (e as Error).message;
          void vscode.window
            .showErrorMessage(`Could not start ${label}: ${msg.split('\n')[0]}`, 'Show Log')
            .then((pick) => pick && log.show());
          log.error(msg);
        }
      },
    );
  };

  // A command run in the first moments after activation sees the listed runs, not an empty store.
  const reg = (id: string, fn: (...args: unknown[]) => unknown) =>
    context.subscriptions.push(
      vscode.commands.registerCommand(`contrastiveLab.${id}`, async (...args: unknown[]) => {
        if (!store.isListed) await store.listed;
        return fn(...args);
      }),
    );

  reg('newRun', (arg) => newRun(arg));
  reg('newRunFromMethod', (arg) => newRun(arg));
  reg('openMethod', async (arg) => {
    const m = await methodOf(arg);
    if (!m) return;
    const doc = await vscode.workspace.openTextDocument({ content: methodMarkdown(m), language: 'markdown' });
    await vscode.commands.executeCommand('markdown.showPreview', doc.uri);
  });
  reg('startRun', async (arg) => {
    const r = await runOf(arg, 'Run to start');
    if (!r) return;
    if (r.status !== 'queued') return startRun(r.dir, true);
    return startRun(r.dir);
  });
  reg('resumeRun', async (arg) => {
    const r = await runOf(arg, 'Run to resume');
    if (r) return startRun(r.dir, true);
  });
  reg('resumeFromCheckpoint', async (arg) => {
    const n = arg as RunsNode | undefined;
    if (n?.kind !== 'checkpoint') return;
    const r = store.get(n.run.id) ?? n.run;
    if (r.status === 'running' || r.status === 'stopping') {
      void vscode.window.showErrorMessage(
        `${r.info.name} is training; stop it before resuming from an earlier checkpoint.`,
      );
      return;
    }
    return startRun(r.dir, true, n.checkpoint.file);
  });
  reg('stopRun', async (arg) => {
    const r = await runOf(arg, 'Run to stop');
    if (!r) return;
    try {
      await client.stop(r.id, r.dir);
      void vscode.window.setStatusBarMessage(
        `Stopping ${r.info.name}: finishing the step and writing a checkpoint…`,
        5000,
      );
    } catch (e) {
      void vscode.window.showErrorMessage(`Could not stop ${r.info.name}: ${(e as Error).message}`);
    }
  });
  reg('duplicateRun', async (arg) => {
    const r = await runOf(arg, 'Run to duplicate');
    const dir = ensureRunsDir();
    if (!r || !dir) return;
    const config = readRunConfig(r.dir) as Parameters<typeof createRunFolder>[1];
    const created = createRunFolder(dir, config, { name: `${r.info.name} copy`, tags: r.info.tags });
    store.refresh(created.dir);
    await openConfig(created.dir);
  });
  reg('deleteRun', async (arg) => {
    const r = await runOf(arg, 'Run to delete');
    if (!r) return;
    if (r.status === 'running' || r.status === 'stopping') {
      void vscode.window.showErrorMessage(`${r.info.name} is training; stop it before deleting it.`);
      return;
    }
    const ok = await vscode.window.showWarningMessage(
      `Delete run ${r.info.name}? Its checkpoints and metrics go to the trash where possible.`,
      { modal: true },
      'Delete',
    );
    if (ok !== 'Delete') return;
    const uri = vscode.Uri.file(r.dir);
    try {
      await vscode.workspace.fs.delete(uri, { recursive: true, useTrash: true });
    } catch {
      await vscode.workspace.fs.delete(uri, { recursive: true, useTrash: false });
    }
    store.refresh(r.dir);
  });
  reg('renameRun', async (arg) => {
    const r = await runOf(arg, 'Run to rename');
    if (!r) return;
    const name = await vscode.window.showInputBox({ prompt: 'Run name', value: r.info.name });
    if (name?.trim()) {
      updateRunInfo(r.dir, { name: name.trim() });
      store.refresh(r.dir);
    }
  });
  reg('tagRun', async (arg) => {
    const r = await runOf(arg, 'Run to tag');
    if (!r) return;
    const text = await vscode.window.showInputBox({
      prompt: 'Tags, comma-separated',
      value: (r.info.tags ?? []).join(', '),
    });
    if (text !== undefined) {
      updateRunInfo(r.dir, {
        tags: text
          .split(',')
          .map((t) => t.trim())
          .filter(Boolean),
      });
      store.refresh(r.dir);
    }
  });
  reg('noteRun', async (arg) => {
    const r = await runOf(arg, 'Run to annotate');
    if (!r) return;
    const notes = await vscode.window.showInputBox({ prompt: 'Notes', value: r.info.notes ?? '' });
    if (notes !== undefined) {
      updateRunInfo(r.dir, { notes });
      store.refresh(r.dir);
    }
  });
  reg('openCharts', async (arg) => {
    const r = await runOf(arg, 'Run to chart');
    if (r) ChartsPanel.show(context, [{ id: r.id, name: r.info.name, dir: r.dir }]);
  });
  reg('compareRuns', async (...args) => {
    const fromTree = (args[1] as RunsNode[] | undefined)?.filter((n) => n.kind === 'run') ?? [];
    let picked: RunEntry[] = fromTree.map((n) => (n as { run: RunEntry }).run);
    if (picked.length < 2) {
      const items = await vscode.window.showQuickPick(
        store.all().map((r) => ({
          label: r.info.name || r.id,
          description: `${r.status} · ${r.info.method}`,
          run: r,
        })),
        { canPickMany: true, placeHolder: 'Runs to compare (two or more)' },
      );
      picked = items?.map((i) => i.run) ?? [];
    }
    if (picked.length)
      ChartsPanel.show(
        context,
        picked.map((r) => ({ id: r.id, name: r.info.name, dir: r.dir })),
      );
  });
  reg('openConfig', async (arg) => {
    const r = await runOf(arg, 'Run whose config to open');
    if (r) await openConfig(r.dir);
  });
  reg('showTrainerLog', async (arg) => {
    if (arg === undefined && !runsView.selection.length) return log.show();
    const r = await runOf(arg, 'Run whose log to show');
    if (!r) return;
    const file = path.join(r.dir, RUN_FILES.log);
    if (fs.existsSync(file)) await vscode.window.showTextDocument(vscode.Uri.file(file), { preview: true });
    else log.show();
  });
  reg('selectBackend', async () => {
    const cfg = vscode.workspace.getConfiguration('contrastiveLab');
    const items = [
      {
        label: 'auto',
        description: 'tensorflow-gpu, then tensorflow, then onnxruntime, then wasm, then cpu',
      },
      {
        label: 'tensorflow-gpu',
        description: 'CUDA via @tensorflow/tfjs-node-gpu (see Install GPU Backend)',
      },
      { label: 'tensorflow', description: 'native CPU via @tensorflow/tfjs-node' },
      {
        label: 'onnxruntime',
        description:
          'native CPU convolutions via onnxruntime-node, wasm for the rest (see Install Native CPU Kernels)',
      },
      { label: 'wasm', description: 'WebAssembly (XNNPACK, SIMD): portable' },
      { label: 'cpu', description: 'pure JavaScript: slow, a numeric reference' },
    ];
    const pick = await vscode.window.showQuickPick(items, {
      placeHolder: `Backend for new runs (now ${cfg.get('backend')})`,
    });
    if (pick) await cfg.update('backend', pick.label, vscode.ConfigurationTarget.Workspace);
  });
  reg('evaluateCheckpoint', (arg, protocol) => evaluateCheckpointCommand(evaluations, tools, arg, protocol));
  reg('showEmbeddings', (arg, opts) => showEmbeddingsCommand(tools, arg, opts));
  reg('exportMetrics', async (...args) => {
    // (runIds, target Uri) from code; (node, selected nodes) from the Runs view; else ask.
    let picked: RunEntry[] = [];
    let target: vscode.Uri | undefined;
    if (Array.isArray(args[0]) && args[0].every((x) => typeof x === 'string')) {
      picked = (args[0] as string[]).flatMap((id) => store.get(id) ?? store.byDir(id) ?? []);
      if (args[1] instanceof vscode.Uri) target = args[1];
    } else {
      const nodes = [...((args[1] as RunsNode[] | undefined) ?? []), args[0] as RunsNode | undefined];
      const seen = new Set<string>();
      for (const n of nodes)
        if (n && typeof n === 'object' && n.kind === 'run' && !seen.has(n.run.id) && seen.add(n.run.id))
          picked.push(store.get(n.run.id) ?? n.run);
    }
    if (!picked.length) {
      const items = await vscode.window.showQuickPick(
        store.all().map((r) => ({
          label: r.info.name || r.id,
          description: `${r.status} · ${r.info.method}`,
          run: r,
        })),
        { canPickMany: true, placeHolder: 'Runs whose metrics to export as CSV' },
      );
      picked = items?.map((i) => i.run) ?? [];
    }
    return exportMetricsCsv(
      picked.map((r) => ({ name: r.info.name || r.id, dir: r.dir })),
      target,
    );
  });
  reg('refreshRuns', () => store.rescan()[1]);
  reg('groupRunsByStatus', () => runs.setGrouping('status'));
  reg('groupRunsByMethod', () => runs.setGrouping('method'));
  reg('installGpuBackend', () =>
    requireTrust() ? installBackendPackage(context, log, GPU_PACKAGE) : undefined,
  );
  reg('installNativeKernels', () =>
    requireTrust() ? installBackendPackage(context, log, ORT_PACKAGE) : undefined,
  );

  runs.activatedAt = performance.now();
  return {
    loadedAt: typeof __CL_BUNDLE_START__ === 'number' ? __CL_BUNDLE_START__ : Number.NaN,
    store,
    client,
    methods,
    runs,
    evaluations,
    embeddingsPanelFor: (checkpoint) => EmbeddingsPanel.panelFor(checkpoint),
    ChartsPanel,
  };
}

export function deactivate(): void {
  // Trainers are detached and keep training; TrainerClient.dispose closed our ends of their pipes.
}
