// The full-size passes of the Wide-ResNet CNN-F's InsNorm (src/models/cnnfWrn/insNorm.ts) as generated
// wasm SIMD kernels on the wasm backend's heap (fast path `ins-norm-wasm`), registered as backend kernels
// (the Fashion-MNIST InsNorm, src/models/fastOps.ts, uses them on the map viewed as [N,H·W,1,C], fast
// path `ins-norm-mean-wasm`):
//   BenchSpatialSumProducts {a, b} -> [N,1,1,C]: Σ_w (Σ_h a·b) per image and channel;
//   BenchDivChannels {x, s} -> x / s, s [N,1,1,C] per image and channel;
//   BenchInsNormGrad {dy, x, b, q} -> dy / b + q · x, b and q [N,1,1,C].
// Why: wasm's broadcasting Multiply/RealDiv of a map by a per-channel vector run 2-4x slower than the
// same-shape ones, and the plain formulation spends ~10 kernels (and passes) per InsNorm and ~14 per
// gradient; these do one pass each.
// Same arithmetic, in the same order, as the plain TensorFlow.js formulation (spatial-sum-pool off): the
// product rounded, then added in sequence over the rows into one accumulator per column, then the
// columns in sequence (wasm's Sum kernel adds sequentially from 0: tf.sum(tf.sum(a·b, 1), 2)), the
// division and multiply-add rounded as tf.div, tf.mul and tf.add do; tests/engine/kernels/
// ins-norm-kernels.test.ts checks bit equality with those ops.
import { tf } from '../tf.js';
import type { TensorInfo } from './cpu-fallback.js';
import { encodeModule, FunctionBuilder, I32, V128 } from './wasm-asm.js';
import { heapAddress, heapInstances, heapKernelsRun, heapMemory, type WasmHeapBackend } from './wasm-heap.js';

/** sumProducts(a, b, acc, out, n, h, w, c): out[ni,ch] = Σ_j Σ_i a·b (rows into acc [w,c], then columns). */
function sumProducts(): FunctionBuilder {
  const f = new FunctionBuilder([I32, I32, I32, I32, I32, I32, I32, I32]);
  const [A, B, ACC, OUT, N, H, W, C] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [ni, i, j, off, cb, rowBytes, src, dst, accp] = Array.from({ length: 9 }, () => f.local(I32));
  const v = f.local(V128);
  f.get(C).i32(4).mul().set(cb);
  f.get(W).get(cb).mul().set(rowBytes);
  f.i32(0).set(src);
  f.get(OUT).set(dst);
  f.forLoop(ni, N, 1, () => {
    // acc = 0 (every column's accumulator)
    f.forLoop(off, rowBytes, 16, () => {
      f.get(ACC).get(off).add().f32x4Const(0).v128Store();
    });
    f.forLoop(i, H, 1, () => {
      f.forLoop(off, rowBytes, 16, () => {
        f.get(ACC).get(off).add().tee(accp);
        f.get(accp).v128Load();
        f.get(A).get(src).add().get(off).add().v128Load();
        f.get(B).get(src).add().get(off).add().v128Load();
        f.f32x4Mul().f32x4Add().v128Store();
      });
      f.get(src).get(rowBytes).add().set(src);
    });
    // out = Σ_j acc[j], in column order from 0
    f.forLoop(off, cb, 16, () => {
      f.f32x4Const(0).set(v);
      f.forLoop(j, W, 1, () => {
        f.get(v).get(ACC).get(j).get(cb).mul().add().get(off).add().v128Load().f32x4Add().set(v);
      });
      f.get(dst).get(off).add().get(v).v128Store();
    });
    f.get(dst).get(cb).add().set(dst);
  });
  return f;
}

/**
 * perChannel(x, s, dy, q, out, n, hw, c, grad): grad = 0: out = x / s; grad = 1: out = dy / s + q · x
 * (s, q per image and channel).
 */
function perChannel(grad: boolean): FunctionBuilder {
  const f = new FunctionBuilder([I32, I32, I32, I32, I32, I32, I32, I32]);
  const [X, S, DY, Q, OUT, N, HW, C] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [ni, p, off, cb, base, chan] = Array.from({ length: 6 }, () => f.local(I32));
  f.get(C).i32(4).mul().set(cb);
  f.i32(0).set(base);
  f.i32(0).set(chan);
  f.forLoop(ni, N, 1, () => {
    f.forLoop(p, HW, 1, () => {
      f.forLoop(off, cb, 16, () => {
        f.get(OUT).get(base).add().get(off).add();
        if (grad) {
          f.get(DY).get(base).add().get(off).add().v128Load();
          f.get(S).get(chan).add().get(off).add().v128Load();
          f.f32x4Div();
          f.get(Q).get(chan).add().get(off).add().v128Load();
          f.get(X).get(base).add().get(off).add().v128Load();
          f.f32x4Mul().f32x4Add();
        } else {
          f.get(X).get(base).add().get(off).add().v128Load();
          f.get(S).get(chan).add().get(off).add().v128Load();
          f.f32x4Div();
        }
        f.v128Store();
      });
      f.get(base).get(cb).add().set(base);
    });
    f.get(chan).get(cb).add().set(chan);
  });
  return f;
}

interface Kernels {
  sumProducts(a: number, b: number, acc: number, out: number, n: number, h: number, w: number, c: number): void;
  divChannels(x: number, s: number, dy: number, q: number, out: number, n: number, hw: number, c: number): void;
  insNormGrad(x: number, s: number, dy: number, q: number, out: number, n: number, hw: number, c: number): void;
}

