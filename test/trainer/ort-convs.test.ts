/**
 * The onnxruntime convolution kernels (trainer/backend/ort-convs.ts) and the ONNX writer they use,
 * against the real ONNX Runtime from onnxruntime-node (an optional dependency that CI installs).
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BackendInfo } from '../../trainer/backend/choose';
import { encodeModel } from '../../trainer/backend/onnx-model';
import {
  type ConvGeometry,
  filterGradGraph,
  forwardGraph,
  inputGradAsConv,
  inputGradGraph,
  stridedPointwise,
  unsupportedReason,
} from '../../trainer/backend/ort-conv-graphs';
import { loadOrt } from '../../trainer/backend/ort-convs';
import type { CaseResult, ConvCase } from '../helpers/ort-conv-child';

const ROOT = path.join(__dirname, '..', '..');

describe('onnxruntime convolution kernels', function () {
  this.timeout(180_000);

  it('writes ONNX models that ONNX Runtime loads and runs: int64 constants, symbolic dims', async () => {
    // Reshape by a constant and a transpose: the result is checked element by element.
    const bytes = encodeModel({
      nodes: [
        { op: 'Reshape', inputs: ['a', 'shape'], outputs: ['b'] },
        { op: 'Transpose', inputs: ['b'], outputs: ['c'], attrs: { perm: [1, 0] } },
      ],
      inputs: [{ name: 'a', dims: ['n', 6] }],
      outputs: [{ name: 'c', dims: [3, 'm'] }],
      int64: { shape: [-1, 3] },
    });
    const ort = (await import('onnxruntime-node')) as typeof import('onnxruntime-node');
    const session = await ort.InferenceSession.create(bytes);
    const a = Float32Array.from({ length: 12 }, (_, i) => i);
    const { c } = await session.run({ a: new ort.Tensor('float32', a, [2, 6]) });
    // a as [4, 3], transposed: c[i][j] = a[j * 3 + i].
    assert.deepEqual(c.dims, [3, 4]);
    const expected = Array.from({ length: 12 }, (_, k) => Math.floor(k % 4) * 3 + Math.floor(k / 4));
    assert.deepEqual(Array.from(c.data as Float32Array), expected);
    await session.release();
  });

  it('builds a loadable graph for each kernel and geometry kind', async () => {
    const ort = (await import('onnxruntime-node')) as typeof import('onnxruntime-node');
    const geoms: ConvGeometry[] = [
      geom(8, 3, 4, 3, 1, 1, { top: 1, bottom: 1, left: 1, right: 1 }),
      geom(8, 4, 6, 1, 2, 1, { top: 0, bottom: 0, left: 0, right: 0 }),
      geom(9, 2, 3, 3, 2, 2, { top: 1, bottom: 2, left: 2, right: 1 }),
      // Stride 1 with 32 input channels: the input gradient as a forward Conv of the flipped filter.
      geom(6, 32, 4, 3, 1, 1, { top: 2, bottom: 0, left: 1, right: 2 }),
    ];
    assert.deepEqual(
      geoms.map((g) => inputGradAsConv(g)),
      [false, false, false, true],
    );
    // A strided 1x1 without padding: forward and input gradient as GEMMs in NHWC.
    assert.deepEqual(
      geoms.map((g) => stridedPointwise(g)),
      [false, true, false, false],
    );
    for (const g of geoms) {
      assert.equal(unsupportedReason(g), null);
      for (const graph of [forwardGraph(g), inputGradGraph(g), filterGradGraph(g)]) {
        const s = await ort.InferenceSession.create(encodeModel(graph));
        assert.deepEqual(
          s.inputNames,
          graph.inputs.map((i) => i.name),
        );
        await s.release();
      }
    }
  });

  it('says why a geometry cannot run as ONNX graphs (output size not what the pads give)', () => {
    // 7 rows, k 2, stride 2, no pad: floor gives 3 rows, not 4.
    const g = {
      ...geom(7, 2, 2, 2, 2, 1, { top: 0, bottom: 0, left: 0, right: 0 }),
      outHeight: 4,
      outWidth: 4,
    };
    assert.match(unsupportedReason(g) ?? '', /output 4x4 is not ONNX's 3x3/);
  });

  it('conv, dx and dW match the cpu backend for every geometry, in a fresh process', () => {
    const cases: ConvCase[] = [
      { label: '3x3 same s1 (the ResNet body)', x: [5, 8, 8, 6], k: [3, 3], out: 7, stride: 1, pad: 'same' },
      { label: '3x3 same s2, odd size', x: [3, 9, 9, 4], k: [3, 3], out: 5, stride: 2, pad: 'same' },
      { label: '1x1 s2 shortcut', x: [4, 8, 8, 5], k: [1, 1], out: 6, stride: 2, pad: 'same' },
      // Odd sizes and unequal strides: the scattered input gradient is trimmed in both axes.
      {
        label: '1x1 stride [2,3], odd size',
        x: [3, 9, 7, 4],
        k: [1, 1],
        out: 5,
        stride: [2, 3],
        pad: 'valid',
      },
      { label: '1x1 s1', x: [4, 5, 5, 5], k: [1, 1], out: 3, stride: 1, pad: 'valid' },
      { label: 'stem: 3 channels', x: [6, 10, 10, 3], k: [3, 3], out: 8, stride: 1, pad: 'same' },
      { label: 'valid 5x3, stride [2,1]', x: [2, 11, 9, 3], k: [5, 3], out: 4, stride: [2, 1], pad: 'valid' },
      {
        label: 'explicit pads',
        x: [2, 7, 6, 3],
        k: [3, 2],
        out: 4,
        stride: 1,
        pad: [
          [0, 0],
          [2, 0],
          [1, 1],
          [0, 0],
        ],
      },
      {
        label: 'patchify (ViT: k = stride = 4)',
        x: [3, 8, 8, 3],
        k: [4, 4],
        out: 8,
        stride: 4,
        pad: 'valid',
      },
      // Stride 1 with >= 32 input channels: dx as a forward conv of the flipped filter.
      { label: '3x3 same s1, 32 channels', x: [3, 6, 6, 32], k: [3, 3], out: 5, stride: 1, pad: 'same' },
      {
        label: 'explicit asymmetric pads, 32 channels',
        x: [2, 7, 6, 32],
        k: [3, 2],
        out: 3,
        stride: 1,
        pad: [
          [0, 0],
          [2, 0],
          [0, 1],
          [0, 0],
        ],
      },
      // The child sets a 16 KB chunk budget: this batch runs one image per chunk.
      { label: 'chunked batch', x: [12, 16, 16, 8], k: [3, 3], out: 16, stride: 1, pad: 'same' },
      {
        label: 'ceil rounding (windows past the input read zeros)',
        x: [2, 7, 7, 2],
        k: [2, 2],
        out: 3,
        stride: 2,
        pad: 0,
        rounding: 'ceil',
      },
    ];
    const out = execFileSync(
      process.execPath,
      [require.resolve('tsx/cli'), path.join(ROOT, 'test/helpers/ort-conv-child.ts'), JSON.stringify(cases)],
      { encoding: 'utf8', cwd: ROOT },
    );
    const res = JSON.parse(out.trim().split('\n').at(-1)!) as {
      backend: string;
      reason: string;
      registered: boolean;
      results: CaseResult[];
      tensorsBefore: number;
      tensorsAfter: number;
    };
    // Every kernel call's tensors were released (the kernels allocate only their outputs).
    assert.equal(res.tensorsAfter, res.tensorsBefore, 'tensors leaked');
    assert.equal(res.backend, 'onnxruntime');
    assert.match(res.reason, /onnxruntime .* for convolutions .*wasm .*1 thread/);
    assert.ok(res.registered);
    for (const r of res.results) {
      // y, then forward + dx + dW under tf.grads: four kernel calls, all served natively (the ceil
      // case forward only: tfjs's gradient of a ceil-rounded conv drops the rounding upstream).
      assert.equal(r.ortCalls, r.label.startsWith('ceil') ? 1 : 4, `${r.label}: calls served by onnxruntime`);
      assert.equal(r.fallbackCalls, 0, `${r.label}: calls that fell back`);
      r.ortVsCpu.forEach((e, i) => {
        assert.ok(e < 2e-5, `${r.label}: ${['y', 'dx', 'dW'][i]} differs from cpu by ${e}`);
      });
    }
  });

  it("'auto' picks onnxruntime in a fresh process and says why the tfjs-node packages were skipped", () => {
    const out = execFileSync(
      process.execPath,
      [require.resolve('tsx/cli'), path.join(ROOT, 'test/helpers/ort-conv-child.ts'), 'auto'],
      { encoding: 'utf8', cwd: ROOT, env: { ...process.env, CONTRASTIVE_LAB_BACKEND: '' } },
    );
    const info = JSON.parse(out.trim().split('\n').at(-1)!) as BackendInfo;
    assert.equal(info.name, 'onnxruntime');
    assert.equal(info.tfBackend, 'wasm');
    assert.deepEqual(
      info.tried.map((t) => t.name),
      ['tensorflow-gpu', 'tensorflow'],
    );
    assert.match(info.reason, /tfjs-node not installed; using onnxruntime \d+\.\d+\.\d+ for convolutions/);
  });

  it('loads the synchronous binding of exactly the pinned version (its internals are relied on)', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      optionalDependencies: Record<string, string>;
    };
    assert.equal(loadOrt().version, pkg.optionalDependencies['onnxruntime-node']);
    // The editor's "Install Native CPU Kernels" installs the same version.
    const installer = fs.readFileSync(path.join(ROOT, 'extension/backendPackages.ts'), 'utf8');
    assert.ok(
      installer.includes(`spec: 'onnxruntime-node@${loadOrt().version}'`),
      'extension/backendPackages.ts pin',
    );
  });
});

function geom(
  h: number,
  ci: number,
  co: number,
  k: number,
  stride: number,
  dilation: number,
  pad: ConvGeometry['pad'],
): ConvGeometry {
  const out = (n: number, p0: number, p1: number) =>
    Math.floor((n + p0 + p1 - ((k - 1) * dilation + 1)) / stride) + 1;
  return {
    inHeight: h,
    inWidth: h,
    inChannels: ci,
    outHeight: out(h, pad.top, pad.bottom),
    outWidth: out(h, pad.left, pad.right),
    outChannels: co,
    filterHeight: k,
    filterWidth: k,
    strideHeight: stride,
    strideWidth: stride,
    dilationHeight: dilation,
    dilationWidth: dilation,
    pad,
  };
}
