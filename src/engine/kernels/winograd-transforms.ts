// The input and output transforms of Winograd's minimal filtering F(m×m, 3×3) (Lavin & Gray 2016, "Fast
// Algorithms for Convolutional Neural Networks", sec. 4) as generated WebAssembly SIMD kernels that run
// directly on the wasm backend's heap: one pass over the input for all α² transformed planes (α = m + 2),
// and one pass over the α² products for the interleaved output, instead of the 20 depthwise convolutions,
// ~24 adds and the JavaScript interleave of the composition from the backend's kernels (./winograd.ts).
//
// Per tile (image ni, tile row t, tile column u) and per group of 4 channels (one f32x4 lane each):
//   input:  d[i][j] = x[ni, t·m − 1 + i, u·m − 1 + j, ch] (0 outside the map: the 1-pixel 'same' padding
//           and the extra row/column of odd sides), V[k][l] = Σ_j BT[l][j] (Σ_i BT[k][i] d[i][j]),
//           stored at plane k·α + l, row (ni·T + t)·U + u, i.e. planes [P, C] with P = N·T·U;
//   output: s[a][l] = Σ_k AT[a][k] M[k][l], y[t·m + a, u·m + b] = Σ_l AT[b][l] s[a][l], for pixels inside
//           the map (the others are written to a scratch buffer and dropped).
// Sums run in index order, a term with coefficient ±1 as an add/subtract (the first term as itself or its
// negation) and any other as a multiply then add. For F(2×2,3×3) this is the order and rounding of the
// composition it replaces (each depthwise tap sum there has two nonzero ±1 terms, and the output adds are
// written in the same order), so both give the same bits; tests/engine/kernels/winograd.test.ts checks it.
import { heapInstances } from './wasm-heap.js';
import { encodeModule, FunctionBuilder, I32, V128 } from './wasm-asm.js';

/** Transform matrices of F(m×m, r×r) for r = 3: BT (α×α), G (α×3), AT (m×α), α = m + 2. */
export interface WinogradMatrices {
  m: number;
  BT: number[][];
  G: number[][];
  AT: number[][];
}

/** F(2×2,3×3) with interpolation points 0, ±1, ∞ (Lavin & Gray 2016, eq. 7-8). */
export const F2: WinogradMatrices = {
  m: 2,
  BT: [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
  G: [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]],
  AT: [[1, 1, 1, 0], [0, 1, -1, -1]],
};

/** F(4×4,3×3) with interpolation points 0, ±1, ±2, ∞ (Lavin & Gray 2016, eq. 12-13 and sec. 4.2). */
export const F4: WinogradMatrices = {
  m: 4,
  BT: [
    [4, 0, -5, 0, 1, 0],
    [0, -4, -4, 1, 1, 0],
    [0, 4, -4, -1, 1, 0],
    [0, -2, -1, 2, 1, 0],
    [0, 2, -1, -2, 1, 0],
    [0, 4, 0, -5, 0, 1],
  ],
  G: [
    [1 / 4, 0, 0],
    [-1 / 6, -1 / 6, -1 / 6],
    [-1 / 6, 1 / 6, -1 / 6],
    [1 / 24, 1 / 12, 1 / 6],
    [1 / 24, -1 / 12, 1 / 6],
    [0, 0, 1],
  ],
  AT: [
    [1, 1, 1, 1, 1, 0],
    [0, 1, -1, 2, -2, 0],
    [0, 1, 1, 4, 4, 0],
    [0, 1, -1, 8, -8, 1],
  ],
};

/** Pushes Σ coeffs[i]·value(i) (nonzero terms in index order) onto the stack as one f32x4. */
function combine(f: FunctionBuilder, coeffs: number[], value: (i: number) => void): void {
  let first = true;
  coeffs.forEach((c, i) => {
    if (c === 0) return;
    value(i);
    if (first) {
      if (c === -1) f.f32x4Neg();
      else if (c !== 1) f.f32x4Const(c).f32x4Mul();
      first = false;
    } else if (c === 1) f.f32x4Add();
    else if (c === -1) f.f32x4Sub();
    else f.f32x4Const(c).f32x4Mul().f32x4Add();
  });
  if (first) f.f32x4Const(0);
}

/**
 * in(x, ptrs, zero, n, h, w, c, th, tw): x [n,h,w,c] at byte address x; ptrs: α² byte addresses of the
 * planes [n·th·tw, c]; zero: c zero floats. c must be a multiple of 4.
 */
