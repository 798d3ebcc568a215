// Checks the convolution-only Conv2D gradients and conv2dTransposeSame against (a) a plain-JS float64
// convolution written from the definition, on small shapes, and (b) TensorFlow.js's own cpu kernels
// (Conv2DBackpropInput/Filter, conv2dTranspose) on medium shapes, on both the wasm and cpu backends.
import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { SampleStream } from '../../src/engine/rng.js';
import { expectClose } from './kernels/convReference.helpers.js';
import {
  conv2dTransposeSame,
  fastConvGradientsRegistered,
  registerFastConvGradients,
  unregisterFastConvGradients,
} from '../../src/engine/kernels/index.js';

type Shape4 = [number, number, number, number];
type Pad = { top: number; bottom: number; left: number; right: number };

function randomArray(n: number, key: string): Float32Array {
  const s = new SampleStream(7, key, 0);
  return Float32Array.from({ length: n }, () => s.normal());
}

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

/**
 * y = conv2d(x, w) at stride 1 with the given zero padding, and, for a given dy, the gradients
 * dL/dx and dL/dw of L = <y, dy>, all by direct summation in float64 from the definition
 * y[n,i,j,o] = sum_{a,b,c} x[n, i+a-top, j+b-left, c] * w[a,b,c,o].
 */
function referenceConv(x: Float32Array, xs: Shape4, w: Float32Array, ws: Shape4, dy: Float32Array | null, pad: Pad) {
  const [N, H, W, C] = xs;
  const [kh, kw, , O] = ws;
  const Ho = H + pad.top + pad.bottom - kh + 1;
  const Wo = W + pad.left + pad.right - kw + 1;
  const y = new Float64Array(N * Ho * Wo * O);
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(w.length);
  for (let n = 0; n < N; n++)
    for (let i = 0; i < Ho; i++)
      for (let j = 0; j < Wo; j++)
        for (let a = 0; a < kh; a++)
          for (let b = 0; b < kw; b++) {
            const p = i + a - pad.top, q = j + b - pad.left;
            if (p < 0 || p >= H || q < 0 || q >= W) continue;
            for (let c = 0; c < C; c++) {
              const xi = ((n * H + p) * W + q) * C + c;
              for (let o = 0; o < O; o++) {
                const yi = ((n * Ho + i) * Wo + j) * O + o;
                const wi = ((a * kw + b) * C + c) * O + o;
                y[yi] += x[xi] * w[wi];
                if (dy) {
                  dx[xi] += dy[yi] * w[wi];
                  dw[wi] += dy[yi] * x[xi];
                }
              }
            }
          }
  return { y, dx, dw, outShape: [N, Ho, Wo, O] as Shape4 };
}


const samePad = (kh: number, kw: number): Pad => {
  const top = Math.floor((kh - 1) / 2), left = Math.floor((kw - 1) / 2);
  return { top, bottom: kh - 1 - top, left, right: kw - 1 - left };
};
const validPad: Pad = { top: 0, bottom: 0, left: 0, right: 0 };

/** Gradients of <conv2d(x, w, pad), dy> w.r.t. x and w through tf.grads on the current backend. */
function tfConvGrads(x: Float32Array, xs: Shape4, w: Float32Array, ws: Shape4, dy: Float32Array,
  pad: 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]], strides = 1) {
  return tf.tidy(() => {
    const xt = tf.tensor4d(x, xs), wt = tf.tensor4d(w, ws);
    const f = (a: tf.Tensor, b: tf.Tensor) => {
      const y = tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, strides, pad);
      return tf.sum(tf.mul(y, tf.tensor(dy, y.shape)));
    };
    const [gx, gw] = tf.grads(f)([xt, wt]);
    return { dx: gx.dataSync() as Float32Array, dw: gw.dataSync() as Float32Array };
  });
}

const BACKENDS = ['wasm', 'cpu'] as const;

beforeAll(async () => {
  await initBackend('wasm');
  registerFastConvGradients();
});

async function use(backend: string) {
  await tf.setBackend(backend);
  await tf.ready();
}

