// Stride-1 3x3 convolutions with 'same' (1-pixel) padding by Winograd's minimal filtering algorithm
// F(2x2,3x3) (Lavin & Gray 2016, "Fast Algorithms for Convolutional Neural Networks", sec. 4), on the
// wasm backend (fast path `winograd-3x3`).
//
// Why: a Wide-ResNet CNN-F's e2e PGD step is ~95% 3x3 stride-1 convolutions (forward, and their input
// gradients, which are 3x3 stride-1 'same' convolutions with the adjoint kernel: ./conv2d-gradients.ts)
// and already runs at wasm's matrix-product rate (docs/performance.md). F(2x2,3x3) computes each 2x2
// output tile with 16 products per (input, output) channel pair instead of 36 (2.25x fewer
// multiply-adds), at the cost of input and output transforms.
//
// Mathematics, per image and channel pair: with the padded input's 4x4 tile d at rows 2t..2t+3 and
// columns 2u..2u+3 and the 3x3 filter g, the 2x2 output tile (correlation, as conv2d computes) is
//   Y = A^T [ (G g G^T) ⊙ (B^T d B) ] A,  summed over input channels before the output transform,
//   B^T = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]], G = [[1,0,0],[½,½,½],[½,-½,½],[0,0,1]],
//   A^T = [[1,1,1,0],[0,1,-1,-1]].
// Formulated from the backend's own kernels (the measurements are in scripts/winograd-bench.ts and
// docs/performance.md):
//   - the input transform B^T d B separably, as stride-2 depthwise convolutions with the taps of one row
//     of B^T: 4 along rows (4x1 kernels, stride (2,1)) of the padded input, then 4 along columns (1x4,
//     stride (1,2)) of each: the 16 planes V_ij [N,T,U,Cin] at tile resolution, with no Slice (wasm's
//     Slice copies its whole input into JavaScript first: 25 ms for a [32,16,34,32] row slice);
//   - per plane one matrix product [N·T·U, Cin] x [Cin, Cout] with the transformed filter U_ij (made
//     once per filter buffer, in float64, rounded once to float32);
//   - the output transform as Add/Sub of the 16 products, then the four output phases written into
//     the interleaved [N,H,W,Cout] output with copies inside the wasm heap (Concat/Pack interleave runs
//     of Cout values through one typed-array view each: ~10x slower on [32,16,16,32]).
// Odd H or W: T = ceil(H/2) tiles, the input padded by one extra zero row/column at the bottom/right and
// the last tile's outside row/column not written.
// With the fast path `winograd-wasm` (the default when both channel counts are multiples of 4) the two
// transforms run instead as generated WebAssembly SIMD kernels on the backend's heap
// (./winograd-transforms.ts): the same sums in the same order, so the same bits, in one pass each; the
// 16 products stay the backend's BatchMatMul. The same kernels do F(4x4,3x3) on request
// (setWinogradTileSize; not used: see its docstring).
//
// The result differs from the direct convolution only by float32 rounding (tests/engine/kernels/
// winograd.test.ts bounds it against a float64 direct convolution): `bench verify` holds this fast path
// off (REORDERING_FAST_PATHS, src/models/verify.ts).
import { tf } from '../tf.js';
import { fastPath } from '../fastPaths.js';
import type { TensorInfo } from './cpu-fallback.js';
import { composite, type KernelScope } from './kernel-scope.js';
import { cachedAdjointKernel } from './constant-kernels.js';
import { F2, F4, winogradTransforms, type WinogradMatrices } from './winograd-transforms.js';

/**
 * Smallest input and output channel counts for which the Winograd path is taken. Measured on wasm at
 * batch 32 (scripts/winograd-bench.ts): 64->64 on 16x16 and 128->128 on 8x8 maps win; with the
 * transforms composed from the backend's kernels 32-channel layers (WRN group 1, the Fashion-MNIST CNN)
 * lose to the direct kernel. With the wasm transforms (fast path winograd-wasm) they win too (WRN group
 * 1's 32->32 at batch 32: 16.8 ms direct against 10.4 ms), but the threshold stays at 64 for both so that
 * the Fashion-MNIST models, none of whose layers reaches it, keep their arithmetic and their recorded
 * results (tests/fixtures/golden). A model can opt its own filters in below it
 * (setWinogradMinChannelsFor); no model does by default: WRN group 1 by Winograd saves ~8% of an e2e
 * step but moved more of the PyTorch fixture's feedback outputs beyond tolerance (docs/performance.md,
 * fourth pass).
 */
