/** SwAV metadata and presets (no TensorFlow.js: the extension imports this). */
import type { MethodInfo } from '../types';
import { BUILTIN_COLOUR_RECIPE } from './laptop';

export const swavInfo: MethodInfo = {
  id: 'swav',
  name: 'SwAV',
  paper: 'Unsupervised Learning of Visual Features by Contrasting Cluster Assignments',
  authors: 'Caron, Misra, Mairal, Goyal, Bojanowski, Joulin',
  venue: 'NeurIPS',
  year: 2020,
  family: 'clustering',
  keyIdea:
    "Online clustering instead of pairwise comparison: each crop's embedding is assigned to learnable prototypes by Sinkhorn-Knopp under an equal-partition constraint, and each view predicts the other views' assignments (swapped prediction); multi-crop adds cheap small crops.",
  paramKeys: [
    'prototypes',
    'temperature',
    'sinkhornEpsilon',
    'sinkhornIterations',
    'queueSize',
    'queueStartEpoch',
    'freezePrototypesSteps',
    'localCrops',
    'localCropSize',
    'localCropScale',
  ],
  positives: "the cluster codes (Sinkhorn assignment to prototypes) of the image's other crops",
  negatives: 'none explicitly: the equal-partition constraint over the batch (and queue) spreads the codes',
  presets: {
    // facebookresearch/swav scripts/swav_200ep_bs256_pretrain.sh (ResNet-50 on ImageNet, batch 256,
    // queue 3840 from epoch 15, LARC lr 0.6 -> 0.0006, wd 1e-6, 2x224 + 6x96). ResNet-50 is not
    // available: CIFAR ResNet-18 at width 64 with the official 2048-128 head, crops at the dataset's
    // size (2 x 32 px, 6 x 16 px for CIFAR, the 224/96 ratio rounded to an even side). Prototypes
    // frozen for one epoch as the paper (5005 steps on ImageNet): 195 steps = one CIFAR-10 epoch at
    // batch 256. The cosine schedule decays to 0, not to the paper's final lr 0.0006; LARC (clip
    // off) is LARS with the trust ratio on every tensor.
    paper: {
      method: 'swav',
      params: {
        prototypes: 3000,
        temperature: 0.1,
        sinkhornEpsilon: 0.05,
        sinkhornIterations: 3,
        queueSize: 3840,
        queueStartEpoch: 15,
        freezePrototypesSteps: 195,
        localCrops: 6,
        localCropSize: 16,
        localCropScale: [0.05, 0.14],
      },
      encoder: { arch: 'resnet18', width: 64 },
      head: { hidden: [2048], out: 128, outputBn: false },
      augment: {
        cropScale: [0.14, 1],
        colorJitter: { p: 0.8, brightness: 0.8, contrast: 0.8, saturation: 0.8, hue: 0.2 },
        grayscale: 0.2,
        blur: { p: 0.5, sigma: [0.1, 2] },
        solarize: { p: 0, threshold: 0.5 },
      },
      optimizer: {
        kind: 'lars',
        lr: 0.6,
        lrScaling: 'none',
        momentum: 0.9,
        weightDecay: 1e-6,
        trustCoefficient: 0.001,
        excludeBiasAndNorm: false,
      },
      schedule: { kind: 'cosine', warmupEpochs: 0 },
      training: { epochs: 200, batchSize: 256 },
      eval: { knn: { every: 10, k: 200, temperature: 0.1 } },
    },
    laptop: {
      method: 'swav',
      params: {
        prototypes: 512,
        temperature: 0.1,
        sinkhornEpsilon: 0.05,
        sinkhornIterations: 3,
        queueSize: 512,
        queueStartEpoch: 0,
        freezePrototypesSteps: 10,
        localCrops: 4,
        localCropSize: 16,
        localCropScale: [0.05, 0.3],
      },
      dataset: { kind: 'synthetic' },
      encoder: { arch: 'convnet', width: 16 },
      head: { hidden: [256], out: 64, outputBn: false },
      augment: {
        cropScale: [0.3, 1],
        ...BUILTIN_COLOUR_RECIPE,
        blur: { p: 0.5, sigma: [0.1, 2] },
        solarize: { p: 0, threshold: 0.5 },
      },
      optimizer: {
        kind: 'sgd',
        lr: 0.12,
        lrScaling: 'linear',
        momentum: 0.9,
        weightDecay: 5e-4,
        excludeBiasAndNorm: true,
      },
      schedule: { kind: 'cosine', warmupEpochs: 0 },
      training: { epochs: 2, batchSize: 64 },
      eval: { knn: { every: 1, k: 200, temperature: 0.1 } },
    },
  },
  laptopScaling:
    "Paper recipe (ResNet-50, 2 x 224 + 6 x 96 crops, head 2048-128, K = 3000, epsilon 0.05, 3 Sinkhorn iterations, tau 0.1, batch 256 with a 3840-row queue from epoch 15, LARC lr 0.6 -> 0.0006, wd 1e-6, prototypes frozen for one epoch, 200 epochs) scaled to a CPU: ConvNet of width 16 (128-d features), head 128-256-64 (Linear + BN + ReLU, Linear), K = 512 (lightly's CIFAR-10 value; 10 classes here), 2 x 32 px crops (scale 0.3-1) + 4 x 16 px (scale 0.05-0.3; 16/32 close to the paper's 96/224), blur p 0.5 (3-px kernel at 32 px, none at 16 px), batch 64, 2 epochs on the built-in 5,000-image dataset with its colour recipe (jitter 0.8/0.8/0.8/0.2, grayscale always). Queue of 512 embeddings (8 batches) from the first epoch: the paper starts it after 15 of 200 epochs, but 64 samples per batch cannot be spread over 512 prototypes without it; prototypes frozen for the first 10 steps; SGD lr 0.12 x B/256 = 0.03 (momentum 0.9, wd 5e-4, no warm-up) instead of LARC. Measured (wasm, this preset, seed 0, 2 epochs = 156 steps, 9 min 02 s on the 2-core machine shared with other trainings): kNN top-1 13.7% at random init -> 14.9% after epoch 1 -> 15.8% after epoch 2; loss 6.93 -> 6.25 (ln 512 = 6.24), collapse_std 0.098 -> 0.061 (1/sqrt(64) = 0.125). SwAV learns far more slowly than SimCLR at this scale (SimCLR laptop: 25% after one epoch). One-epoch probes that did worse (13.7% at start): K 100 with SGD lr 0.25 (SimCLR's) pinned the loss at ln K = 4.605 while collapse_std fell 0.043 -> 0.023, the collapse the SwAV README describes; K 30: 13.7% (tau 0.1, loss at ln 30) and 13.5% (tau 0.5); K 512 with Adam 5e-4 (lightly's optimiser) and the queue from epoch 1: 13.1%; the same with epsilon 0.02 and small crops of 0.14-0.5: 14.0%; without small crops, epsilon 0.03: 13.7%; queue from epoch 0 with SGD 0.03: K 100 14.2%, K 512 14.5% (this preset).",
};
