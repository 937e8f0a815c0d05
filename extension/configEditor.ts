/**
 * The config editor: a CustomTextEditor over `config.json` that shows a form. The text document
 * stays the source of truth (as in the VS Code "custom-editor-sample"): form edits become
 * WorkspaceEdits of the whole text and every document change is pushed back to the form, so
 * undo/redo, save, hot exit and diff behave as for any JSON file.
 *
 * Validation runs here, in the extension host: ajv compiles the schema with `new Function`, which
 * the webview's CSP (no 'unsafe-eval') rightly forbids.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { BASE_DEFAULTS, configSchema } from '../trainer/config/config';
import type { ConfigMethodSummary, ConfigStateMessage, ConfigWebviewMessage } from '../webview/contract';
import { configIssues, editedText, type JsonObject, parseConfigText, schemaKeyOrder } from './configEdit';
import { webviewHtml } from './webviewHtml';

export interface ConfigEditorOptions {
  /** Start (or resume) the run this config belongs to; called after the document is saved. */
  onStart: (configUri: vscode.Uri) => void | Promise<void>;
  /** Whether the run of this config is training now; the form then shows a banner. */
  isRunning?: (configUri: vscode.Uri) => boolean;
  /** Fires when any run's status may have changed, so open editors re-check `isRunning`. */
  onDidChangeRunning?: vscode.Event<unknown>;
  /** Name, paper and key idea of a method id, for the form's top bar. */
  describeMethod?: (id: string) => ConfigMethodSummary | undefined;
}

const keyOrder = schemaKeyOrder(configSchema);

export class ConfigEditorProvider implements vscode.CustomTextEditorProvider {
  static readonly viewType = 'contrastiveLab.configEditor';

  static register(context: vscode.ExtensionContext, opts: ConfigEditorOptions): vscode.Disposable {
    return vscode.window.registerCustomEditorProvider(
      ConfigEditorProvider.viewType,
      new ConfigEditorProvider(context.extensionUri, opts),
      { supportsMultipleEditorsPerDocument: true },
    );
  }

  /**
   * Form edits of one document, applied one after another: each reads the text the previous one
   * produced, so two quick edits never both start from the same old text and lose the first.
   */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly opts: ConfigEditorOptions,
  ) {}

  async resolveCustomTextEditor(document: vscode.TextDocument, panel: vscode.WebviewPanel): Promise<void> {
    const webview = panel.webview;
    webview.options = {
      enableScripts: true,
      localResourceRoots: [
        vscode.Uri.joinPath(this.extensionUri, 'dist', 'webview'),
        vscode.Uri.joinPath(this.extensionUri, 'media'),
      ],
    };
    webview.html = this.html(webview);

    let runName = await readRunName(document.uri);
    let lastRunning = this.opts.isRunning?.(document.uri) ?? false;
    const post = () => void webview.postMessage(this.state(document, runName));

    const subs: vscode.Disposable[] = [
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (e.document.uri.toString() === document.uri.toString() && e.contentChanges.length > 0) post();
      }),
      webview.onDidReceiveMessage((m: ConfigWebviewMessage) => this.onMessage(document, m, post)),
    ];
    if (this.opts.onDidChangeRunning) {
      subs.push(
        // Run-store changes arrive with every metrics line of any training run: re-send the state
        // only when what the form shows about the run (its name, running or not) changed, so a
        // user typing in a field is never interrupted by an unrelated update.
        this.opts.onDidChangeRunning(async () => {
          const name = await readRunName(document.uri);
          const running = this.opts.isRunning?.(document.uri) ?? false;
          if (name === runName && running === lastRunning) return;
          runName = name;
          lastRunning = running;
          post();
        }),
      );
    }
    panel.onDidDispose(() => {
      for (const s of subs) s.dispose();
    });
    // The webview also asks with `ready` once its script listens; this covers a fast load.
    post();
  }

  private state(document: vscode.TextDocument, runName: string): ConfigStateMessage {
    const { config, parseError } = parseConfigText(document.getText());
    const method = typeof config?.method === 'string' ? this.opts.describeMethod?.(config.method) : undefined;
    return {
      type: 'state',
      config,
      issues: config ? configIssues(config) : [],
      parseError,
      defaults: BASE_DEFAULTS as unknown as JsonObject,
      runName,
      running: this.opts.isRunning?.(document.uri) ?? false,
      method: method ?? null,
    };
  }

  private async onMessage(document: vscode.TextDocument, m: ConfigWebviewMessage, post: () => void) {
    switch (m.type) {
      case 'ready':
        post();
        return;
      case 'edit':
      case 'remove':
        return this.enqueue(document, async () => {
          const next = editedText(document.getText(), m, keyOrder);
          // Nothing changed in the data, but the form may show a different text: re-sync it.
          if (next === null) return post();
          const edit = new vscode.WorkspaceEdit();
          edit.replace(document.uri, new vscode.Range(0, 0, document.lineCount, 0), next);
          if (!(await vscode.workspace.applyEdit(edit))) throw new Error('VS Code refused the edit.');
        });
      case 'start':
        try {
          if (document.isDirty && !(await document.save())) {
            throw new Error(`${path.basename(document.uri.fsPath)} could not be saved.`);
          }
          await this.opts.onStart(document.uri);
        } catch (e) {
          void vscode.window.showErrorMessage(
            `Contrastive Lab: cannot start the run: ${(e as Error).message}`,
          );
        }
        return;
      case 'openText':
        await vscode.commands.executeCommand(
          'vscode.openWith',
          document.uri,
          'default',
          m.beside ? vscode.ViewColumn.Beside : undefined,
        );
        return;
    }
  }

  private enqueue(document: vscode.TextDocument, task: () => Promise<unknown>): Promise<unknown> {
    const key = document.uri.toString();
    const next = (this.queues.get(key) ?? Promise.resolve()).then(task).catch((e: Error) => {
      void vscode.window.showErrorMessage(`Contrastive Lab: ${e.message}`);
    });
    this.queues.set(key, next);
    void next.then(() => {
      if (this.queues.get(key) === next) this.queues.delete(key);
    });
    return next;
  }

  private html(webview: vscode.Webview): string {
    return webviewHtml(webview, this.extensionUri, {
      bundle: 'config',
      stylesheet: 'config.css',
      title: 'Run configuration',
    });
  }
}

/** The run's name from run.json beside the config, else the folder's name (the run id). */
async function readRunName(configUri: vscode.Uri): Promise<string> {
  const dir = configUri.with({ path: path.posix.dirname(configUri.path) });
  const fallback = path.posix.basename(dir.path);
  try {
    const bytes = await vscode.workspace.fs.readFile(vscode.Uri.joinPath(dir, 'run.json'));
    const info = JSON.parse(new TextDecoder().decode(bytes)) as { name?: unknown; id?: unknown };
    if (typeof info.name === 'string' && info.name) return info.name;
    if (typeof info.id === 'string' && info.id) return info.id;
  } catch {
    // A config outside a run folder (or a run.json mid-write) just shows the folder name.
  }
  return fallback;
}
