// The transposed convolution of the CNN-F's generative feedback (tied weights: the feedback pass applies
// the adjoint of the feedforward conv). Written as a forward conv2d so that it runs on the backend's fast
// Conv2D kernel; tf.conv2dTranspose uses Conv2DBackpropInput, which is ~20x slower on wasm.
import { tf } from '../tf.js';
import { adjointKernel, adjointPadding, explicitPadding, samePadding } from './conv-geometry.js';
import { subPixelPhases, type SubPixelPhase } from './sub-pixel.js';

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

/**
 * Puts x [N,h,w,C] at every s-th row and column of a zero tensor [N,s*h,s*w,C] (x[p,q] at [s*p,s*q]),
 * as two 3-D pads (columns, then rows). Its gradient, the subsampling dy[:, ::s, ::s, :], is two 3-D
 * slices: autograd's gradient of a 6-D pad is a 6-D Slice, which the wasm backend runs ~5x slower
 * (136 ms against 25 ms CPU for [8,32,32,64] -> [8,16,16,64]; scripts/perf/micro-kernels.ts).
 */
function zeroInsert(x: tf.Tensor4D, s: number): tf.Tensor4D {
  if (s === 1) return x;
  const [n, h, w, c] = x.shape;
  const op = tf.customGrad(((xi: tf.Tensor4D) => {
    const cols = tf.pad(tf.reshape(xi, [n * h * w, 1, c]), [[0, 0], [0, s - 1], [0, 0]]);
    const rows = tf.pad(tf.reshape(cols, [n * h, 1, w * s * c]), [[0, 0], [0, s - 1], [0, 0]]);
    return { value: tf.reshape(rows, [n, h * s, w * s, c]), gradFunc: (dy: tf.Tensor) => subsample(dy as tf.Tensor4D, s) };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(x) as tf.Tensor4D;
}

/** dy [N,s*h,s*w,C] -> dy[:, ::s, ::s, :] [N,h,w,C] (the adjoint of zeroInsert), as two 3-D slices. */
function subsample(dy: tf.Tensor4D, s: number): tf.Tensor4D {
  const [n, H, W, c] = dy.shape;
  const h = H / s;
  const w = W / s;
  const rows = tf.slice(tf.reshape(dy, [n * h, s, W * c]), [0, 0, 0], [n * h, 1, W * c]);
  const cols = tf.slice(tf.reshape(rows, [n * h * w, s, c]), [0, 0, 0], [n * h * w, 1, c]);
  return tf.reshape(cols, [n, h, w, c]);
}

/** Pads (positive amounts) or crops (negative amounts) rows and columns of an NHWC tensor. */
function padOrCrop(x: tf.Tensor4D, top: number, bottom: number, left: number, right: number): tf.Tensor4D {
  const padded =
    top > 0 || bottom > 0 || left > 0 || right > 0
      ? tf.pad(x, [[0, 0], [Math.max(top, 0), Math.max(bottom, 0)], [Math.max(left, 0), Math.max(right, 0)], [0, 0]])
      : x;
  if (top >= 0 && bottom >= 0 && left >= 0 && right >= 0) return padded;
  const [n, h, w, c] = padded.shape;
  const t = Math.max(-top, 0);
  const l = Math.max(-left, 0);
  return tf.slice(padded, [0, t, l, 0], [n, h - t - Math.max(-bottom, 0), w - l - Math.max(-right, 0), c]);
}

/**
 * The adjoint (transposed convolution) of y = conv2d(u, kernel, stride, padding `pad` at the top/left,
 * dilation 1) for an input u of spatial size inputSize = [H, W], applied to x [N,Ho,Wo,out]; the result
 * is [N,H,W,in]. This is PyTorch's ConvTranspose2d with the tied weight, its `padding` equal to the
 * forward padding and `output_padding` chosen so that the output has the forward input's size (the
 * reference CNN-F's stride-2 layers use output_padding 1), and equals tf.conv2dTranspose(x, kernel,
 * [N,H,W,in], stride, explicit padding).
 *
 * Formulation (Dumoulin & Visin 2016, "A guide to convolution arithmetic", sec. 4.5; the same as the
 * wasm Conv2DBackpropInput replacement of src/engine/kernels on the kernels branch): x is zero-upsampled
 * by the stride (x[p] at s*p), padded by kh-1-top rows before and H+top-s*Ho after (negative: cropped),
 * and convolved at stride 1 ('valid') with the kernel rotated by 180 degrees and its channel axes
 * swapped. So it runs on the backend's forward Conv2D, and its gradient w.r.t. x is autograd's
 * (pad/slice/reshape plus a stride-1 convolution). Differentiable w.r.t. x and kernel.
 *
 * For a model's constant weight (registerConstantKernels) at stride > 1 it runs instead as one stride-1
 * convolution per row phase with the cached sub-pixel kernels (./sub-pixel.ts; fast path
 * `subpixel-transpose`), with the strided forward convolution as its gradient w.r.t. x; no gradient
 * flows to such a weight.
 */
export function conv2dTransposeStrided(
  x: tf.Tensor4D,
  kernel: tf.Tensor4D,
  stride: number,
  pad: { top: number; left: number },
  inputSize: readonly [number, number],
): tf.Tensor4D {
  if (x.rank !== 4 || kernel.rank !== 4)
    throw new Error(`conv2dTransposeStrided: x and kernel must be rank 4, got ${x.rank} and ${kernel.rank}`);
  const [kh, kw, , outChannels] = kernel.shape;
  if (x.shape[3] !== outChannels)
    throw new Error(`conv2dTransposeStrided: x has ${x.shape[3]} channels, the kernel's output axis has ${outChannels}`);
  if (!Number.isInteger(stride) || stride < 1) throw new Error(`conv2dTransposeStrided: stride must be a positive integer, got ${stride}`);
  const [H, W] = inputSize;
  const [, ho, wo] = x.shape;
  const phases = subPixelPhases(kernel.dataId, kernel.shape, stride, pad.top, pad.left, ho, wo, H, W);
  if (phases) return subPixelTranspose(x, kernel, phases, stride, pad, inputSize);
  return tf.tidy(() => {
    const up = zeroInsert(x, stride);
    const framed = padOrCrop(up, kh - 1 - pad.top, H + pad.top - stride * ho, kw - 1 - pad.left, W + pad.left - stride * wo);
    return tf.conv2d(framed, adjointKernel(kernel), 1, 'valid');
  });
}

/**
 * conv2dTransposeStrided for a constant kernel with its sub-pixel row phases (./sub-pixel.ts):
 * x [N,Ho,Wo,O] -> [N,H,W,C]. The gradient w.r.t. x is the forward convolution of dy with the kernel
 * at the stride and padding of the forward layer (the adjoint of the adjoint): as many multiply-adds as
 * that layer, where the zero-insertion formulation's gradient takes s² times as many.
 */
function subPixelTranspose(
  x: tf.Tensor4D,
  kernel: tf.Tensor4D,
  phases: SubPixelPhase[],
  s: number,
  pad: { top: number; left: number },
  inputSize: readonly [number, number],
): tf.Tensor4D {
  const [H, W] = inputSize;
  const [n, ho, wo] = x.shape;
  const [kh, kw, c] = kernel.shape;
  const R = Math.ceil(H / s);
  const Rw = Math.ceil(W / s);
  const op = tf.customGrad(((xi: tf.Tensor4D) => {
    // Row phase a: columns interleaved by the reshape (channel b·C + c), rows by the concat.
    const rows = phases.map((p) =>
      p.kernel
        ? tf.reshape(tf.conv2d(padOrCrop(xi, p.rows[0], p.rows[1], p.cols[0], p.cols[1]), p.kernel, 1, 'valid'), [n, R, 1, Rw * s * c])
        : tf.zeros([n, R, 1, Rw * s * c]),
    );
    const full = tf.reshape(tf.concat(rows, 2), [n, R * s, Rw * s, c]);
    const value = s * R === H && s * Rw === W ? full : tf.slice(full, [0, 0, 0, 0], [n, H, W, c]);
    return {
      value,
      gradFunc: (dy: tf.Tensor) => {
        // Forward conv of dy [N,H,W,C]: rows padded by top before and (Ho-1)s + kh - H - top after; up to
        // s-1 surplus rows are left for the 'valid' strided conv to skip (no crop), more are cropped.
        const after = (e: number) => (e >= 0 ? e : Math.min(0, e + s - 1));
        const dyp = padOrCrop(dy as tf.Tensor4D, pad.top, after((ho - 1) * s + kh - H - pad.top), pad.left, after((wo - 1) * s + kw - W - pad.left));
        return tf.conv2d(dyp, kernel, s, 'valid');
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(x) as tf.Tensor4D;
}
