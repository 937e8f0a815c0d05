/** MoCo v2 metadata and presets (no TensorFlow.js: the extension imports this). */
import type { MethodInfo } from '../types';
import { BUILTIN_COLOUR_RECIPE } from './laptop';

export const mocoV2Info: MethodInfo = {
  id: 'moco-v2',
  name: 'MoCo v2',
  paper: 'Improved Baselines with Momentum Contrastive Learning',
  authors: 'Chen, Fan, Girshick, He',
  venue: 'arXiv',
  year: 2020,
  family: 'momentum / queue',
  keyIdea:
    "MoCo v1's queue of momentum-encoded keys with SimCLR's improvements: an MLP projection head, blur in the augmentations, a cosine learning-rate schedule and temperature 0.2; strong results with a normal batch size.",
  paramKeys: ['temperature', 'queueSize', 'momentum', 'momentumSchedule', 'shuffleBn', 'bnGroups'],
  positives: 'the key (momentum-encoder embedding) of another augmented view of the same image',
  negatives: 'K keys of earlier batches held in a FIFO queue',
  presets: {
    // facebookresearch/moco main_moco.py --mlp --moco-t 0.2 --aug-plus --cos (ResNet-50 on
    // ImageNet). ResNet-50 is not available: ResNet-18 (CIFAR stem) at width 64, whose 512-d
    // features set the MLP's hidden width (MoCo v2: hidden = backbone width, no BatchNorm). K = 65536
    // assumes a dataset much larger than K (ImageNet); on a small dataset use the laptop preset.
    // Shuffle-BN over 8 GPUs (32 images each) becomes 8 BatchNorm groups of the permuted key batch.
    paper: {
      method: 'moco-v2',
      params: {
        temperature: 0.2,
        queueSize: 65536,
        momentum: 0.999,
        momentumSchedule: 'constant',
        shuffleBn: 'groups',
        bnGroups: 8,
      },
      encoder: { arch: 'resnet18', width: 64 },
      head: { hidden: [512], out: 128, outputBn: false },
      augment: {
        cropScale: [0.2, 1],
        colorJitter: { p: 0.8, brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 },
        grayscale: 0.2,
        blur: { p: 0.5, sigma: [0.1, 2] },
      },
      optimizer: {
        kind: 'sgd',
        lr: 0.03,
        lrScaling: 'linear',
        momentum: 0.9,
        weightDecay: 1e-4,
        excludeBiasAndNorm: false,
      },
      schedule: { kind: 'cosine', warmupEpochs: 0 },
      training: { epochs: 200, batchSize: 256 },
      eval: { knn: { every: 10, k: 200, temperature: 0.1 } },
    },
    laptop: {
      method: 'moco-v2',
      params: {
        temperature: 0.2,
        queueSize: 1024,
        momentum: 0.99,
        momentumSchedule: 'constant',
        shuffleBn: 'groups',
        bnGroups: 4,
      },
      dataset: { kind: 'synthetic' },
      encoder: { arch: 'convnet', width: 16 },
      head: { hidden: [256], out: 64, outputBn: false },
      augment: {
        cropScale: [0.2, 1],
        ...BUILTIN_COLOUR_RECIPE,
        blur: { p: 0.5, sigma: [0.1, 2] },
      },
      optimizer: {
        kind: 'sgd',
        lr: 0.12,
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
    "Paper recipe (ResNet-50, MLP head 2048-2048-128 without BN, K = 65536, m = 0.999, tau 0.2, SGD lr 0.03 at batch 256 with cosine decay, wd 1e-4, 200 epochs on 1.28M images, blur p 0.5, shuffle-BN over 8 GPUs) scaled to a CPU: ConvNet of width 16 (128-d features) with an MLP head 128-256-64 (Linear + ReLU, no BN, as MoCo v2; 256 hidden as the SimCLR laptop head), tau 0.2 kept, batch 64, 10 epochs on the built-in 5,000-image dataset (78 steps per epoch). Queue K = 1024 = 16 batches, about 20% of the dataset: the methods reference says to keep K well below N, otherwise the queue holds stale keys of the same images (lightly uses 4096 on CIFAR-10's 50,000). Momentum 0.99 instead of 0.999: 780 steps in all, and with 0.999 the key encoder would move over ~1000 steps, i.e. hardly at all (lightly's CIFAR setting is also 0.99). lr 0.12 x B/256 = 0.03 with wd 5e-4, lightly's CIFAR-10 MoCo setting (0.06 x B/128); the paper's 0.03 x 64/256 = 0.0075 is too slow for 10 epochs. Shuffle-BN: 4 BatchNorm groups of 16 keys (as 4 GPUs x 16). Colour recipe of the built-in dataset (SimCLR laptop preset: jitter 0.8/0.8/0.8/0.2 with p 0.8, grayscale always) instead of MoCo v2's 0.4/0.4/0.4/0.1 with grayscale 0.2: its foreground and background colours are random, so colour left in the views identifies the instance. Blur p 0.5 kept (at 32 px the kernel is 3 px, a mild blur). Crop scale 0.2-1 as MoCo. Measured (wasm, this preset, 10 epochs = 780 steps, about 8 min on 2 shared cores): kNN top-1 13.7% at random init -> 17.2% at the end (17.7% at epoch 9), far below SimCLR's laptop preset (25% after one epoch): MoCo learns slowly at this scale. The BN-free head starts with every embedding in a narrow cone (query-key cosine ~0.9), only the query branch is trained, and the key encoder must move slowly or the fresh positive key becomes recognisable among the queue's stale keys (with m = 0.9 or m = 0 training collapses within an epoch, as the paper reports for small m). In two-epoch probes, lr 0.12-0.25 x B/256, m = 0.999, K = 256, BatchNorm in the head, and SimCLR's crop/no-blur all stayed at 14-16%. Queue size (the paper's Fig. 3: a bigger dictionary does not hurt and helps, on ImageNet with K up to 65536 << N), measured with scripts/moco-queue-claim.mjs (this preset, 5 epochs, seed 0, only params.queueSize changed, wasm on 2 shared cores, 5.5-6.5 min a run): K = 256 (4 batches) 13.7% -> 15.0% (best 15.3%), K = 4096 (64 batches, 0.8 of the 5,000 images) 13.7% -> 14.7% (best 14.9%); the same K = 256 command on an earlier build gave 13.7% -> 15.7% (best 16.1%), so the run-to-run spread (about 1 point) is larger than the difference: at this scale a 16x bigger queue neither helps nor measurably hurts kNN.",
};
