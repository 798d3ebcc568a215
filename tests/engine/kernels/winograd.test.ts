// Winograd F(2x2,3x3) and F(4x4,3x3) for stride-1 3x3 'same' convolutions on wasm
// (src/engine/kernels/winograd.ts): the forward convolution and its input gradient against the float64
// definition, on odd and even map sizes, several channel counts and batches > 1, within a rounding-error
// bound derived for each algorithm, with the transforms composed from the backend's kernels and as
// generated wasm kernels (fast path winograd-wasm, which gives the composed F(2x2,3x3)'s bits); the fast
// path off (or a call it does not cover) runs wasm's own Conv2D unchanged.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../../src/engine/tf.js';
import { initBackend } from '../../../src/engine/backend.js';
import { setDisabledFastPaths } from '../../../src/engine/fastPaths.js';
import { REORDERING_FAST_PATHS } from '../../../src/models/verify.js';
import {
  registerWinogradConv,
  setWinogradMinChannels,
  setWinogradMinChannelsFor,
  setWinogradTileSize,
  unregisterWinogradConv,
  winogradApplies,
  winogradCalls,
  winogradFilterValues,
  WINOGRAD_MIN_CHANNELS,
} from '../../../src/engine/kernels/winograd.js';
import { randomArray, reference, size, type Shape4 } from './convReference.helpers.js';
import { registerConstantKernels, releaseConstantKernels } from '../../../src/engine/kernels/constant-kernels.js';

/**
 * Odd sides (a padded last tile row/column), sides that are not multiples of 4, a 1-pixel-high map, even
 * sides; batches > 1; channel counts 1-16. The wasm transforms take channel counts that are multiples of 4
 * (both ways: the input gradient swaps them); the others run the composed transforms.
 */
const CASES = [
  { name: '7x9, 3 -> 5 channels, batch 2', u: [2, 7, 9, 3] as Shape4, o: 5 },
  { name: '5x5, 8 -> 4 channels, batch 3', u: [3, 5, 5, 8] as Shape4, o: 4 },
  { name: '8x6, 16 -> 16 channels, batch 2', u: [2, 8, 6, 16] as Shape4, o: 16 },
  { name: '1x3, 2 -> 3 channels, batch 2', u: [2, 1, 3, 2] as Shape4, o: 3 },
  { name: '7x9, 4 -> 8 channels, batch 2', u: [2, 7, 9, 4] as Shape4, o: 8 },
  { name: '10x5, 12 -> 4 channels, batch 1', u: [1, 10, 5, 12] as Shape4, o: 4 },
  { name: '1x3, 4 -> 12 channels, batch 2', u: [2, 1, 3, 4] as Shape4, o: 12 },
];

