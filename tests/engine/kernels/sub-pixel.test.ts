// The sub-pixel formulation of strided transposed convolutions (src/engine/kernels/sub-pixel.ts), used
// for a model's constant weights: the feedback's transposed convolution (conv2dTransposeStrided) and its
// x gradient, and the wasm Conv2DBackpropInput kernel (input gradient of a strided conv2d), each against
// the float64 definition, on wasm and cpu, and checked to run the sub-pixel path (its Concat).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { tf } from '../../../src/engine/tf.js';
import { initBackend } from '../../../src/engine/backend.js';
import { conv2dTransposeStrided, registerConstantKernels, releaseConstantKernels } from '../../../src/engine/kernels/index.js';
import { subPixelAxis, subPixelKernelValues } from '../../../src/engine/kernels/sub-pixel.js';
import { expectClose, randomArray, reference, size, type Shape4 } from './convReference.helpers.js';

const CASES = [
  // The Wide-ResNet's stride-2 layers: 3x3 pad 1 and 1x1 pad 0 on an even map (output_padding 1).
  { name: '3x3 stride 2 pad 1, 8x8', u: [2, 8, 8, 3] as Shape4, w: [3, 3, 3, 4] as Shape4, s: 2, pad: 1 },
  { name: '1x1 stride 2 pad 0, 8x8', u: [2, 8, 8, 3] as Shape4, w: [1, 1, 3, 5] as Shape4, s: 2, pad: 0 },
  // Odd sizes (a partial last phase row), a stride of 3, a 4x4 kernel, no padding.
  { name: '3x3 stride 2 pad 1, 7x9', u: [1, 7, 9, 2] as Shape4, w: [3, 3, 2, 3] as Shape4, s: 2, pad: 1 },
  { name: '3x3 stride 3 pad 1, 10x10', u: [1, 10, 10, 2] as Shape4, w: [3, 3, 2, 2] as Shape4, s: 3, pad: 1 },
  { name: '4x4 stride 2 pad 0, 9x9', u: [1, 9, 9, 2] as Shape4, w: [4, 4, 2, 3] as Shape4, s: 2, pad: 0 },
  // TensorFlow's 'same' at stride 2 on an even side: no padding at the top, one row at the bottom.
  { name: "3x3 stride 2 'same' (top 0, bottom 1), 8x8", u: [1, 8, 8, 2] as Shape4, w: [3, 3, 2, 3] as Shape4, s: 2, pad: 0, same: true },
];

/** Output side of the forward convolution: 'same' gives ceil(H/s); explicit symmetric padding the usual formula. */
const outSide = (H: number, k: number, s: number, pad: number, same?: boolean) => (same ? Math.ceil(H / s) : Math.floor((H + 2 * pad - k) / s) + 1);

/** One case's shapes, random u, w, x and the float64 definition of the convolution and its transpose. */
function caseData(uShape: Shape4, wShape: Shape4, s: number, pad: number, same?: boolean) {
  const [N, H, W] = uShape;
  const xShape: Shape4 = [N, outSide(H, wShape[0], s, pad, same), outSide(W, wShape[1], s, pad, same), wShape[3]];
  const u = randomArray(size(uShape), 'u'), w = randomArray(size(wShape), 'w'), x = randomArray(size(xShape), 'x');
  return { N, H, W, xShape, u, w, x, ref: reference(u, uShape, w, wShape, x, xShape, s, pad, pad) };
}

afterEach(() => vi.restoreAllMocks());

