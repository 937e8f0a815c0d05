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
    // (patchGrid 7 gives 8-px patches at 32 px). Adam is AdamW with no weight decay.
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
      optimizer: { kind: 'adamw', lr: 2e-4, lrScaling: 'none', momentum: 0.9, beta2: 0.999, weightDecay: 0 },
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
      training: { epochs: 1, batchSize: 32 },
      eval: { knn: { every: 1, k: 200, temperature: 0.1 } },
    },
  },
  laptopScaling:
    "Paper recipe (256-px crops, 7 x 7 grid of 64-px patches with 32-px stride, ResNet-v2-101 per patch, PixelCNN context, 5 rows predicted, Adam lr 2e-4, batch 512) scaled to a CPU: the same 7 x 7 half-overlapping grid on the built-in 32-px images (8-px patches, 4-px stride; every image is 49 patches, so the encoder sees 49 x 64 = 3,136 pixels per image instead of 1,024), ConvNet of width 16 per patch (128-d encodings), a context network of 3 residual masked 3 x 3 convolution blocks (sees 6 rows above, the whole grid), 5 prediction steps that skip the half-overlapping next row (skipRows 1, offsets 2..6, as Greedy InfoMax; the paper's skipRows 0 is in the paper preset). Negatives: every other target patch of the step in the batch (1,120 candidates for step 1 at batch 32). The laptop run uses SGD momentum 0.9, lr 0.1 x B/256 = 0.0125 with cosine decay, wd 5e-4 (the paper preset keeps Adam). Batch 32 (1,568 patches per step), 1 epoch. Augmentation: the built-in dataset's colour recipe (full-strength jitter, grayscale always) on the whole image, crop scale 0.3-1; the patches of one image share it (CPC v2's per-patch augmentation is not implemented), so background brightness stays a cue shared by an image's patches. Measured (wasm, this preset = 1 epoch, 156 steps, on 2 cores shared with about 7 other jobs, load ~14): kNN top-1 13.9% at random init -> 18.6% after the epoch, 15 min 25 s wall (about 6 img/s under that load; the kNN pass over 6,000 images x 49 patches takes 30-45 s). Loss 24.5 at the first step (unnormalised scores z^T W c start large) -> 5.57 (mean of the last 10 steps; step 1 6.00 against ln 1120 = 7.02, step 5 4.66 against ln 224 = 5.41); contrastive accuracy 1.2% (chance 0.1-0.4%).",
};
