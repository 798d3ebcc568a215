// The wasm convolution-gradient kernels (src/engine/kernels/conv-backprop-kernels.ts) against the cpu
// backend's own kernels: Conv2DBackpropInput/Filter and DepthwiseConv2dNativeBackpropInput/Filter, run
// directly (engine.runKernel) on several shapes, kernel sizes, strides 1 and 2 (and unequal), 'same',
// 'valid' and explicit padding, channel multipliers 1 and 2; then through the gradients of tfjs's fused
// ops (what a converted graph-model runs), and with the fast paths switched off (BENCH_DISABLE_FAST).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { SampleStream } from '../../src/engine/rng.js';
import { setDisabledFastPaths } from '../../src/engine/fastPaths.js';
import { cpuFallbacksRun, resetCpuFallbacksRun, setCpuFallbackWarning } from '../../src/engine/kernels/index.js';

type Shape4 = [number, number, number, number];
type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];

function randomArray(n: number, key: string): Float32Array {
  const s = new SampleStream(23, key, 0);
  return Float32Array.from({ length: n }, () => s.normal());
}
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** max |actual - expected| <= rtol * max |expected| (the kernels sum in different orders). */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string, rtol = 2e-5) {
  expect(actual.length, label).toBe(expected.length);
  let maxDiff = 0, maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
    maxRef = Math.max(maxRef, Math.abs(expected[i]));
  }
  expect(maxRef, label).toBeGreaterThan(0);
  expect(maxDiff, label).toBeLessThanOrEqual(rtol * maxRef);
}

async function use(backend: string) {
  await tf.setBackend(backend);
  await tf.ready();
}

interface Case {
  xs: Shape4;
  k: [number, number];
  /** Output channels (conv) or channel multiplier (depthwise). */
  out: number;
  strides: number | [number, number];
  pad: Pad;
}

const CASES: Case[] = [
  { xs: [2, 9, 9, 3], k: [3, 3], out: 4, strides: 1, pad: 'same' },
  { xs: [2, 9, 9, 3], k: [3, 3], out: 4, strides: 2, pad: 'same' },
  { xs: [2, 8, 8, 3], k: [3, 3], out: 2, strides: 2, pad: 'same' },
  { xs: [2, 8, 7, 2], k: [3, 3], out: 3, strides: 2, pad: 'valid' },
  { xs: [1, 9, 10, 2], k: [3, 3], out: 2, strides: 1, pad: 'valid' },
  { xs: [2, 7, 7, 4], k: [1, 1], out: 3, strides: 2, pad: 'valid' },
  { xs: [2, 10, 9, 2], k: [5, 3], out: 2, strides: [2, 1], pad: 'same' },
  { xs: [1, 11, 11, 3], k: [2, 2], out: 2, strides: 2, pad: 'same' },
  { xs: [2, 8, 8, 2], k: [3, 3], out: 2, strides: 2, pad: [[0, 0], [1, 0], [0, 2], [0, 0]] },
];

function caseName(c: Case) {
  return `x ${c.xs.join('x')} k ${c.k.join('x')} out ${c.out} stride ${JSON.stringify(c.strides)} pad ${JSON.stringify(c.pad)}`;
}

/** Runs one backprop kernel directly on the current backend and reads its result. */
function runKernel(name: string, inputs: Record<string, Float32Array>, shapes: Record<string, number[]>, attrs: object): { shape: number[]; values: Float32Array } {
  const ts: Record<string, tf.Tensor> = {};
  for (const k of Object.keys(inputs)) ts[k] = tf.tensor(inputs[k], shapes[k]);
  const out = tf.engine().runKernel(name, ts as unknown as tf.NamedTensorMap, attrs as never) as tf.Tensor;
  const res = { shape: out.shape, values: out.dataSync() as Float32Array };
  tf.dispose([out, ...Object.values(ts)]);
  return res;
}

