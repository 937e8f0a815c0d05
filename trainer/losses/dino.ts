/**
 * DINO's objective (facebookresearch/dino, main_dino.py `DINOLoss`): the student's distribution
 * over K dimensions, softmax(g_s / tau_s), is trained to match the teacher's centred and sharpened
 * one, softmax((g_t - C) / tau_t), for every (teacher global crop, student crop) pair except a crop
 * with itself:
 *
 *   loss = 1/n_terms sum_{t in global} sum_{s != t} mean_b ( -sum_k P_t[b, k] log P_s[b, k] )
 *
 * n_terms = G (V - 1) for G global and V crops in all (2 x 10 - 2 = 18 in the paper). Student crops
 * come in the teacher's order first (global crop i is student crop i). Teacher outputs carry no
 * gradient (detached here).
 */
import * as tf from '@tensorflow/tfjs-core';
import { detach } from './cosine';

export function dinoLoss(
  student: tf.Tensor2D[],
  teacher: tf.Tensor2D[],
  center: tf.Tensor,
  studentTemp: number,
  teacherTemp: number,
): tf.Scalar {
  if (teacher.length > student.length)
    throw new Error(`dino loss: ${teacher.length} teacher crops but only ${student.length} student crops`);
  return tf.tidy(() => {
    const c = tf.reshape(center, [1, -1]);
    const pt = teacher.map((t) => tf.softmax(tf.div(tf.sub(detach(t), c), teacherTemp)) as tf.Tensor2D);
    const logPs = student.map((s) => tf.logSoftmax(tf.div(s, studentTemp)) as tf.Tensor2D);
    let total: tf.Scalar = tf.scalar(0);
    let terms = 0;
    pt.forEach((p, iq) => {
      logPs.forEach((lp, v) => {
        if (v === iq) return;
        total = tf.sub(total, tf.mean(tf.sum(tf.mul(p, lp), 1)));
        terms++;
      });
    });
    if (terms === 0) throw new Error('dino loss: no (teacher, student) crop pair to compare');
    return tf.div(total, terms) as tf.Scalar;
  });
}

/**
 * The centre after one step: C <- m C + (1 - m) mean(teacher outputs), the mean over every row of
 * every global crop (raw head outputs, before centring and temperature). [K].
 */
export function nextCenter(center: tf.Tensor, teacher: tf.Tensor2D[], momentum: number): tf.Tensor1D {
  return tf.tidy(() => {
    const all = teacher.length === 1 ? teacher[0] : tf.concat(teacher, 0);
    const batchCenter = tf.mean(all, 0);
    return tf.add(
      tf.mul(tf.reshape(center, [-1]), momentum),
      tf.mul(batchCenter, 1 - momentum),
    ) as tf.Tensor1D;
  });
}

/**
 * Teacher temperature at `epoch`: DINO's `np.linspace(warmup, final, warmupEpochs)` for the first
 * warmupEpochs epochs (first value `warmup`, last `final`), then `final`.
 */
export function teacherTemperatureAt(
  epoch: number,
  warmup: number,
  final: number,
  warmupEpochs: number,
): number {
  if (epoch >= warmupEpochs) return final;
  if (warmupEpochs === 1) return warmup;
  return warmup + ((final - warmup) * epoch) / (warmupEpochs - 1);
}

/** Mean entropy (nats) of the rows of softmax(logits): ln K when uniform, 0 when one-hot. */
export function meanEntropy(logits: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const lp = tf.logSoftmax(logits);
    return tf.neg(tf.mean(tf.sum(tf.mul(tf.exp(lp), lp), 1))) as tf.Scalar;
  });
}
