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
    // RandomResizedCrop(0.9, 1) as the only augmentation, AdamW lr 5e-4 (beta2 0.98 for ViTs, decoupled
    // wd 0.2, not on biases, gains or the scale), cosine schedule, 32 epochs, batch 32,768. The warm-up
    // of 2,000 iterations is 0.16 of an epoch of the paper's 400M pairs. The image side is ViT-B at
    // patch 4, the usual adaptation of a /32 ViT at 224 px to 32-px images (an 8 x 8 grid); the data
    // are a classification dataset's images with captions from its class names. Not reproduced:
    // AdamW eps 1e-6 (the optimizer's is 1e-8), QuickGELU, mixed precision, the BPE vocabulary.
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
      optimizer: { kind: 'adamw', lr: 5e-4, lrScaling: 'none', momentum: 0.9, beta2: 0.98, weightDecay: 0.2 },
      schedule: { kind: 'cosine', warmupEpochs: 0.16 },
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
      optimizer: { kind: 'adamw', lr: 2e-3, lrScaling: 'none', momentum: 0.9, beta2: 0.98, weightDecay: 0.1 },
      schedule: { kind: 'cosine', warmupEpochs: 0 },
      training: { epochs: 3, batchSize: 64 },
      eval: { knn: { every: 1, k: 200, temperature: 0.1 } },
    },
  },
  laptopScaling:
    'Paper recipe (ViT-B/32 image encoder, 12 x 512 text transformer, 512-d joint space, AdamW lr 5e-4, wd 0.2, batch 32,768, 32 epochs on 400M image-text pairs) scaled to a CPU: ConvNet of width 16 (128-d features), a 2-block, 64-wide, 4-head causal text transformer over the word vocabulary of the 24 templates and 10 class names (39 tokens with the four special ones, context 13), 64-d joint space, batch 64, AdamW lr 2e-3 (beta2 0.98, decoupled wd 0.1, no lr scaling, no warm-up, cosine), 3 epochs on the built-in 5,000-image dataset (78 steps per epoch, 234 in all). Initial temperature 0.07 (scale 14.29, clamped at 100) as in the paper. Augmentation as in the paper: RandomResizedCrop(0.9-1) only, no flip and no colour distortion; the colour shortcut that forces the other methods onto full-strength jitter does not help here, since captions name the shape class and colours are independent of it. Positives are same-index image-caption pairs; with 10 classes a batch of 64 holds about 6 images per class whose captions name the same class, so the loss cannot fall much below ln 6 (it starts near ln 64 = 4.16). Measured on wasm (2 threads, a loaded 2-core machine, seed 0): 6 min 47 s; loss 4.68 -> 3.55 (it sits at ln 64 for about 100 steps, then falls); kNN top-1 13.7% at random init -> 15.4% (epoch 1), 34.8% (epoch 2), 41.2% (epoch 3); zero-shot top-1 35.0% (top-5 93.5%) against 10.0% for the random init (chance 10%). SGD (lr 0.4 x B/256, momentum 0.9) stayed at ln 64 for the first 48 steps and was not pursued: the paper trains with Adam.',
};