describe('Conv2D gradient registration', () => {
  it('is idempotent and can be undone', () => {
    registerFastConvGradients();
    registerFastConvGradients();
    expect(fastConvGradientsRegistered()).toBe(true);
    unregisterFastConvGradients();
    expect(fastConvGradientsRegistered()).toBe(false);
    expect(tf.getGradient('Conv2D')).toBeDefined();
    registerFastConvGradients();
    expect(fastConvGradientsRegistered()).toBe(true);
  });

  it('makes tf.grad w.r.t. a conv kernel work on wasm (Conv2DBackpropFilter is missing there)', async () => {
    await use('wasm');
    // tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter; the kernel registered now is ours
    // (src/engine/kernels/conv-backprop-kernels.ts), this gradient does not need it at stride 1.
    const g = tf.tidy(() => {
      const x = tf.ones([1, 4, 4, 1]) as tf.Tensor4D;
      return tf.grad((w: tf.Tensor) => tf.sum(tf.conv2d(x, w as tf.Tensor4D, 1, 'valid')))(tf.ones([3, 3, 1, 1]));
    });
    // Each of the 9 taps meets 4 output positions of an all-ones input.
    expectClose(g.dataSync(), new Array(9).fill(4));
    g.dispose();
  });
});

// Small shapes against the float64 reference: several channel counts, batch > 1, non-square images,
// odd and even kernels, 'same', 'valid' and an asymmetric explicit padding.
const SMALL_CASES: { name: string; xs: Shape4; ws: Shape4; pad: 'same' | 'valid' | 'explicit' }[] = [
  { name: '3x3 same 1->4', xs: [2, 5, 6, 1], ws: [3, 3, 1, 4], pad: 'same' },
  { name: '3x3 same 3->2', xs: [3, 6, 5, 3], ws: [3, 3, 3, 2], pad: 'same' },
  { name: '3x3 valid 4->3', xs: [2, 6, 7, 4], ws: [3, 3, 4, 3], pad: 'valid' },
  { name: '2x2 same (asymmetric pad) 2->3', xs: [2, 5, 5, 2], ws: [2, 2, 2, 3], pad: 'same' },
  { name: '5x3 valid 2->2', xs: [2, 7, 6, 2], ws: [5, 3, 2, 2], pad: 'valid' },
  { name: '3x3 explicit [0,2]x[1,0] 2->3', xs: [2, 5, 6, 2], ws: [3, 3, 2, 3], pad: 'explicit' },
];
const EXPLICIT: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [0, 2], [1, 0], [0, 0]];

describe.each(BACKENDS)('conv2d gradients on %s vs float64 reference', (backend) => {
  it.each(SMALL_CASES)('$name', async ({ xs, ws, pad }) => {
    await use(backend);
    const p = pad === 'same' ? samePad(ws[0], ws[1]) : pad === 'valid' ? validPad
      : { top: EXPLICIT[1][0], bottom: EXPLICIT[1][1], left: EXPLICIT[2][0], right: EXPLICIT[2][1] };
    const x = randomArray(size(xs), 'x'), w = randomArray(size(ws), 'w');
    const { outShape } = referenceConv(x, xs, w, ws, null, p);
    const dy = randomArray(size(outShape), 'dy');
    const ref = referenceConv(x, xs, w, ws, dy, p);
    const before = tf.memory().numTensors;
    const got = tfConvGrads(x, xs, w, ws, dy, pad === 'explicit' ? EXPLICIT : pad);
    expect(tf.memory().numTensors).toBe(before);
    expectClose(got.dx, ref.dx);
    expectClose(got.dw, ref.dw);
  });
});

describe.each(BACKENDS)('conv2dTransposeSame on %s', (backend) => {
  it.each([
    { xs: [2, 5, 6, 4] as Shape4, ws: [3, 3, 3, 4] as Shape4 },
    { xs: [3, 6, 6, 2] as Shape4, ws: [3, 3, 1, 2] as Shape4 },
    { xs: [2, 5, 5, 3] as Shape4, ws: [2, 2, 2, 3] as Shape4 },
  ])('is the adjoint of conv2d same, with gradients, x $xs kernel $ws', async ({ xs, ws }) => {
    await use(backend);
    const [N, H, W] = xs;
    const inShape: Shape4 = [N, H, W, ws[2]];
    const k = randomArray(size(ws), 'k'), x = randomArray(size(xs), 'xt'), r = randomArray(size(inShape), 'r');
    // conv2dTranspose(x) is dL/du of L = <conv2d(u, k), x>; with u = r the reference also gives, by
    // <conv2dT(x,k), r> = <x, conv2d(r,k)>, the gradients of <conv2dT(x,k), r>: w.r.t. x it is conv2d(r,k),
    // w.r.t. k it is the filter gradient of conv2d(r, k) against x.
    const ref = referenceConv(new Float32Array(size(inShape)), inShape, k, ws, x, samePad(ws[0], ws[1]));
    const refWithR = referenceConv(r, inShape, k, ws, x, samePad(ws[0], ws[1]));
    const before = tf.memory().numTensors;
    const out = tf.tidy(() => {
      const xt = tf.tensor4d(x, xs), kt = tf.tensor4d(k, ws), rt = tf.tensor4d(r, inShape);
      const y = conv2dTransposeSame(xt, kt);
      const [gx, gk] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(conv2dTransposeSame(a as tf.Tensor4D, b as tf.Tensor4D), rt)))([xt, kt]);
      return { shape: y.shape, y: y.dataSync(), gx: gx.dataSync(), gk: gk.dataSync() };
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(out.shape).toEqual(inShape);
    expectClose(out.y, ref.dx);
    expectClose(out.gx, refWithR.y);
    expectClose(out.gk, refWithR.dw);
  });

  it('rejects a kernel whose output axis does not match x', async () => {
    await use(backend);
    const x = tf.zeros([1, 4, 4, 3]) as tf.Tensor4D, k = tf.zeros([3, 3, 2, 4]) as tf.Tensor4D;
    expect(() => conv2dTransposeSame(x, k)).toThrow(/channels/);
    tf.dispose([x, k]);
  });
});

