/**
 * Messages between the embeddings panel (`extension/embeddingsPanel.ts`) and its webview
 * (`webview/embeddings/main.ts`). Types and guards only: the webview bundle pulls in nothing from
 * Node. Names carry an `Embeddings` prefix because `webview/contract.ts` re-exports every webview's
 * messages into one namespace.
 */
import type { EmbeddingFile } from '../../trainer/eval/contract';

export type EmbeddingsData = EmbeddingFile;
export type EmbeddingsProjection = 'pca' | 'umap';

export const EMBEDDINGS_VIEW_TYPE = 'contrastiveLab.embeddings';

// ---- extension -> webview -------------------------------------------------------------------

/** The embedding file to draw; sent again in answer to every `ready`. */
export interface EmbeddingsDataMessage {
  type: 'embeddings';
  data: EmbeddingsData;
  /** Where the file lies (shown, and useful to open it). */
  file: string;
}

/** The embed worker is running (the view shows a bar; the notification has the cancel button). */
export interface EmbeddingsProgressMessage {
  type: 'progress';
  fraction: number;
  message: string;
}

/** Computing or reading failed, or was cancelled (`cancelled`: not an error, a note). */
export interface EmbeddingsErrorMessage {
  type: 'error';
  message: string;
  cancelled?: boolean;
}

export type EmbeddingsToWebview = EmbeddingsDataMessage | EmbeddingsProgressMessage | EmbeddingsErrorMessage;

// ---- webview -> extension -------------------------------------------------------------------

export type EmbeddingsFromWebview =
  | { type: 'ready' }
  /** Compute again, with UMAP too when `umap` (the UMAP toggle asks for it when the file lacks it). */
  | { type: 'recompute'; umap: boolean }
  | { type: 'webviewError'; text: string };

export function isEmbeddingsFromWebview(msg: unknown): msg is EmbeddingsFromWebview {
  if (typeof msg !== 'object' || msg === null) return false;
  const m = msg as { type?: unknown; umap?: unknown; text?: unknown };
  switch (m.type) {
    case 'ready':
      return true;
    case 'recompute':
      return typeof m.umap === 'boolean';
    case 'webviewError':
      return typeof m.text === 'string';
    default:
      return false;
  }
}

export function isEmbeddingsToWebview(msg: unknown): msg is EmbeddingsToWebview {
  if (typeof msg !== 'object' || msg === null) return false;
  const m = msg as { type?: unknown; data?: unknown; file?: unknown; fraction?: unknown; message?: unknown };
  switch (m.type) {
    case 'embeddings':
      return typeof m.data === 'object' && m.data !== null && typeof m.file === 'string';
    case 'progress':
      return typeof m.fraction === 'number' && typeof m.message === 'string';
    case 'error':
      return typeof m.message === 'string';
    default:
      return false;
  }
}
