/** InstDisc metadata and presets (no TensorFlow.js: the extension imports this). */
import type { MethodInfo } from '../types';
import { BUILTIN_COLOUR_RECIPE } from './laptop';

export const instdiscInfo: MethodInfo = {
  id: 'instdisc',
  name: 'InstDisc',
  paper: 'Unsupervised Feature Learning via Non-Parametric Instance Discrimination',
  authors: 'Wu, Xiong, Yu, Lin',
  venue: 'CVPR',
  year: 2018,
  family: 'memory bank',
  keyIdea:
    'Every image is its own class: its embedding must pick out its own entry of a memory bank (the feature the image had when last seen, updated with momentum 0.5) among sampled entries of other images, with NCE and a normalisation constant fixed on the first batch, or a softmax over the whole bank.',
  paramKeys: ['temperature', 'bankLoss', 'nceK', 'bankMomentum', 'bankInit'],
  positives:
    "the image's own memory-bank entry (its feature from the last time it was seen, another augmentation)",
  negatives: 'K memory-bank entries drawn uniformly (NCE), or all N entries (full softmax)',
  presets: {
    // zhirongw/lemniscate.pytorch main.py (ImageNet): NCE with K = 4096, tau 0.07, m 0.5, 128-d
    // embedding (fc after the backbone), SGD lr 0.03 at batch 256, wd 1e-4, 200 epochs.
    // ResNet-50 is not available: CIFAR ResNet-18 at width 64 (the paper's ResNet-18 row). Its step
    // schedule (x0.1 at 120, x0.01 from 160) is not available: cosine. kNN sigma = tau, as test.py.
    // The CIFAR recipe (cifar.py) is the full softmax: bankLoss 'softmax', nceK 0, tau 0.1, wd 5e-4.
    paper: {
      method: 'instdisc',
      params: { temperature: 0.07, bankLoss: 'nce', nceK: 4096, bankMomentum: 0.5 },
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
      eval: { knn: { every: 10, k: 200, temperature: 0.07 } },
    },
    laptop: {
      method: 'instdisc',
      params: {
        temperature: 0.1,
        bankLoss: 'softmax',
        nceK: 0,
        bankMomentum: 0.5,
        bankInit: 'first-write',
      },
      dataset: { kind: 'synthetic', syntheticTrain: 2048 },
      encoder: { arch: 'convnet', width: 16 },
      head: { hidden: [], out: 128, outputBn: true },
      augment: {
        cropScale: [0.3, 1],
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
      training: { epochs: 20, batchSize: 64 },
      eval: { knn: { every: 4, k: 200, temperature: 0.1 } },
    },
  },
  laptopScaling:
    "lemniscate's CIFAR recipe (cifar.py: ResNet-18, fc to 128, full non-parametric softmax over the bank (--nce-k 0), tau 0.1, m 0.5, SGD lr 0.03 at batch 128, wd 5e-4, 200 epochs) scaled to a CPU: ConvNet of width 16, linear head to 128-d, batch 64, SGD lr 0.12 x B/256 = 0.03, cosine, 20 epochs on 2,048 of the built-in dataset's images (32 steps per epoch, 640 in all; the kNN monitor's memory is these 2,048 images, k 200). Colour recipe of the built-in dataset (jitter 0.8/0.8/0.8/0.2 with p 0.8, grayscale always, crop 0.3-1): its colours are random, so colour left in the views identifies the instance. Three deviations from lemniscate, each needed at this length: (1) bankInit 'first-write': the bank starts from each image's first feature and an image whose row is still random is left out of the loss, so epoch 1 only fills the bank (loss 0) instead of training towards random targets (the official bank starts uniform random, harmless over 200 epochs); (2) BatchNorm without scale or shift on the 128-d output (head.outputBn): with the paper's plain Linear the embedding collapses against the stale bank (positive cosine 0.94, loss = ln N of a constant embedding), and a BatchNorm with a learnt shift drifts at lr 0.125 (mean cosine to the negatives 0 -> 0.41 in 5 epochs while kNN fell back); (3) fewer images so that each bank row is at most 32 steps old, and a 4x smaller lr than the other laptop presets: at lr 0.125 the network moves away from its epoch-old bank faster than it learns (kNN 13.1% -> 15.8% at epoch 4, then 14.5% at epoch 8), at 0.03 the kNN rises steadily. Measured (wasm, seed 0, this preset; on 2 cores shared with other jobs, 17 min 32 s, about 6 min on an idle machine at ~130 img/s): kNN top-1 of the random encoder 13.1% -> 14.7% (epoch 4), 16.7% (8), 17.1% (12), 17.0% (16), 17.3% (epoch 20); positive cosine 0.01 (epoch 2) -> 0.38 while the negatives stay near 0.05; loss ~10-11 (ln 2,048 = 7.6: recently written rows score above the epoch-old positive). Command: node dist/trainer.js train --method instdisc --preset laptop --runs-dir /tmp/cl-instdisc --name instdisc --backend wasm. Same recipe on the paper's random bank (2,048 images, lr 0.125, 8 epochs): 13.1% -> 13.3%. NCE (K = 1,024, the ImageNet variant) diverged in an earlier run on 5,000 images (loss 15 -> 83 in 2 epochs: the Z fixed on the first batch, from a random bank, no longer matches a bank of correlated features); with bankInit 'first-write' Z is estimated on the first batch that has written rows.",
};
