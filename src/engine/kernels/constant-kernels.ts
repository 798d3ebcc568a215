// Adjoint kernels of a model's convolution weights, computed once per model instead of at every call.
//
// Why: the transposed convolutions of CNN-F's feedback, and the input gradient of every convolution, run
// as forward convolutions with the adjoint kernel (rot180, input/output channels swapped;
// ./conv-geometry.ts). Derived afresh at each call, that kernel is a new tensor every time, and the wasm
// backend's Conv2D (XNNPACK) caches its operator -- with the packed weights -- by filter tensor: a new
// filter means a new operator and a fresh packing of the weights on every call. Measured on wasm
// (scripts/perf/micro-kernels.ts, one process, CPU time): a [8,8,8,128] x [3,3,128,128] convolution takes
// 6.8 ms with a reused filter and 29 ms with a new one, and the Reverse that rotates the filter adds
// 6.6 ms more. The weights of a loaded model are constants of an attack (gradients are taken w.r.t. the
// input only), so their adjoints can be made once and reused.
//
// The cache is keyed by the weight's data buffer (dataId) and checked against its shape, so kernel-level
// code (./conv-backprop-kernels.ts), which sees TensorInfos, finds the same entry. The adjoint of a cached
// adjoint is the original weight (rot180 and the channel swap are involutions), registered too, so the
// gradient of a feedback convolution also reuses the model's own weight tensor. Values are bit-identical
// to the uncached computation (a reversal and a transpose copy values exactly).
import { tf } from '../tf.js';

interface Entry {
  shape: readonly number[];
  /** The registered tensor itself (the weight, or for the reverse entry its adjoint). */
  tensor: tf.Tensor4D;
  adjoint: tf.Tensor4D;
  /** Whether the adjoint was made here (and is disposed by releaseConstantKernels). */
  owned: boolean;
  /** Other kernels derived from `tensor` on first use (e.g. sub-pixel kernels), by key; disposed with the entry. */
  derived: Map<string, tf.Tensor>;
}

const cache = new WeakMap<object, Entry>();

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/** rot180 in the spatial axes and the channel axes swapped: HWIO [kh,kw,in,out] -> [kh,kw,out,in]. */
export function computeAdjointKernel(kernel: tf.Tensor4D): tf.Tensor4D {
  // A 1x1 kernel is its own rotation (and wasm's Reverse is slow on large pointwise kernels).
  const rotated = (k: tf.Tensor4D) => (k.shape[0] === 1 && k.shape[1] === 1 ? k : tf.reverse(k, [0, 1]));
  return tf.tidy(() => tf.transpose(rotated(kernel), [0, 1, 3, 2]));
}

/**
 * Declares `kernels` (rank-4 HWIO convolution weights; other tensors are ignored) constants of the
 * model: their adjoint kernels are made now and returned by cachedAdjointKernel until
 * releaseConstantKernels. A gradient w.r.t. such a weight no longer flows through the convolutions that
 * use its cached adjoint (the feedback's transposed convolutions and every input gradient), so call it
 * only for weights that are not trained; gradients w.r.t. inputs are unchanged. Idempotent.
 */
export function registerConstantKernels(kernels: Iterable<tf.Tensor>): void {
  for (const k of kernels) {
    if (k.rank !== 4 || k.isDisposed || cache.has(k.dataId)) continue;
    const adjoint = tf.keep(computeAdjointKernel(k as tf.Tensor4D));
    cache.set(k.dataId, { shape: k.shape, tensor: k as tf.Tensor4D, adjoint, owned: true, derived: new Map() });
    if (!cache.has(adjoint.dataId))
      cache.set(adjoint.dataId, { shape: adjoint.shape, tensor: adjoint, adjoint: k as tf.Tensor4D, owned: false, derived: new Map() });
  }
}

/** Frees the adjoints registered for `kernels` (call before or when disposing the weights). */
export function releaseConstantKernels(kernels: Iterable<tf.Tensor>): void {
  for (const k of kernels) {
    const e = cache.get(k.dataId);
    if (!e || !e.owned) continue;
    const reverse = cache.get(e.adjoint.dataId);
    for (const entry of reverse ? [e, reverse] : [e]) for (const d of entry.derived.values()) d.dispose();
    cache.delete(k.dataId);
    cache.delete(e.adjoint.dataId);
    e.adjoint.dispose();
  }
}

/**
 * The cached adjoint of the weight whose buffer is `dataId` and shape `shape`, or null (not registered,
 * reshaped, or either tensor disposed).
 */
export function cachedAdjointKernel(dataId: object, shape: readonly number[]): tf.Tensor4D | null {
  const e = cache.get(dataId);
  if (!e || !sameShape(e.shape, shape) || e.adjoint.isDisposed) return null;
  return e.adjoint;
}

/**
 * A kernel derived from the registered constant weight whose buffer is `dataId` (shape `shape`), made by
 * `make(weight)` on the first request for `key` and kept until releaseConstantKernels; null when the
 * weight is not registered (or reshaped, or disposed). `make` may read the weight's values.
 */
export function cachedDerivedKernel(dataId: object, shape: readonly number[], key: string, make: (weight: tf.Tensor4D) => tf.Tensor): tf.Tensor | null {
  const e = cache.get(dataId);
  if (!e || !sameShape(e.shape, shape) || e.tensor.isDisposed || e.adjoint.isDisposed) return null;
  let d = e.derived.get(key);
  if (!d || d.isDisposed) {
    d = tf.keep(make(e.tensor));
    e.derived.set(key, d);
  }
  return d;
}
