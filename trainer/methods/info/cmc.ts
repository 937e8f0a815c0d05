/** CMC metadata and presets (no TensorFlow.js: the extension imports this). */
import type { MethodInfo } from '../types';

export const cmcInfo: MethodInfo = {
  id: 'cmc',
  name: 'CMC',
  paper: 'Contrastive Multiview Coding',
  authors: 'Tian, Krishnan, Isola',
  venue: 'ECCV',
  year: 2020,
  family: 'memory bank',
  keyIdea:
    'Two views of a scene from different channels (lightness L and colour ab of Lab; intensity and gradient for grayscale images), one encoder each: each view must pick out the same image in the other view among memory-bank entries of other images, so the features keep what the views share.',
  paramKeys: ['temperature', 'bankLoss', 'nceK', 'bankMomentum', 'bankInit', 'cmcViews'],
  positives: "the other view's memory-bank entry of the same image (L <-> ab)",
  negatives: "K entries of the other view's memory bank, drawn uniformly",
  presets: {
    // HobbitLong/CMC train_CMC.py (ImageNet, ResNets): L and ab views, two encoders, 128-d
    // features, NCE with K = 16384, tau 0.07, m 0.5, SGD lr 0.03 at batch 128 (momentum 0.9, wd
    // 1e-4), RRC 0.08-1 + flip, no colour jitter, 240 epochs. ResNet-50 halves are not
    // available: one CIFAR ResNet-18 of width 64 per view. Its step schedule (x0.1 at 120, 160,
    // 200) is not available: cosine. lrScaling linear: 0.06 x 128/256 = 0.03.
    paper: {
      method: 'cmc',
      params: { temperature: 0.07, bankLoss: 'nce', nceK: 16384, bankMomentum: 0.5 },
      encoder: { arch: 'resnet18', width: 64 },
      head: { hidden: [], out: 128, outputBn: false },
      augment: {
        cropScale: [0.08, 1],
        colorJitter: { p: 0, brightness: 0, contrast: 0, saturation: 0, hue: 0 },
        grayscale: 0,
        blur: { p: 0, sigma: [0.1, 2] },
      },
      optimizer: {
        kind: 'sgd',
        lr: 0.06,
        lrScaling: 'linear',
        momentum: 0.9,
        weightDecay: 1e-4,
        excludeBiasAndNorm: false,
      },
      schedule: { kind: 'cosine', warmupEpochs: 0 },
      training: { epochs: 240, batchSize: 128 },
      eval: { knn: { every: 10, k: 200, temperature: 0.07 } },
    },
    laptop: {
      method: 'cmc',
      params: { temperature: 0.1, bankLoss: 'nce', nceK: 1024, bankMomentum: 0.5 },
      dataset: { kind: 'synthetic' },
      encoder: { arch: 'convnet', width: 16 },
      head: { hidden: [], out: 128, outputBn: false },
      augment: {
        cropScale: [0.3, 1],
        colorJitter: { p: 0, brightness: 0, contrast: 0, saturation: 0, hue: 0 },
        grayscale: 0,
        blur: { p: 0, sigma: [0.1, 2] },
      },
      optimizer: {
        kind: 'sgd',
        lr: 0.5,
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
    "train_CMC.py (ResNets: two encoders, L and ab of Lab, 128-d, NCE with K = 16384, tau 0.07, m 0.5, SGD lr 0.03 at batch 128, wd 1e-4, crop 0.08-1 + flip, no colour jitter) scaled to a CPU: one ConvNet of width 16 per view (128 + 128 features, concatenated for kNN as CMC's linear probe does), linear heads to 128-d, batch 64, K = 1024 (20% of the 5,000-entry banks; the official K is 1-2% of ImageNet's 1.28M), tau 0.1, SGD lr 0.5 x B/256 = 0.125, on the built-in dataset with no colour jitter and no grayscale: the views are the colour channels, and grayscale would leave ab empty. Measured on wasm (this preset, seed 0, on a heavily loaded 2-core machine): kNN top-1 of the two random encoders 16.9% (Lab input) -> 15.3% (epoch 1) -> 15.6% (epoch 2; --epochs 2, 156 steps, 9 min 37 s), loss 16.5 -> 18.0 (NCE, rising as in InstDisc's NCE runs): not yet above the random encoders; longer runs, the softmax variant and Fashion-MNIST (intensity / gradient) are still to try. For grayscale data (--dataset fashion-mnist) the views are intensity and Sobel gradient magnitude. Further runs (seed 0, wasm, loaded machine), none above the random encoders yet, so the preset is unchanged: built-in data with 1,024 images and the softmax: 12.5% -> 11.3% after epoch 1, L's positive cosine -0.39 (one view's bank collapses and the other view's anchors are pushed away from all of it, the positive included); Fashion-MNIST (dataset.trainLimit 2,048, testLimit 1,000, softmax, 4 epochs = 128 steps, 6 min 29 s): random encoders 57.8% -> 49.9%, 52.9%, 52.9%, 51.6% with BatchNorm on the head's output (loss 16.0 -> 12.7, positive cosine 0 -> 0.19), 57.8% -> 52.0% after epoch 1 without it (positive cosine -0.43, the same collapse). Random convolutional features are already a strong kNN baseline on Fashion-MNIST, and a few hundred steps only start the instance task.",
};
