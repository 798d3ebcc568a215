// CNN-F's AdaPool (2x2 windows, stride 2; src/models/feedbackLayers.ts) as generated wasm SIMD kernels on
// the wasm backend's heap (fast path `ada-pool-wasm`), registered as backend kernels:
//   BenchPoolChoose {x, usesMax?, usesMin?} -> [pooled, maxMap?, minMap?]: per 2x2 window the first
//     maximum (and minimum) in row-major window order, pooled = max (or max·usesMax + min·usesMin), and
//     the choice maps [N,H,W,C]: 1 at each window's chosen position, 0 elsewhere and in a cropped odd row
//     or column;
//   BenchPoolScatter {v, maxMap, usesMax?, minMap?, usesMin?} -> [N,H,W,C]: v·maxMap at each position of
//     its window, or (v·usesMax)·maxMap + (v·usesMin)·minMap; 0 in a cropped odd row or column;
//   BenchPoolGather {dy, maxMap, usesMax?, minMap?, usesMin?} -> [N,h,w,C]: Σ_k dy_k·maxMap_k over the
//     window from 0 in window order, or (Σ dy·maxMap)·usesMax + (Σ dy·minMap)·usesMin.
// Why: the TensorFlow.js formulation moves every map through 6-d transposes (windows2x2 / unwindows2x2),
// argMax + one-hot + cast, and four-fold multiplies of [N,h,w,C,4] tensors: ~20% of a CNN-F step on
// wasm (docs/performance.md). Here the same float operations run in one pass each: products with the
// 0/1 choices rounded as tf.mul, sums in tf.sum's order (from 0, k = 0..3), so values and gradients keep
// their bits (signed zeros included), tests/engine/kernels/window-pool-kernels.test.ts. The choices go to
// the first position on ties, as argMax and PyTorch's max_pool2d; the pooled values are the backend
// MaxPool's (which may return the other zero of a -0/+0 tie).
import { tf } from '../tf.js';
import type { TensorInfo } from './cpu-fallback.js';
import { encodeModule, FunctionBuilder, I32, V128 } from './wasm-asm.js';
import { heapAddress, heapInstances, heapKernelsRun, heapMemory, type WasmHeapBackend } from './wasm-heap.js';

// Every function takes (X, UMAX, UMIN, CMAX, CMIN, OUT, N, H, W, C): byte addresses, then sizes.
const PARAMS = [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32];
const [X, UMAX, UMIN, CMAX, CMIN, OUT, N, H, W, C] = PARAMS.map((_, i) => i);

/**
 * The loop over the windows shared by the kernels: body(a, o) with `a` the byte offset of the window's
 * top-left element (4 channels from `off`) in the [N,H,W,C] maps, `o` that of the pooled element in
 * [N,h,w,C]; window position k (row-major dy, dx) is at a + dy·rowBytes + dx·cb.
 */
function windowLoop(f: FunctionBuilder, body: (a: number, o: number, cb: number, rowBytes: number) => void): void {
  const [ni, i2, j2, off, cb, rowBytes, h2, w2, rb, a, o] = Array.from({ length: 11 }, () => f.local(I32));
  f.get(C).i32(4).mul().set(cb);
  f.get(W).get(cb).mul().set(rowBytes);
  f.get(H).i32(2).divU().set(h2);
  f.get(W).i32(2).divU().set(w2);
  f.i32(0).set(o);
  f.forLoop(ni, N, 1, () => {
    f.forLoop(i2, h2, 1, () => {
      // rb = (ni·H + 2·i2) · rowBytes
      f.get(ni).get(H).mul().get(i2).i32(2).mul().add().get(rowBytes).mul().set(rb);
      f.forLoop(j2, w2, 1, () => {
        f.forLoop(off, cb, 16, () => {
          f.get(rb).get(j2).i32(2).mul().get(cb).mul().add().get(off).add().set(a);
          body(a, o, cb, rowBytes);
          f.get(o).i32(16).add().set(o);
        });
      });
    });
  });
}

/** Pushes base + a + (k's offset in the window). */
function at(f: FunctionBuilder, base: number, a: number, k: number, cb: number, rowBytes: number): void {
  f.get(base).get(a).add();
  if (k >= 2) f.get(rowBytes).add();
  if (k % 2 === 1) f.get(cb).add();
}

