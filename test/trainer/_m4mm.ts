import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../helpers/tf';
function cpu(f: () => void, n = 5): number { f(); const t = process.cpuUsage(); for (let i = 0; i < n; i++) f(); const d = process.cpuUsage(t); return (d.user + d.system) / 1000 / n; }
async function main() {
  await useBackend('wasm');
  const a = tf.randomNormal([4160, 64]) as tf.Tensor2D; const w = tf.randomNormal([64, 128]) as tf.Tensor2D;
  const at = tf.transpose(a) as tf.Tensor2D; const wt = tf.transpose(w) as tf.Tensor2D;
  const dy = tf.randomNormal([4160, 128]) as tf.Tensor2D;
  console.log('a@w', cpu(() => tf.tidy(() => { tf.matMul(a, w).dataSync(); })));
  console.log('a@wt^T', cpu(() => tf.tidy(() => { tf.matMul(a, wt, false, true).dataSync(); })));
  console.log('dy@w^T (transposeB)', cpu(() => tf.tidy(() => { tf.matMul(dy, w, false, true).dataSync(); })));
  console.log('dy@transpose(w)', cpu(() => tf.tidy(() => { tf.matMul(dy, tf.transpose(w)).dataSync(); })));
  console.log('a^T@dy (transposeA)', cpu(() => tf.tidy(() => { tf.matMul(a, dy, true, false).dataSync(); })));
  console.log('transpose(a)@dy', cpu(() => tf.tidy(() => { tf.matMul(tf.transpose(a), dy).dataSync(); })));
  const q = tf.randomNormal([64, 4, 65, 16]) as tf.Tensor4D; const k = tf.randomNormal([64, 4, 65, 16]) as tf.Tensor4D;
  const p = tf.randomNormal([64, 4, 65, 65]) as tf.Tensor4D;
  console.log('q@k^T batched', cpu(() => tf.tidy(() => { tf.matMul(q, k, false, true).dataSync(); })));
  console.log('q@transpose(k) batched', cpu(() => tf.tidy(() => { tf.matMul(q, tf.transpose(k, [0, 1, 3, 2])).dataSync(); })));
  console.log('p@v batched', cpu(() => tf.tidy(() => { tf.matMul(p, k).dataSync(); })));
  console.log('p^T@v batched (transposeA)', cpu(() => tf.tidy(() => { tf.matMul(p, k, true, false).dataSync(); })));
}
main();
