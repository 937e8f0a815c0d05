/** DINO metadata and presets (no TensorFlow.js: the extension imports this). */
import type { MethodInfo } from '../types';
import { BUILTIN_COLOUR_RECIPE } from './laptop';

export const dinoInfo: MethodInfo = {
  id: 'dino',
  name: 'DINO',
  paper: 'Emerging Properties in Self-Supervised Vision Transformers',
  authors: 'Caron, Touvron, Misra, Jégou, Mairal, Bojanowski, Joulin',
  venue: 'ICCV',
  year: 2021,
  family: 'transformers',
  keyIdea:
    'Self-distillation without labels: a student matches the output distribution of a momentum (EMA) teacher across crops; the teacher sees only global crops, the student also small ones, and centring plus a sharp teacher temperature keep it from collapsing. With ViTs, the [CLS] attention segments objects.',
  paramKeys: [
    'prototypes',
    'temperature',
    'teacherTemperature',
    'warmupTeacherTemperature',
    'warmupTeacherEpochs',
    'centerMomentum',
    'momentum',
    'momentumSchedule',
    'normLastLayer',
    'freezeLastLayerEpochs',
    'localCrops',
    'localCropSize',
    'localCropScale',
  ],
  positives: "the teacher's centred, sharpened output distribution for the image's other global crops",
  negatives: 'none: centring and sharpening of the teacher prevent collapse',
  presets: {
    // facebookresearch/dino main_dino.py defaults with ViT-S/16 (README: 100 epochs, 2 x 224 +
    // 8 x 96 crops, batch 64 x 16 GPUs, AdamW lr 0.0005 x B/256 after 10 warm-up epochs, wd 0.04,
    // teacher momentum 0.996 cosine to 1, K = 65536, head 2048-2048-256). The weight-decay cosine
    // 0.04 -> 0.4, gradient clipping at 3.0, drop-path 0.1 and bicubic position-embedding
    // interpolation are not available here (wd stays 0.04; see dino.ts).
    paper: {
      method: 'dino',
      params: {
        prototypes: 65536,
        temperature: 0.1,
        teacherTemperature: 0.04,
        warmupTeacherTemperature: 0.04,
        warmupTeacherEpochs: 0,
        centerMomentum: 0.9,
        momentum: 0.996,
        momentumSchedule: 'cosine',
        normLastLayer: true,
        freezeLastLayerEpochs: 1,
        localCrops: 8,
        localCropSize: 96,
        localCropScale: [0.05, 0.4],
      },
      encoder: {
        arch: 'vit',
        width: 384,
        patchSize: 16,
        depth: 12,
        heads: 6,
        mlpRatio: 4,
        posEmbed: 'learned',
      },
      head: { hidden: [2048, 2048], out: 256, outputBn: false },
      augment: {
        size: 224,
        cropScale: [0.4, 1],
        colorJitter: { p: 0.8, brightness: 0.4, contrast: 0.4, saturation: 0.2, hue: 0.1 },
        grayscale: 0.2,
        // Per-crop probabilities (global 1: blur 1.0; global 2: blur 0.1, solarize 0.2; small
        // crops: blur 0.5) replace these p values; sigma and threshold are used as given.
        blur: { p: 0, sigma: [0.1, 2] },
        solarize: { p: 0, threshold: 0.5 },
      },
      optimizer: {
        kind: 'adamw',
        lr: 0.0005,
        lrScaling: 'linear',
        momentum: 0.9,
        beta2: 0.999,
        weightDecay: 0.04,
        excludeBiasAndNorm: true,
      },
      schedule: { kind: 'cosine', warmupEpochs: 10 },
      training: { epochs: 100, batchSize: 1024 },
      eval: { knn: { every: 10, k: 20, temperature: 0.07 } },
    },
    laptop: {
      method: 'dino',
      params: {
        prototypes: 1024,
        temperature: 0.1,
        teacherTemperature: 0.04,
        warmupTeacherTemperature: 0.04,
        warmupTeacherEpochs: 0,
        centerMomentum: 0.9,
        momentum: 0.99,
        momentumSchedule: 'cosine',
        normLastLayer: true,
        freezeLastLayerEpochs: 1,
        localCrops: 4,
        localCropSize: 16,
        localCropScale: [0.05, 0.4],
      },
      dataset: { kind: 'synthetic' },
      encoder: { arch: 'convnet', width: 16 },
      head: { hidden: [256, 256], out: 64, outputBn: false },
      augment: {
        cropScale: [0.4, 1],
        ...BUILTIN_COLOUR_RECIPE,
        blur: { p: 0, sigma: [0.1, 2] },
        solarize: { p: 0, threshold: 0.5 },
      },
      optimizer: { kind: 'sgd', lr: 0.12, lrScaling: 'linear', momentum: 0.9, weightDecay: 5e-4 },
      schedule: { kind: 'cosine', warmupEpochs: 0 },
      training: { epochs: 2, batchSize: 64 },
      eval: { knn: { every: 1, k: 200, temperature: 0.1 } },
    },
  },
  laptopScaling:
    "Paper recipe (ViT-S/16, 2 x 224 + 8 x 96 crops, head 2048-2048-256 -> K = 65536, AdamW lr 0.0005 x B/256 after 10 warm-up epochs, wd 0.04 -> 0.4, teacher momentum 0.996 cosine to 1, tau_t 0.04, tau_s 0.1, batch 1024, 100 epochs) scaled to a CPU. Backbone: ConvNet of width 16 (128-d features), not a ViT: a tiny ViT (width 64, depth 4, patch 4) under DINO's multi-crop did not even finish the random-init kNN within 10 minutes on this project's loaded 2-core machine (wasm); the method runs on encoder.arch 'vit' (paper preset, attention maps) and 'resnet18' as well. Optimizer: the official ResNet recipe for a convnet, SGD instead of AdamW, lr 0.12 x B/256 = 0.03 (lightly's CIFAR DINO: 0.06 x B/128), momentum 0.9, wd 5e-4, no warm-up; AdamW at 5e-4 gave the same early teacher-entropy trajectory. Head 128 -> 256 -> 256 -> 64 (bottleneck) -> K = 1024; 2 x 32 px global crops (scale 0.4-1) + 4 x 16 px small crops (scale 0.05-0.4, 16/32 close to the paper's 96/224), DINO's per-crop blur/solarize (3-px kernel at 32 px, none at 16 px); teacher momentum 0.99 (cosine to 1) instead of 0.996 for 156 steps; batch 64, 2 epochs on the built-in 5,000-image dataset with its colour recipe (jitter 0.8/0.8/0.8/0.2, grayscale always). Measured (wasm, this preset, seed 0, 2 epochs = 156 steps, 19 min 54 s on the 2-core machine shared with about eight other trainings; a few minutes when idle): kNN top-1 of the teacher backbone 14.4% at random init -> 17.3% after epoch 1 -> 16.9% after epoch 2 (1 epoch alone, cosine over 78 steps: 18.2%). Dynamics (metrics teacher_entropy, kl): after the first step the teacher's entropy falls to about 0 (every image on the same output dimension: the random network maps all images into a narrow cone), centring undoes it within about 10 steps, after which the teacher sits near the uniform distribution (entropy 6.91 of ln 1024 = 6.93) while KL(P_t || P_s) falls from 2.0 to 0.18: at this scale centring dominates sharpening, the uniform-collapse side the paper describes, so the gain comes from the first epoch; longer runs need a lower teacher temperature or the paper's lr warm-up, not measured here.",
};
