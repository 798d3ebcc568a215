// The transposed convolution of the CNN-F's generative feedback (tied weights: the feedback pass applies
// the adjoint of the feedforward conv). Written as a forward conv2d so that it runs on the backend's fast
// Conv2D kernel; tf.conv2dTranspose uses Conv2DBackpropInput, which is ~20x slower on wasm.
import { tf } from '../tf.js';
import { adjointKernel, adjointPadding, explicitPadding, samePadding } from './conv-geometry.js';

/**
 * The adjoint of y = conv2d(., kernel, stride 1, 'same') applied to x: kernel is HWIO [kh,kw,in,out],
 * x is [N,H,W,out], the result is [N,H,W,in]. Equals tf.conv2dTranspose(x, kernel, [N,H,W,in], 1, 'same').
 * Differentiable w.r.t. x and kernel.
 */
export function conv2dTransposeSame(x: tf.Tensor4D, kernel: tf.Tensor4D): tf.Tensor4D {
  if (x.rank !== 4 || kernel.rank !== 4)
    throw new Error(`conv2dTransposeSame: x and kernel must be rank 4, got ${x.rank} and ${kernel.rank}`);
  const [kh, kw, , outChannels] = kernel.shape;
  if (x.shape[3] !== outChannels)
    throw new Error(`conv2dTransposeSame: x has ${x.shape[3]} channels, the kernel's output axis has ${outChannels}`);
  const pad = adjointPadding(samePadding(kh, kw), kh, kw)!; // 'same' pads are at most k-1
  return tf.tidy(() => tf.conv2d(x, adjointKernel(kernel), 1, explicitPadding(pad)));
}