export const WINOGRAD_MIN_CHANNELS = 64;
let minChannelsOverride: number | null = null;
let tileSize: 2 | 4 = 2;
/** Channel thresholds of the wasm transforms for particular filters, by data buffer (setWinogradMinChannelsFor). */
const filterThresholds = new WeakMap<object, number>();

/**
 * Lowers (or raises) the channel threshold of the wasm transforms for the convolutions whose filter is
 * one of `filters` (rank-4 HWIO weights; others are ignored) or, when they are registered constant
 * weights (./constant-kernels.ts), one of their cached adjoints (the filters of their input gradients and
 * of the feedback's transposed convolutions). A model whose layers gain from Winograd below
 * WINOGRAD_MIN_CHANNELS can opt in this way without changing other models' arithmetic (e.g. the
 * Wide-ResNet CNN-F's group 1 with 16: not done by default, see WINOGRAD_MIN_CHANNELS). The global override of setWinogradMinChannels takes
 * precedence; the composed transforms keep the global threshold. Throws on a non-positive or non-integer count.
 */
export function setWinogradMinChannelsFor(filters: Iterable<tf.Tensor>, channels: number): void {
  if (!(Number.isInteger(channels) && channels > 0)) throw new Error(`Winograd channel threshold must be a positive integer, got ${channels}`);
  for (const k of filters) {
    if (k.rank !== 4 || k.isDisposed) continue;
    filterThresholds.set(k.dataId, channels);
    const adjoint = cachedAdjointKernel(k.dataId, k.shape);
    if (adjoint) filterThresholds.set(adjoint.dataId, channels);
  }
}

/**
 * Sets the output tile of the wasm transforms: 2, F(2x2,3x3) (the default: the composed formulation's
 * bits, 2.25x fewer multiplies than the direct convolution), or 4, F(4x4,3x3) (4x fewer, about twice as
 * fast again on WRN-40-2's layers, but ~8x F(2x2,3x3)'s rounding error per convolution: on the WRN CNN-F
 * fixture it moved the e2e input gradients of 14 of 16 images beyond the README's tolerance, median
 * relative error 0.13 against 7e-5 (docs/performance.md, fourth pass), so no command uses it; benchmarks
 * and tests only). Returns the previous setting. Throws on any other size.
 */
export function setWinogradTileSize(m: 2 | 4): 2 | 4 {
  if (m !== 2 && m !== 4) throw new Error(`Winograd output tile must be 2 or 4, got ${m}`);
  const previous = tileSize;
  tileSize = m;
  return previous;
}

/**
 * Sets the channel threshold of the fast path (benchmarks and tests that run small layers through it;
 * null: WINOGRAD_MIN_CHANNELS). Returns the previous override (null: none). Throws on a non-positive or
 * non-integer count.
 */
export function setWinogradMinChannels(channels: number | null): number | null {
  if (channels !== null && !(Number.isInteger(channels) && channels > 0)) throw new Error(`Winograd channel threshold must be a positive integer, got ${channels}`);
  const previous = minChannelsOverride;
  minChannelsOverride = channels;
  return previous;
}

/** B^T: row k holds the taps of the 4-wide input window that make transformed index k. */
const BT = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]];
/** G (4x3). */
const G = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]];

/**
 * The transformed filter U = G g G^T of an HWIO filter [3,3,Cin,Cout] (values row-major) for the α×3
 * matrix G of F(m×m,3×3) (α = m + 2; default F(2×2,3×3)'s), as α² planes [Cin,Cout] (plane α·i + j
 * holds U[i][j]), computed in float64 and rounded once to float32.
 */
export function winogradFilterValues(w: ArrayLike<number>, cin: number, cout: number, g: readonly (readonly number[])[] = G): Float32Array[] {
  const a = g.length;
  const cc = cin * cout;
  const planes = Array.from({ length: a * a }, () => new Float32Array(cc));
  const gg = new Float64Array(9);
  const tmp = new Float64Array(3 * a); // G g: [α][3]
  for (let e = 0; e < cc; e++) {
    for (let k = 0; k < 9; k++) gg[k] = w[k * cc + e];
    for (let i = 0; i < a; i++)
      for (let b = 0; b < 3; b++) tmp[i * 3 + b] = g[i][0] * gg[b] + g[i][1] * gg[3 + b] + g[i][2] * gg[6 + b];
    for (let i = 0; i < a; i++)
      for (let j = 0; j < a; j++) planes[a * i + j][e] = tmp[i * 3] * g[j][0] + tmp[i * 3 + 1] * g[j][1] + tmp[i * 3 + 2] * g[j][2];
  }
  return planes;
}

