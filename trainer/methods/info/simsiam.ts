/** SimSiam metadata and presets (no TensorFlow.js: the extension imports this). */
import type { MethodInfo } from '../types';
import { BUILTIN_COLOUR_RECIPE } from './laptop';

export const simsiamInfo: MethodInfo = {
  id: 'simsiam',
  name: 'SimSiam',
  paper: 'Exploring Simple Siamese Representation Learning',
  authors: 'Chen, He',
  venue: 'CVPR',
  year: 2021,
  family: 'no negatives',
  keyIdea:
    "One shared network; a predictor maps each view's projection onto the other view's, which is held constant (stop-gradient). The stop-gradient alone prevents collapse: no negatives, no momentum encoder, no large batch.",
  paramKeys: ['predictorHidden', 'stopGradient', 'fixPredictorLr'],
  positives: 'the projection of the other augmented view (stop-gradient)',
  negatives: 'none',
  presets: {
    // facebookresearch/simsiam main_simsiam.py recommended command (ResNet-50, batch 512, SGD
    // 0.05 x B/256, momentum 0.9, wd 1e-4 on every parameter, cosine, --fix-pred-lr, projector
    // 3 x 2048 ending in BN(affine False), predictor 2048 -> 512 -> 2048). ResNet-50 is not
    // available: CIFAR ResNet-18 at width 64 (512-d features). From the paper's CIFAR appendix:
    // 800 epochs and no blur (32 px images); its lr 0.03 and wd 5e-4 are not used here.
    paper: {
      method: 'simsiam',
      params: { predictorHidden: 512, stopGradient: true, fixPredictorLr: true },
      encoder: { arch: 'resnet18', width: 64 },
      head: { hidden: [2048, 2048], out: 2048, outputBn: true },
      augment: {
        cropScale: [0.2, 1],
        colorJitter: { p: 0.8, brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 },
        grayscale: 0.2,
        blur: { p: 0, sigma: [0.1, 2] },
        solarize: { p: 0, threshold: 0.5 },
      },
      optimizer: {
        kind: 'sgd',
        lr: 0.05,
        lrScaling: 'linear',
        momentum: 0.9,
        weightDecay: 1e-4,
        excludeBiasAndNorm: false,
      },
      schedule: { kind: 'cosine', warmupEpochs: 0 },
      training: { epochs: 800, batchSize: 512 },
      eval: { knn: { every: 10, k: 200, temperature: 0.1 } },
    },
    laptop: {
      method: 'simsiam',
      params: { predictorHidden: 64, stopGradient: true, fixPredictorLr: true },
      dataset: { kind: 'synthetic' },
      encoder: { arch: 'convnet', width: 16 },
      head: { hidden: [256, 256], out: 256, outputBn: true },
      augment: {
        cropScale: [0.3, 1],
        ...BUILTIN_COLOUR_RECIPE,
        blur: { p: 0, sigma: [0.1, 2] },
        solarize: { p: 0, threshold: 0.5 },
      },
      optimizer: {
        kind: 'sgd',
        lr: 0.5,
        lrScaling: 'linear',
        momentum: 0.9,
        weightDecay: 1e-4,
        excludeBiasAndNorm: false,
      },
      schedule: { kind: 'cosine', warmupEpochs: 0 },
      training: { epochs: 10, batchSize: 64 },
      eval: { knn: { every: 1, k: 200, temperature: 0.1 } },
    },
  },
  laptopScaling:
    "Paper recipe (ResNet-50, projector 3 x 2048 ending in BN without affine, predictor 2048 -> 512 -> 2048, SGD 0.05 x B/256, wd 1e-4, batch 512, cosine, --fix-pred-lr) scaled to a CPU: ConvNet of width 16 (128-d features), projector 128 -> 256 -> 256 -> 256 with the same BN layout, predictor 256 -> 64 -> 256 (the paper's 4:1 bottleneck), batch 64, 10 epochs on the built-in 5,000-image dataset (78 steps per epoch, 780 in all). lr 0.5 x B/256 = 0.125 (momentum 0.9, wd 1e-4 on every parameter as the official code, the predictor at that lr throughout): the paper's 0.05 x B/256 = 0.0125 barely moves in 780 steps (loss -0.17 and kNN 14.9% after 192 steps), and 1.0 x B/256 with wd 5e-4 was no better (17.1% after 3 epochs). Colour recipe of the built-in dataset (SimCLR laptop preset: jitter 0.8/0.8/0.8/0.2 with p 0.8, grayscale always, crop 0.3-1) instead of MoCo v2's: its colours are random, so colour left in the views identifies the instance. No blur, as the paper's CIFAR recipe. Measured on wasm (this preset, seed 0): kNN top-1 13.7% at random init -> 17.4% (epoch 3), 17.9% (epoch 6), 17.9% (epoch 10); loss -0.02 -> -0.54; collapse_std 0.062 throughout (1/sqrt(256) = 0.0625). SimSiam is a slow starter (methods reference section 5) and stays far behind SimCLR (35.5% after 192 steps) at this length.",
};
