/** BYOL metadata and presets (no TensorFlow.js: the extension imports this). */
import type { MethodInfo } from '../types';
import { BUILTIN_COLOUR_RECIPE } from './laptop';

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
        ...BUILTIN_COLOUR_RECIPE,
        blur: { p: 0, sigma: [0.1, 2] },
        solarize: { p: 0, threshold: 0.5 },
      },
      optimizer: { kind: 'sgd', lr: 1.0, lrScaling: 'linear', momentum: 0.9, weightDecay: 5e-4 },
      schedule: { kind: 'cosine', warmupEpochs: 0 },
      training: { epochs: 10, batchSize: 64 },
      eval: { knn: { every: 1, k: 200, temperature: 0.1 } },
    },
  },
  laptopScaling:
    "Paper recipe (ResNet-50, projector and predictor 4096 -> 256, LARS base lr 0.2 x B/256, wd 1.5e-6, 10 warm-up epochs, tau_base 0.996 cosine to 1, batch 4096, 1000 epochs) scaled to a CPU: ConvNet of width 16 (128-d features), projector 128 -> 512 -> 64 and predictor 64 -> 512 -> 64 (the paper's layer layout, widths divided by 8 and 4), batch 64, 10 epochs on the built-in 5,000-image dataset (78 steps per epoch, 780 in all). tau_base 0.99 instead of 0.996 (the reference's value for 100-300 epochs): with 0.996 over 780 steps the target would hardly move. Plain SGD lr 1.0 x B/256 = 0.25 (momentum 0.9, wd 5e-4, no warm-up), as the SimCLR laptop preset: at B = 64, LARS with eta 1e-3 moves each weight by about lr x eta = 5e-5 of its norm per step, far too slowly for 780 steps; 0.5 x B/256 learnt less (kNN 15.4% against 16.4% after 192 steps). Colour recipe of the built-in dataset (SimCLR laptop preset: jitter 0.8/0.8/0.8/0.2 with p 0.8, grayscale always, crop 0.3-1): its colours are random, so colour left in the views identifies the instance. The asymmetric blur (view 1 p 1.0, view 2 p 0.1) and solarize (0 / 0.2) are always applied per view, replacing augment.blur.p and augment.solarize.p; at 32 px the blur kernel is 3 px. Measured on wasm (this preset, seed 0): kNN top-1 13.7% at random init -> 15.6% (epoch 3), 17.9% (epoch 6), 18.8% (epoch 10); loss 1.80 -> 0.72; collapse_std 0.094 -> 0.071 (1/sqrt(64) = 0.125: spread, not collapsed). BYOL starts far more slowly than SimCLR on this dataset (SimCLR laptop: 35.5% after 192 steps); tau_base 0.96 did not help (15.1% after 3 epochs).",
};