interface WasmData {
  memoryOffset: number;
}

/** What this module uses of the wasm backend (tfjs-backend-wasm 4.22's BackendWasm). */
interface WasmBackend {
  dataIdMap: { has(id: object): boolean; get(id: object): WasmData };
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array;
  disposeData(id: object, force?: boolean): boolean;
  wasm: { HEAPF32: Float32Array; HEAP32: Int32Array; asm?: { memory?: WebAssembly.Memory } };
}

interface Conv2DAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/**
 * Whether a Conv2D call of input [N,H,W,Cin] and filter [kh,kw,Cin,Cout] with these attributes is a
 * stride-1, dilation-1, NHWC 3x3 convolution padded by one pixel on every side (TensorFlow's 'same' at
 * stride 1, or the equivalent explicit padding) with at least `threshold` input and output channels
 * (default: the current setting, WINOGRAD_MIN_CHANNELS unless setWinogradMinChannels changed it).
 */
export function winogradApplies(xShape: readonly number[], filterShape: readonly number[], attrs: Conv2DAttrs, threshold = minChannelsOverride ?? WINOGRAD_MIN_CHANNELS): boolean {
  if (xShape.length !== 4 || filterShape.length !== 4) return false;
  if (attrs.dataFormat !== undefined && attrs.dataFormat !== 'NHWC') return false;
  const [kh, kw, cin, cout] = filterShape;
  if (kh !== 3 || kw !== 3 || cin < threshold || cout < threshold || xShape[3] !== cin) return false;
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number], filterShape as [number, number, number, number],
    attrs.strides, attrs.dilations ?? 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast');
  const p = info.padInfo;
  return info.strideHeight === 1 && info.strideWidth === 1 && info.dilationHeight === 1 && info.dilationWidth === 1
    && p.top === 1 && p.bottom === 1 && p.left === 1 && p.right === 1;
}

interface FilterPlanes {
  shape: number[];
  /** Transformed planes by output tile size m (2: F(2×2,3×3), 4: F(4×4,3×3)). */
  byTile: Map<number, TensorInfo[]>;
}

/** Backend-level buffers this module owns: transformed filters by filter buffer, transform taps by channel count. */
const filterCache = new Map<object, FilterPlanes>();
const tapCache = new Map<string, TensorInfo[]>();
let cacheBackend: WasmBackend | null = null;
let calls = 0;

function upload(b: WasmBackend, values: Float32Array, shape: number[]): TensorInfo {
  const t = b.makeOutput(shape, 'float32');
  b.typedArrayFromHeap(t).set(values);
  return t;
}

/**
 * The α² transformed planes of `filter` for F(m×m,3×3) (default F(2×2,3×3)), made once per filter
 * buffer and tile size; planes of filters since disposed are freed first.
 */
function filterPlanes(b: WasmBackend, filter: TensorInfo, mat: WinogradMatrices = F2): TensorInfo[] {
  const free = (e: FilterPlanes) => {
    for (const planes of e.byTile.values()) for (const t of planes) b.disposeData(t.dataId);
  };
  for (const [id, e] of filterCache)
    if (!b.dataIdMap.has(id)) {
      free(e);
      filterCache.delete(id);
    }
  let entry = filterCache.get(filter.dataId);
  if (entry && !entry.shape.every((d, i) => d === filter.shape[i])) {
    free(entry);
    entry = undefined;
  }
  if (!entry) filterCache.set(filter.dataId, (entry = { shape: [...filter.shape], byTile: new Map() }));
  const hit = entry.byTile.get(mat.m);
  if (hit) return hit;
  const [, , cin, cout] = filter.shape;
  const values = winogradFilterValues(b.typedArrayFromHeap(filter), cin, cout, mat.G);
  const planes = values.map((v) => upload(b, v, [1, cin, cout]));
  entry.byTile.set(mat.m, planes);
  return planes;
}

/** Depthwise filters [4,1,C,1] ('rows') or [1,4,C,1] ('cols') with the taps of B^T row k in every channel. */
function transformTaps(b: WasmBackend, c: number, axis: 'rows' | 'cols'): TensorInfo[] {
  const key = `${c}/${axis}`;
  let taps = tapCache.get(key);
  if (!taps) {
    taps = BT.map((row) => {
      const v = new Float32Array(4 * c);
      for (let t = 0; t < 4; t++) v.fill(row[t], t * c, (t + 1) * c);
      return upload(b, v, axis === 'rows' ? [4, 1, c, 1] : [1, 4, c, 1]);
    });
    tapCache.set(key, taps);
  }
  return taps;
}

