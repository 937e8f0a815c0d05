/** MoCo v1 metadata and presets (no TensorFlow.js: the extension imports this). */
import type { MethodInfo } from '../types';
import { BUILTIN_COLOUR_RECIPE } from './laptop';

export const mocoV1Info: MethodInfo = {
  id: 'moco-v1',
  name: 'MoCo v1',
  paper: 'Momentum Contrast for Unsupervised Visual Representation Learning',
  authors: 'He, Fan, Wu, Xie, Girshick',
  venue: 'CVPR',
  year: 2020,
  family: 'momentum / queue',
  keyIdea:
    'A large, consistent dictionary of negatives decoupled from the batch: keys of earlier batches wait in a FIFO queue, encoded by a slowly moving momentum copy of the query encoder; each query must pick out its own key among them (InfoNCE).',
  paramKeys: ['temperature', 'queueSize', 'momentum', 'momentumSchedule', 'shuffleBn', 'bnGroups'],
  positives: 'the key (momentum-encoder embedding) of another augmented view of the same image',
  negatives: 'K keys of earlier batches held in a FIFO queue',
  presets: {
    // facebookresearch/moco main_moco.py defaults (ResNet-50 on ImageNet). ResNet-50 is not
    // available: ResNet-18 (CIFAR stem) at width 64 with the paper's hyper-parameters. The v1 step
    // schedule (lr x0.1 at epochs 120 and 160) is not available either: cosine instead. K = 65536
    // assumes a dataset much larger than K (ImageNet); on a small dataset use the laptop preset.
    // Shuffle-BN over 8 GPUs (32 images each) becomes 8 BatchNorm groups of the permuted key batch.
    paper: {
      method: 'moco-v1',
      params: {
        temperature: 0.07,
        queueSize: 65536,
        momentum: 0.999,
        momentumSchedule: 'constant',
        shuffleBn: 'groups',
        bnGroups: 8,
      },
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
      method: 'moco-v1',
      params: {
        temperature: 0.07,
        queueSize: 1024,
        momentum: 0.99,
        momentumSchedule: 'constant',
        shuffleBn: 'groups',
        bnGroups: 4,
      },
      dataset: { kind: 'synthetic' },
      encoder: { arch: 'convnet', width: 16 },
      head: { hidden: [], out: 64, outputBn: false },
      augment: {
        cropScale: [0.2, 1],
        ...BUILTIN_COLOUR_RECIPE,
        blur: { p: 0, sigma: [0.1, 2] },
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
    "Paper recipe (ResNet-50, K = 65536, m = 0.999, tau 0.07, SGD lr 0.03 at batch 256, wd 1e-4, 200 epochs on 1.28M images, shuffle-BN over 8 GPUs) scaled to a CPU: ConvNet of width 16 with the linear head to 64-d (tau 0.07 kept), batch 64, 10 epochs on the built-in 5,000-image dataset (78 steps per epoch). Queue K = 1024 = 16 batches, about 20% of the dataset: the methods reference says to keep K well below N, otherwise the queue holds stale keys of the same images (lightly uses 4096 on CIFAR-10's 50,000). Momentum 0.99 instead of 0.999: 780 steps in all, and with 0.999 the key encoder would move over ~1000 steps, i.e. hardly at all (lightly's CIFAR setting is also 0.99). lr 0.12 x B/256 = 0.03 with wd 5e-4, lightly's CIFAR-10 MoCo setting (0.06 x B/128); the paper's 0.03 x 64/256 = 0.0075 is too slow for 10 epochs. Shuffle-BN: 4 BatchNorm groups of 16 keys (as 4 GPUs x 16). Colour recipe of the built-in dataset (SimCLR laptop preset: jitter 0.8/0.8/0.8/0.2 with p 0.8, grayscale always): its foreground and background colours are random, so colour left in the views identifies the instance. Crop scale 0.2-1 as MoCo. Measured (wasm, this preset, 10 epochs = 780 steps, 23.5 min on 2 cores shared with other jobs (20-60 img/s; load average 10-15)): kNN top-1 13.7% at random init -> 18.7% at the end (per epoch 13.7 14.9 14.3 15.8 16.6 16.7 16.1 18.3 19.5 18.7 18.7%; MoCo v2's laptop preset: 13.7% -> 17.2%). MoCo learns slowly at this scale (see MoCo v2's notes): the linear 64-d head puts every embedding in a narrowing cone (mean query-key cosine about 0.6 after half an epoch -> 0.96, query-queue cosine 0.41 -> 0.93; the positive key has the top logit in 13-19% of rows in epochs 1-2 and under 1% in epochs 9-10) and the epoch-mean loss climbs from 5.3 towards ln(1025) = 6.93 (6.8 from epoch 7), so instance discrimination in the embedding space mostly fails while the backbone's kNN still improves.",
};
