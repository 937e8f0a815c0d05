/**
 * Colour-space conversions that split an image into CMC's views (Tian et al., ECCV 2020): the
 * lightness L and the colour ab of CIE Lab for colour images, intensity and its Sobel gradient
 * magnitude for grayscale ones. Pure tensor functions (no gradient is ever needed through them:
 * they run on input images).
 */
import * as tf from '@tensorflow/tfjs-core';

/** sRGB -> CIE XYZ under D65 (the matrix skimage.color.rgb2lab uses, as CMC's RGB2Lab does). */
export const XYZ_FROM_RGB: readonly (readonly [number, number, number])[] = [
  [0.412453, 0.35758, 0.180423],
  [0.212671, 0.71516, 0.072169],
  [0.019334, 0.119193, 0.950227],
];

/** D65 2-degree reference white (skimage's default illuminant). */
export const D65_WHITE: readonly [number, number, number] = [0.95047, 1, 1.08883];

/**
 * Per-channel mean and std that CMC's train_CMC.py normalises Lab with: each channel's nominal
 * range [lo, hi] mapped to [-1, 1] (L in [0, 100], a in [-86.183, 98.233], b in [-107.857, 94.478]).
 */
export const CMC_LAB_NORMALIZATION = {
  mean: [(0 + 100) / 2, (-86.183 + 98.233) / 2, (-107.857 + 94.478) / 2],
  std: [(100 - 0) / 2, (86.183 + 98.233) / 2, (107.857 + 94.478) / 2],
};

/**
 * NHWC RGB in [0, 1] (values outside are clipped) -> CIE Lab, as skimage.color.rgb2lab: sRGB
 * gamma decoded, XYZ normalised by the D65 white, f(t) = cbrt(t) above (6/29)^3 and
 * 7.787 t + 16/116 below; L = 116 f(Y) - 16, a = 500 (f(X) - f(Y)), b = 200 (f(Y) - f(Z)).
 */
export function rgbToLab(rgb: tf.Tensor4D): tf.Tensor4D {
  if (rgb.shape[3] !== 3) throw new Error(`rgbToLab: expects 3 channels (NHWC RGB), got [${rgb.shape}]`);
  return tf.tidy(() => {
    const c = tf.clipByValue(rgb, 0, 1);
    const linear = tf.where(
      tf.greater(c, 0.04045),
      tf.pow(tf.div(tf.add(c, 0.055), 1.055), 2.4),
      tf.div(c, 12.92),
    );
    // Rows of the matrix divided by the white point: XYZ / white in one matmul.
    const m = XYZ_FROM_RGB.map((row, i) => row.map((v) => v / D65_WHITE[i]));
    const mt = tf.tensor2d([0, 1, 2].map((j) => m.map((row) => row[j]))); // [3 in, 3 out]
    const [n, h, w] = rgb.shape;
    const xyz = tf.reshape(tf.matMul(tf.reshape(linear, [-1, 3]), mt), [n, h, w, 3]);
    const t = tf.maximum(xyz, 0);
    const f = tf.where(
      tf.greater(t, 0.008856),
      tf.pow(tf.maximum(t, 0.008856), 1 / 3),
      tf.add(tf.mul(t, 7.787), 16 / 116),
    );
    const [fx, fy, fz] = tf.split(f, 3, 3);
    const l = tf.sub(tf.mul(fy, 116), 16);
    const a = tf.mul(tf.sub(fx, fy), 500);
    const b = tf.mul(tf.sub(fy, fz), 200);
    return tf.concat([l, a, b], 3) as tf.Tensor4D;
  });
}

/**
 * Sobel gradient magnitude sqrt(gx^2 + gy^2) of a one-channel NHWC image, with zero padding
 * outside the image (gx: [-1 0 1; -2 0 2; -1 0 1] correlation, gy its transpose).
 */
export function sobelMagnitude(x: tf.Tensor4D): tf.Tensor4D {
  if (x.shape[3] !== 1) throw new Error(`sobelMagnitude: expects 1 channel, got [${x.shape}]`);
  return tf.tidy(() => {
    const gx = [
      [-1, 0, 1],
      [-2, 0, 2],
      [-1, 0, 1],
    ];
    // filter[dy][dx][in = 0][out]: out 0 = gx, out 1 = gy = transpose of gx.
    const filter = tf.tensor4d(
      [0, 1, 2].flatMap((r) => [0, 1, 2].flatMap((c) => [gx[r][c], gx[c][r]])),
      [3, 3, 1, 2],
    );
    const g = tf.conv2d(x, filter, 1, 'same');
    return tf.sqrt(tf.sum(tf.square(g), 3, true)) as tf.Tensor4D;
  });
}
