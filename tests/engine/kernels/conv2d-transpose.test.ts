// conv2dTransposeStrided (the tied transposed convolution of the Wide-ResNet CNN-F's stride-2 layers)
// against a float64 transposed convolution written from the definition, on wasm and cpu, with its
// gradient w.r.t. x (a strided forward convolution) checked the same way.
import { describe, expect, it } from 'vitest';
import { tf } from '../../../src/engine/tf.js';
import { initBackend } from '../../../src/engine/backend.js';
import { conv2dTransposeStrided } from '../../../src/engine/kernels/index.js';

import { expectClose, randomArray, reference, size, type Shape4 } from './convReference.helpers.js';

describe.each(['wasm', 'cpu'] as const)('conv2dTransposeStrided on %s', (backend) => {
  it.each([
    // The reference CNN-F's stride-2 layers: 3x3 pad 1 and 1x1 pad 0, even input (output_padding 1).
    { name: '3x3 stride 2 pad 1, 8x8 input', u: [2, 8, 8, 3] as Shape4, w: [3, 3, 3, 4] as Shape4, s: 2, pad: 1 },
    { name: '1x1 stride 2 pad 0, 8x8 input', u: [2, 8, 8, 3] as Shape4, w: [1, 1, 3, 5] as Shape4, s: 2, pad: 0 },
    // Odd input (output_padding 0) and a stride of 3: the general formulation.
    { name: '3x3 stride 2 pad 1, 7x9 input', u: [1, 7, 9, 2] as Shape4, w: [3, 3, 2, 3] as Shape4, s: 2, pad: 1 },
    { name: '3x3 stride 3 pad 1, 10x10 input', u: [1, 10, 10, 2] as Shape4, w: [3, 3, 2, 2] as Shape4, s: 3, pad: 1 },
    { name: '3x3 stride 1 pad 1', u: [1, 5, 5, 2] as Shape4, w: [3, 3, 2, 3] as Shape4, s: 1, pad: 1 },
  ])('is the adjoint of the strided conv2d, with its x gradient: $name', async ({ u: uShape, w: wShape, s, pad }) => {
    await initBackend(backend);
    const [N, H, W] = uShape;
    const Ho = Math.floor((H + 2 * pad - wShape[0]) / s) + 1;
    const Wo = Math.floor((W + 2 * pad - wShape[1]) / s) + 1;
    const xShape: Shape4 = [N, Ho, Wo, wShape[3]];
    const u = randomArray(size(uShape), 'u'), w = randomArray(size(wShape), 'w'), x = randomArray(size(xShape), 'x');
    const ref = reference(u, uShape, w, wShape, x, xShape, s, pad, pad);
    const before = tf.memory().numTensors;
    const out = tf.tidy(() => {
      const xt = tf.tensor4d(x, xShape), wt = tf.tensor4d(w, wShape), ut = tf.tensor4d(u, uShape);
      const y = conv2dTransposeStrided(xt, wt, s, { top: pad, left: pad }, [H, W]);
      // d<conv2dT(x), u>/dx = conv2d(u, w, stride s): the forward convolution.
      const gx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(conv2dTransposeStrided(a as tf.Tensor4D, wt, s, { top: pad, left: pad }, [H, W]), ut)))(xt);
      return { shape: y.shape, y: y.dataSync(), gx: gx.dataSync() };
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(out.shape).toEqual([N, H, W, wShape[2]]);
    expectClose(out.y, ref.ut);
    expectClose(out.gx, ref.y);
  });

  it('equals tf.conv2dTranspose with the same explicit padding (PyTorch output_padding 1)', async () => {
    await initBackend(backend);
    const xShape: Shape4 = [2, 4, 4, 6];
    const wShape: Shape4 = [3, 3, 5, 6];
    const got = tf.tidy(() => {
      const xt = tf.tensor4d(randomArray(size(xShape), 'x2'), xShape), wt = tf.tensor4d(randomArray(size(wShape), 'w2'), wShape);
      const ours = conv2dTransposeStrided(xt, wt, 2, { top: 1, left: 1 }, [8, 8]);
      const theirs = tf.conv2dTranspose(xt, wt, [2, 8, 8, 5], 2, [[0, 0], [1, 1], [1, 1], [0, 0]] as never);
      return tf.max(tf.abs(tf.sub(ours, theirs))).dataSync()[0] / tf.max(tf.abs(theirs)).dataSync()[0];
    });
    expect(got).toBeLessThan(1e-5);
  });
});
