/**
 * A 'same'-padded NHWC convolution's two gradient kernels called directly, as the backward pass
 * calls them: whatever the active backend registered for them (benchmarks time these).
 */
import * as tf from '@tensorflow/tfjs-core';

const attrs = (stride: number) => ({ strides: stride, pad: 'same', dataFormat: 'NHWC' });

export function inputGradient(
  dy: tf.Tensor,
  filter: tf.Tensor4D,
  inputShape: number[],
  stride: number,
): tf.Tensor {
  return tf
    .engine()
    .runKernel(tf.Conv2DBackpropInput, { dy, filter }, { ...attrs(stride), inputShape }) as tf.Tensor;
}

export function filterGradient(
  x: tf.Tensor4D,
  dy: tf.Tensor,
  filterShape: number[],
  stride: number,
): tf.Tensor {
  return tf
    .engine()
    .runKernel(tf.Conv2DBackpropFilter, { x, dy }, { ...attrs(stride), filterShape }) as tf.Tensor;
}