/** Transform matrices from Lavin & Gray 2016, eq. 7-8 (F(2x2,3x3)) and sec. 4.2 (F(4x4,3x3)), written out from the paper. */
interface Matrices {
  m: number;
  BT: number[][];
  G: number[][];
  AT: number[][];
}
const PAPER_F2: Matrices = {
  m: 2,
  BT: [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
  G: [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]],
  AT: [[1, 1, 1, 0], [0, 1, -1, -1]],
};
const PAPER_F4: Matrices = {
  m: 4,
  BT: [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
  G: [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]],
  AT: [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
};
const U32 = 2 ** -24; // float32 unit roundoff

/**
 * Roundings a term goes through in one axis of a transform with these rows: a sum of nnz terms in
 * sequence passes a term through at most nnz - 1 additions, plus one multiplication when its coefficient
 * is not a power of two (multiplying by ±2^k is exact).
 */
function axisRoundings(rows: number[][]): number {
  const pow2 = (c: number) => Number.isInteger(Math.log2(Math.abs(c)));
  return Math.max(...rows.map((r) => r.filter((c) => c !== 0).length - 1 + (r.some((c) => c !== 0 && !pow2(c)) ? 1 : 0)));
}

/**
 * Forward error bound of F(m×m,3×3) in float32 for y = conv2d(u, w, 'same'), per output element
 * (Higham, "Accuracy and Stability of Numerical Algorithms", 2nd ed., sec. 3.1 and 3.5: a computed sum
 * of products whose every term passes through at most k roundings is within gamma_k = k·u/(1 - k·u) of
 * the sum of the terms' absolute values). In the kernel every term of output (m·t+a, m·u+b, o) is
 *   AT[a,i] AT[b,j] · U_ij[c,o] · BT[i,r] BT[j,s] · d_c[r,s]
 * (d the padded α×α input tile, U = G g G^T), and it passes through: the input transform's roundings
 * (axisRoundings(BT) per axis: 1 each for F(2x2,3x3)'s 2-term ±1 sums), 1 rounding of U from float64 to
 * float32, 1 in the product, Cin - 1 in the sum over channels (any order), and the output transform's
 * (axisRoundings(AT) per axis; 2 each for F(2x2,3x3)): k = Cin + 7 for F(2x2,3x3), Cin + 15 for
 * F(4x4,3x3). The bound is gamma_k times the same sum with every factor in absolute value; the larger
 * entries of F(4x4,3x3)'s matrices make that sum, and so its error, larger than F(2x2,3x3)'s (Lavin &
 * Gray 2016, sec. 5).
 */
function winogradErrorBound(u: Float32Array, uShape: Shape4, w: Float32Array, o: number, mat: Matrices = PAPER_F2): Float64Array {
  const [N, H, W, C] = uShape;
  const { m, BT, G, AT } = mat;
  const al = m + 2;
  const k = 2 * axisRoundings(BT) + 2 + (C - 1) + 2 * axisRoundings(AT);
  const gamma = (k * U32) / (1 - k * U32);
  // |U| per (i, j, c, o), U = G g G^T in float64.
  const absU = new Float64Array(al * al * C * o);
  for (let c = 0; c < C; c++)
    for (let oo = 0; oo < o; oo++)
      for (let i = 0; i < al; i++)
        for (let j = 0; j < al; j++) {
          let v = 0;
          for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) v += G[i][a] * w[((a * 3 + b) * C + c) * o + oo] * G[j][b];
          absU[((i * al + j) * C + c) * o + oo] = Math.abs(v);
        }
  const at = (n: number, p: number, q: number, c: number) => (p < 0 || p >= H || q < 0 || q >= W ? 0 : Math.abs(u[((n * H + p) * W + q) * C + c]));
  const bound = new Float64Array(N * H * W * o);
  const absV = new Float64Array(al * al * C);
  for (let n = 0; n < N; n++)
    for (let t = 0; t < Math.ceil(H / m); t++)
      for (let s = 0; s < Math.ceil(W / m); s++) {
        // |BT| |d| |B| per channel (tile rows m·t-1 .. m·t+m of the unpadded input).
        for (let c = 0; c < C; c++)
          for (let i = 0; i < al; i++)
            for (let j = 0; j < al; j++) {
              let v = 0;
              for (let r = 0; r < al; r++) for (let q = 0; q < al; q++) v += Math.abs(BT[i][r]) * Math.abs(BT[j][q]) * at(n, m * t - 1 + r, m * s - 1 + q, c);
              absV[(i * al + j) * C + c] = v;
            }
        for (let a = 0; a < m; a++)
          for (let b = 0; b < m; b++) {
            const p = m * t + a, q = m * s + b;
            if (p >= H || q >= W) continue;
            for (let oo = 0; oo < o; oo++) {
              let v = 0;
              for (let i = 0; i < al; i++)
                for (let j = 0; j < al; j++) {
                  const f = Math.abs(AT[a][i]) * Math.abs(AT[b][j]);
                  if (f === 0) continue;
                  for (let c = 0; c < C; c++) v += f * absU[((i * al + j) * C + c) * o + oo] * absV[(i * al + j) * C + c];
                }
              bound[((n * H + p) * W + q) * o + oo] = gamma * v;
            }
          }
      }
  return bound;
}

