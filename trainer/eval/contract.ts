/**
 * The contract between checkpoint tools (evaluate, embed) and their users: the CLI, scripts on a
 * cluster, and the extension, which runs them as short-lived worker processes
 * (`contrastive-lab eval ... --progress-json`, `contrastive-lab embed ...`), reads progress lines
 * from stderr and the result from stdout or the output file, and cancels by killing the worker.
 *
 * Type-only: the extension and webviews import it without pulling in TensorFlow.js.
 */

export type EvalProtocol = 'knn' | 'linear' | 'zeroshot';

/** Name of the per-run file that evaluations append to (one EvalRecord per line). */
export const EVALS_FILE = 'evals.jsonl';

/** One line of a run's `evals.jsonl`, and the `--json` output of `contrastive-lab eval`. */
export interface EvalRecord {
  /** ISO time the evaluation finished. */
  time: string;
  /** Checkpoint file, relative to the run folder when it lies inside it, else absolute. */
  checkpoint: string;
  method: string;
  step: number;
  epoch: number;
  protocol: EvalProtocol;
  /** Top-1 accuracy on the test split, a fraction in [0, 1]. */
  top1: number;
  top5?: number;
  /**
   * Wang and Isola (2020) on L2-normalised test features (before any head): alignment is
   * E ||f(x) - f(x')||^2 over positive pairs (two augmented views, alpha = 2), uniformity is
   * log E exp(-2 ||f(x) - f(y)||^2) over all pairs (t = 2). Lower is better for both.
   */
  alignment?: number;
  uniformity?: number;
  /**
   * The protocol's settings (k, temperature; linear: optimizer 'lbfgs', weightDecay, iterations,
   * converged, trainTop1 ...; alignmentPoints). `randomInit: true` marks the random-init baseline
   * (`eval --random-init`): the checkpoint's architecture with its parameters as initialised, the
   * state its run started from, recorded at step 0.
   */
  options: Record<string, number | string | boolean>;
  dataset: { kind: string; train: number; test: number };
  backend: string;
  seconds: number;
}

/** A progress line written to stderr (one JSON object per line) with `--progress-json`. */
export interface ToolProgress {
  type: 'progress';
  /** Fraction done in [0, 1]. */
  fraction: number;
  message: string;
}

/** The file `contrastive-lab embed CHECKPOINT --out FILE.json` writes. */
export interface EmbeddingFile {
  format: 'contrastive-lab/embeddings';
  version: 1;
  checkpoint: string;
  method: string;
  step: number;
  epoch: number;
  classNames: string[];
  /** Test-split image index of each point; labels[i] is its class. */
  indices: number[];
  labels: number[];
  /** 2-D coordinates of each point, per projection computed. */
  projections: {
    pca?: { x: number[]; y: number[]; explainedVariance: [number, number] };
    umap?: { x: number[]; y: number[]; nNeighbors: number; minDist: number };
  };
  /**
   * The points' images for hover previews: uint8 pixels of every point in order (N x H x W x C,
   * row-major, values 0..255), base64.
   */
  images: { height: number; width: number; channels: number; pixelsBase64: string };
  /**
   * ViT checkpoints (DINO, MoCo v3): attention of the last block's [CLS] query over the patch grid,
   * per head, for the first few points. maps[i][h] is a gh x gw row-major array, summing to 1 (the
   * weight [CLS] puts on itself is left out and the rest renormalised, as DINO's visualisation does).
   */
  attention?: { points: number[]; heads: number; gridH: number; gridW: number; maps: number[][][] };
}
