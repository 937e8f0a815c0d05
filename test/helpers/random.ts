/** Deterministic test data shared by the kernel tests. */

/**
 * Uniform values in [-1, 1) from mulberry32, so every backend sees identical inputs; scaled and
 * shifted to offset + scale * [-1, 1) when asked (one rounding to float32).
 */
export function uniformArray(n: number, seed: number, scale = 1, offset = 0): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = offset + scale * ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1);
  }
  return out;
}