/** The HWIO kernel of the input gradient: w'[a,b,o,c] = w[2-a, 2-b, c, o]. */
function adjoint(w: Float32Array, C: number, O: number): Float32Array {
  const out = new Float32Array(9 * C * O);
  for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) for (let c = 0; c < C; c++) for (let o = 0; o < O; o++) out[((a * 3 + b) * O + o) * C + c] = w[(((2 - a) * 3 + (2 - b)) * C + c) * O + o];
  return out;
}

/** Every |actual - expected| within its bound, and the largest error relative to max |expected| below rtol. */
function expectWithin(actual: ArrayLike<number>, expected: Float64Array, bound: Float64Array, rtol: number) {
  expect(actual.length).toBe(expected.length);
  let worst = 0, maxDiff = 0, maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    worst = Math.max(worst, d / Math.max(bound[i], Number.MIN_VALUE));
    maxDiff = Math.max(maxDiff, d);
    maxRef = Math.max(maxRef, Math.abs(expected[i]));
  }
  expect(worst).toBeLessThanOrEqual(1);
  expect(maxDiff).toBeLessThanOrEqual(rtol * maxRef);
}

/** The formulations: fast paths turned off, the matrices of the bound, the relative tolerance against max |y|. */
const MODES = [
  { name: 'composed F(2x2,3x3)', disabled: ['winograd-wasm'], tile: 2 as const, mat: PAPER_F2, rtol: 1e-5, anyChannels: true },
  { name: 'wasm F(2x2,3x3)', disabled: [], tile: 2 as const, mat: PAPER_F2, rtol: 1e-5, anyChannels: false },
  { name: 'wasm F(4x4,3x3)', disabled: [], tile: 4 as const, mat: PAPER_F4, rtol: 1e-4, anyChannels: false },
];