/**
 * y = conv2d(x, w, stride 1, 1-pixel zero padding) for x [N,H,W,Cin] and the 16 transformed filter
 * planes of w (winogradFilterValues, each [1,Cin,Cout]), by F(2x2,3x3); returns [N,H,W,Cout]. Runs the
 * wasm backend's kernels through `s`.
 */
function winogradConv(s: KernelScope, b: WasmBackend, x: TensorInfo, planes: TensorInfo[]): TensorInfo {
  const [n, h, w, c] = x.shape;
  const cout = planes[0].shape[2];
  const th = Math.ceil(h / 2);
  const tw = Math.ceil(w / 2);
  const p = n * th * tw;
  const xp = s.run('PadV2', { x }, { paddings: [[0, 0], [1, 2 * th + 1 - h], [1, 2 * tw + 1 - w], [0, 0]], constantValue: 0 });
  const rowTaps = transformTaps(b, c, 'rows');
  const colTaps = transformTaps(b, c, 'cols');
  const dw = (input: TensorInfo, filter: TensorInfo, strides: [number, number]) =>
    s.run('DepthwiseConv2dNative', { x: input, filter }, { strides, pad: 'valid', dilations: 1, dataFormat: 'NHWC' });
  // A^T M A along i as the products arrive (s0_j = (M0j + M1j) + M2j, s1_j = (M1j - M2j) - M3j), each
  // intermediate freed once used: at most one row map, one V plane and 4 + 8 product-sized maps live.
  const add = (a: TensorInfo, bb: TensorInfo) => s.run('Add', { a, b: bb });
  const sub = (a: TensorInfo, bb: TensorInfo) => s.run('Sub', { a, b: bb });
  const s0: TensorInfo[] = [];
  const s1: TensorInfo[] = [];
  const replace = (acc: TensorInfo[], j: number, next: TensorInfo) => {
    s.release(acc[j]);
    acc[j] = next;
  };
  for (let i = 0; i < 4; i++) {
    const r = dw(xp, rowTaps[i], [2, 1]); // [N,T,W+2,C]
    for (let j = 0; j < 4; j++) {
      const d = dw(r, colTaps[j], [1, 2]);
      const v = s.reshape(d, [1, p, c]); // V_ij
      const m = s.run('BatchMatMul', { a: v, b: planes[4 * i + j] }, { transposeA: false, transposeB: false });
      s.release(v);
      s.release(d);
      if (i === 0) s0[j] = m;
      else if (i === 1) {
        replace(s0, j, add(s0[j], m));
        s1[j] = m;
      } else if (i === 2) {
        replace(s0, j, add(s0[j], m));
        replace(s1, j, sub(s1[j], m));
        s.release(m);
      } else {
        replace(s1, j, sub(s1[j], m));
        s.release(m);
      }
    }
    s.release(r);
  }
  s.release(xp);
  // Along j: y_a0 = (s_a0 + s_a1) + s_a2, y_a1 = (s_a1 - s_a2) - s_a3.
  const y = [s0, s1].map((sa) => [add(add(sa[0], sa[1]), sa[2]), sub(sub(sa[1], sa[2]), sa[3])]);
  // Interleave phase (a, b) of tile (t, u) to pixel (2t + a, 2u + b), skipping pixels beyond H, W.
  const out = s.track(b.makeOutput([n, h, w, cout], 'float32'));
  const heap = b.wasm.HEAPF32;
  const outBase = b.dataIdMap.get(out.dataId).memoryOffset / 4;
  for (let a = 0; a < 2; a++)
    for (let bb = 0; bb < 2; bb++) {
      let src = b.dataIdMap.get(y[a][bb].dataId).memoryOffset / 4;
      for (let ni = 0; ni < n; ni++)
        for (let t = 0; t < th; t++) {
          const row = 2 * t + a;
          if (row >= h) {
            src += tw * cout;
            continue;
          }
          let dst = outBase + ((ni * h + row) * w + bb) * cout;
          for (let u = 0; u < tw; u++, src += cout, dst += 2 * cout) if (2 * u + bb < w) heap.copyWithin(dst, src, src + cout);
        }
    }
  return out;
}

/**
 * The same convolution as winogradConv with the transforms as generated wasm kernels on the backend's
 * heap (./winograd-transforms.ts: one pass for the 16 input planes, one for the interleaved output) and
 * the 16 products as the backend's BatchMatMul. Same bits as winogradConv (same sums in the same order).
 * Cin and Cout must be multiples of 4.
 */