interface WasmBackend extends WasmHeapBackend {
  disposeData(id: object, force?: boolean): boolean;
}

/** The module binary (exports sumProducts, divChannels, insNormGrad). */
export function insNormModule(): Uint8Array<ArrayBuffer> {
  return encodeModule([
    { name: 'sumProducts', fn: sumProducts() },
    { name: 'divChannels', fn: perChannel(false) },
    { name: 'insNormGrad', fn: perChannel(true) },
  ]);
}

const kernelsOn = heapInstances<Kernels>(insNormModule);
const kernels = (b: WasmBackend): Kernels => kernelsOn(heapMemory(b));

/** Whether the kernels can run on the current backend for a map with `channels` channels (wasm, a multiple of 4). */
export function insNormKernelsApply(channels: number): boolean {
  return registered && channels % 4 === 0 && heapKernelsRun();
}

let registered = false;

/** Registers the three kernels on the wasm backend (idempotent; nothing without a wasm backend). */
export function registerInsNormKernels(): void {
  if (registered || !tf.findBackend('wasm')) return;
  registered = true;
  const addr = heapAddress;
  tf.registerKernel({
    kernelName: 'BenchSpatialSumProducts',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend }) => {
      const b = backend as unknown as WasmBackend;
      const { a, b: bb } = inputs as unknown as { a: TensorInfo; b: TensorInfo };
      const [n, h, w, c] = a.shape;
      const out = b.makeOutput([n, 1, 1, c], 'float32');
      const acc = b.makeOutput([w * c], 'float32');
      kernels(b).sumProducts(addr(b, a), addr(b, bb), addr(b, acc), addr(b, out), n, h, w, c);
      b.disposeData(acc.dataId);
      return out as never;
    },
  });
  for (const [name, grad] of [['BenchDivChannels', false], ['BenchInsNormGrad', true]] as const)
    tf.registerKernel({
      kernelName: name,
      backendName: 'wasm',
      kernelFunc: ({ inputs, backend }) => {
        const b = backend as unknown as WasmBackend;
        const { x, s, dy, q } = inputs as unknown as { x: TensorInfo; s: TensorInfo; dy?: TensorInfo; q?: TensorInfo };
        const [n, h, w, c] = x.shape;
        const out = b.makeOutput([n, h, w, c], 'float32');
        const k = kernels(b);
        if (grad) k.insNormGrad(addr(b, x), addr(b, s), addr(b, dy!), addr(b, q!), addr(b, out), n, h * w, c);
        else k.divChannels(addr(b, x), addr(b, s), 0, 0, addr(b, out), n, h * w, c);
        return out as never;
      },
    });
}

/** Σ_w Σ_h a·b per image and channel, [N,H,W,C] -> [N,1,1,C] (wasm; see insNormKernelsApply). */
export function spatialSumProducts(a: tf.Tensor4D, b: tf.Tensor4D): tf.Tensor4D {
  return tf.engine().runKernel('BenchSpatialSumProducts', { a, b } as never, {}) as tf.Tensor4D;
}

/** x / s with s [N,1,1,C] per image and channel (wasm; see insNormKernelsApply). */
export function divChannels(x: tf.Tensor4D, s: tf.Tensor): tf.Tensor4D {
  return tf.engine().runKernel('BenchDivChannels', { x, s } as never, {}) as tf.Tensor4D;
}

/** dy / b + q · x with b, q [N,1,1,C] per image and channel (wasm; see insNormKernelsApply). */
export function insNormGradient(dy: tf.Tensor, x: tf.Tensor, b: tf.Tensor, q: tf.Tensor): tf.Tensor4D {
  return tf.engine().runKernel('BenchInsNormGrad', { x, s: b, dy, q } as never, {}) as tf.Tensor4D;
}

/**
 * InsNorm y = x / sqrt(Σ x² / (H·W) + epsilon) per image and channel on these kernels, with its
 * gradient dy / b + q·x (b = sqrt(s), q = 2 (-(Σ dy·x / b²) / (2 b)) / (H·W)): the per-channel arithmetic
 * as TensorFlow.js ops on [N,1,1,C], in the order the models' TensorFlow.js formulations use, the
 * full-size passes as the kernels. `sumView` picks the summation order of the spatial sums: the map
 * itself sums rows then columns (the Wide-ResNet's two sequential passes); viewed as [N,H·W,1,C] it sums
 * the H·W products in row-major sequence (wasm's Mean and Sum over [1,2]). x NHWC [N,H,W,C] with C a
 * multiple of 4, on wasm (insNormKernelsApply).
 */
export function insNormOnKernels(x: tf.Tensor4D, epsilon: number, sumView: (t: tf.Tensor) => tf.Tensor4D): tf.Tensor4D {
  const [, h, w] = x.shape;
  const op = tf.customGrad(((xi: tf.Tensor4D, save: (t: tf.Tensor[]) => void) => {
    const xv = sumView(xi);
    const s = tf.add(tf.div(spatialSumProducts(xv, xv), h * w), epsilon);
    const b = tf.sqrt(s);
    save([xi, b]);
    return {
      value: divChannels(xi, b),
      gradFunc: (dy: tf.Tensor, [xs, bs]: tf.Tensor[]) => {
        const t = spatialSumProducts(sumView(dy), sumView(xs));
        const dB = tf.neg(tf.div(t, tf.square(bs)));
        const dS = tf.div(dB, tf.mul(bs, 2));
        const q2 = tf.mul(tf.div(dS, h * w), 2);
        return insNormGradient(dy, xs, bs, q2);
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(x) as tf.Tensor4D;
}
