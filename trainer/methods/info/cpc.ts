/** CPC metadata and presets (no TensorFlow.js: the extension imports this). */
import type { MethodInfo } from '../types';
import { BUILTIN_COLOUR_RECIPE } from './laptop';

export const cpcInfo: MethodInfo = {
  id: 'cpc',
  name: 'CPC',
  paper: 'Representation Learning with Contrastive Predictive Coding',
  authors: 'van den Oord, Li, Vinyals',
  venue: 'arXiv',
  year: 2018,
  family: 'end-to-end',
  keyIdea:
    'Cut each image into a grid of overlapping patches, encode every patch, summarise the rows above with a causal (PixelCNN-style) context network and predict the encodings of the rows below with one linear map per step; InfoNCE picks the true patch among the other patches of the batch.',
  paramKeys: ['patchGrid', 'predictionSteps', 'skipRows', 'contextBlocks'],
  positives: 'the encoding of the patch k rows below the context position, in the same image',
  negatives:
    'the encodings of every other patch of that step in the batch (other positions and other images)',
  presets: {
    // Paper (image experiments): 256-px crops cut into a 7 x 7 grid of 64-px patches with a 32-px
    // stride, ResNet-v2-101 per patch (ResNet-18 here), PixelCNN-style context, 5 rows predicted,
    // Adam lr 2e-4, batch 16 x 32 GPUs, random crops, flips and grayscale. The grid is scale-free
    // (patchGrid 7 gives 8-px patches at 32 px). Adam is not among this trainer's optimizers: SGD
    // with momentum instead (see laptopScaling).
    paper: {
      method: 'cpc',
      params: { patchGrid: 7, predictionSteps: 5, skipRows: 0, contextBlocks: 3 },
      encoder: { arch: 'resnet18', width: 64 },
      augment: {
        cropScale: [0.3, 1],
        colorJitter: { p: 0, brightness: 0, contrast: 0, saturation: 0, hue: 0 },
        grayscale: 0.25,
        blur: { p: 0, sigma: [0.1, 2] },
      },
      optimizer: {
        kind: 'sgd',
        lr: 0.03,
        lrScaling: 'linear',
        momentum: 0.9,
        weightDecay: 1e-4,
        excludeBiasAndNorm: true,
      },
      schedule: { kind: 'cosine', warmupEpochs: 0 },
      training: { epochs: 100, batchSize: 512 },
      eval: { knn: { every: 10, k: 200, temperature: 0.1 } },
    },
    laptop: {
      method: 'cpc',
      params: { patchGrid: 7, predictionSteps: 5, skipRows: 1, contextBlocks: 3 },
      dataset: { kind: 'synthetic' },
      encoder: { arch: 'convnet', width: 16 },
      augment: {
        cropScale: [0.3, 1],
        ...BUILTIN_COLOUR_RECIPE,
        blur: { p: 0, sigma: [0.1, 2] },
      },
      optimizer: {
        kind: 'sgd',
        lr: 0.1,
        lrScaling: 'linear',
        momentum: 0.9,
        weightDecay: 5e-4,
        excludeBiasAndNorm: true,
      },
      schedule: { kind: 'cosine', warmupEpochs: 0 },
      training: { epochs: 4, batchSize: 32 },
      eval: { knn: { every: 1, k: 200, temperature: 0.1 } },
    },
  },
  laptopScaling: 'not yet measured',
};