function compareOnBackends(name: string, inputs: Record<string, Float32Array>, shapes: Record<string, number[]>, attrs: object) {
  return async () => {
    await use('cpu');
    const ref = runKernel(name, inputs, shapes, attrs);
    await use('wasm');
    const before = tf.memory().numTensors;
    const wasmNumBytes = (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
    const got = runKernel(name, inputs, shapes, attrs);
    expect(tf.memory().numTensors).toBe(before);
    expect((tf.backend() as unknown as { numDataIds(): number }).numDataIds(), 'no wasm buffer leaked').toBe(wasmNumBytes);
    expect(got.shape).toEqual(ref.shape);
    expectClose(got.values, ref.values, name);
  };
}

let restoreWarning: (line: string) => void;
beforeAll(async () => {
  await initBackend('wasm');
  restoreWarning = setCpuFallbackWarning(() => {});
  resetCpuFallbacksRun();
});
afterAll(() => {
  setDisabledFastPaths(null);
  setCpuFallbackWarning(restoreWarning);
});

describe.each(CASES)('conv2d backprop kernels on wasm = cpu: $xs $k out $out stride $strides pad $pad', (c) => {
  const filterShape: Shape4 = [c.k[0], c.k[1], c.xs[3], c.out];
  const info = tf.backend_util.computeConv2DInfo(c.xs, filterShape, c.strides, 1, c.pad, undefined, false);
  const dyShape = info.outShape;
  const x = randomArray(size(c.xs), `x${caseName(c)}`), w = randomArray(size(filterShape), `w${caseName(c)}`);
  const dy = randomArray(size(dyShape), `dy${caseName(c)}`);
  const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: undefined };
  it('Conv2DBackpropInput', compareOnBackends('Conv2DBackpropInput', { dy, filter: w }, { dy: dyShape, filter: filterShape }, { ...attrs, inputShape: c.xs }));
  it('Conv2DBackpropFilter', compareOnBackends('Conv2DBackpropFilter', { x, dy }, { x: c.xs, dy: dyShape }, { ...attrs, filterShape }));
});

