/** SimSiam metadata and presets (no TensorFlow.js: the extension imports this). */
import type { MethodInfo } from '../types';

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
        colorJitter: { p: 0.8, brightness: 0.8, contrast: 0.8, saturation: 0.8, hue: 0.2 },
        grayscale: 1,
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
      training: { epochs: 10, batchSize: 64 },
      eval: { knn: { every: 1, k: 200, temperature: 0.1 } },
    },
  },
  laptopScaling:
    'Paper recipe (ResNet-50 -> CIFAR ResNet-18 width 64 here; SGD 0.05 x B/256, wd 1e-4, batch 512, cosine, 3-layer 2048-d projector ending in a non-affine BN, predictor 2048 -> 512 -> 2048 at a fixed lr) scaled to a CPU: ConvNet width 16, projector and predictor hidden widths reduced, batch 64, the built-in dataset colour recipe of simclr-v1 laptop (jitter 0.8/0.8/0.8/0.2, grayscale always), stop-gradient and the fixed predictor lr kept. SimSiam is a slow starter (reference 2.4): its short laptop runs learn less than SimCLR in the same time.',
};
