/**
 * The embeddings view of one checkpoint: a webview panel fed from an embedding file, which the
 * embed worker (re)computes on request with a cancellable progress notification.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { EmbeddingFile } from '../trainer/eval/contract';
import {
  EMBEDDINGS_VIEW_TYPE,
  type EmbeddingsToWebview,
  isEmbeddingsFromWebview,
} from '../webview/embeddings/messages';
import {
  cachedEmbeddings,
  checkpointFileOf,
  computeEmbeddings,
  embeddingsTarget,
  pickCheckpointFile,
  umapByDefault,
} from './embeddings';
import type { ToolHost } from './evaluate';
import { webviewHtml } from './webviewHtml';

export class EmbeddingsPanel {
  /** Open panels by checkpoint file, so asking again reveals the panel. */
  private static readonly open = new Map<string, EmbeddingsPanel>();

  static show(host: ToolHost, checkpoint: string): EmbeddingsPanel {
    const key = path.resolve(checkpoint);
    const existing = EmbeddingsPanel.open.get(key);
    if (existing) {
      existing.panel.reveal();
      return existing;
    }
    const root = host.context.extensionUri;
    const panel = vscode.window.createWebviewPanel(
      EMBEDDINGS_VIEW_TYPE,
      `Embeddings: ${path.basename(checkpoint)}`,
      vscode.ViewColumn.Active,
      {
        enableScripts: true,
        retainContextWhenHidden: false,
        localResourceRoots: [
          vscode.Uri.joinPath(root, 'dist', 'webview'),
          vscode.Uri.joinPath(root, 'media'),
        ],
      },
    );
    panel.webview.html = webviewHtml(panel.webview, root, {
      bundle: 'embeddings',
      stylesheet: 'embeddings.css',
      title: `Embeddings: ${path.basename(checkpoint)}`,
    });
    return new EmbeddingsPanel(host, panel, key);
  }

  static panelFor(checkpoint: string): EmbeddingsPanel | undefined {
    return EmbeddingsPanel.open.get(path.resolve(checkpoint));
  }

  /** Replayed on `ready` (a hidden webview is rebuilt): the data, then any progress or error after it. */
  private dataMsg: EmbeddingsToWebview | undefined;
  private statusMsg: EmbeddingsToWebview | undefined;
  /** The file shown now, if any (tests read it). */
  data: EmbeddingFile | undefined;
  private worker: AbortController | undefined;
  private disposed = false;
  private readonly disposables: vscode.Disposable[] = [];

  private constructor(
    private readonly host: ToolHost,
    readonly panel: vscode.WebviewPanel,
    readonly checkpoint: string,
  ) {
    EmbeddingsPanel.open.set(checkpoint, this);
    this.disposables.push(
      panel.webview.onDidReceiveMessage((m) => this.onMessage(m)),
      panel.onDidDispose(() => this.dispose()),
    );
  }

  /**
   * Shows the cached file when it is current, else computes it. Resolves true once data is shown,
   * false when cancelled or failed (the view says why).
   */
  async load(opts: { umap?: boolean; force?: boolean } = {}): Promise<boolean> {
    const umap = opts.umap ?? umapByDefault();
    const target = embeddingsTarget(this.host, this.checkpoint);
    const cached = opts.force ? undefined : cachedEmbeddings(target, this.checkpoint, umap);
    if (cached) {
      this.showData(cached, target);
      return true;
    }
    this.worker?.abort();
    const ctrl = new AbortController();
    this.worker = ctrl;
    const name = path.basename(this.checkpoint);
    try {
      const file = await vscode.window.withProgress(
        {
          location: vscode.ProgressLocation.Notification,
          title: `Embedding the test images with ${name}${umap ? ' (PCA and UMAP)' : ''}`,
          cancellable: true,
        },
        (progress, token) => {
          token.onCancellationRequested(() => ctrl.abort());
          let shown = 0;
          return computeEmbeddings(this.host, this.checkpoint, target, {
            umap,
            signal: ctrl.signal,
            onProgress: (p) => {
              const pct = 100 * p.fraction;
              progress.report({ increment: Math.max(0, pct - shown), message: p.message });
              shown = Math.max(shown, pct);
              this.post({ type: 'progress', fraction: p.fraction, message: p.message });
            },
          });
        },
      );
      if (this.disposed) return false;
      if (!file) {
        this.post({ type: 'error', message: 'Computing the embeddings was cancelled.', cancelled: true });
        return false;
      }
      this.showData(file, target);
      return true;
    } catch (e) {
      const msg = (e as Error).message;
      this.host.log.error(`embedding ${this.checkpoint} failed: ${msg}`);
      this.post({ type: 'error', message: `The embeddings could not be computed: ${msg}` });
      void vscode.window.showErrorMessage(`Show Embeddings failed for ${name}: ${msg.split('\n')[0]}`);
      return false;
    } finally {
      if (this.worker === ctrl) this.worker = undefined;
    }
  }

  /** Kills a running embed worker (what the notification's cancel does). */
  cancel(): void {
    this.worker?.abort();
  }

  private showData(data: EmbeddingFile, file: string): void {
    this.data = data;
    this.statusMsg = undefined;
    this.dataMsg = { type: 'embeddings', data, file };
    this.post(this.dataMsg);
  }

  private async onMessage(m: unknown): Promise<void> {
    if (!isEmbeddingsFromWebview(m)) return;
    switch (m.type) {
      case 'ready':
        for (const msg of [this.dataMsg, this.statusMsg]) if (msg) void this.panel.webview.postMessage(msg);
        return;
      case 'recompute':
        await this.load({ umap: m.umap, force: true });
        return;
      case 'webviewError':
        this.host.log.error(`[embeddings webview] ${m.text}`);
        return;
    }
  }

  private post(msg: EmbeddingsToWebview): void {
    if (msg.type !== 'embeddings') this.statusMsg = msg;
    if (!this.disposed) void this.panel.webview.postMessage(msg);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.worker?.abort();
    if (EmbeddingsPanel.open.get(this.checkpoint) === this) EmbeddingsPanel.open.delete(this.checkpoint);
    for (const d of this.disposables.splice(0)) d.dispose();
    this.panel.dispose();
  }
}

/**
 * The command: `(checkpoint?, {umap?, force?})`. Opens (or reveals) the view and loads it; resolves
 * with the panel once data is shown or loading ended.
 */
export async function showEmbeddingsCommand(
  host: ToolHost,
  arg?: unknown,
  opts?: unknown,
): Promise<EmbeddingsPanel | undefined> {
  if (!vscode.workspace.isTrusted) {
    void vscode.window.showErrorMessage(
      'Embeddings are computed by a worker process, which Contrastive Lab runs only in a trusted workspace.',
    );
    return undefined;
  }
  const file = checkpointFileOf(arg) ?? (await pickCheckpointFile('Show the embeddings of a checkpoint'));
  if (!file) return undefined;
  const o = (typeof opts === 'object' && opts !== null ? opts : {}) as { umap?: unknown; force?: unknown };
  const panel = EmbeddingsPanel.show(host, file);
  await panel.load({
    umap: typeof o.umap === 'boolean' ? o.umap : undefined,
    force: o.force === true,
  });
  return panel;
}
