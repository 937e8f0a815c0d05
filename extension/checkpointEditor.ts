/**
 * The checkpoint inspector: a read-only custom editor for `.safetensors` files, inside or outside
 * any run folder.
 *
 * The header (metadata, names, shapes, dtypes) is read here in the extension host: it is small and
 * bounded, so the table appears at once. Statistics need every byte of the file, so a worker
 * process computes them (`node dist/trainer.js inspect --json --progress -- FILE`, no shell) with a
 * cancellable progress notification; the extension host never holds the tensors. In an untrusted
 * workspace nothing is executed, so the editor stays with the header-only view and says why.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { readSafetensorsHeader } from '../trainer/checkpoint/safetensors';
import { InspectCancelledError, type Inspection, inspectHeader } from '../trainer/inspect/inspect';
import { runInspectWorker } from '../trainer/inspect/worker';
import {
  CHECKPOINT_VIEW_TYPE,
  type CheckpointInspectionMessage,
  type CheckpointToWebview,
  isCheckpointFromWebview,
} from '../webview/contract';
import { webviewHtml } from './webviewHtml';

export const INSPECT_CHECKPOINT_COMMAND = 'contrastiveLab.inspectCheckpoint';

export interface CheckpointEditorOptions {
  /** Where worker failures and webview errors are logged. */
  log?: vscode.LogOutputChannel;
}

/** Before this, a quick inspection finishes without a notification flashing up. */
const NOTIFY_AFTER_MS = 300;

const UNTRUSTED_NOTE =
  'Restricted mode: names, shapes, dtypes and metadata come from the file header. Statistics and ' +
  'histograms are computed by a worker process, and Contrastive Lab runs no process in an untrusted ' +
  'workspace.';

class CheckpointDocument implements vscode.CustomDocument {
  constructor(readonly uri: vscode.Uri) {}
  dispose(): void {}
}

export class CheckpointEditorProvider implements vscode.CustomReadonlyEditorProvider<CheckpointDocument> {
  static readonly viewType = CHECKPOINT_VIEW_TYPE;

  /** The editor and the `contrastiveLab.inspectCheckpoint` command. */
  static register(context: vscode.ExtensionContext, opts: CheckpointEditorOptions = {}): vscode.Disposable {
    const provider = new CheckpointEditorProvider(context.extensionUri, opts);
    return vscode.Disposable.from(
      vscode.window.registerCustomEditorProvider(CheckpointEditorProvider.viewType, provider, {
        supportsMultipleEditorsPerDocument: false,
      }),
      vscode.commands.registerCommand(INSPECT_CHECKPOINT_COMMAND, (arg?: unknown) => openCheckpoint(arg)),
    );
  }

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly opts: CheckpointEditorOptions,
  ) {}

  openCustomDocument(uri: vscode.Uri): CheckpointDocument {
    return new CheckpointDocument(uri);
  }

  resolveCustomEditor(document: CheckpointDocument, panel: vscode.WebviewPanel): void {
    panel.webview.options = {
      enableScripts: true,
      localResourceRoots: [
        vscode.Uri.joinPath(this.extensionUri, 'dist', 'webview'),
        vscode.Uri.joinPath(this.extensionUri, 'media'),
      ],
    };
    panel.webview.html = webviewHtml(panel.webview, this.extensionUri, {
      bundle: 'checkpoint',
      stylesheet: 'checkpoint.css',
      title: path.basename(document.uri.fsPath),
    });
    new InspectorSession(
      document.uri,
      panel,
      vscode.Uri.joinPath(this.extensionUri, 'dist', 'trainer.js').fsPath,
      this.opts,
    );
  }
}

/** One open editor: what it has sent, the running worker, the watchers. */
class InspectorSession {
  private readonly file: string;
  private readonly disposables: vscode.Disposable[] = [];
  /** Replayed on `ready`: a hidden webview is rebuilt from scratch. */
  private last: CheckpointInspectionMessage | undefined;
  private lastError: string | undefined;
  private lastProgress: { done: number; total: number } | undefined;
  private worker: AbortController | undefined;
  private header: Inspection | undefined;
  private reloadTimer: ReturnType<typeof setTimeout> | undefined;
  private generation = 0;
  private disposed = false;

