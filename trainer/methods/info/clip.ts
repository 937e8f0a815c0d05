/** CLIP metadata and presets (no TensorFlow.js: the extension imports this). */
import type { MethodInfo } from '../types';

export const clipInfo: MethodInfo = {
  id: 'clip',
  name: 'CLIP',
  paper: 'Learning Transferable Visual Models From Natural Language Supervision',
  authors: 'Radford, Kim, Hallacy, Ramesh, Goh, Agarwal, Sastry, Askell, Mishkin, Clark, Krueger, Sutskever',
  venue: 'ICML',
  year: 2021,
  family: 'multimodal',
  keyIdea:
    'An image encoder and a text encoder trained together so that each image picks out its own caption among the batch and each caption its image (symmetric cross-entropy over the B x B similarity matrix, learnable temperature); class names in prompt templates then classify images zero-shot. Here the captions are the dataset\'s class names in templates such as "a photo of a {}.", drawn per image and step.',
  paramKeys: ['temperature', 'textWidth', 'textLayers', 'textHeads', 'captionTemplates'],
  positives: "the image's own caption (its class name in a randomly drawn template), in both directions",
  negatives:
    'the other B - 1 captions of the batch for each image, and the other B - 1 images for each caption; images of the same class get captions naming the same class yet count as negatives (false negatives, as in CLIP)',
  presets: {
    // CLIP ViT-B/32 (model.py; open_clip's training defaults "from the paper"): 12-layer, 512-wide,
    // 8-head causal text transformer, 512-d joint space, logit scale 1/0.07 clamped at 100,
    // RandomResizedCrop(0.9, 1) as the only augmentation, 32 epochs, batch 32,768. The image side is
    // ViT-B at patch 4, the usual adaptation of a /32 ViT at 224 px to 32-px images (an 8 x 8 grid);
    // the data are a classification dataset's images with captions from its class names.
    paper: {
      method: 'clip',
      params: { temperature: 0.07, textWidth: 512, textLayers: 12, textHeads: 8 },
      encoder: { arch: 'vit', width: 768, patchSize: 4, depth: 12, heads: 12 },
      head: { hidden: [], out: 512, outputBn: false },
      augment: {
        cropScale: [0.9, 1],
        flip: 0,
        colorJitter: { p: 0, brightness: 0, contrast: 0, saturation: 0, hue: 0 },
        grayscale: 0,
        blur: { p: 0, sigma: [0.1, 2] },
        solarize: { p: 0, threshold: 0.5 },
      },
      optimizer: { kind: 'sgd', lr: 5e-4, lrScaling: 'none', momentum: 0.9, weightDecay: 0.2 },
      schedule: { kind: 'cosine', warmupEpochs: 1 },
      training: { epochs: 32, batchSize: 32768 },
      eval: { knn: { every: 1, k: 200, temperature: 0.1 } },
    },
    laptop: {
      method: 'clip',
      params: { temperature: 0.07, textWidth: 64, textLayers: 2, textHeads: 4 },
      dataset: { kind: 'synthetic' },
      encoder: { arch: 'convnet', width: 16 },
      head: { hidden: [], out: 64, outputBn: false },
      augment: {
        cropScale: [0.9, 1],
        flip: 0,
        colorJitter: { p: 0, brightness: 0, contrast: 0, saturation: 0, hue: 0 },
        grayscale: 0,
        blur: { p: 0, sigma: [0.1, 2] },
        solarize: { p: 0, threshold: 0.5 },
      },
      optimizer: { kind: 'sgd', lr: 0.4, lrScaling: 'linear', momentum: 0.9, weightDecay: 5e-4 },
      schedule: { kind: 'cosine', warmupEpochs: 0 },
      training: { epochs: 3, batchSize: 64 },
      eval: { knn: { every: 1, k: 200, temperature: 0.1 } },
    },
  },
  laptopScaling: 'Not yet measured.',
};