/** choose: pooled values (and the choice maps if `maps`), for the first pass (max) or a feedback pass. */
function choose(feedback: boolean, maps: boolean): FunctionBuilder {
  const f = new FunctionBuilder(PARAMS);
  const v = [0, 1, 2, 3].map(() => f.local(V128));
  const best = f.local(V128), g = f.local(V128);
  const mMax = [0, 1, 2, 3].map(() => f.local(V128));
  const lo = f.local(V128);
  const mMin = [0, 1, 2, 3].map(() => f.local(V128));
  const select = (target: number, masks: number[], greater: boolean) => {
    f.get(v[0]).set(target);
    f.v128AllOnes().set(masks[0]);
    for (let k = 1; k < 4; k++) {
      f.get(v[k]).get(target);
      if (greater) f.f32x4Gt();
      else f.f32x4Lt();
      f.set(g);
      f.get(v[k]).get(target).get(g).v128Bitselect().set(target);
      for (let j = 0; j < k; j++) f.get(masks[j]).get(g).v128AndNot().set(masks[j]);
      f.get(g).set(masks[k]);
    }
  };
  // The pooled value as the backend's MaxPool (XNNPACK) computes it, whose ties between -0 and +0 differ
  // from argMax's: a running pmax over the window positions in the order 0, 3, 1, 2 (on a tie the running
  // value stays), fitted to tf.maxPool on wasm over every window of {-1, -0, +0} values and checked by the
  // tests; min pooling, -maxPool(-x), is the same with the comparison reversed.
  const pooledValue = (target: number, greater: boolean) => {
    f.get(v[0]).set(target);
    for (const k of [3, 1, 2]) {
      f.get(v[k]).get(target);
      if (greater) f.get(target).get(v[k]).f32x4Lt();
      else f.get(v[k]).get(target).f32x4Lt();
      f.v128Bitselect().set(target);
    }
  };
  windowLoop(f, (a, o, cb, rowBytes) => {
    for (let k = 0; k < 4; k++) {
      at(f, X, a, k, cb, rowBytes);
      f.v128Load().set(v[k]);
    }
    if (maps) {
      select(best, mMax, true);
      if (feedback) select(lo, mMin, false);
    }
    pooledValue(best, true);
    if (feedback) pooledValue(lo, false);
    f.get(OUT).get(o).add();
    if (feedback) {
      f.get(best).get(UMAX).get(o).add().v128Load().f32x4Mul();
      f.get(lo).get(UMIN).get(o).add().v128Load().f32x4Mul();
      f.f32x4Add();
    } else f.get(best);
    f.v128Store();
    if (maps) {
      for (const [base, masks] of feedback ? ([[CMAX, mMax], [CMIN, mMin]] as const) : ([[CMAX, mMax]] as const))
        for (let k = 0; k < 4; k++) {
          at(f, base, a, k, cb, rowBytes);
          f.get(masks[k]).f32x4Const(1).v128And().v128Store();
        }
    }
  });
  return f;
}

/** scatter: v (or v·usesMax, v·usesMin) times the choice maps at every window position. */
function scatter(dual: boolean): FunctionBuilder {
  const f = new FunctionBuilder(PARAMS);
  const a1 = f.local(V128), a2 = f.local(V128);
  windowLoop(f, (a, o, cb, rowBytes) => {
    f.get(X).get(o).add().v128Load().set(a1);
    if (dual) {
      f.get(a1).get(UMIN).get(o).add().v128Load().f32x4Mul().set(a2);
      f.get(a1).get(UMAX).get(o).add().v128Load().f32x4Mul().set(a1);
    }
    for (let k = 0; k < 4; k++) {
      at(f, OUT, a, k, cb, rowBytes);
      f.get(a1);
      at(f, CMAX, a, k, cb, rowBytes);
      f.v128Load().f32x4Mul();
      if (dual) {
        f.get(a2);
        at(f, CMIN, a, k, cb, rowBytes);
        f.v128Load().f32x4Mul().f32x4Add();
      }
      f.v128Store();
    }
  });
  return f;
}