  constructor(
    private readonly uri: vscode.Uri,
    private readonly panel: vscode.WebviewPanel,
    private readonly trainerJs: string,
    private readonly opts: CheckpointEditorOptions,
  ) {
    this.file = uri.fsPath;
    this.disposables.push(
      panel.webview.onDidReceiveMessage((m) => this.onMessage(m)),
      panel.onDidDispose(() => this.dispose()),
      vscode.workspace.onDidGrantWorkspaceTrust(() => {
        if (this.header && !this.last?.data.statsComputed) void this.computeStats();
      }),
    );
    this.watch();
    void this.load();
  }

  private watch(): void {
    try {
      const dir = vscode.Uri.file(path.dirname(this.file));
      const w = vscode.workspace.createFileSystemWatcher(
        new vscode.RelativePattern(dir, path.basename(this.file)),
      );
      // Checkpoints are written to a temporary name and renamed: a change arrives as delete + create.
      const later = () => {
        clearTimeout(this.reloadTimer);
        this.reloadTimer = setTimeout(() => void this.load(), 300);
      };
      this.disposables.push(w, w.onDidChange(later), w.onDidCreate(later), w.onDidDelete(later));
    } catch {
      // Some file systems refuse watchers; the editor then shows the file as it was opened.
    }
  }

  /** Reads the header (here), shows it, then asks the worker for statistics. */
  private async load(): Promise<void> {
    const gen = ++this.generation;
    this.worker?.abort();
    this.worker = undefined;
    if (this.uri.scheme !== 'file') {
      this.postError(`Only files on disk can be inspected (this one is on '${this.uri.scheme}').`);
      return;
    }
    let header: Inspection;
    try {
      header = inspectHeader(this.file, await readSafetensorsHeader(this.file));
    } catch (e) {
      if (gen === this.generation) this.postError(messageOf(e));
      return;
    }
    if (gen !== this.generation || this.disposed) return;
    this.header = header;
    this.lastError = undefined;
    if (!vscode.workspace.isTrusted) {
      this.postInspection({ type: 'inspection', data: header, pending: false, note: UNTRUSTED_NOTE });
      return;
    }
    await this.computeStats();
  }

  private async computeStats(): Promise<void> {
    const header = this.header;
    if (!header || this.disposed) return;
    if (!vscode.workspace.isTrusted) {
      this.postInspection({ type: 'inspection', data: header, pending: false, note: UNTRUSTED_NOTE });
      return;
    }
    this.worker?.abort();
    const ctrl = new AbortController();
    this.worker = ctrl;
    const gen = this.generation;
    this.lastError = undefined;
    this.lastProgress = undefined;
    this.postInspection({ type: 'inspection', data: header, pending: true });

    let reportProgress: ((done: number, total: number) => void) | undefined;
    const onProgress = (done: number, total: number) => {
      if (ctrl.signal.aborted) return;
      this.lastProgress = { done, total };
      this.post({ type: 'progress', done, total });
      reportProgress?.(done, total);
    };
    const run = runInspectWorker({
      nodePath: process.execPath,
      script: this.trainerJs,
      file: this.file,
      cwd: path.dirname(this.file),
      signal: ctrl.signal,
      onProgress,
    });
    const notify = setTimeout(() => {
      if (ctrl.signal.aborted) return;
      void vscode.window.withProgress(
        {
          location: vscode.ProgressLocation.Notification,
          title: `Inspecting ${path.basename(this.file)}`,
          cancellable: true,
        },
        (progress, token) => {
          token.onCancellationRequested(() => ctrl.abort());
          let shown = 0;
          reportProgress = (done, total) => {
            const pct = total > 0 ? (100 * done) / total : 0;
            if (pct > shown) progress.report({ increment: pct - shown, message: `${Math.floor(pct)}%` });
            shown = Math.max(shown, pct);
          };
          if (this.lastProgress) reportProgress(this.lastProgress.done, this.lastProgress.total);
          return run.then(
            () => undefined,
            () => undefined,
          );
        },
      );
    }, NOTIFY_AFTER_MS);

    try {
      const data = await run;
      if (gen !== this.generation || this.worker !== ctrl) return;
      this.postInspection({ type: 'inspection', data, pending: false });
    } catch (e) {
      if (gen !== this.generation || this.worker !== ctrl) return;
      if (e instanceof InspectCancelledError) {
        this.postInspection({
          type: 'inspection',
          data: header,
          pending: false,
          note: 'Statistics were cancelled.',
          canCompute: true,
        });
      } else {
        this.opts.log?.warn(`inspecting ${this.file} failed: ${messageOf(e)}`);
        this.postError(`Statistics could not be computed: ${messageOf(e)}`);
      }
    } finally {
      clearTimeout(notify);
      if (this.worker === ctrl) this.worker = undefined;
    }
  }

