// CNN-F's AdaPool on the wasm window kernels (src/engine/kernels/window-pool-kernels.ts, fast path
// ada-pool-wasm) against the TensorFlow.js formulation of src/models/feedbackLayers.ts (windows2x2,
// argMax + one-hot, pool2x2, scatterToChoice): the same bits, signed zeros included, for the pooled
// values, the feedback scatter, and the gradients through tf.grad of both, in the first pass and in a
// feedback pass (max where hidden > 0, min where < 0, 0 where it is 0); inputs after a ReLU (many ±0
// ties) and quantised (ties between non-zero values), odd sides (cropped row/column), batch 1.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tf, type Tensor4D } from '../../../src/engine/tf.js';
import { initBackend } from '../../../src/engine/backend.js';
import { SampleStream } from '../../../src/engine/rng.js';
import { setDisabledFastPaths } from '../../../src/engine/fastPaths.js';
import { windowPoolKernelsApply, windowPoolModule } from '../../../src/engine/kernels/window-pool-kernels.js';
import { adaptivePool, adaptivePoolFeedback } from '../../../src/models/feedbackLayers.js';

function random(shape: number[], key: string, scale = 1): Tensor4D {
  const s = new SampleStream(17, key, 0);
  return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => scale * s.normal()), shape) as Tensor4D;
}

const bits = (t: tf.Tensor) => Array.from(t.dataSync());

/** Everything a CNN-F step reads from AdaPool, as arrays: values and gradients of both passes. */
function view(x: Tensor4D, hiddenSeed: Tensor4D, r: Tensor4D, keepState: boolean) {
  return tf.tidy(() => {
    const out: Record<string, number[]> = {};
    const [n, h, w, c] = x.shape;
    const pooledShape = [n, Math.floor(h / 2), Math.floor(w / 2), c];
    const rp = tf.slice(tf.reshape(r, [-1]), 0, pooledShape.reduce((a, b) => a * b, 1)).reshape(pooledShape);
    // First pass, then its feedback.
    const first = adaptivePool(x, null, keepState);
    out.first = bits(first.out);
    out.firstGrad = bits(tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(adaptivePool(xi as Tensor4D, null, keepState).out, rp)))(x));
    // Feedback signal with exact zeros: quantised so that about a fifth of it is 0.
    const hidden = tf.mul(tf.round(tf.mul(tf.slice(tf.reshape(hiddenSeed, [-1]), 0, rp.size).reshape(pooledShape), 2)), 0.5) as Tensor4D;
    if (keepState) {
      out.fb = bits(adaptivePoolFeedback(hidden, first.state));
      out.fbGrad = bits(tf.grad((v: tf.Tensor) => tf.sum(tf.mul(adaptivePoolFeedback(v as Tensor4D, first.state), r)))(hidden));
    }
    // A feedback pass and its feedback.
    const second = adaptivePool(x, hidden, keepState);
    out.second = bits(second.out);
    out.secondGrad = bits(tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(adaptivePool(xi as Tensor4D, hidden, keepState).out, rp)))(x));
    if (keepState) {
      out.fb2 = bits(adaptivePoolFeedback(hidden, second.state));
      out.fb2Grad = bits(tf.grad((v: tf.Tensor) => tf.sum(tf.mul(adaptivePoolFeedback(v as Tensor4D, second.state), r)))(hidden));
    }
    return out;
  });
}

describe('AdaPool wasm window kernels', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });
  afterEach(() => setDisabledFastPaths(null));

  it('make a valid module and apply on wasm to channel counts that are multiples of 4', () => {
    expect(WebAssembly.validate(windowPoolModule())).toBe(true);
    expect(windowPoolKernelsApply(32)).toBe(true);
    expect(windowPoolKernelsApply(6)).toBe(false);
  });

  it.each([
    [2, 28, 28, 32, 'relu'],
    [1, 14, 14, 64, 'relu'],
    [3, 7, 9, 8, 'relu'],
    [2, 5, 4, 4, 'quantised'],
    [1, 2, 2, 4, 'quantised'],
    [2, 6, 6, 12, 'quantised'],
    [256, 2, 2, 4, 'every tie'],
  ] as const)('values and gradients keep the bits of the TensorFlow.js formulation: %i x %i x %i x %i, %s', (n, h, w, c, kind) => {
    const raw = random([n, h, w, c], `x${h}${w}${c}`);
    // ReLU as the model applies it (x · step(x): -0 for negative x) or few distinct values (ties).
    // 'every tie': the 256 windows of values in {-1, -0, +0, 1}, one per image, each channel a rotation.
    const every = () => {
      const vals = [-1, -0, 0, 1];
      const data: number[] = [];
      for (let m = 0; m < 256; m++)
        for (let k = 0; k < 4; k++) for (let ch = 0; ch < 4; ch++) data.push(vals[Math.floor(m / 4 ** ((k + ch) % 4)) % 4]);
      return tf.tensor4d(data, [256, 2, 2, 4]);
    };
    const x = (kind === 'relu' ? tf.mul(raw, tf.step(raw)) : kind === 'every tie' ? every() : tf.round(tf.mul(raw, 1.5))) as Tensor4D;
    const hiddenSeed = random([n, h, w, c], `h${h}${w}${c}`), r = random([n, h, w, c], `r${h}${w}${c}`);
    for (const keepState of [true, false]) {
      setDisabledFastPaths([]);
      const fast = view(x, hiddenSeed, r, keepState);
      setDisabledFastPaths(['ada-pool-wasm']);
      const plain = view(x, hiddenSeed, r, keepState);
      expect(Object.keys(fast)).toEqual(Object.keys(plain));
      for (const key of Object.keys(plain)) expect(fast[key], `${key}, keepState ${keepState}`).toEqual(plain[key]);
    }
  });

  it('frees every intermediate', () => {
    const x = random([2, 6, 6, 8], 'leak');
    const before = tf.memory().numTensors;
    view(x, x, x, true);
    expect(tf.memory().numTensors).toBe(before);
  });
});
