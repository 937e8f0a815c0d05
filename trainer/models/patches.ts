/**
 * CPC's overlapping patch grid (van den Oord et al. 2018, image experiments): a 256-pixel image is
 * cut into a 7 x 7 grid of 64-pixel patches with a 32-pixel stride (50 % overlap). The grid is
 * scale-free: `grid` patches per side, each 2s pixels with stride s, where s = side / (grid + 1),
 * so a 32-pixel image with grid 7 gives 8-pixel patches with a 4-pixel stride.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface PatchGeometry {
  grid: number;
  /** Patch side in pixels (2 x stride). */
  patch: number;
  stride: number;
}

/** The geometry for a square image of `side` pixels, or an error naming the fix. */
export function patchGeometry(side: number, grid: number): PatchGeometry {
  if (!Number.isInteger(grid) || grid < 2) {
    throw new Error(`CPC: params.patchGrid must be an integer of at least 2, got ${grid}.`);
  }
  const stride = side / (grid + 1);
  if (!Number.isInteger(stride)) {
    const fits = [];
    for (let g = 2; g < side && fits.length < 4; g++) if (side % (g + 1) === 0) fits.push(g);
    throw new Error(
      `CPC: a ${grid} x ${grid} grid of half-overlapping patches needs the view side (${side} px) to be a multiple of patchGrid + 1 = ${grid + 1}; ` +
        `set params.patchGrid to one of ${fits.join(', ')} or augment.size to a multiple of ${grid + 1} (e.g. ${Math.ceil(side / (grid + 1)) * (grid + 1)}).`,
    );
  }
  return { grid, patch: 2 * stride, stride };
}

/**
 * Flat indices into one image [H W C] of every patch pixel, in the order of `extractPatches`;
 * cached per geometry (one gather then cuts a whole batch: a 6-D transpose is slow on wasm).
 */
const indexCache = new Map<string, Int32Array>();
function patchIndices(side: number, channels: number, g: PatchGeometry): Int32Array {
  const key = `${side}/${channels}/${g.grid}`;
  const hit = indexCache.get(key);
  if (hit) return hit;
  const { grid: n, patch: p, stride: s } = g;
  const out = new Int32Array(n * n * p * p * channels);
  let o = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++)
      for (let y = 0; y < p; y++)
        for (let x = 0; x < p; x++)
          for (let c = 0; c < channels; c++) out[o++] = ((i * s + y) * side + j * s + x) * channels + c;
  indexCache.set(key, out);
  return out;
}

/**
 * Cuts `x` [B, H, W, C] (H = W = (grid + 1) s) into its grid of patches: [B grid grid, 2s, 2s, C],
 * ordered image by image, then row by row (top first), then column.
 */
export function extractPatches(x: tf.Tensor4D, grid: number): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  if (h !== w) throw new Error(`CPC: patches need square views, got ${h} x ${w}.`);
  const g = patchGeometry(h, grid);
  return tf.tidy(() => {
    const flat = tf.reshape(x, [b, h * w * c]);
    const idx = tf.tensor1d(patchIndices(h, c, g), 'int32');
    return tf.reshape(tf.gather(flat, idx, 1), [b * grid * grid, g.patch, g.patch, c]) as tf.Tensor4D;
  });
}