  private async onMessage(m: unknown): Promise<void> {
    if (!isCheckpointFromWebview(m)) return;
    switch (m.type) {
      case 'ready':
        if (this.last) this.post(this.last);
        if (this.last?.pending && this.lastProgress) this.post({ type: 'progress', ...this.lastProgress });
        if (this.lastError !== undefined) this.post({ type: 'error', message: this.lastError });
        return;
      case 'compute':
        if (!vscode.workspace.isTrusted) {
          const pick = await vscode.window.showWarningMessage(
            'Checkpoint statistics are computed by a worker process, which Contrastive Lab runs only in a trusted workspace.',
            'Manage Workspace Trust',
          );
          if (pick) await vscode.commands.executeCommand('workbench.trust.manage');
          return;
        }
        if (this.header) await this.computeStats();
        else await this.load();
        return;
      case 'openRunConfig': {
        const config = runConfigOf(this.file);
        if (config) await vscode.commands.executeCommand('vscode.open', vscode.Uri.file(config));
        return;
      }
      case 'evaluate':
        await vscode.commands.executeCommand('contrastiveLab.evaluateCheckpoint', this.uri);
        return;
      case 'embed':
        await vscode.commands.executeCommand('contrastiveLab.showEmbeddings', this.uri);
        return;
      case 'webviewError':
        this.opts.log?.error(`[checkpoint webview] ${m.text}`);
        return;
    }
  }

  private postInspection(msg: CheckpointInspectionMessage): void {
    this.last = { ...msg, hasRunConfig: runConfigOf(this.file) !== undefined };
    this.lastError = undefined;
    this.post(this.last);
  }

  private postError(message: string): void {
    this.lastError = message;
    if (this.last) this.last = { ...this.last, pending: false };
    this.post({ type: 'error', message });
  }

  private post(msg: CheckpointToWebview): void {
    if (!this.disposed) void this.panel.webview.postMessage(msg);
  }

  private dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.worker?.abort();
    clearTimeout(this.reloadTimer);
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}

function messageOf(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (typeof err?.code === 'string' && /^E[A-Z]+$/.test(err.code))
    return `Cannot read the file: ${err.message}`;
  return err instanceof Error ? err.message : String(e);
}

/** `<run>/config.json` when `file` is `<run>/checkpoints/<name>.safetensors` and the config exists. */
function runConfigOf(file: string): string | undefined {
  const dir = path.dirname(file);
  if (path.basename(dir) !== 'checkpoints') return undefined;
  const config = path.join(path.dirname(dir), 'config.json');
  return fs.existsSync(config) ? config : undefined;
}

/**
 * `contrastiveLab.inspectCheckpoint`: opens the inspector on a Uri, a path, or a tree item that
 * carries one (`resourceUri`, `uri`, `file`, `path`); without one, asks for a file.
 */
async function openCheckpoint(arg?: unknown): Promise<void> {
  let uri = uriOf(arg);
  if (!uri) {
    const picked = await vscode.window.showOpenDialog({
      canSelectMany: false,
      openLabel: 'Inspect',
      title: 'Inspect a checkpoint',
      filters: { Safetensors: ['safetensors'] },
      defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
    });
    uri = picked?.[0];
  }
  if (uri) await vscode.commands.executeCommand('vscode.openWith', uri, CHECKPOINT_VIEW_TYPE);
}

function uriOf(arg: unknown): vscode.Uri | undefined {
  if (arg instanceof vscode.Uri) return arg;
  if (typeof arg === 'string' && arg) return vscode.Uri.file(arg);
  if (typeof arg === 'object' && arg !== null) {
    const o = arg as Record<string, unknown>;
    for (const k of ['resourceUri', 'uri', 'file', 'path', 'fsPath']) {
      const u = uriOf(o[k]);
      if (u) return u;
    }
  }
  return undefined;
}