function inputTransform(mat: WinogradMatrices): FunctionBuilder {
  const { m, BT } = mat;
  const a = m + 2;
  const f = new FunctionBuilder([I32, I32, I32, I32, I32, I32, I32, I32, I32]);
  const [X, PTRS, ZERO, N, H, W, C, TH, TW] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const planes = Array.from({ length: a * a }, () => f.local(I32));
  const addr = Array.from({ length: a * a }, () => f.local(I32));
  const [ni, t, u, off, cb, qoff, r, s, rowOk, rowBase] = Array.from({ length: 10 }, () => f.local(I32));
  const tmp = Array.from({ length: a * a }, () => f.local(V128));
  const d = Array.from({ length: a }, () => f.local(V128));
  planes.forEach((p, k) => f.get(PTRS).loadI32(4 * k).set(p));
  f.get(C).i32(4).mul().set(cb);
  f.i32(0).set(qoff);
  f.forLoop(ni, N, 1, () => {
    f.forLoop(t, TH, 1, () => {
      f.forLoop(u, TW, 1, () => {
        for (let i = 0; i < a; i++) {
          // r = t·m − 1 + i; rowOk = r <u h; rowBase = (ni·h + r)·w
          f.get(t).i32(m).mul().i32(i - 1).add().tee(r).get(H).ltU().set(rowOk);
          f.get(ni).get(H).mul().get(r).add().get(W).mul().set(rowBase);
          for (let j = 0; j < a; j++) {
            // addr = ok ? x + (rowBase + s)·cb : zero, s = u·m − 1 + j
            f.get(X).get(rowBase).get(u).i32(m).mul().i32(j - 1).add().tee(s).add().get(cb).mul().add();
            f.get(ZERO);
            f.get(rowOk).get(s).get(W).ltU().and();
            f.select().set(addr[i * a + j]);
          }
        }
        f.forLoop(off, cb, 16, () => {
          for (let j = 0; j < a; j++) {
            for (let i = 0; i < a; i++) f.get(addr[i * a + j]).get(off).add().v128Load().set(d[i]);
            for (let k = 0; k < a; k++) {
              combine(f, BT[k], (i) => f.get(d[i]));
              f.set(tmp[k * a + j]);
            }
          }
          for (let k = 0; k < a; k++)
            for (let l = 0; l < a; l++) {
              f.get(planes[k * a + l]).get(qoff).add().get(off).add();
              combine(f, BT[l], (j) => f.get(tmp[k * a + j]));
              f.v128Store();
            }
        });
        f.get(qoff).get(cb).add().set(qoff);
      });
    });
  });
  return f;
}

/**
 * out(ptrs, y, dump, n, h, w, c, th, tw): ptrs: α² byte addresses of the products [n·th·tw, c]; y: the
 * output [n,h,w,c]; dump: c floats of scratch for the pixels beyond h, w. c must be a multiple of 4.
 */
function outputTransform(mat: WinogradMatrices): FunctionBuilder {
  const { m, AT } = mat;
  const a = m + 2;
  const f = new FunctionBuilder([I32, I32, I32, I32, I32, I32, I32, I32, I32]);
  const [PTRS, Y, DUMP, N, H, W, C, TH, TW] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const prods = Array.from({ length: a * a }, () => f.local(I32));
  const addr = Array.from({ length: m * m }, () => f.local(I32));
  const [ni, t, u, off, cb, qoff, r, s, rowOk, rowBase, src] = Array.from({ length: 11 }, () => f.local(I32));
  const sv = Array.from({ length: m * a }, () => f.local(V128));
  const mv = Array.from({ length: a }, () => f.local(V128));
  prods.forEach((p, k) => f.get(PTRS).loadI32(4 * k).set(p));
  f.get(C).i32(4).mul().set(cb);
  f.i32(0).set(qoff);
  f.forLoop(ni, N, 1, () => {
    f.forLoop(t, TH, 1, () => {
      f.forLoop(u, TW, 1, () => {
        for (let i = 0; i < m; i++) {
          f.get(t).i32(m).mul().i32(i).add().tee(r).get(H).ltU().set(rowOk);
          f.get(ni).get(H).mul().get(r).add().get(W).mul().set(rowBase);
          for (let j = 0; j < m; j++) {
            f.get(Y).get(rowBase).get(u).i32(m).mul().i32(j).add().tee(s).add().get(cb).mul().add();
            f.get(DUMP);
            f.get(rowOk).get(s).get(W).ltU().and();
            f.select().set(addr[i * m + j]);
          }
        }
        f.forLoop(off, cb, 16, () => {
          f.get(qoff).get(off).add().set(src);
          for (let l = 0; l < a; l++) {
            for (let k = 0; k < a; k++) f.get(prods[k * a + l]).get(src).add().v128Load().set(mv[k]);
            for (let i = 0; i < m; i++) {
              combine(f, AT[i], (k) => f.get(mv[k]));
              f.set(sv[i * a + l]);
            }
          }
          for (let i = 0; i < m; i++)
            for (let j = 0; j < m; j++) {
              f.get(addr[i * m + j]).get(off).add();
              combine(f, AT[j], (l) => f.get(sv[i * a + l]));
              f.v128Store();
            }
        });
        f.get(qoff).get(cb).add().set(qoff);
      });
    });
  });
  return f;
}

/** The exported kernels of one instance (addresses in bytes on the imported heap). */
export interface WinogradTransformKernels {
  input(x: number, ptrs: number, zero: number, n: number, h: number, w: number, c: number, th: number, tw: number): void;
  output(ptrs: number, y: number, dump: number, n: number, h: number, w: number, c: number, th: number, tw: number): void;
}

/** Per tile size m, the transforms' instances on each heap. */
const perTile = new Map<number, (memory: WebAssembly.Memory) => WinogradTransformKernels>();

/** The module binary of the two transforms of F(m×m,3×3) (exports `input` and `output`). */
export function winogradTransformModule(mat: WinogradMatrices): Uint8Array<ArrayBuffer> {
  return encodeModule([{ name: 'input', fn: inputTransform(mat) }, { name: 'output', fn: outputTransform(mat) }]);
}

/**
 * The transforms of F(m×m,3×3) (m = 2: F2, 4: F4) instantiated on `memory` (the wasm backend's heap),
 * compiled once per process and instantiated once per memory.
 */
export function winogradTransforms(memory: WebAssembly.Memory, mat: WinogradMatrices): WinogradTransformKernels {
  let on = perTile.get(mat.m);
  if (!on) perTile.set(mat.m, (on = heapInstances<WinogradTransformKernels>(() => winogradTransformModule(mat))));
  return on(memory);
}
