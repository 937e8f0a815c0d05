import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../helpers/tf';
import { ParamStore } from '../../trainer/models/params';
import { vit } from '../../trainer/models/vit';
function cpu(f: () => void, n = 3): number { f(); const t = process.cpuUsage(); for (let i = 0; i < n; i++) f(); const d = process.cpuUsage(t); return (d.user + d.system) / 1000 / n; }
async function main() {
  await useBackend('wasm');
  const ps = new ParamStore(1);
  const enc = vit('e', { arch: 'vit', width: 64, patchSize: 4, depth: 4, heads: 4, mlpRatio: 2, posEmbed: 'sincos' }, { mean: [0, 0, 0], std: [1, 1, 1] });
  const x = tf.randomUniform([64, 32, 32, 3]) as tf.Tensor4D;
  const ctx = { ps, training: true };
  console.log('fwd ms', cpu(() => tf.tidy(() => { enc.forward(ctx, x).dataSync(); })));
  const vars = ps.trainable().map((p) => p.variable);
  console.log('fwd+bwd ms', cpu(() => tf.tidy(() => { const { grads } = tf.variableGrads(() => tf.sum(enc.forward(ctx, x)) as tf.Scalar, vars); Object.values(grads)[0].dataSync(); })));
  // op-level profile
  const prof = await tf.profile(() => tf.tidy(() => { const { grads } = tf.variableGrads(() => tf.sum(enc.forward(ctx, x)) as tf.Scalar, vars); Object.values(grads)[0].dataSync(); }));
  const agg = new Map<string, number>();
  for (const k of prof.kernels) agg.set(k.name, (agg.get(k.name) ?? 0) + (k.kernelTimeMs as number));
  console.log([...agg.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([k, v]) => `${k} ${v.toFixed(0)}`).join('\n'));
}
main();
