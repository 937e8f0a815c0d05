/**
 * InstDisc (Wu, Xiong, Yu, Lin, CVPR 2018): every training image is its own class. One augmented
 * view per image; its embedding f = norm(fc(backbone(x))) must pick out the image's own entry of a
 * memory bank (the feature the image got when last seen) among K sampled entries (NCE) or among all
 * N entries (non-parametric softmax). zhirongw/lemniscate.pytorch: lib/NCEAverage.py,
 * lib/NCECriterion.py, lib/LinearAverage.py, main.py, cifar.py.
 *
 * Per step:
 *   f = norm(head(encoder(x)))                      head: Linear to 128 (config.head)
 *   noise: K indices uniform over [0, N) per image  (rngFor(seed, 'nce', step))
 *   loss = NCE(f . V[i, noise] / tau, Z)  or  CE over f . V / tau   (losses/nce.ts)
 *   afterStep: V[i] <- norm(m V[i] + (1 - m) f)     (m = params.bankMomentum, 0.5)
 * Z is estimated on the first training batch (N times the mean of exp(v . f / tau) over the
 * sampled entries), then frozen and checkpointed. The bank is never trained; lemniscate updates it
 * in backward with the forward's features, i.e. after the loss, as afterStep does here with the
 * features kept from `loss`.
 * Two options for short runs, off in the paper preset (memory-bank.ts): head.outputBn (BatchNorm
 * without scale or shift on the 128-d output) and params.bankInit 'first-write' (rows start from
 * each image's first feature; the first epoch only fills the bank).
 */
import * as tf from '@tensorflow/tfjs-core';
import { makeEncoder } from '../models/encoders';
import type { Ctx } from '../models/layers';
import { ParamStore } from '../models/params';
import { rngFor } from '../rng';
import { instdiscInfo } from './info/instdisc';
import { bankEmbedding, bankLoss, bankObjective, MemoryBank, NceConstant, sampleNoise } from './memory-bank';
import type { Method, MethodModel } from './types';

/** lemniscate's ImageNet defaults, for params a hand-written config leaves out. */
export const INSTDISC_DEFAULTS = { bankLoss: 'nce', nceK: 4096, bankMomentum: 0.5 } as const;

export interface InstDiscModel extends MethodModel {
  bank: MemoryBank;
  z: NceConstant;
  /** Normalised embeddings [B, d] (training-mode BatchNorm; running statistics updated). */
  embed(x: tf.Tensor4D): tf.Tensor2D;
}

export const instdisc: Method = {
  info: instdiscInfo,
  build(config, norm, _shape, data): InstDiscModel {
    const obj = bankObjective(config.params, INSTDISC_DEFAULTS);
    const store = new ParamStore(config.seed);
    const encoder = makeEncoder('online.encoder', config.encoder, norm);
    const bank = new MemoryBank(store, 'bank', data.trainSize, config.head.out, obj.init);
    const z = new NceConstant(store, 'bank.log_z');
    let pending: { f: tf.Tensor2D; indices: Int32Array } | null = null;

    const embed = (x: tf.Tensor4D): tf.Tensor2D =>
      tf.tidy(() => {
        const ctx: Ctx = { ps: store, training: true };
        return bankEmbedding(ctx, 'online.head', encoder.forward(ctx, x), config.head);
      });

    return {
      store,
      views: 1,
      bank,
      z,
      embed,
      loss([x], ctx) {
        const f = embed(x);
        const noise =
          obj.k > 0 ? sampleNoise(rngFor(config.seed, 'nce', ctx.step), f.shape[0], obj.k, bank.size) : null;
        const { loss, posSim, negSim } = bankLoss(f, bank, ctx.indices, noise, obj, z);
        if (!store.dryRun) {
          pending?.f.dispose();
          pending = { f: tf.keep(f), indices: Int32Array.from(ctx.indices) };
        }
        // Cosine of each feature and its bank entry (the stale positive), and of the negatives.
        return { loss, extra: { pos_sim: posSim, neg_sim: negSim } };
      },
      features(x) {
        return encoder.forward({ ps: store, training: false }, x);
      },
      afterStep() {
        if (!pending) return;
        bank.update(pending.indices, pending.f, obj.momentum);
        pending.f.dispose();
        pending = null;
      },
    };
  },
};
