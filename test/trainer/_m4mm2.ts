import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../helpers/tf';
function cpu(f: () => void, n = 5): number { f(); const t = process.cpuUsage(); for (let i = 0; i < n; i++) f(); const d = process.cpuUsage(t); return (d.user + d.system) / 1000 / n; }
async function main() {
  await useBackend('wasm');
  const q = tf.randomNormal([256, 65, 16]) as tf.Tensor3D; const kt = tf.randomNormal([256, 16, 65]) as tf.Tensor3D;
  console.log('batched 3D q@kt', cpu(() => tf.tidy(() => { tf.matMul(q, kt).dataSync(); })));
  const qs = tf.unstack(q) as tf.Tensor2D[]; const ks = tf.unstack(kt) as tf.Tensor2D[];
  console.log('loop of 2D', cpu(() => tf.tidy(() => { tf.stack(qs.map((a, i) => tf.matMul(a, ks[i]))).dataSync(); })));
  console.log('unstack+loop of 2D', cpu(() => tf.tidy(() => { const a = tf.unstack(q); const b = tf.unstack(kt); tf.stack(a.map((x, i) => tf.matMul(x as tf.Tensor2D, b[i] as tf.Tensor2D))).dataSync(); })));
  // broadcast-multiply formulation
  console.log('mul+sum', cpu(() => tf.tidy(() => { tf.sum(tf.mul(tf.expandDims(q, 2), tf.expandDims(tf.transpose(kt, [0, 2, 1]), 1)), 3).dataSync(); })));
  const s = tf.randomNormal([256, 65, 65]) as tf.Tensor3D; const v = tf.randomNormal([256, 65, 16]) as tf.Tensor3D;
  console.log('batched s@v', cpu(() => tf.tidy(() => { tf.matMul(s, v).dataSync(); })));
  console.log('softmax', cpu(() => tf.tidy(() => { tf.softmax(s).dataSync(); })));
  console.log('transpose 4D', cpu(() => tf.tidy(() => { tf.transpose(tf.reshape(q, [64, 4, 65, 16]), [0, 2, 1, 3]).dataSync(); })));
  console.log('erf 4160x128', cpu(() => tf.tidy(() => { tf.erf(tf.reshape(s, [-1, 128]).slice([0,0],[4160,128])).dataSync(); })));
}
main();
