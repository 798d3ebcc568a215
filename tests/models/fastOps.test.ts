// The Fashion-MNIST CNN / CNN-F fast paths of src/models/fastOps.ts on wasm: insNormFast on the InsNorm
// wasm kernels (fast path ins-norm-mean-wasm) gives the bits of its TensorFlow.js formulation (wasm's
// Mean and Sum over the spatial axes), value and input gradient, for batch 1, odd and non-square maps,
// and the models' 28x28x32 / 14x14x64 shapes.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tf, type Tensor4D } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { SampleStream } from '../../src/engine/rng.js';
import { setDisabledFastPaths } from '../../src/engine/fastPaths.js';
import { insNormFast } from '../../src/models/fastOps.js';

function random(shape: number[], key: string, scale = 1): Tensor4D {
  const s = new SampleStream(13, key, 0);
  return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => scale * s.normal()), shape) as Tensor4D;
}

const bits = (t: tf.Tensor) => Array.from(t.dataSync());

/** insNormFast's value and the input gradient of sum(insNormFast(x) · r). */
function view(x: Tensor4D, r: Tensor4D, eps: number) {
  return tf.tidy(() => {
    const f = (xi: tf.Tensor) => tf.sum(tf.mul(insNormFast(xi as Tensor4D, eps), r));
    return { value: bits(insNormFast(x, eps)), grad: bits(tf.grad(f)(x)) };
  });
}

describe('insNormFast on the wasm InsNorm kernels', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });
  afterEach(() => setDisabledFastPaths(null));

  it.each([
    [1, 28, 28, 32],
    [2, 14, 14, 64],
    [3, 7, 5, 8],
    [1, 1, 1, 4],
    [2, 9, 9, 12],
  ])('value and input gradient keep the plain bits: %i x %i x %i x %i', (n, h, w, c) => {
    const x = random([n, h, w, c], `x${h}${w}${c}`, 2), r = random([n, h, w, c], `r${h}${w}${c}`);
    // ReLU-like zeros (both signs) in part of the map.
    const xz = tf.mul(x, tf.step(tf.add(x, 0.5))) as Tensor4D;
    for (const eps of [1e-8, 1e-5]) {
      setDisabledFastPaths([]);
      const fast = view(xz, r, eps);
      setDisabledFastPaths(['ins-norm-mean-wasm']);
      const plain = view(xz, r, eps);
      expect(fast.value).toEqual(plain.value);
      expect(fast.grad).toEqual(plain.grad);
    }
  });
});
