/**
 * Linear filters shared by the blur and weather corruptions: border handling, Gaussian kernels and a
 * depthwise 2-D correlation. The reference generators use three different border rules (skimage's
 * default `nearest`, OpenCV's default BORDER_REFLECT_101, and skimage/scipy `reflect`), so each caller
 * names the rule of the library call it stands for.
 */
import { tf, type Tensor4D } from '../src/engine/tf.js';

/**
 * - edge: aaa|abcd|ddd (scipy `nearest`, ImageMagick's default virtual pixels)
 * - reflect101: cb|abcd|cb (OpenCV BORDER_REFLECT_101, the default of filter2D and warpAffine)
 * - symmetric: ba|abcd|dc (scipy/skimage `reflect`)
 */
export type BorderMode = 'edge' | 'reflect101' | 'symmetric';

/** Maps any integer index into 0..n-1 under a border rule. */
export function borderIndex(i: number, n: number, mode: BorderMode): number {
  if (i >= 0 && i < n) return i;
  if (mode === 'edge' || n === 1) return Math.min(Math.max(i, 0), n - 1);
  const period = mode === 'reflect101' ? 2 * (n - 1) : 2 * n;
  const m = ((i % period) + period) % period;
  if (m < n) return m;
  return mode === 'reflect101' ? period - m : period - 1 - m;
}

/** Pads the H and W axes of NHWC images by gathering border-mapped rows and columns (any pad size). */
export function padSpatial(x: Tensor4D, padY: number, padX: number, mode: BorderMode): Tensor4D {
  if (padY === 0 && padX === 0) return tf.clone(x);
  const [, h, w] = x.shape;
  const rows = Array.from({ length: h + 2 * padY }, (_, i) => borderIndex(i - padY, h, mode));
  const cols = Array.from({ length: w + 2 * padX }, (_, i) => borderIndex(i - padX, w, mode));
  return tf.tidy(() => tf.gather(tf.gather(x, rows, 1), cols, 2) as Tensor4D);
}

/**
 * The sampled Gaussian of scipy.ndimage.gaussian_filter (which skimage.filters.gaussian calls):
 * weights exp(-k^2 / 2 sigma^2) for |k| <= floor(truncate * sigma + 0.5), normalised to sum 1.
 */
export function gaussianKernel1d(sigma: number, truncate = 4): Float32Array {
  const radius = Math.floor(truncate * sigma + 0.5);
  if (sigma <= 0 || radius === 0) return Float32Array.of(1);
  const k = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) sum += k[i + radius] = Math.exp((-0.5 * i * i) / (sigma * sigma));
  return Float32Array.from(k, (v) => v / sum);
}

/**
 * Correlates every channel of every image with one kh x kw kernel (row-major), output the same size
 * as the input: the operation of cv2.filter2D / scipy.ndimage.correlate. Batched as a depthwise conv.
 */
export function filter2d(x: Tensor4D, kernel: Float32Array, kh: number, kw: number, mode: BorderMode): Tensor4D {
  if (kernel.length !== kh * kw || kh % 2 === 0 || kw % 2 === 0)
    throw new Error(`filter2d: kernel must be odd-sized kh*kw, got ${kernel.length} for ${kh}x${kw}`);
  const channels = x.shape[3];
  const tiled = new Float32Array(kh * kw * channels);
  for (let i = 0; i < kh * kw; i++) tiled.fill(kernel[i], i * channels, (i + 1) * channels);
  return tf.tidy(() => {
    const padded = padSpatial(x, (kh - 1) / 2, (kw - 1) / 2, mode);
    const filter = tf.tensor4d(tiled, [kh, kw, channels, 1]);
    return tf.depthwiseConv2d(padded, filter, 1, 'valid');
  });
}

/** Separable Gaussian blur of the H and W axes (the channel axis is not blurred, as with multichannel=True). */
export function gaussianBlur(x: Tensor4D, sigma: number, mode: BorderMode, truncate = 4): Tensor4D {
  const k = gaussianKernel1d(sigma, truncate);
  if (k.length === 1) return tf.clone(x);
  return tf.tidy(() => filter2d(filter2d(x, k, k.length, 1, mode), k, 1, k.length, mode));
}