function winogradConvFused(s: KernelScope, b: WasmBackend, memory: WebAssembly.Memory, x: TensorInfo, planes: TensorInfo[], mat: WinogradMatrices): TensorInfo {
  const [n, h, w, c] = x.shape;
  const cout = planes[0].shape[2];
  const th = Math.ceil(h / mat.m);
  const tw = Math.ceil(w / mat.m);
  const p = n * th * tw;
  const kernels = winogradTransforms(memory, mat);
  const addr = (t: TensorInfo) => b.dataIdMap.get(t.dataId).memoryOffset;
  const ptrs = s.track(b.makeOutput([planes.length], 'float32'));
  const scratch = s.track(b.makeOutput([Math.max(c, cout)], 'float32'));
  b.typedArrayFromHeap(scratch).fill(0);
  const v = planes.map(() => s.track(b.makeOutput([1, p, c], 'float32')));
  b.wasm.HEAP32.set(v.map(addr), addr(ptrs) / 4);
  kernels.input(addr(x), addr(ptrs), addr(scratch), n, h, w, c, th, tw);
  const m = v.map((vk, k) => {
    const out = s.run('BatchMatMul', { a: vk, b: planes[k] }, { transposeA: false, transposeB: false });
    s.release(vk);
    return out;
  });
  const out = s.track(b.makeOutput([n, h, w, cout], 'float32'));
  b.wasm.HEAP32.set(m.map(addr), addr(ptrs) / 4);
  kernels.output(addr(ptrs), addr(out), addr(scratch), n, h, w, cout, th, tw);
  return out;
}

let originalConv: tf.KernelConfig | null = null;

interface Conv2DArgs {
  inputs: { x: TensorInfo; filter: TensorInfo };
  backend: unknown;
  attrs: Conv2DAttrs;
}

/**
 * Wraps the wasm backend's Conv2D kernel: calls that winogradApplies() to run by F(2x2,3x3) while the
 * fast path `winograd-3x3` is on (checked per call; with `winograd-wasm` also on and channel counts that
 * are multiples of 4, by the wasm transforms), every other call the original kernel. Idempotent; does
 * nothing without a wasm Conv2D kernel.
 */
export function registerWinogradConv(): void {
  if (originalConv) return;
  const original = tf.getKernel('Conv2D', 'wasm');
  if (!original) return;
  originalConv = original;
  tf.unregisterKernel('Conv2D', 'wasm');
  tf.registerKernel({
    kernelName: 'Conv2D',
    backendName: 'wasm',
    setupFunc: original.setupFunc,
    kernelFunc: (raw) => {
      const args = raw as unknown as Conv2DArgs;
      const { x, filter } = args.inputs;
      if (!fastPath('winograd-3x3') || x.dtype !== 'float32') return original.kernelFunc(raw);
      const b = args.backend as WasmBackend;
      const memory = b.wasm.asm?.memory;
      const fused = fastPath('winograd-wasm') && memory instanceof WebAssembly.Memory && x.shape[3] % 4 === 0 && filter.shape[3] % 4 === 0;
      const threshold = minChannelsOverride ?? (fused ? filterThresholds.get(filter.dataId) : undefined) ?? WINOGRAD_MIN_CHANNELS;
      if (!winogradApplies(x.shape, filter.shape, args.attrs, threshold)) return original.kernelFunc(raw);
      cacheBackend = b;
      calls++;
      if (!fused) return composite(b, 'wasm', (s) => winogradConv(s, b, x, filterPlanes(b, filter))) as never;
      const mat = tileSize === 4 ? F4 : F2;
      return composite(b, 'wasm', (s) => winogradConvFused(s, b, memory, x, filterPlanes(b, filter, mat), mat)) as never;
    },
  });
}

/** Puts the wasm backend's own Conv2D back and frees the cached transforms. Idempotent. */
export function unregisterWinogradConv(): void {
  releaseWinogradFilters();
  if (!originalConv) return;
  tf.unregisterKernel('Conv2D', 'wasm');
  tf.registerKernel(originalConv);
  originalConv = null;
}

/** Frees the cached transformed filters and transform taps. */
export function releaseWinogradFilters(): void {
  if (cacheBackend) {
    for (const e of filterCache.values()) for (const planes of e.byTile.values()) for (const t of planes) cacheBackend.disposeData(t.dataId);
    for (const taps of tapCache.values()) for (const t of taps) cacheBackend.disposeData(t.dataId);
  }
  filterCache.clear();
  tapCache.clear();
}

/** How many Conv2D calls ran by F(2x2,3x3) in this process (tests and benchmarks). */
export function winogradCalls(): number {
  return calls;
}
