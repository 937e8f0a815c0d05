/**
 * Seeded, splittable random numbers.
 *
 * Every random decision in training (data order, augmentation parameters, initialisation) is drawn
 * from a generator derived from `(seed, ...keys)`, e.g. `rngFor(seed, 'augment', step, view)`.
 * Because the stream for a step depends only on its keys, a resumed run replays exactly the
 * randomness an uninterrupted run would have used, with no generator state to checkpoint.
 */

/** 32-bit mix (murmur3 finaliser). */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hashes a seed and a list of keys (numbers or strings) into one 32-bit state. */
export function hashKeys(seed: number, keys: readonly (number | string)[]): number {
  let h = mix32((seed >>> 0) ^ 0x9e3779b9);
  for (const k of keys) {
    if (typeof k === 'number') {
      h = mix32(h ^ mix32((k >>> 0) + 0x632be59b));
      // Keep the high part of large integers (steps beyond 2^32 are not expected, but be safe).
      h = mix32(h ^ Math.floor(k / 4294967296));
    } else {
      for (let i = 0; i < k.length; i++) h = mix32(h ^ (k.charCodeAt(i) + 0x7f4a7c15));
    }
  }
  return h;
}

export class Rng {
  private state: number;
  constructor(state: number) {
    this.state = state >>> 0;
  }
  /** Uniform in [0, 1), 32 bits of randomness (mulberry32). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  bernoulli(p: number): boolean {
    return this.next() < p;
  }
  /** Standard normal (Box-Muller). */
  normal(): number {
    let u = this.next();
    while (u === 0) u = this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  /** Fisher-Yates permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }
}

/** A generator for the stream named by `keys` under `seed`. */
export function rngFor(seed: number, ...keys: (number | string)[]): Rng {
  return new Rng(hashKeys(seed, keys));
}
