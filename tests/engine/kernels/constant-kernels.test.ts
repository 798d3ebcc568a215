// The adjoint-kernel cache of a model's constant weights (src/engine/kernels/constant-kernels.ts): the
// cached adjoint is the one computed per call (same values), the adjoint of the cached adjoint is the
// weight itself, and the convolutions that use it -- the feedback's transposed convolution, the input
// gradients of stride-1 and stride-2 convolutions (the wasm Conv2DBackpropInput kernel) -- give the same
// numbers as without the cache, on wasm and against the cpu backend.
import { describe, expect, it } from 'vitest';
import { tf } from '../../../src/engine/tf.js';
import { initBackend } from '../../../src/engine/backend.js';
import { SampleStream } from '../../../src/engine/rng.js';
import { adjointKernel } from '../../../src/engine/kernels/conv-geometry.js';
import { setDisabledFastPaths } from '../../../src/engine/fastPaths.js';
import { cachedAdjointKernel, conv2dTransposeSame, conv2dTransposeStrided, registerConstantKernels, releaseConstantKernels } from '../../../src/engine/kernels/index.js';

const random = (shape: number[], key: string) => {
  const s = new SampleStream(5, key, 0);
  return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => s.normal()), shape);
};

/** Input gradients of a feedback step's convolutions: a transposed conv (stride 1 and 2) and a strided conv. */
function gradients(w3: tf.Tensor4D, w1: tf.Tensor4D, x: tf.Tensor4D): Float32Array[] {
  const f = (xi: tf.Tensor4D) => {
    const down = tf.conv2d(xi, w3, 2, [[0, 0], [1, 1], [1, 1], [0, 0]]); // [N,4,4,6]: Conv2DBackpropInput in the gradient
    const back = conv2dTransposeStrided(down, w3, 2, { top: 1, left: 1 }, [8, 8]); // [N,8,8,4]
    const same = conv2dTransposeSame(tf.conv2d(back, w1, 1, 'same'), w1); // stride-1 conv and its adjoint
    return tf.sum(tf.mul(same, same));
  };
  return tf.tidy(() => {
    const { value, grad } = tf.valueAndGrad(f)(x);
    return [value.dataSync() as Float32Array, grad.dataSync() as Float32Array];
  });
}

describe('constant convolution kernels', () => {
  it('caches the adjoint (same values), maps the adjoint back to the weight, and releases it', async () => {
    await initBackend('wasm');
    const w = random([3, 3, 4, 6], 'w') as tf.Tensor4D;
    const expected = tf.tidy(() => adjointKernel(w).dataSync());
    expect(cachedAdjointKernel(w.dataId, w.shape)).toBeNull();
    const before = tf.memory().numTensors;
    registerConstantKernels([w]);
    expect(tf.memory().numTensors).toBe(before + 1);
    const cached = cachedAdjointKernel(w.dataId, w.shape)!;
    expect(cached.shape).toEqual([3, 3, 6, 4]);
    expect(adjointKernel(w)).toBe(cached);
    expect(Array.from(cached.dataSync())).toEqual(Array.from(expected));
    expect(adjointKernel(cached)).toBe(w);
    // A reshape shares the buffer but is another kernel: not served from the cache.
    expect(cachedAdjointKernel(w.dataId, [9, 4, 6, 1])).toBeNull();
    registerConstantKernels([w]); // idempotent
    expect(tf.memory().numTensors).toBe(before + 1);
    releaseConstantKernels([w]);
    expect(tf.memory().numTensors).toBe(before);
    expect(cachedAdjointKernel(w.dataId, w.shape)).toBeNull();
    w.dispose();
  });

  it.each(['wasm', 'cpu'] as const)('gives the same loss and input gradient through transposed and strided convolutions on %s', async (backend) => {
    await initBackend(backend);
    const w3 = random([3, 3, 4, 6], 'w3') as tf.Tensor4D;
    const w1 = random([3, 3, 4, 5], 'w1') as tf.Tensor4D;
    const x = random([2, 8, 8, 4], 'x') as tf.Tensor4D;
    const plain = gradients(w3, w1, x);
    registerConstantKernels([w3, w1]);
    // The sub-pixel formulation of the strided adjoints (sub-pixel.test.ts) sums in another order: off here.
    setDisabledFastPaths(['subpixel-transpose']);
    const before = tf.memory().numTensors;
    const cached = gradients(w3, w1, x);
    setDisabledFastPaths(null);
    expect(tf.memory().numTensors).toBe(before);
    releaseConstantKernels([w3, w1]);
    // Bit-identical: the cache only avoids recomputing (and re-packing) the same kernel.
    expect(Array.from(cached[0])).toEqual(Array.from(plain[0]));
    expect(Array.from(cached[1])).toEqual(Array.from(plain[1]));
    // And wasm agrees with the cpu backend (float64 accumulation differs only by rounding).
    if (backend === 'wasm') {
      await initBackend('cpu');
      const w3c = random([3, 3, 4, 6], 'w3') as tf.Tensor4D, w1c = random([3, 3, 4, 5], 'w1') as tf.Tensor4D, xc = random([2, 8, 8, 4], 'x') as tf.Tensor4D;
      const cpu = gradients(w3c, w1c, xc);
      tf.dispose([w3c, w1c, xc]);
      await initBackend('wasm');
      expect(Math.abs(cached[0][0] - cpu[0][0])).toBeLessThan(1e-4 * Math.abs(cpu[0][0]));
      let maxDiff = 0, maxRef = 0;
      for (let i = 0; i < cpu[1].length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(cached[1][i] - cpu[1][i]));
        maxRef = Math.max(maxRef, Math.abs(cpu[1][i]));
      }
      expect(maxDiff).toBeLessThan(1e-4 * maxRef);
    }
    tf.dispose([w3, w1, x]);
  });
});
