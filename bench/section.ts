/** What a benchmark section is: bench/run.ts runs every section in SECTIONS (bench/sections.ts). */

export interface BenchOptions {
  /** Models for model-level sections (empty: each section's default). */
  models: string[];
  /** Images per view. */
  batch: number;
  /** Thread counts to compare at (ours and PyTorch alike). */
  threads: number[];
  /** Our backends to run ('wasm', 'cpu', 'tensorflow'...). */
  backends: string[];
  /** Whether to run the PyTorch reference. */
  pytorch: boolean;
  warmup?: number;
  steps?: number;
  /** Print per-kernel time shares of one step. */
  profile: boolean;
}

export interface SectionResult {
  /** Goes under the section's name in `--json` output. */
  data: unknown;
  /** Human-readable report. */
  text: string;
}

export interface BenchSection {
  name: string;
  description: string;
  run(opts: BenchOptions, log: (msg: string) => void): Promise<SectionResult>;
}
