/**
 * "Show Embeddings": runs `contrastive-lab embed CHECKPOINT --out FILE --projection pca|both
 * --progress-json` as a worker process behind a cancellable progress notification, then opens the
 * embeddings view on the file. The file goes to `<run>/embeddings/` for checkpoints of a run folder
 * (so it travels with the run and is reused while newer than its checkpoint), else to the
 * extension's storage.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { EmbeddingFile, ToolProgress } from '../trainer/eval/contract';
import { embeddingsProblem } from '../webview/embeddings/points';
import { startToolWorker, ToolCancelledError } from './evalsWorker';
import { checkpointFileOf, pickCheckpointFile, runDirOf, type ToolHost, toolProcess } from './evaluate';

export const SHOW_EMBEDDINGS_COMMAND = 'contrastiveLab.showEmbeddings';

/** Where the embedding file of `checkpoint` is kept. */
export function embeddingsTarget(host: ToolHost, checkpoint: string): string {
  const base = path.basename(checkpoint).replace(/\.safetensors$/i, '');
  const run = runDirOf(checkpoint);
  if (run) return path.join(run, 'embeddings', `${base}.json`);
  const key = createHash('sha1').update(path.resolve(checkpoint)).digest('hex').slice(0, 12);
  return path.join(host.context.globalStorageUri.fsPath, 'embeddings', `${base}-${key}.json`);
}

/** Reads and checks an embedding file; the error names the file and the field at fault. */
export function readEmbeddingFile(file: string): EmbeddingFile {
  let v: unknown;
  try {
    v = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
  const problem = embeddingsProblem(v);
  if (problem) throw new Error(`${file} is not an embedding file: ${problem}`);
  return v as EmbeddingFile;
}

/** The file at `target` when it is newer than the checkpoint and has the projections wanted. */
export function cachedEmbeddings(
  target: string,
  checkpoint: string,
  umap: boolean,
): EmbeddingFile | undefined {
  try {
    if (fs.statSync(target).mtimeMs < fs.statSync(checkpoint).mtimeMs) return undefined;
    const f = readEmbeddingFile(target);
    return f.projections.pca && (!umap || f.projections.umap) ? f : undefined;
  } catch {
    return undefined;
  }
}

export interface ComputeOptions {
  umap: boolean;
  signal?: AbortSignal;
  onProgress?: (p: ToolProgress) => void;
}

/**
 * Runs the embed worker into a temporary name beside `target` and renames it into place, so a
 * cancelled or failed run never leaves a half file where the view would read it.
 */
export async function computeEmbeddings(
  host: ToolHost,
  checkpoint: string,
  target: string,
  opts: ComputeOptions,
): Promise<EmbeddingFile | undefined> {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = `${target}.${process.pid}.${Date.now()}.tmp`;
  const worker = startToolWorker({
    ...toolProcess(host),
    args: ['embed', checkpoint, '--out', tmp, '--projection', opts.umap ? 'both' : 'pca', '--progress-json'],
    cwd: path.dirname(checkpoint),
    signal: opts.signal,
    onProgress: opts.onProgress,
    onLog: (line) => host.log.trace(`[embed] ${line}`),
  });
  try {
    await worker.done;
    const f = readEmbeddingFile(tmp);
    fs.renameSync(tmp, target);
    return f;
  } catch (e) {
    if (e instanceof ToolCancelledError) return undefined;
    throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** Whether UMAP is computed along with PCA (it takes longer; the view can still ask for it). */
export function umapByDefault(): boolean {
  return vscode.workspace.getConfiguration('contrastiveLab').get<boolean>('embeddings.umap') ?? true;
}

export { checkpointFileOf, pickCheckpointFile };
