// Shared geometry for the stride-1 convolution adjoints: kernel flipping and the padding of the
// adjoint convolution. Both gradients of a stride-1 conv2d are themselves convolutions, which lets them
// run on the backend's forward Conv2D (fast on wasm) instead of the Conv2DBackprop* kernels.
import { tf } from '../tf.js';
import { fastPath } from '../fastPaths.js';
import { cachedAdjointKernel, computeAdjointKernel } from './constant-kernels.js';

/** Padding (in rows/columns) that a conv2d adds on each side of the input. */
export interface SidePadding {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

/** Explicit NHWC padding in the form tf.conv2d accepts. */
export type ExplicitPadding = [[number, number], [number, number], [number, number], [number, number]];

export function explicitPadding(p: SidePadding): ExplicitPadding {
  return [[0, 0], [p.top, p.bottom], [p.left, p.right], [0, 0]];
}

/**
 * Padding of a stride-1 'same' conv2d with a kh x kw kernel. TensorFlow puts the odd extra row and
 * column at the bottom/right: total k-1, top = floor((k-1)/2). For stride 1 it does not depend on the
 * input size.
 */
export function samePadding(kh: number, kw: number): SidePadding {
  const top = Math.floor((kh - 1) / 2);
  const left = Math.floor((kw - 1) / 2);
  return { top, bottom: kh - 1 - top, left, right: kw - 1 - left };
}

/**
 * Padding of the convolution that computes the adjoint (input gradient) of a stride-1 conv2d with
 * padding `p`: a row padded at the top of the forward input becomes k-1-top rows at the top of dy.
 * Returns null when some forward pad exceeds k-1 (the adjoint would need negative padding, i.e. cropping).
 */
export function adjointPadding(p: SidePadding, kh: number, kw: number): SidePadding | null {
  const q = { top: kh - 1 - p.top, bottom: kh - 1 - p.bottom, left: kw - 1 - p.left, right: kw - 1 - p.right };
  return Math.min(q.top, q.bottom, q.left, q.right) < 0 ? null : q;
}

/**
 * The kernel of the adjoint convolution: HWIO [kh,kw,in,out] -> [kh,kw,out,in], spatially reversed
 * (rotated by 180 degrees) and with the channel axes swapped. Differentiable, except for a weight
 * declared constant with registerConstantKernels (./constant-kernels.ts): then the adjoint made at
 * registration is returned (same values; fast path `constant-kernels`).
 */
export function adjointKernel(kernel: tf.Tensor4D): tf.Tensor4D {
  const cached = fastPath('constant-kernels') ? cachedAdjointKernel(kernel.dataId, kernel.shape) : null;
  return cached ?? computeAdjointKernel(kernel);
}