// Medium shapes (the CNN-F's layer shapes at a small batch): our gradients on wasm and cpu against the
// cpu backend's own kernels, with the original gradient temporarily restored for the reference.
describe('medium shapes vs the cpu backend\'s Conv2DBackprop kernels', () => {
  it.each([
    { xs: [4, 28, 28, 16] as Shape4, ws: [3, 3, 16, 32] as Shape4, pad: 'same' as const },
    { xs: [4, 14, 14, 32] as Shape4, ws: [3, 3, 32, 64] as Shape4, pad: 'valid' as const },
  ])('$xs * $ws $pad', async ({ xs, ws, pad }) => {
    const x = randomArray(size(xs), 'mx'), w = randomArray(size(ws), 'mw');
    const [N, H, W] = xs;
    const outShape: Shape4 = pad === 'same' ? [N, H, W, ws[3]] : [N, H - ws[0] + 1, W - ws[1] + 1, ws[3]];
    const dy = randomArray(size(outShape), 'mdy');

    await use('cpu');
    unregisterFastConvGradients();
    let reference: { dx: Float32Array; dw: Float32Array };
    try {
      reference = tfConvGrads(x, xs, w, ws, dy, pad);
    } finally {
      registerFastConvGradients();
    }
    for (const backend of BACKENDS) {
      await use(backend);
      const got = tfConvGrads(x, xs, w, ws, dy, pad);
      expectClose(got.dx, reference.dx);
      expectClose(got.dw, reference.dw);
    }
  });

  it('conv2dTransposeSame [4,28,28,32] x [3,3,16,32] matches cpu tf.conv2dTranspose', async () => {
    const xs: Shape4 = [4, 28, 28, 32], ws: Shape4 = [3, 3, 16, 32];
    const x = randomArray(size(xs), 'tx'), k = randomArray(size(ws), 'tk');
    await use('cpu');
    const reference = tf.tidy(() =>
      tf.conv2dTranspose(tf.tensor4d(x, xs), tf.tensor4d(k, ws), [4, 28, 28, 16], 1, 'same').dataSync());
    for (const backend of BACKENDS) {
      await use(backend);
      const got = tf.tidy(() => conv2dTransposeSame(tf.tensor4d(x, xs), tf.tensor4d(k, ws)).dataSync());
      expectClose(got, reference);
    }
  });
});

describe('configurations outside the fast path', () => {
  it('stride 2 is delegated to TensorFlow.js\'s own gradient (identical results on cpu)', async () => {
    await use('cpu');
    const xs: Shape4 = [2, 6, 6, 3], ws: Shape4 = [3, 3, 3, 2];
    const x = randomArray(size(xs), 'sx'), w = randomArray(size(ws), 'sw'), dy = randomArray(2 * 3 * 3 * 2, 'sdy');
    const ours = tfConvGrads(x, xs, w, ws, dy, 'same', 2);
    unregisterFastConvGradients();
    let original: { dx: Float32Array; dw: Float32Array };
    try {
      original = tfConvGrads(x, xs, w, ws, dy, 'same', 2);
    } finally {
      registerFastConvGradients();
    }
    expect(Array.from(ours.dx)).toEqual(Array.from(original.dx));
    expect(Array.from(ours.dw)).toEqual(Array.from(original.dw));
  });
});
