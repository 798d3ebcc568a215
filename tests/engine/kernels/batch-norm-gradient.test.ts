// The broadcasting FusedBatchNorm gradient (src/engine/kernels/batch-norm-gradient.ts, fast path
// batch-norm-grad) against TensorFlow.js's own: the same bits for the gradients w.r.t. x, mean, variance,
// offset and scale, on wasm and on cpu; no Tile kernel in the input gradient (the point of it);
// [1,1,1,C]-shaped statistics still differentiate (original gradient); the gradient through a tfjs-layers
// BatchNormalization layer at inference is unchanged; no tensor leaks. (Without a scale or an offset
// TensorFlow.js cannot differentiate tf.batchNorm at all, whichever gradient is registered: the
// tfjs-layers family works around that, tests/models/families/tfjsLayers.test.ts.)
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../../src/engine/tf.js';
import { initBackend } from '../../../src/engine/backend.js';
import { setDisabledFastPaths } from '../../../src/engine/fastPaths.js';
import { fastAndPlain, seededTensor } from '../../helpers/fastPathAB.js';
import { batchNormGradientRegistered } from '../../../src/engine/kernels/batch-norm-gradient.js';

const random = (shape: number[], key: string, scale = 1, shift = 0) => seededTensor(23, shape, key, scale, shift);

const SHAPE = [3, 5, 4, 6]; // N, H, W, C
const C = SHAPE[3];

/** Gradients of sum(batchNorm(x, mean, variance, offset, scale) * r) w.r.t. all five inputs, as arrays. */
function gradients(statShape: number[] = [C]): Record<string, number[]> {
  return tf.tidy(() => {
    const x = random(SHAPE, 'x', 2, 0.5);
    const mean = random(statShape, 'mean', 0.5);
    const variance = tf.abs(random(statShape, 'var', 1, 0.3));
    const offset = random(statShape, 'offset');
    const scale = random(statShape, 'scale', 1, 1);
    const r = random(SHAPE, 'r');
    const names = ['x', 'mean', 'variance', 'offset', 'scale'];
    const f = (xi: tf.Tensor, mi: tf.Tensor, vi: tf.Tensor, oi: tf.Tensor, si: tf.Tensor) =>
      tf.sum(tf.mul(tf.batchNorm(xi as tf.Tensor4D, mi, vi, oi, si, 1e-3), r));
    const gs = tf.grads(f as (...args: tf.Tensor[]) => tf.Tensor)([x, mean, variance, offset, scale]);
    const out: Record<string, number[]> = {};
    names.forEach((n, i) => { out[n] = Array.from(gs[i].dataSync()); });
    return out;
  });
}

const bothWays = <T>(run: () => T) => fastAndPlain('batch-norm-grad', run);

describe('FusedBatchNorm gradient by broadcasting', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });
  afterEach(async () => {
    setDisabledFastPaths(null);
    await tf.setBackend('wasm');
  });

  it('is registered by initBackend', () => {
    expect(batchNormGradientRegistered()).toBe(true);
  });

  for (const backend of ['wasm', 'cpu']) {
    it(`gives TensorFlow.js's gradients bit for bit on ${backend}`, async () => {
      await tf.setBackend(backend);
      const before = tf.memory().numTensors;
      const { fast, plain } = bothWays(() => gradients());
      expect(Object.keys(fast)).toEqual(['x', 'mean', 'variance', 'offset', 'scale']);
      for (const k of Object.keys(plain)) {
        expect(fast[k].every(Number.isFinite)).toBe(true);
        expect(fast[k].some((v) => v !== 0), k).toBe(true); // else the comparison would say little
        expect(fast[k], k).toEqual(plain[k]);
      }
      expect(fast.x.length).toBe(SHAPE.reduce((a, b) => a * b, 1));
      expect(fast.scale.length).toBe(C);
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('keeps the original input gradient for [1,1,1,C]-shaped statistics', () => {
    // (TensorFlow.js's gradients w.r.t. such statistics fail on a reshape; the input's works.)
    const inputGradient = () => tf.tidy(() => {
      const stat = (key: string, shift = 0) => tf.abs(random([1, 1, 1, C], key, 1, shift));
      const [mean, variance, offset, scale] = [stat('m'), stat('v', 0.3), stat('o'), stat('s', 1)];
      const r = random(SHAPE, 'r');
      const g = tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(tf.batchNorm(xi as tf.Tensor4D, mean, variance, offset, scale), r)))(random(SHAPE, 'x'));
      return Array.from(g.dataSync());
    });
    const { fast, plain } = bothWays(inputGradient);
    expect(fast.some((v) => v !== 0)).toBe(true);
    expect(fast).toEqual(plain);
  });

  it('runs no Tile kernel for the input gradient (tfjs tiles the per-channel factor to the full shape)', async () => {
    const kernelsOf = async () => {
      const x = random(SHAPE, 'x');
      const [mean, variance, offset, scale] = [random([C], 'm'), tf.abs(random([C], 'v', 1, 1)), random([C], 'o'), random([C], 's')];
      const profile = await tf.profile(() => {
        const g = tf.grad((xi: tf.Tensor) => tf.sum(tf.batchNorm(xi as tf.Tensor4D, mean, variance, offset, scale)))(x);
        g.dispose();
      });
      tf.dispose([x, mean, variance, offset, scale]);
      return profile.kernelNames;
    };
    setDisabledFastPaths([]);
    const fast = await kernelsOf();
    setDisabledFastPaths(['batch-norm-grad']);
    const plain = await kernelsOf();
    expect(plain).toContain('Tile');
    expect(fast).not.toContain('Tile');
    expect(fast).toContain('FusedBatchNorm');
  });

  it('leaves the input gradient through a tfjs-layers BatchNormalization layer unchanged', () => {
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [5, 4, 2], filters: C, kernelSize: 3, padding: 'same', kernelInitializer: 'glorotUniform', biasInitializer: 'zeros' }),
        tf.layers.batchNormalization({ movingMeanInitializer: tf.initializers.constant({ value: 0.2 }), movingVarianceInitializer: tf.initializers.constant({ value: 1.7 }) }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 4 }),
      ],
    });
    const x = random([3, 5, 4, 2], 'layers-x');
    const labels = tf.oneHot(tf.tensor1d([0, 1, 3], 'int32'), 4);
    const grad = () => tf.tidy(() => Array.from(tf.grad((xi: tf.Tensor) =>
      tf.losses.softmaxCrossEntropy(labels, model.predict(xi) as tf.Tensor))(x).dataSync()));
    const { fast, plain } = bothWays(grad);
    expect(fast.some((v) => v !== 0)).toBe(true);
    expect(fast).toEqual(plain);
    tf.dispose([x, labels]);
    model.dispose();
  });
});
