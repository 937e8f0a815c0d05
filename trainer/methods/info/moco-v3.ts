/** MoCo v3 metadata and presets (no TensorFlow.js: the extension imports this). */
import type { MethodInfo } from '../types';
import { BUILTIN_COLOUR_RECIPE } from './laptop';

export const mocoV3Info: MethodInfo = {
  id: 'moco-v3',
  name: 'MoCo v3',
  paper: 'An Empirical Study of Training Self-Supervised Vision Transformers',
  authors: 'Chen, Xie, He',
  venue: 'ICCV',
  year: 2021,
  family: 'transformers',
  keyIdea:
    "MoCo without a queue, for Vision Transformers: a query network with a predictor must pick out, among the batch's keys from a momentum copy, the key of the image's other view (symmetric InfoNCE scaled by 2 tau); a frozen random patch projection keeps ViT training stable.",
  paramKeys: ['temperature', 'momentum', 'momentumSchedule', 'predictorHidden', 'freezePatchEmbed'],
  positives: "the momentum network's projection of the other augmented view of the same image",
  negatives: "the momentum network's projections of the other images in the batch (no queue)",
  presets: {
    // facebookresearch/moco-v3 CONFIG.md, ViT-Small single-node recipe: ViT-S/16 (384-d, 12 blocks,
    // 12 heads, fixed sin-cos positions, --stop-grad-conv1), projector 3 layers 384 -> 4096 ->
    // 4096 -> 256 with a final BN, predictor 256 -> 4096 -> 256 with a final BN, tau 0.2, m 0.99
    // cosine to 1, AdamW lr 1.5e-4 x B/256 with wd 0.1 on every tensor, 40 warm-up epochs then
    // cosine, 300 epochs, batch 1024, 224-pixel crops (scale 0.08-1).
    paper: {
      method: 'moco-v3',
      params: {
        temperature: 0.2,
        momentum: 0.99,
        momentumSchedule: 'cosine',
        predictorHidden: 4096,
        freezePatchEmbed: true,
      },
      encoder: {
        arch: 'vit',
        width: 384,
        patchSize: 16,
        depth: 12,
        heads: 12,
        mlpRatio: 4,
        posEmbed: 'sincos',
      },
      head: { hidden: [4096, 4096], out: 256, outputBn: true },
      augment: {
        size: 224,
        cropScale: [0.08, 1],
        colorJitter: { p: 0.8, brightness: 0.4, contrast: 0.4, saturation: 0.2, hue: 0.1 },
        grayscale: 0.2,
        // Per-view probabilities (view 1 blur 1.0 / solarize 0, view 2 blur 0.1 / solarize 0.2)
        // replace these p values; sigma and threshold are used as given.
        blur: { p: 0, sigma: [0.1, 2] },
        solarize: { p: 0, threshold: 0.5 },
      },
      optimizer: {
        kind: 'adamw',
        lr: 1.5e-4,
        lrScaling: 'linear',
        momentum: 0.9,
        beta2: 0.999,
        weightDecay: 0.1,
        excludeBiasAndNorm: false,
      },
      schedule: { kind: 'cosine', warmupEpochs: 40 },
      training: { epochs: 300, batchSize: 1024 },
      eval: { knn: { every: 10, k: 20, temperature: 0.07 } },
    },
    laptop: {
      method: 'moco-v3',
      params: {
        temperature: 0.2,
        momentum: 0.99,
        momentumSchedule: 'cosine',
        predictorHidden: 512,
        freezePatchEmbed: true,
      },
      dataset: { kind: 'synthetic' },
      encoder: { arch: 'vit', width: 64, patchSize: 8, depth: 4, heads: 4, mlpRatio: 2, posEmbed: 'sincos' },
      head: { hidden: [512, 512], out: 64, outputBn: true },
      augment: {
        cropScale: [0.3, 1],
        ...BUILTIN_COLOUR_RECIPE,
        blur: { p: 0, sigma: [0.1, 2] },
        solarize: { p: 0, threshold: 0.5 },
      },
      optimizer: {
        kind: 'adamw',
        lr: 5e-3,
        lrScaling: 'linear',
        momentum: 0.9,
        beta2: 0.999,
        weightDecay: 0.1,
        excludeBiasAndNorm: false,
      },
      schedule: { kind: 'cosine', warmupEpochs: 1 },
      training: { epochs: 5, batchSize: 64 },
      eval: { knn: { every: 1, k: 200, temperature: 0.1 } },
    },
  },
  laptopScaling:
    "Paper recipe (ViT-S/16 at 224 px: 384-d, 12 blocks, 12 heads; projector 4096-4096-256, predictor 4096-256; AdamW 1.5e-4 x B/256, wd 0.1, 40 warm-up epochs, batch 1024-4096, 300 epochs) scaled to a CPU: a ViT of width 64, 4 blocks, 4 heads, MLP ratio 2, patch 8 on the 32-px built-in images (a 4x4 grid, 17 tokens), with the paper's fixed sin-cos positions and random (frozen) patch projection; projector 64 -> 512 -> 512 -> 64 and predictor 64 -> 512 -> 64, both ending in BN without affine as the official ViT code; tau 0.2 and m 0.99 cosine to 1 kept; batch 64, 5 epochs (390 steps). Patch 4 (65 tokens) costs 3.8 s of CPU per step on wasm against 0.72 s for patch 8: attention's batched matMuls run on tfjs-wasm's slow path, so patch 4 would take about 25 minutes for these 5 epochs. AdamW base lr 5e-3 x B/256 = 1.25e-3 (a usual peak for a small ViT; the paper's 1.5e-4 x 64/256 = 3.75e-5 is for 300 epochs at batch 4096), 1 warm-up epoch, wd 0.1 on every tensor as the paper. Colour recipe of the built-in dataset (full-strength jitter, grayscale always), crop scale 0.3-1; the asymmetric blur (1.0 / 0.1) and solarize (0 / 0.2) are applied per view. Measured on wasm, one thread, seed 0, on a heavily loaded 2-core machine (load average about 12): kNN top-1 12.9% at random init -> 18.2% (epoch 1), 18.4%, 20.0%, 21.9%, 22.1% (epoch 5); loss 3.41 -> 3.09 (4 tau ln 64 = 3.33 for random embeddings); 16 min 53 s wall there, about 5-6 minutes of CPU time (0.72 s per step plus the kNN evaluations), i.e. about 5-6 minutes on an idle core.",
};