/** gather: Σ_k dy_k · choice_k from 0 in window order (times usesMax, plus the min sum times usesMin). */
function gather(dual: boolean): FunctionBuilder {
  const f = new FunctionBuilder(PARAMS);
  const s = f.local(V128);
  const sum = (a: number, cb: number, rowBytes: number, map: number) => {
    f.f32x4Const(0);
    for (let k = 0; k < 4; k++) {
      at(f, X, a, k, cb, rowBytes);
      f.v128Load();
      at(f, map, a, k, cb, rowBytes);
      f.v128Load().f32x4Mul().f32x4Add();
    }
  };
  windowLoop(f, (a, o, cb, rowBytes) => {
    f.get(OUT).get(o).add();
    sum(a, cb, rowBytes, CMAX);
    if (dual) {
      f.get(UMAX).get(o).add().v128Load().f32x4Mul().set(s);
      sum(a, cb, rowBytes, CMIN);
      f.get(UMIN).get(o).add().v128Load().f32x4Mul().get(s).f32x4Add();
    }
    f.v128Store();
  });
  return f;
}

/** zero(X, bytes): X[0..bytes) = 0 (bytes a multiple of 16). */
function zero(): FunctionBuilder {
  const f = new FunctionBuilder([I32, I32]);
  const i = f.local(I32);
  f.forLoop(i, 1, 16, () => {
    f.get(0).get(i).add().f32x4Const(0).v128Store();
  });
  return f;
}

type Fn = (x: number, uMax: number, uMin: number, cMax: number, cMin: number, out: number, n: number, h: number, w: number, c: number) => void;
interface Kernels {
  choosePooled: Fn;
  chooseMaps: Fn;
  chooseFeedbackPooled: Fn;
  chooseFeedbackMaps: Fn;
  scatter: Fn;
  scatterDual: Fn;
  gather: Fn;
  gatherDual: Fn;
  zero(x: number, bytes: number): void;
}

/** The module binary (exports the Kernels functions). */
export function windowPoolModule(): Uint8Array<ArrayBuffer> {
  return encodeModule([
    { name: 'choosePooled', fn: choose(false, false) },
    { name: 'chooseMaps', fn: choose(false, true) },
    { name: 'chooseFeedbackPooled', fn: choose(true, false) },
    { name: 'chooseFeedbackMaps', fn: choose(true, true) },
    { name: 'scatter', fn: scatter(false) },
    { name: 'scatterDual', fn: scatter(true) },
    { name: 'gather', fn: gather(false) },
    { name: 'gatherDual', fn: gather(true) },
    { name: 'zero', fn: zero() },
  ]);
}

type WasmBackend = WasmHeapBackend;

const kernelsOn = heapInstances<Kernels>(windowPoolModule);
const kernels = (b: WasmBackend): Kernels => kernelsOn(heapMemory(b));

let registered = false;

/** Whether the kernels run on the current backend for maps with `channels` channels (wasm, a multiple of 4). */
export function windowPoolKernelsApply(channels: number): boolean {
  return registered && channels % 4 === 0 && heapKernelsRun();
}

type Inputs = { x?: TensorInfo; v?: TensorInfo; dy?: TensorInfo; maxMap?: TensorInfo; minMap?: TensorInfo; usesMax?: TensorInfo; usesMin?: TensorInfo };

