/** BYOL metadata and presets (no TensorFlow.js: the extension imports this). */
import type { MethodInfo } from '../types';

export const byolInfo: MethodInfo = {
  id: 'byol',
  name: 'BYOL',
  paper: 'Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning',
  authors:
    'Grill, Strub, Altché, Tallec, Richemond, Buchatskaya, Doersch, Avila Pires, Guo, Gheshlaghi Azar, Piot, Kavukcuoglu, Munos, Valko',
  venue: 'NeurIPS',
  year: 2020,
  family: 'no negatives',
  keyIdea:
    "An online network with a predictor regresses a slowly moving (EMA) target network's projection of the other view; the predictor and the EMA target keep it from collapsing without any negatives.",
  paramKeys: ['momentum', 'momentumSchedule', 'predictorHidden'],
  positives: "the target network's projection of the other augmented view",
  negatives: 'none',
  presets: {
    // google-deepmind/deepmind-research byol/configs/byol.py, 1000-epoch setting (ResNet-50, batch
    // 4096 on TPUs). ResNet-50 is not available: CIFAR ResNet-18 at width 64 with the paper's
    // hyper-parameters (LARS eta 1e-3, base lr 0.2 x B/256, wd 1.5e-6, biases and BN excluded,
    // 10 warm-up epochs then cosine, tau_base 0.996 cosine to 1, projector and predictor
    // 4096 -> 256). Batch 512 as the SimCLR paper preset: 4096 does not fit one device here.
    paper: {
      method: 'byol',
      params: { momentum: 0.996, momentumSchedule: 'cosine', predictorHidden: 4096 },
      encoder: { arch: 'resnet18', width: 64 },
      head: { hidden: [4096], out: 256, outputBn: false },
      augment: {
        cropScale: [0.08, 1],
        colorJitter: { p: 0.8, brightness: 0.4, contrast: 0.4, saturation: 0.2, hue: 0.1 },
        grayscale: 0.2,
        // Per-view probabilities (view 1 blur 1.0 / solarize 0, view 2 blur 0.1 / solarize 0.2)
        // replace these p values; sigma and threshold are used as given.
        blur: { p: 0, sigma: [0.1, 2] },
        solarize: { p: 0, threshold: 0.5 },
      },
      optimizer: {
        kind: 'lars',
        lr: 0.2,
        lrScaling: 'linear',
        momentum: 0.9,
        weightDecay: 1.5e-6,
        trustCoefficient: 0.001,
        excludeBiasAndNorm: true,
      },
      schedule: { kind: 'cosine', warmupEpochs: 10 },
      training: { epochs: 1000, batchSize: 512 },
      eval: { knn: { every: 10, k: 200, temperature: 0.1 } },
    },
    laptop: {
      method: 'byol',
      params: { momentum: 0.99, momentumSchedule: 'cosine', predictorHidden: 512 },
      dataset: { kind: 'synthetic' },
      encoder: { arch: 'convnet', width: 16 },
      head: { hidden: [512], out: 64, outputBn: false },
      augment: {
        cropScale: [0.3, 1],
        colorJitter: { p: 0.8, brightness: 0.8, contrast: 0.8, saturation: 0.8, hue: 0.2 },
        grayscale: 1,
        blur: { p: 0, sigma: [0.1, 2] },
        solarize: { p: 0, threshold: 0.5 },
      },
      optimizer: { kind: 'sgd', lr: 0.5, lrScaling: 'linear', momentum: 0.9, weightDecay: 5e-4 },
      schedule: { kind: 'cosine', warmupEpochs: 0 },
      training: { epochs: 10, batchSize: 64 },
      eval: { knn: { every: 1, k: 200, temperature: 0.1 } },
    },
  },
  laptopScaling:
    'Paper recipe (ResNet-50 -> CIFAR ResNet-18 width 64 here; LARS base lr 0.2 x B/256, wd 1.5e-6, 10 warm-up epochs, cosine; projector and predictor 4096 -> 256; tau_base 0.996 rising to 1 by cosine) scaled to a CPU: ConvNet width 16, projector and predictor 512 -> 64, batch 64, SGD lr 0.5 x B/256 with wd 5e-4 (LARS at batch 64 adds little), tau_base 0.99 because a 10-epoch run has too few steps for 0.996 to let the target move, and the built-in dataset colour recipe of simclr-v1 laptop (jitter 0.8/0.8/0.8/0.2, grayscale always). The asymmetric blur/solarize of the paper is kept through viewAugment with the blur probability from the config.',
};
