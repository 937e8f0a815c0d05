/** CMC metadata and presets (no TensorFlow.js: the extension imports this). */
import type { MethodInfo } from '../types';
import { BUILTIN_COLOUR_RECIPE } from './laptop';

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
      params: {
        temperature: 0.1,
        bankLoss: 'softmax',
        nceK: 0,
        bankMomentum: 0.5,
        bankInit: 'first-write',
        cmcViews: 'intensity-gradient',
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
      training: { epochs: 12, batchSize: 64 },
      eval: { knn: { every: 4, k: 200, temperature: 0.1 } },
    },
  },
  laptopScaling:
    "train_CMC.py (ResNets: two encoders, L and ab of Lab, 128-d, NCE with K = 16384, tau 0.07, m 0.5, SGD lr 0.03 at batch 128, wd 1e-4, crop 0.08-1 + flip, no colour jitter) scaled to a CPU: one ConvNet of width 16 per view (128 + 128 features, concatenated for kNN as CMC's linear probe does), linear heads to 128-d, full softmax over the bank (train_CMC.py --softmax; K = N = 2,048), tau 0.1, batch 64, SGD lr 0.12 x B/256 = 0.03, cosine, 12 epochs on 2,048 of the built-in dataset's images (32 steps per epoch, 384 in all; the kNN monitor's memory is these 2,048 images, k 200). Deviations: (1) views: intensity and its Sobel gradient magnitude (params.cmcViews, the split this code uses for grayscale data) instead of L and ab, with the built-in colour recipe (jitter 0.8/0.8/0.8/0.2 with p 0.8, grayscale always, crop 0.3-1). The built-in images draw their colours at random and independently of the class, so L and ab share the instance's colours: without jitter the pair learns that shortcut (NCE K = 1,024 on 5,000 images: 16.9% -> 15.6% in 2 epochs; softmax on 1,024 images: 12.5% -> 11.3%), and with jitter (no grayscale) the ab network's features are mostly hue that L cannot predict (2,048 images, the deviations below, lr 0.03: positive cosine 0.01 after 6 epochs, kNN 14.4% -> 13.8%). The random-encoder baseline is higher with these views (26.4% instead of 14.4%) because the kNN features are then computed on grey images, where the random colours are gone. (2) bankInit 'first-write' (bank rows start from each image's first feature; epoch 1 only fills the banks, loss 0) and (3) BatchNorm without scale or shift on each 128-d output (head.outputBn), taken over from InstDisc's laptop preset, where their need was measured. (4) lr 0.03 rather than the 0.125 of the other laptop presets: 26.4% -> 21.1% at epoch 4 with 0.125. Measured (wasm, seed 0, this preset; on 2 cores shared with other jobs, 13 min 58 s, about 7 min on an idle machine): kNN top-1 of the two random encoders 26.4% -> 30.3% (epoch 4), 38.8% (8), 43.4% (epoch 12); positive cosines 0.03 (epoch 2) -> 0.13 with the negatives near 0.005; loss 15.4 -> 14.0 (2 ln 2,048 = 15.2 at chance). Command: node dist/trainer.js train --method cmc --preset laptop --runs-dir /tmp/cl-cmc --name cmc --backend wasm. With cmcViews 'auto' and colour data (the paper's L / ab): as above, no gain over the random encoders at this length. Fashion-MNIST (intensity / gradient, 2,048 / 1,000 images, softmax, 4 epochs, BN with shift, random bank): random encoders 57.8% -> 51.6%, not retried with this recipe.",
};
