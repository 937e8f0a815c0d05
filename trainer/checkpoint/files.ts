/** Checkpoint file names and listing (no TensorFlow.js: the extension imports this). */
import * as fs from 'node:fs';
import * as path from 'node:path';

export function checkpointFileName(step: number): string {
  return `step-${String(step).padStart(8, '0')}.safetensors`;
}

/** Checkpoint files of a run, oldest first. */
export function listCheckpoints(runDir: string): { file: string; step: number }[] {
  const dir = path.join(runDir, 'checkpoints');
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    // No checkpoints folder yet: one failed call instead of a stat before every listing.
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw e;
  }
  return names
    .map((f) => ({ f, m: /^step-(\d+)\.safetensors$/.exec(f) }))
    .filter((x) => x.m)
    .map((x) => ({ file: path.join(dir, x.f), step: Number(x.m![1]) }))
    .sort((a, b) => a.step - b.step);
}
