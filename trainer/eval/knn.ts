/**
 * Weighted kNN classification of test embeddings against train embeddings (Wu et al. 2018; the
 * monitor used by InstDisc, InvaSpread and lightly): cosine similarity on L2-normalised features,
 * the k most similar training images vote for their class with weight exp(sim / T).
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * Pure voting step: `sims`/`indices` are the top-k similarities and train indices for each of
 * `n` queries (row-major [n, k]). Returns the predicted class of each query.
 */
export function knnVote(
  sims: Float32Array,
  indices: Int32Array,
  n: number,
  k: number,
  trainLabels: Int32Array,
  numClasses: number,
  temperature: number,
): Int32Array {
  const pred = new Int32Array(n);
  const scores = new Float64Array(numClasses);
  for (let q = 0; q < n; q++) {
    scores.fill(0);
    for (let j = 0; j < k; j++) {
      const idx = indices[q * k + j];
      scores[trainLabels[idx]] += Math.exp(sims[q * k + j] / temperature);
    }
    let best = 0;
    for (let c = 1; c < numClasses; c++) if (scores[c] > scores[best]) best = c;
    pred[q] = best;
  }
  return pred;
}

/**
 * Top-1 accuracy of weighted kNN. `train`/`test` are [n, d] feature tensors (normalised here).
 * Similarities are computed in chunks so the [nTest, nTrain] matrix never exists at once.
 */
export async function knnTop1(
  train: tf.Tensor2D,
  trainLabels: Int32Array,
  test: tf.Tensor2D,
  testLabels: Int32Array,
  numClasses: number,
  k: number,
  temperature: number,
  chunk = 256,
): Promise<number> {
  const kk = Math.min(k, train.shape[0]);
  const trainN = tf.tidy(() => l2n(train));
  let correct = 0;
  try {
    for (let start = 0; start < test.shape[0]; start += chunk) {
      const size = Math.min(chunk, test.shape[0] - start);
      const { values, indices } = tf.tidy(() => {
        const q = l2n(tf.slice(test, [start, 0], [size, -1]));
        return tf.topk(tf.matMul(q, trainN, false, true), kk, true);
      });
      const sims = (await values.data()) as Float32Array;
      const idx = (await indices.data()) as Int32Array;
      values.dispose();
      indices.dispose();
      const pred = knnVote(sims, idx, size, kk, trainLabels, numClasses, temperature);
      for (let i = 0; i < size; i++) if (pred[i] === testLabels[start + i]) correct++;
    }
  } finally {
    trainN.dispose();
  }
  return correct / test.shape[0];
}

function l2n(x: tf.Tensor2D): tf.Tensor2D {
  return tf.div(x, tf.maximum(tf.norm(x, 'euclidean', 1, true), 1e-12));
}
