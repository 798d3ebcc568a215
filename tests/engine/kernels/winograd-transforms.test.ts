// The generated wasm transforms of Winograd F(m×m,3×3) (src/engine/kernels/winograd-transforms.ts), on
// a memory of their own: the input transform against B^T d B computed in float64 from Lavin & Gray's
// matrices (written out here from the paper, not imported), with the 1-pixel zero padding and the extra
// zero row/column of sides that are not multiples of m; the output transform against A^T M A with the
// pixels beyond the map dropped and nothing else written.
import { describe, expect, it } from 'vitest';
import { F2, F4, winogradTransformModule, winogradTransforms, type WinogradMatrices } from '../../../src/engine/kernels/winograd-transforms.js';
import { randomArray } from './convReference.helpers.js';

/** Lavin & Gray 2016, "Fast Algorithms for Convolutional Neural Networks", eq. 7-8 (F(2x2,3x3)) and sec. 4.2 (F(4x4,3x3)). */
const PAPER = {
  2: {
    BT: [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
    AT: [[1, 1, 1, 0], [0, 1, -1, -1]],
  },
  4: {
    BT: [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
    AT: [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
  },
} as const;

/** A heap with room for `floats` floats after a 64-byte guard, and a bump allocator (byte addresses). */
function heap(floats: number) {
  const memory = new WebAssembly.Memory({ initial: Math.ceil((4 * floats + 65536) / 65536) + 1 });
  const f32 = new Float32Array(memory.buffer);
  const i32 = new Int32Array(memory.buffer);
  let next = 64;
  const alloc = (n: number) => {
    const at = next;
    next += 4 * n + 16;
    return at;
  };
  return { memory, f32, i32, alloc };
}

const CASES = [
  { n: 2, h: 7, w: 9, c: 8 },
  { n: 1, h: 8, w: 8, c: 4 },
  { n: 3, h: 1, w: 3, c: 12 },
  { n: 1, h: 10, w: 5, c: 4 },
];

describe.each([
  { name: 'F(2x2,3x3)', mat: F2 },
  { name: 'F(4x4,3x3)', mat: F4 },
])('wasm transforms of $name', ({ mat }: { mat: WinogradMatrices }) => {
  const { BT, AT } = PAPER[mat.m as 2 | 4];
  const m = mat.m;
  const a = m + 2;

  it('uses the paper\'s matrices and makes a valid module', () => {
    expect(mat.BT).toEqual(BT);
    expect(mat.AT).toEqual(AT);
    expect(WebAssembly.validate(winogradTransformModule(mat))).toBe(true);
  });

  it.each(CASES)('input transform = B^T d B per tile, zero-padded: $n x $h x $w x $c', ({ n, h, w, c }) => {
    const th = Math.ceil(h / m), tw = Math.ceil(w / m), p = n * th * tw;
    const mem = heap(n * h * w * c + a * a * (p * c + 4) + c + 64);
    const x = randomArray(n * h * w * c, `x${m}`);
    const xAt = mem.alloc(x.length), zero = mem.alloc(c), ptrs = mem.alloc(a * a);
    const planes = Array.from({ length: a * a }, () => mem.alloc(p * c));
    mem.f32.set(x, xAt / 4);
    mem.f32.fill(0, zero / 4, zero / 4 + c);
    mem.i32.set(planes, ptrs / 4);
    for (const at of planes) mem.f32.fill(NaN, at / 4, at / 4 + p * c);
    winogradTransforms(mem.memory, mat).input(xAt, ptrs, zero, n, h, w, c, th, tw);
    const d = (ni: number, r: number, s: number, ch: number) => (r < 0 || r >= h || s < 0 || s >= w ? 0 : x[((ni * h + r) * w + s) * c + ch]);
    let worst = 0;
    for (let ni = 0; ni < n; ni++)
      for (let t = 0; t < th; t++)
        for (let u = 0; u < tw; u++)
          for (let ch = 0; ch < c; ch++)
            for (let k = 0; k < a; k++)
              for (let l = 0; l < a; l++) {
                let v = 0, scale = 0;
                for (let i = 0; i < a; i++)
                  for (let j = 0; j < a; j++) {
                    const term = BT[k][i] * BT[l][j] * d(ni, t * m - 1 + i, u * m - 1 + j, ch);
                    v += term;
                    scale += Math.abs(term);
                  }
                const got = mem.f32[planes[k * a + l] / 4 + ((ni * th + t) * tw + u) * c + ch];
                // float32 sums of at most a·a terms: within (2a)·2^-24 of the sum of |terms|.
                worst = Math.max(worst, Math.abs(got - v) / Math.max(2 * a * 2 ** -24 * scale, Number.MIN_VALUE));
              }
    expect(worst).toBeLessThanOrEqual(1);
    expect(mem.f32[planes[a * a - 1] / 4 + p * c]).toBe(0); // the guard after the last plane is untouched
  });

  it.each(CASES)('output transform = A^T M A per tile, cropped to the map: $n x $h x $w x $c', ({ n, h, w, c }) => {
    const th = Math.ceil(h / m), tw = Math.ceil(w / m), p = n * th * tw;
    const mem = heap(a * a * (p * c + 4) + n * h * w * c + c + 64);
    const ptrs = mem.alloc(a * a);
    const prods = Array.from({ length: a * a }, (_, k) => {
      const at = mem.alloc(p * c);
      mem.f32.set(randomArray(p * c, `m${m}/${k}`), at / 4);
      return at;
    });
    const y = mem.alloc(n * h * w * c), dump = mem.alloc(c);
    mem.i32.set(prods, ptrs / 4);
    mem.f32.fill(NaN, y / 4, y / 4 + n * h * w * c);
    mem.f32[y / 4 + n * h * w * c] = 12345; // guard
    winogradTransforms(mem.memory, mat).output(ptrs, y, dump, n, h, w, c, th, tw);
    let worst = 0;
    for (let ni = 0; ni < n; ni++)
      for (let r = 0; r < h; r++)
        for (let s = 0; s < w; s++)
          for (let ch = 0; ch < c; ch++) {
            const t = Math.floor(r / m), u = Math.floor(s / m), i0 = r % m, j0 = s % m;
            let v = 0, scale = 0;
            for (let k = 0; k < a; k++)
              for (let l = 0; l < a; l++) {
                const term = AT[i0][k] * AT[j0][l] * mem.f32[prods[k * a + l] / 4 + ((ni * th + t) * tw + u) * c + ch];
                v += term;
                scale += Math.abs(term);
              }
            const got = mem.f32[y / 4 + ((ni * h + r) * w + s) * c + ch];
            worst = Math.max(worst, Math.abs(got - v) / Math.max(2 * a * 2 ** -24 * scale, Number.MIN_VALUE));
          }
    expect(worst).toBeLessThanOrEqual(1); // NaN (a pixel not written) fails too
    expect(mem.f32[y / 4 + n * h * w * c]).toBe(12345);
  });
});
