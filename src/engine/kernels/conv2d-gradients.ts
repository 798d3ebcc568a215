// A replacement gradient for the Conv2D kernel built only from forward convolutions and transposes.
// Why: the wasm backend of TensorFlow.js 4.22 has no Conv2DBackpropFilter kernel (tf.grad w.r.t. a conv
// kernel throws) and its Conv2DBackpropInput is ~10-20x slower than its Conv2D (see scripts/kernel-bench.ts).
// For stride 1 and dilation 1 both gradients are convolutions:
//   input gradient  dx = conv2d(dy, rot180(w) with in/out swapped), padded by k-1-pad on each side;
//   filter gradient dw[i,j,c,o] = sum_{n,y,x} xpad[n,y+i,x+j,c] * dy[n,y,x,o], which is a conv2d of the
//     input with batch and channels swapped ([C,H,W,N]) by dy as the kernel ([Ho,Wo,N,O]), giving [C,kh,kw,O].
// The filter-gradient form was measured against im2col + matMul (one big or nine small products): on
// wasm it was 2-4x faster on the 28x28 layers and as fast on 14x14, and it makes no k*k-fold copy of the
// input (scripts/kernel-bench.ts --alternatives). On the cpu backend it is also ~15x faster than cpu's
// own Conv2DBackprop* kernels ([8,28,28,32]x[3,3,32,32]: 0.6 s vs 10 s), so it is used there too.
// Every other configuration (strides, dilations, NCHW, large explicit pads) goes to the original gradient.
import { tf } from '../tf.js';
import { adjointKernel, adjointPadding, explicitPadding, type SidePadding } from './conv-geometry.js';
import { gradientOverride } from './gradient-override.js';

/** Backends whose own Conv2DBackprop* kernels are native and fast: keep TensorFlow's gradient there. */
const BACKENDS_WITH_NATIVE_BACKPROP = new Set(['tensorflow']);

function isOne(v: number | [number, number] | number[] | undefined): boolean {
  if (v === undefined) return true;
  return typeof v === 'number' ? v === 1 : v.every((d) => d === 1);
}

/** The forward padding when the fast path applies, else null. */
function fastPathPadding(xShape: number[], filterShape: number[], attrs: tf.Conv2DAttrs): SidePadding | null {
  if (!isOne(attrs.strides) || !isOne(attrs.dilations)) return null;
  if (attrs.dataFormat !== undefined && attrs.dataFormat !== 'NHWC') return null;
  if (BACKENDS_WITH_NATIVE_BACKPROP.has(tf.getBackend())) return null;
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number], filterShape as [number, number, number, number],
    1, 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast');
  const p = info.padInfo;
  const pad = { top: p.top, bottom: p.bottom, left: p.left, right: p.right };
  return adjointPadding(pad, filterShape[0], filterShape[1]) === null ? null : pad;
}

/**
 * Gradient of a stride-1 NHWC conv2d w.r.t. its input x, given dy [N,Ho,Wo,out] and the HWIO filter.
 * `pad` is the padding the forward conv applied to x.
 */
export function conv2dInputGradient(dy: tf.Tensor4D, filter: tf.Tensor4D, pad: SidePadding): tf.Tensor4D {
  const [kh, kw] = filter.shape;
  const q = adjointPadding(pad, kh, kw);
  if (q === null) throw new Error(`conv2dInputGradient: padding ${JSON.stringify(pad)} exceeds kernel size - 1`);
  return tf.tidy(() => tf.conv2d(dy, adjointKernel(filter), 1, explicitPadding(q)));
}

/**
 * Gradient of a stride-1 NHWC conv2d w.r.t. its HWIO filter of spatial size kh x kw, given the forward
 * input x [N,H,W,in], dy [N,Ho,Wo,out] and the forward padding.
 */
export function conv2dFilterGradient(x: tf.Tensor4D, dy: tf.Tensor4D, pad: SidePadding): tf.Tensor4D {
  return tf.tidy(() => {
    const channelsAsBatch = tf.transpose(x, [3, 1, 2, 0]); // [in, H, W, N]
    const dyAsKernel = tf.transpose(dy, [1, 2, 0, 3]); // [Ho, Wo, N, out]
    const g = tf.conv2d(channelsAsBatch, dyAsKernel, 1, explicitPadding(pad)); // [in, kh, kw, out]
    return tf.transpose(g, [1, 2, 0, 3]);
  });
}

const override = gradientOverride({
  kernelName: tf.Conv2D,
  inputsToSave: ['x', 'filter'],
  gradFunc: (dy, saved, attrs) => {
    const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
    const pad = fastPathPadding(x.shape, filter.shape, attrs as unknown as tf.Conv2DAttrs);
    if (pad === null) {
      const original = override.original();
      if (original === null) throw new Error('Conv2D gradient: the original gradient was not captured');
      return original.gradFunc(dy, saved, attrs);
    }
    return {
      x: () => conv2dInputGradient(dy as tf.Tensor4D, filter, pad),
      filter: () => conv2dFilterGradient(x, dy as tf.Tensor4D, pad),
    };
  },
});

/**
 * Replaces the global Conv2D gradient with the convolution-only one above (every backend shares the
 * gradient registry). Idempotent. Call once at start-up, after the backend is chosen or before.
 */
export const registerFastConvGradients = override.register;

/** Puts TensorFlow.js's own Conv2D gradient back (benchmarks and reference computations). Idempotent. */
export const unregisterFastConvGradients = override.unregister;

export const fastConvGradientsRegistered = override.registered;