/** Registers the three kernels on the wasm backend (idempotent; nothing without a wasm backend). */
export function registerWindowPoolKernels(): void {
  if (registered || !tf.findBackend('wasm')) return;
  registered = true;
  const addr = heapAddress;
  const odd = (shape: readonly number[]) => shape[1] % 2 !== 0 || shape[2] % 2 !== 0;
  const size = (shape: readonly number[]) => shape.reduce((p, d) => p * d, 1);
  tf.registerKernel({
    kernelName: 'BenchPoolChoose',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const b = backend as unknown as WasmBackend;
      const { x, usesMax, usesMin } = inputs as unknown as Inputs;
      const [n, h, w, c] = x!.shape;
      const feedback = usesMax !== undefined;
      const maps = (attrs as { maps: boolean }).maps;
      const k = kernels(b);
      const pooled = b.makeOutput([n, Math.floor(h / 2), Math.floor(w / 2), c], 'float32');
      const maxMap = maps ? b.makeOutput([n, h, w, c], 'float32') : undefined;
      const minMap = maps && feedback ? b.makeOutput([n, h, w, c], 'float32') : undefined;
      if (odd(x!.shape)) for (const m of [maxMap, minMap]) if (m) k.zero(addr(b, m), 4 * size(m.shape));
      const fn = feedback ? (maps ? k.chooseFeedbackMaps : k.chooseFeedbackPooled) : maps ? k.chooseMaps : k.choosePooled;
      fn(addr(b, x), addr(b, usesMax), addr(b, usesMin), addr(b, maxMap), addr(b, minMap), addr(b, pooled), n, h, w, c);
      return [pooled, ...(maxMap ? [maxMap] : []), ...(minMap ? [minMap] : [])] as never;
    },
  });
  for (const [name, isScatter] of [['BenchPoolScatter', true], ['BenchPoolGather', false]] as const)
    tf.registerKernel({
      kernelName: name,
      backendName: 'wasm',
      kernelFunc: ({ inputs, backend }) => {
        const b = backend as unknown as WasmBackend;
        const { v, dy, maxMap, minMap, usesMax, usesMin } = inputs as unknown as Inputs;
        const [n, h, w, c] = maxMap!.shape;
        const dual = minMap !== undefined;
        const k = kernels(b);
        const out = b.makeOutput(isScatter ? [n, h, w, c] : [n, Math.floor(h / 2), Math.floor(w / 2), c], 'float32');
        if (isScatter && odd(maxMap!.shape)) k.zero(addr(b, out), 4 * size(out.shape));
        const fn = isScatter ? (dual ? k.scatterDual : k.scatter) : dual ? k.gatherDual : k.gather;
        fn(addr(b, isScatter ? v : dy), addr(b, usesMax), addr(b, usesMin), addr(b, maxMap), addr(b, minMap), addr(b, out), n, h, w, c);
        return out as never;
      },
    });
}

/** The choices of a pass: usesMax / usesMin [N,h,w,C] (0/1) in a feedback pass, null in the first. */
export interface PoolUses {
  usesMax: tf.Tensor;
  usesMin: tf.Tensor;
}

/**
 * 2x2 stride-2 pooling of NHWC x [N,H,W,C] (odd last row/column cropped): [pooled [N,h,w,C], maxMap, minMap]
 * with pooled = max, or max·usesMax + min·usesMin given `uses`; the maps (only if `maps`; minMap only
 * with `uses`) are [N,H,W,C], 1 at the first maximum (minimum) of every window in row-major order.
 */
export function poolChoose(x: tf.Tensor4D, uses: PoolUses | null, maps: boolean): tf.Tensor4D[] {
  const inputs = uses ? { x, usesMax: uses.usesMax, usesMin: uses.usesMin } : { x };
  const out = tf.engine().runKernel('BenchPoolChoose', inputs as never, { maps } as never);
  return (Array.isArray(out) ? out : [out]) as tf.Tensor4D[];
}

/**
 * v [N,h,w,C] put at the chosen positions: v·maxMap, or (v·usesMax)·maxMap + (v·usesMin)·minMap, each
 * value at every position of its window; [N,H,W,C] as the maps, 0 in a cropped odd row/column.
 */
export function poolScatter(v: tf.Tensor, maxMap: tf.Tensor, minMap: tf.Tensor | null, uses: PoolUses | null): tf.Tensor4D {
  const inputs = uses && minMap ? { v, maxMap, minMap, usesMax: uses.usesMax, usesMin: uses.usesMin } : { v, maxMap };
  return tf.engine().runKernel('BenchPoolScatter', inputs as never, {}) as tf.Tensor4D;
}

/**
 * The adjoint of poolScatter: dy [N,H,W,C] -> [N,h,w,C], Σ_k dy_k·maxMap_k over each window (from 0, in
 * row-major window order), or that times usesMax plus the min maps' sum times usesMin.
 */
export function poolGather(dy: tf.Tensor, maxMap: tf.Tensor, minMap: tf.Tensor | null, uses: PoolUses | null): tf.Tensor4D {
  const inputs = uses && minMap ? { dy, maxMap, minMap, usesMax: uses.usesMax, usesMin: uses.usesMin } : { dy, maxMap };
  return tf.engine().runKernel('BenchPoolGather', inputs as never, {}) as tf.Tensor4D;
}