describe('sub-pixel kernel geometry', () => {
  it('puts each of the 9 taps of a 3x3 stride-2 pad-1 filter in exactly one slot: a 1x2 and a 2x2 window, 12 slots', () => {
    expect(subPixelAxis(3, 2, 1, 0)).toEqual({ eMin: 0, span: 1 }); // even rows: the centre row of taps only
    expect(subPixelAxis(3, 2, 1, 1)).toEqual({ eMin: 0, span: 2 }); // odd rows: the outer rows, from rows r and r+1
    expect(subPixelAxis(3, 2, 1)).toEqual({ eMin: 0, span: 2 }); // columns, all phases together
    expect(subPixelAxis(1, 2, 0, 1)).toEqual({ eMin: 1, span: 0 }); // 1x1 stride 2: no tap on odd rows
    const w = Array.from({ length: 9 }, (_, i) => i + 1); // [3,3,1,1]: w[i,j] = 3i + j + 1
    const even = subPixelKernelValues(w, [3, 3, 1, 1], 2, 1, 1, 0)!;
    const odd = subPixelKernelValues(w, [3, 3, 1, 1], 2, 1, 1, 1)!;
    expect(even.shape).toEqual([1, 2, 1, 2]);
    expect(odd.shape).toEqual([2, 2, 1, 2]);
    // [window column][column phase]: even column <- w[1,1] at x[q]; odd column <- w[1,2] at x[q], w[1,0] at x[q+1].
    expect(Array.from(even.values)).toEqual([5, 6, 0, 4]);
    expect(Array.from([...even.values, ...odd.values]).filter((v) => v !== 0).sort((a, b) => a - b)).toEqual(w);
    expect(subPixelKernelValues([1], [1, 1, 1, 1], 2, 0, 0, 1)).toBeNull();
  });
});

describe.each(['wasm', 'cpu'] as const)('sub-pixel transposed convolution on %s', (backend) => {
  it.each(CASES)('conv2dTransposeStrided with a constant kernel and its x gradient equal the definition: $name', async ({ u: uShape, w: wShape, s, pad, same }) => {
    await initBackend(backend);
    const { N, H, W, xShape, u, w, x, ref } = caseData(uShape, wShape, s, pad, same);
    const wt = tf.tensor4d(w, wShape);
    const before = tf.memory().numTensors;
    registerConstantKernels([wt]);
    const run = () =>
      tf.tidy(() => {
        const xt = tf.tensor4d(x, xShape), ut = tf.tensor4d(u, uShape);
        const y = conv2dTransposeStrided(xt, wt, s, { top: pad, left: pad }, [H, W]);
        const gx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(conv2dTransposeStrided(a as tf.Tensor4D, wt, s, { top: pad, left: pad }, [H, W]), ut)))(xt);
        return { shape: y.shape, y: y.dataSync(), gx: gx.dataSync() };
      });
    const profile = await tf.profile(() => run().y.length);
    const out = run();
    expect(profile.kernelNames).toContain('Concat'); // the row phases' interleave: the sub-pixel path ran
    expect(out.shape).toEqual([N, H, W, wShape[2]]);
    expectClose(out.y, ref.ut);
    expectClose(out.gx, ref.y);
    releaseConstantKernels([wt]); // frees the adjoint and the sub-pixel kernel made on first use
    expect(tf.memory().numTensors).toBe(before);
    wt.dispose();
  });
});

describe('sub-pixel Conv2DBackpropInput kernel on wasm', () => {
  it.each(CASES)('the input gradient of a strided conv2d with a constant filter equals the definition: $name', async ({ u: uShape, w: wShape, s, pad, same }) => {
    await initBackend('wasm');
    const { xShape, u, w, x, ref } = caseData(uShape, wShape, s, pad, same);
    const wt = tf.tensor4d(w, wShape);
    registerConstantKernels([wt]);
    const spy = vi.spyOn(tf.getKernel('Concat', 'wasm')!, 'kernelFunc'); // the row phases' interleave
    // d<conv2d(u, w, s), x>/du = the transposed convolution of x: Conv2DBackpropInput.
    const gu = tf.tidy(() =>
      tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, wt, s, same ? 'same' : [[0, 0], [pad, pad], [pad, pad], [0, 0]]), tf.tensor4d(x, xShape))))(tf.tensor4d(u, uShape)).dataSync(),
    );
    expect(spy).toHaveBeenCalled();
    expectClose(gu, ref.ut);
    releaseConstantKernels([wt]);
    wt.dispose();
  });
});
