/** Learning-rate schedules, as pure functions of the step (per-iteration, as the papers do). */
import type { OptimizerConfig, ScheduleConfig } from '../config/types';

/** Base lr scaled for the batch size: SimCLR's linear (lr x B/256) or square-root (lr x sqrt(B)) rule. */
export function scaledLr(opt: OptimizerConfig, batchSize: number): number {
  switch (opt.lrScaling) {
    case 'linear':
      return (opt.lr * batchSize) / 256;
    case 'sqrt':
      return opt.lr * Math.sqrt(batchSize);
    case 'none':
      return opt.lr;
  }
}

/**
 * Linear warm-up from lr/warmupSteps to the peak over `warmupSteps`, then cosine decay to 0 at
 * `totalSteps` (or constant).
 */
export function learningRate(
  step: number,
  peak: number,
  sched: ScheduleConfig,
  stepsPerEpoch: number,
  totalSteps: number,
): number {
  const warmupSteps = Math.round(sched.warmupEpochs * stepsPerEpoch);
  if (step < warmupSteps) return (peak * (step + 1)) / warmupSteps;
  if (sched.kind === 'constant') return peak;
  const span = Math.max(1, totalSteps - warmupSteps);
  const t = Math.min(1, (step - warmupSteps) / span);
  return 0.5 * peak * (1 + Math.cos(Math.PI * t));
}