describe.each(CASES.flatMap((c) => [c, { ...c, out: c.out === 1 ? 2 : 1 }]))('depthwise backprop kernels on wasm = cpu: $xs $k multiplier $out stride $strides pad $pad', (c) => {
  const filterShape: Shape4 = [c.k[0], c.k[1], c.xs[3], c.out];
  const info = tf.backend_util.computeConv2DInfo(c.xs, filterShape, c.strides, 1, c.pad, undefined, true);
  const dyShape = info.outShape;
  const x = randomArray(size(c.xs), `dx${caseName(c)}`), w = randomArray(size(filterShape), `dw${caseName(c)}`);
  const dy = randomArray(size(dyShape), `ddy${caseName(c)}`);
  const attrs = { strides: c.strides, pad: c.pad, dilations: 1, dimRoundingMode: undefined };
  it('DepthwiseConv2dNativeBackpropInput', compareOnBackends('DepthwiseConv2dNativeBackpropInput', { dy, filter: w }, { dy: dyShape, filter: filterShape }, { ...attrs, inputShape: c.xs }));
  it('DepthwiseConv2dNativeBackpropFilter', compareOnBackends('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { x: c.xs, dy: dyShape }, { ...attrs, filterShape }));
});

/** Gradients of sum(op(x, w, b) * r) w.r.t. x, w and b, read back. */
function fusedGrads(kind: 'conv' | 'depthwise', xs: Shape4, ws: Shape4, strides: number, pad: 'same' | 'valid', activation: 'linear' | 'relu') {
  return tf.tidy(() => {
    const x = tf.tensor4d(randomArray(size(xs), 'fx'), xs), w = tf.tensor4d(randomArray(size(ws), 'fw'), ws);
    const outC = kind === 'conv' ? ws[3] : ws[2] * ws[3];
    const b = tf.tensor1d(randomArray(outC, 'fb'));
    const op = (a: tf.Tensor, f: tf.Tensor, bias: tf.Tensor) => kind === 'conv'
      ? tf.fused.conv2d({ x: a as tf.Tensor4D, filter: f as tf.Tensor4D, strides, pad, bias, activation })
      : tf.fused.depthwiseConv2d({ x: a as tf.Tensor4D, filter: f as tf.Tensor4D, strides, pad, bias, activation });
    const y = op(x, w, b);
    const r = tf.tensor(randomArray(y.size, 'fr'), y.shape);
    const grads = tf.grads((a: tf.Tensor, f: tf.Tensor, bias: tf.Tensor) => tf.sum(tf.mul(op(a, f, bias), r)))([x, w, b]);
    return grads.map((g) => g.dataSync().slice() as Float32Array);
  });
}

describe('gradients of the fused ops of converted graph-models', () => {
  it.each([
    { kind: 'conv' as const, xs: [2, 16, 16, 3] as Shape4, ws: [3, 3, 3, 8] as Shape4, strides: 2, pad: 'same' as const, activation: 'linear' as const },
    { kind: 'conv' as const, xs: [2, 8, 8, 8] as Shape4, ws: [1, 1, 8, 16] as Shape4, strides: 1, pad: 'same' as const, activation: 'linear' as const },
    { kind: 'depthwise' as const, xs: [2, 16, 16, 8] as Shape4, ws: [3, 3, 8, 1] as Shape4, strides: 2, pad: 'same' as const, activation: 'linear' as const },
    { kind: 'depthwise' as const, xs: [2, 9, 9, 4] as Shape4, ws: [3, 3, 4, 1] as Shape4, strides: 1, pad: 'valid' as const, activation: 'relu' as const },
  ])('$kind $xs * $ws stride $strides $pad $activation: x, filter and bias gradients on wasm = cpu, no cpu fallback', async (c) => {
    await use('cpu');
    const ref = fusedGrads(c.kind, c.xs, c.ws, c.strides, c.pad, c.activation);
    await use('wasm');
    resetCpuFallbacksRun();
    const got = fusedGrads(c.kind, c.xs, c.ws, c.strides, c.pad, c.activation);
    expect(cpuFallbacksRun()).toEqual([]);
    for (let i = 0; i < 3; i++) expectClose(got[i], ref[i], ['x', 'filter', 'bias'][i]);
  });
});

describe('gradient of the fused matMul (_FusedMatMul of converted graph-models)', () => {
  it.each(['linear', 'relu'] as const)('%s, with bias: a, b and bias gradients on wasm = cpu, no cpu fallback', async (activation) => {
    const grads = () => tf.tidy(() => {
      const a = tf.tensor2d(randomArray(6 * 20, 'ma'), [6, 20]), b = tf.tensor2d(randomArray(20 * 5, 'mb'), [20, 5]);
      const bias = tf.tensor1d(randomArray(5, 'mbias')), r = tf.tensor2d(randomArray(30, 'mr'), [6, 5]);
      const f = (x: tf.Tensor, w: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(tf.fused.matMul({ a: x as tf.Tensor2D, b: w as tf.Tensor2D, bias: c, activation }), r));
      return tf.grads(f)([a, b, bias]).map((g) => g.dataSync().slice() as Float32Array);
    });
    await use('cpu');
    const ref = grads();
    await use('wasm');
    resetCpuFallbacksRun();
    const got = grads();
    expect(cpuFallbacksRun()).toEqual([]);
    for (let i = 0; i < 3; i++) expectClose(got[i], ref[i], ['a', 'b', 'bias'][i]);
  });
});

describe('switched off with BENCH_DISABLE_FAST', () => {
  it('conv-backprop / depthwise-backprop off: wasm\'s own kernel or the cpu fallback runs, same values', async () => {
    const xs: Shape4 = [2, 8, 8, 3];
    const conv = fusedGrads('conv', xs, [3, 3, 3, 4], 2, 'same', 'linear');
    const dw = fusedGrads('depthwise', xs, [3, 3, 3, 1], 2, 'same', 'linear');
    await use('wasm');
    setDisabledFastPaths(['conv-backprop', 'depthwise-backprop']);
    resetCpuFallbacksRun();
    let plainConv: Float32Array[], plainDw: Float32Array[];
    try {
      plainConv = fusedGrads('conv', xs, [3, 3, 3, 4], 2, 'same', 'linear');
      plainDw = fusedGrads('depthwise', xs, [3, 3, 3, 1], 2, 'same', 'linear');
    } finally {
      setDisabledFastPaths(null);
    }
    expect(cpuFallbacksRun().map((r) => r.kernel)).toEqual(['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput']);
    for (let i = 0; i < 3; i++) {
      expectClose(conv[i], plainConv[i], `conv ${i}`);
      expectClose(dw[i], plainDw[i], `depthwise ${i}`);
    }
  });
});
