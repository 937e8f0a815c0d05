/**
 * CPU priority for trainers and tools the editor spawns. Training saturates every core; at nice 10
 * the scheduler gives the editor's threads (extension host, webviews) about ten times the
 * trainer's weight whenever both want the CPU, and the trainer still gets every idle cycle.
 * (Alone it did not keep the live charts smooth; see editorTrainerEnv.)
 *
 * The extension asks for it through CONTRASTIVE_LAB_NICE; the process applies it to itself before
 * the backend starts, because on Linux niceness belongs to each thread and the compute threads
 * (wasm workers, ONNX Runtime's pool) inherit it only when created after.
 */
import * as os from 'node:os';

export const NICE_ENV_VAR = 'CONTRASTIVE_LAB_NICE';
export const EDITOR_TRAINER_NICE = 10;
/** Compute threads of the trainer's backend (read by trainer/backend/wasm-threads.ts). */
export const THREADS_ENV_VAR = 'CONTRASTIVE_LAB_THREADS';

/**
 * What a trainer or tool process spawned by the editor adds to its environment: the lower
 * priority, and one core left to the editor unless the user chose a thread count. Niceness alone
 * did not keep the UI smooth: with an onnxruntime trainer on both cores of a 2-core machine the
 * live row -> chart p95 was 415-591 ms; with the trainer on 1 thread, 173 ms (bench section
 * "extension", 2026-12-07). Benchmarks and the CLI keep every core.
 */
export function editorTrainerEnv(env: NodeJS.ProcessEnv, cores: number): Record<string, string> {
  const out: Record<string, string> = { [NICE_ENV_VAR]: String(EDITOR_TRAINER_NICE) };
  if ((env[THREADS_ENV_VAR] ?? '').trim() === '') out[THREADS_ENV_VAR] = String(Math.max(1, cores - 1));
  return out;
}

/** Lowers this process's priority to the value in `env` (never raises it); returns a problem or null. */
export function applyNiceFromEnv(env: NodeJS.ProcessEnv = process.env): string | null {
  const raw = env[NICE_ENV_VAR];
  if (raw === undefined || raw.trim() === '') return null;
  const nice = Number(raw);
  if (!Number.isInteger(nice) || nice < -20 || nice > 19)
    return `${NICE_ENV_VAR}: expected an integer from -20 to 19, got '${raw}'`;
  try {
    if (os.getPriority() < nice) os.setPriority(nice);
    return null;
  } catch (e) {
    return `${NICE_ENV_VAR}: could not set priority ${nice} (${(e as Error).message})`;
  }
}
