/**
 * Calling a kernel that our own registration displaced (the stock wasm kernel our wrapper builds
 * on, or the kernel an onnxruntime kernel falls back to). A kernel's setupFunc binds its native
 * function when the backend starts, but only for kernels registered then: one displaced before
 * that was never set up. Each displaced kernel is set up once per backend object, on first call.
 */
import type * as tf from '@tensorflow/tfjs-core';

const setUp = new WeakMap<tf.KernelBackend, Set<tf.KernelConfig>>();

export function callDisplacedKernel(
  kernel: tf.KernelConfig,
  args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap },
): tf.TensorInfo | tf.TensorInfo[] {
  let done = setUp.get(args.backend);
  if (done === undefined) {
    done = new Set();
    setUp.set(args.backend, done);
  }
  if (!done.has(kernel)) {
    kernel.setupFunc?.(args.backend);
    done.add(kernel);
  }
  return kernel.kernelFunc(args as Parameters<tf.KernelFunc>[0]);
}
