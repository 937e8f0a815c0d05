/**
 * CPU priority for trainers and tools the editor spawns. Training saturates every core; at nice 10
 * the scheduler gives the editor's threads (extension host, webviews) about ten times the
 * trainer's weight whenever both want the CPU, and the trainer still gets every idle cycle.
 * (It did not cure the live-chart latency measured with an onnxruntime trainer: p95 415-591 ms
 * at either priority vs 87 ms with a wasm trainer, cause not isolated; see the README.)
 *
 * The extension asks for it through CONTRASTIVE_LAB_NICE; the process applies it to itself before
 * the backend starts, because on Linux niceness belongs to each thread and the compute threads
 * (wasm workers, ONNX Runtime's pool) inherit it only when created after.
 */
import * as os from 'node:os';

export const NICE_ENV_VAR = 'CONTRASTIVE_LAB_NICE';
export const EDITOR_TRAINER_NICE = 10;

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
