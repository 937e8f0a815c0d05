/** InvaSpread metadata and presets (no TensorFlow.js: the extension imports this). */
import type { MethodInfo } from '../types';
import { BUILTIN_COLOUR_RECIPE } from './laptop';

export const invaspreadInfo: MethodInfo = {
  id: 'invaspread',
  name: 'InvaSpread',
  paper: 'Unsupervised Embedding Learning via Invariant and Spreading Instance Feature',
  authors: 'Ye, Zhang, Yuen, Chang',
  venue: 'CVPR',
  year: 2019,
  family: 'end-to-end',
  keyIdea:
    'Instance discrimination inside the batch, with no memory bank: the two augmented views of an image must be similar (invariance) and unlike every other instance of the batch (spreading), through a non-parametric softmax over the 2B current features.',
  paramKeys: ['temperature'],
  positives: 'the other augmented view of the same image',
  negatives: 'the 2B-2 other features in the batch (both views of every other image)',
  presets: {
    // mangye16/Unsupervised_Embedding_Learning demo_seen.py (CIFAR-10): ResNet-18, fc 128 + L2
    // norm, tau 0.1, SGD lr 0.03 at batch 128 (momentum 0.9, wd 5e-4, drop_last), RRC 0.2-1,
    // ColorJitter(0.4, 0.4, 0.4, 0.4) always, grayscale 0.2, flip. Its step schedule (x0.1 from
    // epoch 120) is not available: cosine over 300 epochs. kNN k 200, sigma = tau.
    paper: {
      method: 'invaspread',
      params: { temperature: 0.1 },
      encoder: { arch: 'resnet18', width: 64 },
      head: { hidden: [], out: 128, outputBn: false },
      augment: {
        cropScale: [0.2, 1],
        colorJitter: { p: 1, brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.4 },
        grayscale: 0.2,
        blur: { p: 0, sigma: [0.1, 2] },
      },
      optimizer: {
        kind: 'sgd',
        lr: 0.06,
        lrScaling: 'linear',
        momentum: 0.9,
        weightDecay: 5e-4,
        excludeBiasAndNorm: false,
      },
      schedule: { kind: 'cosine', warmupEpochs: 0 },
      training: { epochs: 300, batchSize: 128 },
      eval: { knn: { every: 10, k: 200, temperature: 0.1 } },
    },
    laptop: {
      method: 'invaspread',
      params: { temperature: 0.1 },
      dataset: { kind: 'synthetic' },
      encoder: { arch: 'convnet', width: 16 },
      head: { hidden: [], out: 128, outputBn: false },
      augment: {
        cropScale: [0.3, 1],
        ...BUILTIN_COLOUR_RECIPE,
        blur: { p: 0, sigma: [0.1, 2] },
      },
      optimizer: {
        kind: 'sgd',
        lr: 0.5,
        lrScaling: 'linear',
        momentum: 0.9,
        weightDecay: 5e-4,
        excludeBiasAndNorm: false,
      },
      schedule: { kind: 'cosine', warmupEpochs: 0 },
      training: { epochs: 10, batchSize: 64 },
      eval: { knn: { every: 1, k: 200, temperature: 0.1 } },
    },
  },
  laptopScaling:
    "demo_seen.py's CIFAR recipe (ResNet-18, fc to 128, tau 0.1, SGD lr 0.03 at batch 128, wd 5e-4, 300 epochs) scaled to a CPU: ConvNet of width 16 with the linear head to 128-d, batch 64 (126 negatives per anchor), on the built-in 5,000-image dataset (78 steps per epoch). SGD lr 0.5 x B/256 = 0.125 as the other laptop presets (the paper's 0.03 x 64/128 = 0.015 is too slow for a few epochs). Colour recipe of the built-in dataset (SimCLR laptop preset: jitter 0.8/0.8/0.8/0.2 with p 0.8, grayscale always, crop 0.3-1) instead of the paper's jitter 0.4 with grayscale 0.2: its colours are random, so colour left in the views identifies the instance. Measured on wasm (this preset with --epochs 3, seed 0, 234 steps, on a heavily loaded 2-core machine): kNN top-1 13.7% at random init -> 16.6% (epoch 1), 18.0% (epoch 2), 18.2% (epoch 3); loss 7.0 -> 5.7; 11 min 43 s. The 10-epoch preset was not run end to end.",
};
