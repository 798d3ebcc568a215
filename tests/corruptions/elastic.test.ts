import { beforeAll, describe, expect, test } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { affineFromPoints, elasticTransform, invertAffine, type Affine, type Point } from '../../corruptions/elastic.js';
import { borderIndex } from '../../corruptions/filters.js';
import { bilinearSample } from '../../corruptions/sampling.js';
import { applyHost, constantImages, H, maxAbsDiff, PIXELS, syntheticImages, W } from './fixtures.js';

beforeAll(async () => {
  await initBackend('wasm');
});

const apply = ([a, b, c, d, e, f]: Affine, [x, y]: Point): Point => [a * x + b * y + c, d * x + e * y + f];

describe('affine helpers', () => {
  test('affineFromPoints sends the three points where asked, and invertAffine undoes it', () => {
    const from: Point[] = [[23, 23], [23, 5], [5, 5]];
    const to: Point[] = [[24.1, 21.7], [22.2, 6.3], [5.9, 3.8]];
    const m = affineFromPoints(from, to);
    from.forEach((p, i) => {
      expect(apply(m, p)[0]).toBeCloseTo(to[i][0], 10);
      expect(apply(m, p)[1]).toBeCloseTo(to[i][1], 10);
    });
    const back = apply(invertAffine(m), apply(m, [3.5, -7]));
    expect(back[0]).toBeCloseTo(3.5, 10);
    expect(back[1]).toBeCloseTo(-7, 10);
  });
});

describe('border rules', () => {
  test('edge, reflect101 and symmetric map out-of-range indices as OpenCV and scipy define them', () => {
    const n = 5; // abcde
    const map = (mode: 'edge' | 'reflect101' | 'symmetric') => [-3, -2, -1, 0, 4, 5, 6, 7].map((i) => borderIndex(i, n, mode));
    expect(map('edge')).toEqual([0, 0, 0, 0, 4, 4, 4, 4]); // aaa|abcde|eee
    expect(map('reflect101')).toEqual([3, 2, 1, 0, 4, 3, 2, 1]); // dcb|abcde|dcb
    expect(map('symmetric')).toEqual([2, 1, 0, 0, 4, 4, 3, 2]); // cba|abcde|edc
  });
});

describe('bilinearSample', () => {
  const images = syntheticImages(2);

  function sample(ys: number[], xs: number[], mode: 'edge' | 'reflect101' | 'symmetric'): Float32Array {
    const x = tf.tensor4d(images, [2, H, W, 1]);
    const yT = tf.tensor3d(ys, [2, H, W]);
    const xT = tf.tensor3d(xs, [2, H, W]);
    const out = bilinearSample(x, yT, xT, mode);
    const data = out.dataSync().slice() as Float32Array;
    tf.dispose([x, yT, xT, out]);
    return data;
  }

  test('integer coordinates gather pixels (with the border rule), fractional ones interpolate', () => {
    const ys: number[] = [];
    const xs: number[] = [];
    for (let k = 0; k < 2; k++)
      for (let i = 0; i < H; i++)
        for (let j = 0; j < W; j++) {
          ys.push(i - 3 + k * 0.5);
          xs.push(j + 2);
        }
    const y = sample(ys, xs, 'reflect101');
    for (let i = 0; i < H; i++)
      for (let j = 0; j < W; j++) {
        const src = (r: number, c: number) => images[borderIndex(r, H, 'reflect101') * W + borderIndex(c, W, 'reflect101')];
        expect(y[i * W + j]).toBeCloseTo(src(i - 3, j + 2), 6);
        // Image 1 is sampled half-way between rows i-3 and i-2.
        const mid = 0.5 * (images[PIXELS + borderIndex(i - 3, H, 'reflect101') * W + borderIndex(j + 2, W, 'reflect101')] +
          images[PIXELS + borderIndex(i - 2, H, 'reflect101') * W + borderIndex(j + 2, W, 'reflect101')]);
        expect(y[PIXELS + i * W + j]).toBeCloseTo(mid, 6);
      }
  });
});

describe('elastic_transform', () => {
  test.each([1, 2, 3, 4, 5])('severity %i keeps a constant image constant', (s) => {
    expect(maxAbsDiff(applyHost(elasticTransform, constantImages(2, 0.4), s), constantImages(2, 0.4))).toBeLessThan(1e-6);
  });

  test('severity 1 (alpha 0) is an affine warp: an image linear in x and y stays linear', () => {
    // A ramp is mapped to another ramp by an affine resampling (away from the reflected borders).
    const ramp = new Float32Array(2 * PIXELS);
    for (let k = 0; k < 2; k++) for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) ramp[k * PIXELS + i * W + j] = 0.2 + 0.01 * i + 0.015 * j;
    const y = applyHost(elasticTransform, ramp, 1);
    for (let k = 0; k < 2; k++)
      for (let i = 8; i < 20; i++)
        for (let j = 8; j < 19; j++) {
          const at = (r: number, c: number) => y[k * PIXELS + r * W + c];
          // Second differences of a linear function vanish.
          expect(Math.abs(at(i, j + 1) - 2 * at(i, j) + at(i, j - 1))).toBeLessThan(1e-5);
          expect(Math.abs(at(i + 1, j) - 2 * at(i, j) + at(i - 1, j))).toBeLessThan(1e-5);
        }
  });
});
