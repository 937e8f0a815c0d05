/**
 * Backbones. Both map NHWC images in [0, 1] to a feature vector (the representation used by kNN
 * and linear probes); inputs are standardised with the dataset's per-channel mean and std first.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { EncoderConfig } from '../config/types';
import { batchNorm, type Ctx, conv2d, globalAvgPool } from './layers';
import { vit } from './vit';

export interface Normalization {
  mean: number[];
  std: number[];
}

export interface Encoder {
  /** Feature dimension of `forward`'s output. */
  readonly dim: number;
  forward(ctx: Ctx, x: tf.Tensor4D): tf.Tensor2D;
}

function standardize(x: tf.Tensor4D, norm: Normalization): tf.Tensor4D {
  return tf.div(tf.sub(x, tf.tensor1d(norm.mean)), tf.tensor1d(norm.std));
}

/** A small 4-stage ConvNet: conv-BN-ReLU blocks, stride 2 from the second, widths w, 2w, 4w, 8w. */
export function convNet(prefix: string, cfg: EncoderConfig, norm: Normalization): Encoder {
  const w = cfg.width;
  const widths = [w, 2 * w, 4 * w, 8 * w];
  return {
    dim: widths[3],
    forward(ctx, input) {
      let x = standardize(input, norm);
      widths.forEach((c, i) => {
        x = conv2d(ctx, `${prefix}.conv${i + 1}`, x, { out: c, k: 3, stride: i === 0 ? 1 : 2 });
        x = batchNorm(ctx, `${prefix}.bn${i + 1}`, x, { relu: true });
      });
      return globalAvgPool(x);
    },
  };
}

/**
 * CIFAR-style ResNet-18 (He et al. 2016, as used by SimCLR/MoCo on CIFAR): a 3x3 stride-1 stem,
 * no max-pool, four stages of two BasicBlocks with widths w, 2w, 4w, 8w.
 */
export function resNet18(prefix: string, cfg: EncoderConfig, norm: Normalization): Encoder {
  const w = cfg.width;
  const stages = [w, 2 * w, 4 * w, 8 * w];
  const basicBlock = (ctx: Ctx, name: string, x: tf.Tensor4D, out: number, stride: number): tf.Tensor4D => {
    let y = conv2d(ctx, `${name}.conv1`, x, { out, k: 3, stride });
    y = batchNorm(ctx, `${name}.bn1`, y, { relu: true });
    y = conv2d(ctx, `${name}.conv2`, y, { out, k: 3 });
    y = batchNorm(ctx, `${name}.bn2`, y);
    let shortcut = x;
    if (stride !== 1 || x.shape[3] !== out) {
      shortcut = conv2d(ctx, `${name}.shortcut.conv`, x, { out, k: 1, stride });
      shortcut = batchNorm(ctx, `${name}.shortcut.bn`, shortcut);
    }
    return tf.relu(tf.add(y, shortcut));
  };
  return {
    dim: stages[3],
    forward(ctx, input) {
      let x = standardize(input, norm);
      x = conv2d(ctx, `${prefix}.stem.conv`, x, { out: w, k: 3 });
      x = batchNorm(ctx, `${prefix}.stem.bn`, x, { relu: true });
      stages.forEach((c, i) => {
        x = basicBlock(ctx, `${prefix}.layer${i + 1}.0`, x, c, i === 0 ? 1 : 2);
        x = basicBlock(ctx, `${prefix}.layer${i + 1}.1`, x, c, 1);
      });
      return globalAvgPool(x);
    },
  };
}

/** `imageSize`: side of the training images (a ViT's learned position table is made for it). */
export function makeEncoder(
  prefix: string,
  cfg: EncoderConfig,
  norm: Normalization,
  imageSize?: number,
): Encoder {
  switch (cfg.arch) {
    case 'convnet':
      return convNet(prefix, cfg, norm);
    case 'resnet18':
      return resNet18(prefix, cfg, norm);
    case 'vit':
      return vit(prefix, cfg, norm, { imageSize });
  }
}
