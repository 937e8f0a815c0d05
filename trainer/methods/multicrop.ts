/**
 * Multi-crop (SwAV, Caron et al. 2020; reused by DINO): each image gives `globals` full-size crops
 * (augment.size, augment.cropScale) followed by `locals` small crops (their own side and a smaller
 * area range). Views are ordered globals first, as both official codes expect.
 *
 * Forward as the official `MultiCropWrapper` / SwAV `ResNet.forward`: consecutive crops of the same
 * side are concatenated into one batch for the backbone (so BatchNorm sees all crops of one
 * resolution together), and the backbone features of all crops are concatenated, in view order,
 * for the head.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { AugmentConfig, RunConfig } from '../config/types';

export interface MultiCropSpec {
  globals: number;
  locals: number;
  /** Side of the small crops in pixels. */
  localSize: number;
  /** Area range of the small crops as a fraction of the image. */
  localScale: [number, number];
}

/** The crops a config asks for: params.localCrops / localCropSize / localCropScale over the defaults. */
export function multiCropSpecOf(config: RunConfig, d: MultiCropSpec): MultiCropSpec {
  const p = config.params;
  return {
    globals: 2,
    locals: p.localCrops ?? d.locals,
    localSize: p.localCropSize ?? d.localSize,
    localScale: p.localCropScale ?? d.localScale,
  };
}

/** The augmentation of view `view`: the base pipeline, with the small crops' side and scale. */
export function multiCropAugment(base: AugmentConfig, view: number, spec: MultiCropSpec): AugmentConfig {
  if (view < spec.globals) return base;
  return { ...base, size: spec.localSize, cropScale: [spec.localScale[0], spec.localScale[1]] };
}

/**
 * Backbone features of every crop, [V B, d] in view order, running `backbone` once per run of
 * consecutive views of equal side.
 */
export function multiCropFeatures(
  views: tf.Tensor4D[],
  backbone: (x: tf.Tensor4D) => tf.Tensor2D,
): tf.Tensor2D {
  const outs: tf.Tensor2D[] = [];
  let start = 0;
  while (start < views.length) {
    let end = start + 1;
    const side = views[start].shape[1];
    while (
      end < views.length &&
      views[end].shape[1] === side &&
      views[end].shape[2] === views[start].shape[2]
    )
      end++;
    const group = views.slice(start, end);
    outs.push(backbone(group.length === 1 ? group[0] : (tf.concat(group, 0) as tf.Tensor4D)));
    start = end;
  }
  return outs.length === 1 ? outs[0] : (tf.concat(outs, 0) as tf.Tensor2D);
}

/** Splits [V B, d] rows back into V blocks of B. */
export function perCrop(x: tf.Tensor2D, crops: number): tf.Tensor2D[] {
  return tf.split(x, crops, 0) as tf.Tensor2D[];
}
