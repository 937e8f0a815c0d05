/**
 * SimCLR v1 (Chen et al., ICML 2020): two augmented views per image, an encoder and an MLP
 * projection head, NT-Xent over the 2B views of the batch. BatchNorm sees both views together
 * (the 2B concatenation), as SimCLR's global BN does on one device.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ntXent } from '../losses/ntxent';
import { makeEncoder } from '../models/encoders';
import { projectionHead } from '../models/heads';
import { type Ctx, l2Normalize } from '../models/layers';
import { ParamStore } from '../models/params';
import { simclrV1Info } from './info/simclr-v1';
import type { Method } from './types';

export const simclrV1: Method = {
  info: simclrV1Info,
  build(config, norm) {
    const store = new ParamStore(config.seed);
    const encoder = makeEncoder('online.encoder', config.encoder, norm);
    const tau = config.params.temperature;
    return {
      store,
      views: 2,
      loss(views) {
        const ctx: Ctx = { ps: store, training: true };
        const b = views[0].shape[0];
        const x = tf.concat(views, 0);
        const h = encoder.forward(ctx, x);
        const z = projectionHead(ctx, 'online.head', h, config.head);
        const z1 = tf.slice(z, [0, 0], [b, -1]) as tf.Tensor2D;
        const z2 = tf.slice(z, [b, 0], [b, -1]) as tf.Tensor2D;
        const loss = ntXent(z1, z2, tau);
        // Mean cosine similarity of positive pairs: a cheap signal of how well views align.
        const posSim = tf.mean(tf.sum(tf.mul(l2Normalize(z1), l2Normalize(z2)), 1)) as tf.Scalar;
        return { loss, extra: { pos_sim: posSim } };
      },
      features(x) {
        return encoder.forward({ ps: store, training: false }, x);
      },
    };
  },
};
