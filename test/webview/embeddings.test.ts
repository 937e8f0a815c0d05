import * as assert from 'node:assert/strict';
import type { EmbeddingFile } from '../../trainer/eval/contract';
import { isEmbeddingsFromWebview, isEmbeddingsToWebview } from '../../webview/embeddings/messages';
import {
  availableProjections,
  classColour,
  decodeBase64,
  embeddingsProblem,
  heatmapRgba,
  imageRgba,
  meanMap,
  pointsByClass,
  viridis,
} from '../../webview/embeddings/points';

function file(over: Partial<EmbeddingFile> = {}): EmbeddingFile {
  const labels = [2, 0, 2, 1, 0];
  const n = labels.length;
  const pixels = Buffer.alloc(n * 2 * 3 * 1);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 37) % 256;
  return {
    format: 'contrastive-lab/embeddings',
    version: 1,
    checkpoint: 'checkpoints/step-00000008.safetensors',
    method: 'simclr-v1',
    step: 8,
    epoch: 2,
    classNames: ['zero', 'one', 'two'],
    indices: [10, 11, 12, 13, 14],
    labels,
    projections: { pca: { x: [0, 1, 2, 3, 4], y: [4, 3, 2, 1, 0], explainedVariance: [0.4, 0.2] } },
    images: { height: 2, width: 3, channels: 1, pixelsBase64: pixels.toString('base64') },
    ...over,
  };
}

describe('embeddings view helpers', () => {
  it('decodes base64 to the same bytes as Node', () => {
    const bytes = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 91 + 7) % 256));
    assert.deepEqual(Buffer.from(decodeBase64(bytes.toString('base64'))), bytes);
  });

  it('accepts a well-formed file and names the field at fault otherwise', () => {
    assert.equal(embeddingsProblem(file()), undefined);
    assert.match(embeddingsProblem({ ...file(), format: 'x' })!, /"format"/);
    assert.match(embeddingsProblem({ ...file(), version: 2 })!, /"version" 2 is not supported/);
    assert.match(embeddingsProblem(file({ indices: [1] }))!, /"indices" has 1 entries but "labels" has 5/);
    assert.match(
      embeddingsProblem(file({ projections: { pca: { x: [1], y: [1], explainedVariance: [1, 0] } } }))!,
      /"projections.pca" must have x and y with 5 entries/,
    );
    assert.match(embeddingsProblem(file({ projections: {} }))!, /no projection/);
    assert.deepEqual(availableProjections(file()), ['pca']);
  });

  it('groups points by class in label order', () => {
    const groups = pointsByClass(file({ labels: [2, 0, 2, 7, 0], classNames: ['zero', 'one', 'two'] }));
    assert.deepEqual(groups, [
      { label: 0, name: 'zero', points: [1, 4] },
      { label: 2, name: 'two', points: [0, 2] },
      { label: 7, name: 'class 7', points: [3] },
    ]);
  });

  it('turns N x H x W x C pixels into RGBA for one image (grey and colour)', () => {
    const h = 2;
    const w = 3;
    for (const c of [1, 3]) {
      const n = 4;
      const px = new Uint8Array(n * h * w * c).map((_, i) => (i * 13 + c) % 256);
      const k = 2;
      const got = imageRgba(px, k, h, w, c);
      assert.equal(got.length, h * w * 4);
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          const at = ((k * h + y) * w + x) * c;
          const want = c === 1 ? [px[at], px[at], px[at], 255] : [px[at], px[at + 1], px[at + 2], 255];
          assert.deepEqual(
            [...got.subarray((y * w + x) * 4, (y * w + x) * 4 + 4)],
            want,
            `c=${c} y=${y} x=${x}`,
          );
        }
    }
  });

  it('maps attention from its min..max onto viridis and averages heads', () => {
    assert.deepEqual(viridis(0), [68, 1, 84]);
    assert.deepEqual(viridis(1), [253, 231, 37]);
    assert.deepEqual(viridis(0.125), [64, 42, 112], 'half way between the first two stops, rounded');
    const rgba = heatmapRgba([0.1, 0.3, 0.2, 0.3]);
    assert.deepEqual([...rgba.subarray(0, 4)], [68, 1, 84, 255], 'the minimum is the darkest');
    assert.deepEqual([...rgba.subarray(4, 8)], [253, 231, 37, 255], 'the maximum the brightest');
    assert.deepEqual([...rgba.subarray(8, 12)], [...viridis(0.5), 255]);
    const m = meanMap([
      [0.1, 0.2, 0.7],
      [0.3, 0.3, 0.4],
    ]);
    for (const [i, v] of [0.2, 0.25, 0.55].entries()) assert.ok(Math.abs(m[i] - v) < 1e-12);
    assert.notEqual(classColour(0), classColour(1));
    assert.equal(classColour(20), classColour(0));
  });

  it('message guards accept the contract and reject the rest', () => {
    assert.ok(isEmbeddingsFromWebview({ type: 'ready' }));
    assert.ok(isEmbeddingsFromWebview({ type: 'recompute', umap: false }));
    assert.ok(!isEmbeddingsFromWebview({ type: 'recompute' }));
    assert.ok(isEmbeddingsToWebview({ type: 'embeddings', data: file(), file: '/x.json' }));
    assert.ok(isEmbeddingsToWebview({ type: 'progress', fraction: 0.5, message: '' }));
    assert.ok(!isEmbeddingsToWebview({ type: 'progress', fraction: '0.5' }));
  });
});
