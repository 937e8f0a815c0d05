/**
 * The benchmarked SimCLR step's configuration, shared by our side (trainer-step.ts) and, through
 * the command line it is given, the PyTorch side (simclr_step.py), so both build the same model.
 */
import { BASE_DEFAULTS, deepMerge } from '../trainer/config/config';
import type { RunConfig } from '../trainer/config/types';

export type BenchModel = 'convnet' | 'resnet18';
export const BENCH_MODELS: readonly BenchModel[] = ['convnet', 'resnet18'];

/**
 * ConvNet: the trainer's default encoder and head (width 32, head 256 -> 128 with output BN).
 * ResNet-18: SimCLR's CIFAR recipe (width 64, head 512 -> 128 with output BN).
 * Both: SGD with momentum 0.9, weight decay 5e-4 off biases and norms, NT-Xent tau 0.5.
 */
export function benchConfig(model: BenchModel): RunConfig {
  return deepMerge<RunConfig>(BASE_DEFAULTS, {
    method: 'simclr-v1',
    encoder: model === 'convnet' ? { arch: 'convnet', width: 32 } : { arch: 'resnet18', width: 64 },
    head:
      model === 'convnet'
        ? { hidden: [256], out: 128, outputBn: true }
        : { hidden: [512], out: 128, outputBn: true },
    optimizer: { kind: 'sgd', momentum: 0.9, weightDecay: 5e-4, excludeBiasAndNorm: true },
  });
}

/** Normalisation both sides apply to inputs (the exact values do not change the cost). */
export const BENCH_NORM = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };

/** Arguments for simclr_step.py that describe the same model and step. */
export function torchArgs(model: BenchModel, cfg: RunConfig): string[] {
  return [
    '--model',
    model,
    '--width',
    String(cfg.encoder.width),
    '--hidden',
    cfg.head.hidden.join(','),
    '--out',
    String(cfg.head.out),
    '--temperature',
    String(cfg.params.temperature),
    '--lr',
    String(cfg.optimizer.lr),
    '--momentum',
    String(cfg.optimizer.momentum),
    '--weight-decay',
    String(cfg.optimizer.weightDecay),
  ];
}
