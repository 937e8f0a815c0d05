import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { BASE_DEFAULTS, deepMerge } from '../../trainer/config/config';
import type { RunConfig } from '../../trainer/config/types';
import { simclrV1 } from '../../trainer/methods/simclr-v1';
import { makeEncoder } from '../../trainer/models/encoders';
import { ParamStore } from '../../trainer/models/params';
import { Optimizer } from '../../trainer/optim/optimizer';
import { dataInfo, stepCtx } from '../helpers/method-ctx';
import { useBackend } from '../helpers/tf';

const NORM = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };

describe('encoders', () => {
  before(() => useBackend('wasm'));
  after(() => useBackend('cpu'));

  it('CIFAR ResNet-18 has the parameter count of torchvision resnet18 with a 3x3 stem and no fc', () => {
    // torchvision resnet18: 11,689,512 parameters; minus fc (512*1000 + 1000) = 11,176,512;
    // the CIFAR stem is 3x3x3x64 = 1,728 weights instead of 7x7x3x64 = 9,408: 11,168,832.
    const ps = new ParamStore(0);
    const enc = makeEncoder('enc', { arch: 'resnet18', width: 64 }, NORM);
    const y = tf.tidy(() => enc.forward({ ps, training: false }, tf.zeros([2, 32, 32, 3])));
    assert.deepEqual(y.shape, [2, 512]);
    assert.equal(ps.countParameters(), 11_168_832);
    // No max-pool and a stride-1 stem: the last stage still sees 4x4 maps from 32x32 inputs.
    y.dispose();
    ps.dispose();
  });

  it('the ConvNet maps images to 8w features and its initialisation is seeded', () => {
    const run = (seed: number) => {
      const ps = new ParamStore(seed);
      const enc = makeEncoder('enc', { arch: 'convnet', width: 8 }, NORM);
      const x = tf.tidy(() => tf.randomUniform([4, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D);
      const y = tf.tidy(() => enc.forward({ ps, training: false }, x));
      const out = Array.from(y.dataSync());
      tf.dispose([x, y]);
      ps.dispose();
      return out;
    };
    const a = run(1);
    assert.equal(a.length, 4 * 64);
    assert.deepEqual(run(1), a);
    assert.notDeepEqual(run(2), a);
  });

  it('a SimCLR training step leaks no tensors and BatchNorm running statistics move', () => {
    const config = deepMerge<RunConfig>(BASE_DEFAULTS, {
      encoder: { width: 4 },
      head: { hidden: [16], out: 8 },
    });
    const model = simclrV1.build(config, NORM, [32, 32, 3], dataInfo());
    const views = [0, 1].map((s) => tf.randomUniform([8, 32, 32, 3], 0, 1, 'float32', s) as tf.Tensor4D);
    const step = () => {
      const { value, grads } = tf.variableGrads(() => model.loss(views, stepCtx(0, 1)).loss);
      optimizer.apply(model.store.trainable(), grads, 0.1);
      const loss = value.dataSync()[0];
      tf.dispose([value, ...Object.values(grads)]);
      return loss;
    };
    model.store.dryRun = true;
    tf.tidy(() => {
      model.loss(views, stepCtx(0, 1));
    });
    model.store.dryRun = false;
    const optimizer = new Optimizer(config.optimizer, model.store.trainable());
    const runMean = model.store.buffers.get('online.encoder.bn1.running_mean')!;
    const before = Array.from(runMean.dataSync());
    assert.ok(
      before.every((v) => v === 0),
      'dry run left statistics untouched',
    );
    step();
    const n = tf.memory().numTensors;
    const losses = [step(), step(), step()];
    assert.equal(tf.memory().numTensors, n, 'tensor count flat across steps');
    assert.ok(losses.every(Number.isFinite));
    assert.ok(
      Array.from(runMean.dataSync()).some((v) => v !== 0),
      'running mean updated in training mode',
    );
    optimizer.dispose();
    model.store.dispose();
    tf.dispose(views);
  });
});
