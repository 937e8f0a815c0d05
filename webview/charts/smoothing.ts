/**
 * TensorBoard-style debiased exponential moving average. Pure: the chart runs it on the
 * full-resolution series BEFORE decimation, so a spike the decimator keeps is smoothed exactly as
 * TensorBoard would smooth it, whatever the zoom level.
 */

/** Running state, so a streaming series is extended without recomputing from the start. */
export interface EmaState {
  /** The biased accumulator (`last` in TensorBoard). */
  last: number;
  /** weight^n, where n counts the finite values accumulated so far. */
  weightPow: number;
}

export function newEmaState(): EmaState {
  return { last: 0, weightPow: 1 };
}

function checkWeight(weight: number): void {
  // weight = 1 would freeze the accumulator at 0 and divide 0 by 0 forever after debiasing.
  if (!(weight >= 0 && weight < 1)) throw new RangeError(`smoothing weight must be in [0, 1), got ${weight}`);
}

/**
 * Smooths `values[from..to)` into `out[from..to)`, continuing from `state` (updated in place).
 * NaN and ±Infinity are copied through unchanged and do not advance the debiasing count, so a
 * gap in a metric neither poisons the average nor distorts the start-up correction.
 */
export function debiasedEmaRange(
  values: ArrayLike<number>,
  weight: number,
  out: Float64Array,
  from: number,
  to: number,
  state: EmaState,
): void {
  checkWeight(weight);
  let { last, weightPow } = state;
  const keep = 1 - weight;
  let i = from;
  // Dividing by (1 - w^n) removes the bias towards the initial 0 of the accumulator.
  for (; i < to && 1 - weightPow !== 1; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) {
      out[i] = v;
      continue;
    }
    last = last * weight + keep * v;
    weightPow *= weight;
    out[i] = last / (1 - weightPow);
  }
  // Once 1 - w^n rounds to 1 (after ~40 / -log2(w) points) the division changes nothing, bit for
  // bit: skip it (a million-point series spends most of its smoothing time dividing otherwise).
  for (; i < to; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) {
      out[i] = v;
      continue;
    }
    last = last * weight + keep * v;
    out[i] = last;
  }
  state.last = last;
  state.weightPow = weightPow;
}

/** `debiased[i] = last_i / (1 - w^(n_i))` with `last_i = last_{i-1}·w + (1-w)·v_i` (TensorBoard). */
export function debiasedEma(values: Float64Array | number[], weight: number): Float64Array {
  const out = new Float64Array(values.length);
  debiasedEmaRange(values, weight, out, 0, values.length, newEmaState());
  return out;
}
