// tf.fused.conv2d with per-input gradients (src/engine/kernels/fused-conv-gradient.ts, fast path
// fused-conv-grad) against TensorFlow.js's own fused op: the same output bits and the same bits for the
// input, filter and bias gradients (stride 1 and 2, same and valid padding, with and without bias) on wasm
// and on cpu; only the input gradient asked for runs no Conv2DBackpropFilter (the point of it), also
// through a tfjs-layers Conv2D layer; a training step of a tfjs-layers model ends with the same weights;
// calls it does not take (a ReLU, no tape) still work; no tensor leaks.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../../src/engine/tf.js';
import { initBackend } from '../../../src/engine/backend.js';
import { setDisabledFastPaths } from '../../../src/engine/fastPaths.js';
import { fastAndPlain, seededTensor } from '../../helpers/fastPathAB.js';
import { fusedConvGradientRegistered } from '../../../src/engine/kernels/fused-conv-gradient.js';

const random = (shape: number[], key: string, scale = 1, shift = 0) => seededTensor(29, shape, key, scale, shift);

const bothWays = <T>(run: () => T) => fastAndPlain('fused-conv-grad', run);

interface Case {
  stride: number;
  pad: 'same' | 'valid';
  bias: boolean;
}

/** Output and gradients of sum(fused.conv2d(x, w, b) * r) w.r.t. x, w (and b), as arrays. */
function view({ stride, pad, bias }: Case): Record<string, number[]> {
  return tf.tidy(() => {
    const x = random([3, 9, 8, 5], 'x') as tf.Tensor4D;
    const w = random([3, 3, 5, 6], 'w', 0.3) as tf.Tensor4D;
    const b = random([6], 'b');
    const conv = (xi: tf.Tensor, wi: tf.Tensor, bi?: tf.Tensor) =>
      tf.fused.conv2d({ x: xi as tf.Tensor4D, filter: wi as tf.Tensor4D, strides: stride, pad, ...(bi ? { bias: bi } : {}) });
    const y = conv(x, w, bias ? b : undefined);
    const r = random(y.shape, 'r');
    const f = (...args: tf.Tensor[]) => tf.sum(tf.mul(conv(args[0], args[1], args[2]), r));
    const gs = tf.grads(f)(bias ? [x, w, b] : [x, w]);
    const out: Record<string, number[]> = { y: Array.from(y.dataSync()), dx: Array.from(gs[0].dataSync()), dw: Array.from(gs[1].dataSync()) };
    if (bias) out.db = Array.from(gs[2].dataSync());
    return out;
  });
}

describe('tf.fused.conv2d with per-input gradients', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });
  afterEach(async () => {
    setDisabledFastPaths(null);
    await tf.setBackend('wasm');
  });

  it('is registered by initBackend', () => {
    expect(fusedConvGradientRegistered()).toBe(true);
  });

  for (const backend of ['wasm', 'cpu'])
    for (const c of [
      { stride: 1, pad: 'same', bias: true },
      { stride: 2, pad: 'same', bias: true },
      { stride: 1, pad: 'valid', bias: false },
      { stride: 2, pad: 'valid', bias: false },
    ] as Case[])
      it(`gives TensorFlow.js's output and gradients bit for bit on ${backend} (stride ${c.stride}, ${c.pad}, bias ${c.bias})`, async () => {
        await tf.setBackend(backend);
        const before = tf.memory().numTensors;
        const { fast, plain } = bothWays(() => view(c));
        expect(Object.keys(fast)).toEqual(Object.keys(plain));
        for (const k of Object.keys(plain)) {
          expect(fast[k].some((v) => v !== 0), k).toBe(true);
          expect(fast[k], k).toEqual(plain[k]);
        }
        expect(tf.memory().numTensors).toBe(before);
      });

  async function kernelsOfInputGradient(f: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor): Promise<string[]> {
    const profile = await tf.profile(() => {
      tf.grad(f)(x).dispose();
    });
    return profile.kernelNames;
  }

  it('computes no filter gradient when only the input gradient is asked for', async () => {
    const x = random([2, 8, 8, 4], 'px');
    const w = random([3, 3, 4, 6], 'pw');
    const b = random([6], 'pb');
    const f = (xi: tf.Tensor) => tf.sum(tf.fused.conv2d({ x: xi as tf.Tensor4D, filter: w as tf.Tensor4D, bias: b, strides: 2, pad: 'same' }));
    setDisabledFastPaths(['fused-conv-grad']);
    const plain = await kernelsOfInputGradient(f, x);
    setDisabledFastPaths(null);
    const fast = await kernelsOfInputGradient(f, x);
    expect(plain).toContain('Conv2DBackpropFilter');
    expect(fast).not.toContain('Conv2DBackpropFilter');
    expect(fast).toContain('FusedConv2D');
    expect(fast).toContain('Conv2DBackpropInput');
    tf.dispose([x, w, b]);
  });

  it('through a tfjs-layers Conv2D layer: the same input gradient, no filter gradient; a training step ends with the same weights', async () => {
    const build = () => {
      const m = tf.sequential({
        layers: [
          tf.layers.conv2d({ inputShape: [8, 8, 2], filters: 4, kernelSize: 3, strides: 2, padding: 'same', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }), biasInitializer: tf.initializers.randomNormal({ seed: 4 }) }),
          tf.layers.flatten(),
          tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }) }),
        ],
      });
      m.compile({ optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy' });
      return m;
    };
    const x = random([4, 8, 8, 2], 'lx');
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 1], 'int32'), 3);
    const run = async () => {
      const m = build();
      const loss = (xi: tf.Tensor) => tf.losses.softmaxCrossEntropy(y, m.predict(xi) as tf.Tensor);
      const grad = tf.tidy(() => Array.from(tf.grad(loss)(x).dataSync()));
      const kernels = await kernelsOfInputGradient(loss, x);
      await m.fit(x, y, { epochs: 2, batchSize: 4, shuffle: false, verbose: 0 });
      const weights = m.getWeights().map((w) => Array.from(w.dataSync()));
      m.dispose();
      return { grad, kernels, weights };
    };
    setDisabledFastPaths(['fused-conv-grad']);
    const plain = await run();
    setDisabledFastPaths(null);
    const fast = await run();
    expect(plain.kernels).toContain('Conv2DBackpropFilter');
    expect(fast.kernels).not.toContain('Conv2DBackpropFilter');
    expect(fast.grad.some((v) => v !== 0)).toBe(true);
    expect(fast.grad).toEqual(plain.grad);
    expect(fast.weights).toEqual(plain.weights);
    tf.dispose([x, y]);
  });

  it('leaves other calls to the original op: a fused ReLU under a tape, and calls without a tape', () => {
    const x = random([2, 6, 6, 3], 'ox') as tf.Tensor4D;
    const w = random([3, 3, 3, 4], 'ow') as tf.Tensor4D;
    const b = random([4], 'ob');
    const relu = () => tf.tidy(() => Array.from(tf.grad((xi: tf.Tensor) => tf.sum(tf.fused.conv2d({ x: xi as tf.Tensor4D, filter: w, bias: b, strides: 1, pad: 'same', activation: 'relu' })))(x).dataSync()));
    const noTape = () => tf.tidy(() => Array.from(tf.fused.conv2d({ x, filter: w, bias: b, strides: 1, pad: 'same', activation: 'relu' }).dataSync()));
    for (const run of [relu, noTape]) {
      const { fast, plain } = bothWays(run);
      expect(fast.some((v) => v !== 0)).toBe(true);
      expect(fast).toEqual(plain);
    }
    tf.dispose([x, w, b]);
  });
});
