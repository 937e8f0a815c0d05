/**
 * SimCLR v1 (Chen et al., ICML 2020): two augmented views per image, an encoder and an MLP
 * projection head, NT-Xent over the 2B views of the batch. BatchNorm sees both views together
 * (the 2B concatenation), as SimCLR's global BN does on one device.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ntXent } from '../losses/ntxent';
import { makeEncoder } from '../models/encoders';
import { projectionHead } from '../models/heads';
import { type Ctx, l2Normalize } from '../models/layers';
import { ParamStore } from '../models/params';
import type { Method } from './types';

export const simclrV1: Method = {
  info: {
    id: 'simclr-v1',
    name: 'SimCLR v1',
    paper: 'A Simple Framework for Contrastive Learning of Visual Representations',
    authors: 'Chen, Kornblith, Norouzi, Hinton',
    venue: 'ICML',
    year: 2020,
    family: 'end-to-end',
    keyIdea:
      'Strong augmentations, an MLP projection head and a large batch: each view must pick out its partner among all other views of the batch (NT-Xent).',
    positives: 'the other augmented view of the same image',
    negatives: 'the 2B-2 other views in the batch',
    presets: {
      paper: {
        method: 'simclr-v1',
        params: { temperature: 0.5 },
        encoder: { arch: 'resnet18', width: 64 },
        head: { hidden: [512], out: 128, outputBn: true },
        augment: {
          cropScale: [0.08, 1],
          colorJitter: { p: 0.8, brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 },
          grayscale: 0.2,
          blur: { p: 0, sigma: [0.1, 2] },
        },
        optimizer: {
          kind: 'lars',
          lr: 1.0,
          lrScaling: 'none',
          momentum: 0.9,
          weightDecay: 1e-6,
          trustCoefficient: 0.001,
        },
        schedule: { kind: 'cosine', warmupEpochs: 10 },
        training: { epochs: 1000, batchSize: 512 },
        eval: { knn: { every: 10, k: 200, temperature: 0.1 } },
      },
      laptop: {
        method: 'simclr-v1',
        params: { temperature: 0.5 },
        dataset: { kind: 'synthetic' },
        encoder: { arch: 'convnet', width: 16 },
        head: { hidden: [256], out: 64, outputBn: true },
        augment: {
          cropScale: [0.3, 1],
          colorJitter: { p: 0.8, brightness: 0.8, contrast: 0.8, saturation: 0.8, hue: 0.2 },
          grayscale: 1,
          blur: { p: 0, sigma: [0.1, 2] },
        },
        optimizer: { kind: 'sgd', lr: 1.0, lrScaling: 'linear', momentum: 0.9, weightDecay: 5e-4 },
        schedule: { kind: 'cosine', warmupEpochs: 0 },
        training: { epochs: 10, batchSize: 64 },
        eval: { knn: { every: 1, k: 200, temperature: 0.1 } },
      },
    },
    laptopScaling:
      'CIFAR README recipe (ResNet-18, LARS lr 1.0, batch 512, 1000 epochs, 512-d head, tau 0.5, no blur) scaled to a CPU: ConvNet of width 16, 256-d hidden / 64-d head, batch 64, SGD lr 1.0 x B/256 = 0.25, 10 epochs on the built-in 5,000-image dataset. Colour distortion at full strength (s = 1) with grayscale always on: the built-in images draw foreground and background colours uniformly at random, so any colour left in the views identifies the instance and the encoder learns colour histograms instead of shape (SimCLR section 3: stronger colour distortion helps). Measured on 4,096 images, wasm: kNN top-1 14.7% at random init -> 35.5% after 3 epochs (192 steps); with the CIFAR jitter (0.4, grayscale 0.2) it stayed at 15%.',
  },
  build(config, norm) {
    const store = new ParamStore(config.seed);
    const encoder = makeEncoder('online.encoder', config.encoder, norm);
    const tau = config.params.temperature;
    return {
      store,
      views: 2,
      loss(views) {
        const ctx: Ctx = { ps: store, training: true };
        const b = views[0].shape[0];
        const x = tf.concat(views, 0);
        const h = encoder.forward(ctx, x);
        const z = projectionHead(ctx, 'online.head', h, config.head);
        const z1 = tf.slice(z, [0, 0], [b, -1]) as tf.Tensor2D;
        const z2 = tf.slice(z, [b, 0], [b, -1]) as tf.Tensor2D;
        const loss = ntXent(z1, z2, tau);
        // Mean cosine similarity of positive pairs: a cheap signal of how well views align.
        const posSim = tf.mean(tf.sum(tf.mul(l2Normalize(z1), l2Normalize(z2)), 1)) as tf.Scalar;
        return { loss, extra: { pos_sim: posSim } };
      },
      features(x) {
        return encoder.forward({ ps: store, training: false }, x);
      },
    };
  },
};
