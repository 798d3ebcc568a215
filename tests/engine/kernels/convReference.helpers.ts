// Shared by the convolution kernel tests: seeded inputs and a float64 strided convolution and its
// adjoint (the transposed convolution) written from the definition.
import { expect } from 'vitest';
import { SampleStream } from '../../../src/engine/rng.js';

export type Shape4 = [number, number, number, number];

export function randomArray(n: number, key: string): Float32Array {
  const s = new SampleStream(11, key, 0);
  return Float32Array.from({ length: n }, () => s.normal());
}
export const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

/**
 * Forward y = conv2d(u, w, stride s, zero padding top/left) from the definition
 * y[n,i,j,o] = sum_{a,b,c} u[n, s*i+a-top, s*j+b-left, c] w[a,b,c,o], and its adjoint
 * ut[n,p,q,c] = sum over the same index set of x[n,i,j,o] w[a,b,c,o] (the transposed convolution), float64.
 */
export function reference(u: Float32Array, uShape: Shape4, w: Float32Array, wShape: Shape4, x: Float32Array, xShape: Shape4, s: number, top: number, left: number) {
  const [N, H, W, C] = uShape;
  const [kh, kw, , O] = wShape;
  const [, Ho, Wo] = xShape;
  const y = new Float64Array(N * Ho * Wo * O);
  const ut = new Float64Array(N * H * W * C);
  for (let n = 0; n < N; n++)
    for (let i = 0; i < Ho; i++)
      for (let j = 0; j < Wo; j++)
        for (let a = 0; a < kh; a++)
          for (let b = 0; b < kw; b++) {
            const p = s * i + a - top, q = s * j + b - left;
            if (p < 0 || p >= H || q < 0 || q >= W) continue;
            for (let c = 0; c < C; c++)
              for (let o = 0; o < O; o++) {
                const yi = ((n * Ho + i) * Wo + j) * O + o;
                const ui = ((n * H + p) * W + q) * C + c;
                const wi = ((a * kw + b) * C + c) * O + o;
                y[yi] += u[ui] * w[wi];
                ut[ui] += x[yi] * w[wi];
              }
          }
  return { y, ut };
}

export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol = 1e-5) {
  expect(actual.length).toBe(expected.length);
  let maxDiff = 0, maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
    maxRef = Math.max(maxRef, Math.abs(expected[i]));
  }
  expect(maxRef).toBeGreaterThan(0);
  expect(maxDiff).toBeLessThanOrEqual(rtol * maxRef);
}

