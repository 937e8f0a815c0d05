import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { EmaTarget, momentumAt } from '../../trainer/methods/ema';
import { ParamStore } from '../../trainer/models/params';
import { useBackend } from '../helpers/tf';

describe('EMA targets', () => {
  before(() => useBackend('cpu'));

  it('cosine momentum starts at the base and ends at exactly 1; constant stays', () => {
    assert.equal(momentumAt(0.996, 'cosine', 0, 1000), 0.996);
    assert.equal(momentumAt(0.996, 'cosine', 1000, 1000), 1);
    assert.ok(Math.abs(momentumAt(0.99, 'cosine', 500, 1000) - 0.995) < 1e-12);
    for (let k = 1; k <= 1000; k += 37)
      assert.ok(momentumAt(0.99, 'cosine', k, 1000) >= momentumAt(0.99, 'cosine', k - 1, 1000));
    assert.equal(momentumAt(0.999, 'constant', 500, 1000), 0.999);
  });

  it('copies, then averages parameters (target <- m t + (1-m) o); targets are frozen', () => {
    const ps = new ParamStore(0);
    const o = ps.param('online.w', [3], { kind: 'normal', std: 1 }, 'weight');
    const ema = new EmaTarget(ps, 'online.', 'target.');
    const t = ps.param('target.w', [3], { kind: 'zeros' }, 'weight');
    assert.deepEqual(
      ps.trainable().map((p) => p.name),
      ['online.w'],
    );
    assert.equal(t.trainable, false);
    ema.copyFromOnline();
    assert.deepEqual(Array.from(t.dataSync()), Array.from(o.dataSync()));
    const o0 = Array.from(o.dataSync());
    o.assign(tf.tensor1d([1, 2, 3]));
    const before = tf.memory().numTensors;
    ema.update(0.9);
    assert.equal(tf.memory().numTensors, before);
    const want = o0.map((v, i) => 0.9 * v + 0.1 * [1, 2, 3][i]);
    for (const [i, v] of Array.from(t.dataSync()).entries()) assert.ok(Math.abs(v - want[i]) < 1e-6);
    ps.dispose();
  });
});
