/**
 * Messages between the config editor (`extension/configEditor.ts`) and its webview
 * (`webview/config/main.ts`). The document is the source of truth: the extension pushes its
 * parsed state, the webview asks for edits and never changes anything itself.
 */
import type { ConfigIssue } from '../../trainer/config/config';

export type { ConfigIssue };

/** What the top bar shows about the selected method, when the extension knows it. */
export interface ConfigMethodSummary {
  name: string;
  paper: string;
  year: number;
  keyIdea: string;
  /** The method's hyper-parameters (keys of `params`): the form shows these. */
  paramKeys: string[];
}

/** The document as the form should show it; sent on open, on `ready` and after every change. */
export interface ConfigStateMessage {
  type: 'state';
  /** The parsed document; null when the text is not a JSON object (see `parseError`). */
  config: Record<string, unknown> | null;
  /** Schema and cross-field problems, each with the dotted path of its field. */
  issues: ConfigIssue[];
  /** Why the text could not be parsed, with line and column; null when it parsed. */
  parseError: string | null;
  /** Values the trainer falls back to for absent fields; the form shows them marked "default". */
  defaults: Record<string, unknown>;
  /** Run folder name (or run.json `name`), for the top bar. */
  runName: string;
  /** The run is training now: edits still apply, but only to the next resume. */
  running: boolean;
  method: ConfigMethodSummary | null;
}

export type ExtensionToConfigMessage = ConfigStateMessage;

export type ConfigWebviewMessage =
  /** Sent once the script listens, so a state posted before it loaded is never lost. */
  | { type: 'ready' }
  /** Set the value at `path` (keys from the root), creating missing parent objects. */
  | { type: 'edit'; path: string[]; value: unknown }
  /** Delete the key at `path` so the trainer's default applies. */
  | { type: 'remove'; path: string[] }
  /** Save if dirty, then start (or resume) the run this config belongs to. */
  | { type: 'start' }
  /** Open the raw JSON in the text editor; `beside` keeps the form open next to it. */
  | { type: 'openText'; beside: boolean };