describe('Winograd convolution on wasm', () => {
  beforeAll(async () => {
    await initBackend('wasm');
    registerWinogradConv();
    setWinogradMinChannels(1); // the small test layers through the kernel
  });
  afterAll(() => {
    setWinogradMinChannels(null);
    setDisabledFastPaths(null);
  });

  it('transforms a filter into G g G^T (Lavin & Gray 2016, sec. 4)', () => {
    // One channel pair, g = [[1,2,3],[4,5,6],[7,8,9]]: G g G^T by hand, row 1 of G g = ½(r0 + r1 + r2) = [6,7.5,9].
    const planes = winogradFilterValues([1, 2, 3, 4, 5, 6, 7, 8, 9], 1, 1).map((p) => p[0]);
    expect(planes).toEqual([1, 3, 1, 3, 6, 11.25, 3.75, 9, 2, 3.75, 1.25, 3, 7, 12, 4, 9]);
  });

  it('covers stride-1 3x3 convolutions padded by one pixel and nothing else', () => {
    const x = [2, 8, 8, 64], w = [3, 3, 64, 64];
    expect(winogradApplies(x, w, { strides: 1, pad: 'same' }, 64)).toBe(true);
    expect(winogradApplies(x, w, { strides: 1, pad: [[0, 0], [1, 1], [1, 1], [0, 0]] }, 64)).toBe(true);
    expect(winogradApplies(x, w, { strides: 2, pad: 'same' }, 64)).toBe(false);
    expect(winogradApplies(x, w, { strides: 1, pad: 'valid' }, 64)).toBe(false);
    expect(winogradApplies(x, w, { strides: 1, pad: 'same', dilations: 2 }, 64)).toBe(false);
    expect(winogradApplies(x, [5, 5, 64, 64], { strides: 1, pad: 'same' }, 64)).toBe(false);
    expect(winogradApplies([2, 8, 8, 32], [3, 3, 32, 64], { strides: 1, pad: 'same' }, 64)).toBe(false);
    expect(WINOGRAD_MIN_CHANNELS).toBe(64);
  });

  it('runs F(2x2,3x3) unless told otherwise, and no other tile', () => {
    expect(setWinogradTileSize(2)).toBe(2);
    expect(() => setWinogradTileSize(3 as 2)).toThrow(/2 or 4/);
  });

  it('is held off by bench verify (it reorders the sums)', () => {
    expect(REORDERING_FAST_PATHS).toContain('winograd-3x3');
  });

  it.each(MODES.flatMap((mode) => CASES.filter((c) => mode.anyChannels || (c.u[3] % 4 === 0 && c.o % 4 === 0)).map((c) => ({ ...c, mode }))))(
    'forward and input gradient equal the float64 definition within the error bound: $mode.name, $name',
    ({ u: uShape, o, mode }) => {
      setDisabledFastPaths(mode.disabled);
      setWinogradTileSize(mode.tile);
      const [N, H, W, C] = uShape;
      const wShape: Shape4 = [3, 3, C, o];
      const yShape: Shape4 = [N, H, W, o];
      const u = randomArray(size(uShape), 'u'), w = randomArray(size(wShape), 'w'), r = randomArray(size(yShape), 'r');
      const ref = reference(u, uShape, w, wShape, r, yShape, 1, 1, 1);
      const ut = tf.tensor4d(u, uShape), wt = tf.tensor4d(w, wShape), rt = tf.tensor4d(r, yShape);
      const before = winogradCalls();
      const y = tf.conv2d(ut, wt, 1, 'same');
      expect(winogradCalls()).toBe(before + 1);
      expectWithin(y.dataSync(), ref.y, winogradErrorBound(u, uShape, w, o, mode.mat), mode.rtol);
      // The input gradient of sum(conv(u, w) * r) is conv(r, adjoint(w), 'same'): the kernel again.
      const g = tf.grad((v: tf.Tensor4D) => tf.sum(tf.mul(tf.conv2d(v, wt, 1, 'same'), rt)))(ut);
      expect(winogradCalls()).toBe(before + 3);
      expectWithin(g.dataSync(), ref.ut, winogradErrorBound(r, yShape, adjoint(w, C, o), C, mode.mat), mode.rtol);
      tf.dispose([ut, wt, rt, y, g]);
      setWinogradTileSize(2);
    },
  );

  it('the wasm transforms give the composed F(2x2,3x3) bit for bit (same sums in the same order)', () => {
    for (const { u: uShape, o } of CASES.filter((c) => c.u[3] % 4 === 0 && c.o % 4 === 0)) {
      const ut = tf.tensor4d(randomArray(size(uShape), 'u'), uShape);
      const wt = tf.tensor4d(randomArray(9 * uShape[3] * o, 'w'), [3, 3, uShape[3], o]);
      const run = (disabled: string[], tile: 2 | 4 = 2) => {
        setDisabledFastPaths(disabled);
        setWinogradTileSize(tile);
        const y = tf.conv2d(ut, wt, 1, 'same');
        const v = y.dataSync().slice();
        y.dispose();
        setWinogradTileSize(2);
        return v;
      };
      const composed = run(['winograd-wasm']), fused = run([]), f4 = run([], 4);
      expect(fused).toEqual(composed);
      expect(f4).not.toEqual(composed); // F(4x4,3x3): other sums
      tf.dispose([ut, wt]);
    }
  });

  it("with the fast path off, or a call it does not cover, runs wasm's own Conv2D bit for bit", () => {
    const uShape: Shape4 = [2, 7, 9, 8];
    const ut = tf.tensor4d(randomArray(size(uShape), 'u'), uShape);
    const wt = tf.tensor4d(randomArray(9 * 8 * 6, 'w'), [3, 3, 8, 6]);
    const calls = (f: () => tf.Tensor) => {
      const before = winogradCalls();
      const out = f();
      const values = out.dataSync().slice();
      out.dispose();
      return { values, ran: winogradCalls() - before };
    };
    setDisabledFastPaths(['winograd-3x3']);
    const off = calls(() => tf.conv2d(ut, wt, 1, 'same'));
    const offStrided = calls(() => tf.conv2d(ut, wt, 2, 'same'));
    setDisabledFastPaths([]);
    const on = calls(() => tf.conv2d(ut, wt, 1, 'same'));
    const strided = calls(() => tf.conv2d(ut, wt, 2, 'same'));
    const valid = calls(() => tf.conv2d(ut, wt, 1, 'valid'));
    unregisterWinogradConv();
    const plain = calls(() => tf.conv2d(ut, wt, 1, 'same'));
    const plainStrided = calls(() => tf.conv2d(ut, wt, 2, 'same'));
    const plainValid = calls(() => tf.conv2d(ut, wt, 1, 'valid'));
    registerWinogradConv();
    expect([off.ran, offStrided.ran, on.ran, strided.ran, valid.ran, plain.ran]).toEqual([0, 0, 1, 0, 0, 0]);
    expect(off.values).toEqual(plain.values);
    expect(offStrided.values).toEqual(plainStrided.values);
    expect(strided.values).toEqual(plainStrided.values);
    expect(valid.values).toEqual(plainValid.values);
    expect(on.values).not.toEqual(plain.values); // another summation order: not the same bits
    tf.dispose([ut, wt]);
  });

  it('lowers the threshold for the filters a model opts in, and their cached adjoints, and no others', () => {
    setWinogradMinChannels(null);
    setDisabledFastPaths([]);
    const x = tf.tensor4d(randomArray(2 * 6 * 6 * 16, 'u'), [2, 6, 6, 16]);
    const mine = tf.tensor4d(randomArray(9 * 16 * 32, 'w'), [3, 3, 16, 32]);
    const other = tf.tensor4d(randomArray(9 * 16 * 32, 'w'), [3, 3, 16, 32]);
    registerConstantKernels([mine]);
    setWinogradMinChannelsFor([mine], 16);
    const ran = (f: () => tf.Tensor) => {
      const before = winogradCalls();
      tf.dispose(f());
      return winogradCalls() - before;
    };
    expect(ran(() => tf.conv2d(x, mine, 1, 'same'))).toBe(1);
    expect(ran(() => tf.conv2d(x, other, 1, 'same'))).toBe(0);
    // The input gradient convolves with the cached adjoint [3,3,32,16]: opted in with its weight.
    const r = tf.tensor4d(randomArray(2 * 6 * 6 * 32, 'r'), [2, 6, 6, 32]);
    expect(ran(() => tf.grad((v: tf.Tensor4D) => tf.sum(tf.mul(tf.conv2d(v, mine, 1, 'same'), r)))(x))).toBe(2);
    expect(ran(() => tf.grad((v: tf.Tensor4D) => tf.sum(tf.mul(tf.conv2d(v, other, 1, 'same'), r)))(x))).toBe(0);
    // The composed transforms keep the global threshold.
    setDisabledFastPaths(['winograd-wasm']);
    expect(ran(() => tf.conv2d(x, mine, 1, 'same'))).toBe(0);
    expect(() => setWinogradMinChannelsFor([mine], 0)).toThrow(/positive integer/);
    releaseConstantKernels([mine]);
    tf.dispose([x, mine, other, r]);
    setWinogradMinChannels(1);
  });

  it('keeps the channel threshold, for both formulations: below it the original kernel runs', () => {
    setWinogradMinChannels(null);
    const ran = (c: number, o: number, disabled: string[]) => {
      setDisabledFastPaths(disabled);
      const x = tf.zeros([1, 4, 4, c]) as tf.Tensor4D, w = tf.zeros([3, 3, c, o]) as tf.Tensor4D;
      const before = winogradCalls();
      tf.dispose([tf.conv2d(x, w, 1, 'same'), x, w]);
      return winogradCalls() - before;
    };
    // The wasm transforms (on by default) and the composed ones (channel counts not multiples of 4, or winograd-wasm off).
    expect([ran(16, 32, []), ran(32, 64, []), ran(64, 32, []), ran(64, 64, []), ran(66, 64, [])]).toEqual([0, 0, 0, 1, 1]);
    expect([ran(32, 64, ['winograd-wasm']), ran(64, 64, ['winograd-wasm'])]).toEqual([0, 1]);
    setWinogradMinChannels(1);
  });
});
