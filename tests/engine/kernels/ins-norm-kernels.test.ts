// The WRN CNN-F InsNorm's wasm kernels (src/engine/kernels/ins-norm-kernels.ts) and insNormAccurate on
// them (fast path ins-norm-wasm): the same bits as the plain TensorFlow.js formulation (two sequential
// spatial sums, spatial-sum-pool off) for the value and the input gradient, on square and non-square maps
// whose sides are and are not powers of two, batches 1-3, 4-16 channels; each kernel against its ops.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tf, type Tensor4D } from '../../../src/engine/tf.js';
import { initBackend } from '../../../src/engine/backend.js';
import { SampleStream } from '../../../src/engine/rng.js';
import { setDisabledFastPaths } from '../../../src/engine/fastPaths.js';
import { divChannels, insNormGradient, insNormKernelsApply, insNormModule, spatialSumProducts } from '../../../src/engine/kernels/ins-norm-kernels.js';
import { insNormAccurate } from '../../../src/models/cnnfWrn/insNorm.js';

const SHAPES: [number, number, number, number][] = [
  [2, 8, 8, 4],
  [3, 5, 7, 8],
  [1, 1, 3, 12],
  [2, 32, 32, 16],
  [2, 6, 16, 4],
];

function random(shape: number[], key: string, scale = 1): Tensor4D {
  const s = new SampleStream(9, key, 0);
  return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => scale * s.normal()), shape) as Tensor4D;
}

const bits = (t: tf.Tensor) => Array.from(t.dataSync());

describe('InsNorm wasm kernels', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });
  afterEach(() => setDisabledFastPaths(null));

  it('makes a valid module and applies on wasm to channel counts that are multiples of 4', () => {
    expect(WebAssembly.validate(insNormModule())).toBe(true);
    expect(insNormKernelsApply(8)).toBe(true);
    expect(insNormKernelsApply(6)).toBe(false);
  });

  it.each(SHAPES)('each kernel gives the bits of its TensorFlow.js ops: %i x %i x %i x %i', (n, h, w, c) => {
    const a = random([n, h, w, c], `a${h}`, 3), b = random([n, h, w, c], `b${h}`);
    const s = tf.add(tf.abs(random([n, 1, 1, c], `s${h}`)), 0.5), q = random([n, 1, 1, c], `q${h}`);
    expect(bits(spatialSumProducts(a, b))).toEqual(bits(tf.sum(tf.sum(tf.mul(a, b), 1, true), 2, true)));
    expect(bits(divChannels(a, s))).toEqual(bits(tf.div(a, s)));
    expect(bits(insNormGradient(b, a, s, q))).toEqual(bits(tf.add(tf.div(b, s), tf.mul(q, a))));
    // And the sums are sums: against float64 within float32 rounding.
    const got = spatialSumProducts(a, b).dataSync(), av = a.dataSync(), bv = b.dataSync();
    for (let i = 0; i < n; i++)
      for (let k = 0; k < c; k++) {
        let exact = 0, mag = 0;
        for (let p = 0; p < h * w; p++) {
          exact += av[(i * h * w + p) * c + k] * bv[(i * h * w + p) * c + k];
          mag += Math.abs(av[(i * h * w + p) * c + k] * bv[(i * h * w + p) * c + k]);
        }
        expect(Math.abs(got[i * c + k] - exact)).toBeLessThanOrEqual((h * w + 1) * 2 ** -24 * mag);
      }
  });

  it.each(SHAPES)('insNormAccurate and its input gradient equal the plain formulation bit for bit: %i x %i x %i x %i', (n, h, w, c) => {
    const x = random([n, h, w, c], `x${h}${w}`, 2), r = random([n, h, w, c], `r${h}${w}`);
    const run = (disabled: string[]) => {
      setDisabledFastPaths(disabled);
      const y = insNormAccurate(x, 1e-5);
      const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(insNormAccurate(v as Tensor4D, 1e-5), r)))(x);
      return { y: bits(y), g: bits(g) };
    };
    const plain = run(['ins-norm-wasm', 'spatial-sum-pool']);
    const fused = run(['spatial-sum-pool']);
    expect(fused.y).toEqual(plain.y);
    expect(fused.g).toEqual(plain.g);
    // The y values are normalised: mean of y² over the map is 1 up to epsilon (a check on the formula itself).
    const yv = plain.y;
    for (let i = 0; i < n; i++)
      for (let k = 0; k < c; k++) {
        let m = 0;
        for (let p = 0; p < h * w; p++) m += yv[(i * h * w + p) * c + k] ** 2;
        expect(m / (h * w)).toBeGreaterThan(0.99);
        expect(m / (h * w)).toBeLessThanOrEqual(1 + 1e-5);
      }
  });
});
