/**
 * Resampling shared by several corruptions: bilinear sampling at arbitrary coordinates (elastic, affine
 * warps), centre zoom (zoom blur, snow) and per-sample line blur (motion blur, snow). All are batched
 * tensor ops; only small index tables are built on the host.
 */
import { tf, type Tensor, type Tensor4D } from '../src/engine/tf.js';
import type { BorderMode } from './filters.js';
import { hypotCorrectlyRounded, roundHalfEven } from '../src/engine/pyNumeric.js';

/** Border rule on a float tensor of integer-valued indices (same rules as borderIndex). */
function borderIndexTensor(i: Tensor, n: number, mode: BorderMode): Tensor {
  if (mode === 'edge' || n === 1) return tf.clipByValue(i, 0, n - 1);
  const period = mode === 'reflect101' ? 2 * (n - 1) : 2 * n;
  const m = tf.mod(i, period); // floor-mod: in [0, period) for negative i too
  const mirrored = mode === 'reflect101' ? tf.sub(period, m) : tf.sub(period - 1, m);
  return tf.where(tf.less(m, n), m, mirrored);
}

/**
 * Samples image n at (ys[n,i,j], xs[n,i,j]) (row, column in pixel units, 0 = first pixel centre) with
 * bilinear interpolation; neighbours outside the image come from the border rule, as in
 * scipy.ndimage.map_coordinates(order=1) and cv2.remap/warpAffine(INTER_LINEAR).
 * Returns [N, outH, outW, C] where [N, outH, outW] is the shape of ys and xs.
 */
export function bilinearSample(x: Tensor4D, ys: Tensor, xs: Tensor, mode: BorderMode): Tensor4D {
  const [n, h, w, c] = x.shape;
  const [, outH, outW] = ys.shape;
  return tf.tidy(() => {
    const y0 = tf.floor(ys);
    const x0 = tf.floor(xs);
    const fy = tf.expandDims(tf.sub(ys, y0), 3);
    const fx = tf.expandDims(tf.sub(xs, x0), 3);
    const rowsOf = [borderIndexTensor(y0, h, mode), borderIndexTensor(tf.add(y0, 1), h, mode)];
    const colsOf = [borderIndexTensor(x0, w, mode), borderIndexTensor(tf.add(x0, 1), w, mode)];
    const flat = tf.reshape(x, [n * h * w, c]);
    // Flat indices are exact in float32 below 2^24 (21,000 images of 28x28), then cast for the gather.
    const base = tf.reshape(tf.mul(tf.range(0, n, 1, 'float32'), h * w), [n, 1, 1]);
    const at = (r: Tensor, col: Tensor) => {
      const idx = tf.cast(tf.reshape(tf.add(base, tf.add(tf.mul(r, w), col)), [-1]), 'int32');
      return tf.reshape(tf.gather(flat, idx), [n, outH, outW, c]);
    };
    const top = tf.add(tf.mul(at(rowsOf[0], colsOf[0]), tf.sub(1, fx)), tf.mul(at(rowsOf[0], colsOf[1]), fx));
    const bottom = tf.add(tf.mul(at(rowsOf[1], colsOf[0]), tf.sub(1, fx)), tf.mul(at(rowsOf[1], colsOf[1]), fx));
    return tf.add(tf.mul(top, tf.sub(1, fy)), tf.mul(bottom, fy)) as Tensor4D;
  });
}

/**
 * Zooms into the centre by `factor` >= 1 keeping the size: crop ceil(size / factor) pixels around the
 * centre, resize by `factor` with linear interpolation and trim the excess evenly. This is the CIFAR-10-C
 * `clipped_zoom` helper; its scipy.ndimage.zoom(order=1) maps output pixel o to input o*(in-1)/(out-1),
 * which is tf.image.resizeBilinear with alignCorners = true. The sizes are computed as the reference
 * does in float64: crop int(ceil(size / factor)), zoomed size round(crop * factor) with Python's
 * round (ties to even, scipy.ndimage.zoom's output shape). Both depend on the last bit of `factor`:
 * 1.1400000000000001 (numpy's arange element) gives crop 25 and zoomed size round(28.500000000000004) =
 * 29; 1.14 gives 28.
 */
export function clippedZoom(x: Tensor4D, factor: number): Tensor4D {
  const [, h, w] = x.shape;
  const { crop: cropH, zoomed: zoomedH } = clippedZoomSizes(h, factor);
  const { crop: cropW, zoomed: zoomedW } = clippedZoomSizes(w, factor);
  // Factors just above 1 can keep the whole image and still enlarge it by a pixel (28 -> 29): not identity.
  if (cropH === h && cropW === w && zoomedH === h && zoomedW === w) return tf.clone(x);
  return tf.tidy(() => {
    const crop = tf.slice(x, [0, Math.floor((h - cropH) / 2), Math.floor((w - cropW) / 2), 0], [-1, cropH, cropW, -1]);
    const zoomed = tf.image.resizeBilinear(crop, [zoomedH, zoomedW], true);
    return tf.slice(zoomed, [0, Math.floor((zoomedH - h) / 2), Math.floor((zoomedW - w) / 2), 0], [-1, h, w, -1]);
  });
}

/**
 * Sizes along one axis of `size` pixels in CIFAR-10-C's clipped_zoom: crop = int(np.ceil(size / factor))
 * and zoomed = round(crop * factor) (scipy.ndimage.zoom's output shape; Python's round, ties to even),
 * both in float64 from the factor's exact bits.
 */
export function clippedZoomSizes(size: number, factor: number): { crop: number; zoomed: number } {
  const crop = Math.ceil(size / factor);
  return { crop, zoomed: roundHalfEven(crop * factor) };
}

/** ImageMagick's MagickSQ2PI (sqrt(2 pi)) and MagickEpsilon (the smallest sigma it uses). */
const MAGICK_SQ2PI = 2.5066282746310002;
const MAGICK_EPSILON = 1e-12; // build dependent (1e-12 .. 1e-15); only matters for sigma near 0

/**
 * The kernel of ImageMagick's MotionBlurImage(radius, sigma, angle), which CIFAR-10-C calls through Wand:
 * width = 2*ceil(radius)+1 taps on a ray from the pixel, tap i weighted exp(-i^2 / 2 sigma^2) (normalised),
 * sampling the pixel at an offset rounded from i (cos(angle), sin(angle)) in (x, y), x right, y down
 * (motionTapOffset). The blur is one-sided: each pixel averages the pixels "behind" it along the ray.
 * Weights as GetMotionBlurKernel computes them in double: exp(-(i*i) / (2 sigma sigma)) / (sqrt(2 pi) sigma),
 * summed in tap order, each divided by the sum.
 */
export function motionTapWeights(radius: number, sigma: number): Float64Array {
  const width = motionKernelWidth(radius);
  const s = Math.abs(sigma) < MAGICK_EPSILON ? MAGICK_EPSILON : sigma;
  const k = Float64Array.from({ length: width }, (_, i) => Math.exp(-(i * i) / (2 * s * s)) / (MAGICK_SQ2PI * s));
  let sum = 0;
  for (const v of k) sum += v;
  return k.map((v) => v / sum);
}

/** GetOptimalKernelWidth1D(radius, sigma) for radius > 0: 2 ceil(radius) + 1 taps. */
export function motionKernelWidth(radius: number): number {
  return 2 * Math.ceil(radius) + 1;
}

/**
 * Offset (dx, dy) of tap `tap` for a kernel of `width` taps at `angleDegrees`, as MotionBlurImage
 * computes it in double: point = (width sin a, width cos a) with a = pi * degrees / 180, then
 * dx = ceil(tap * point.y / hypot(point) - 0.5), dy = ceil(tap * point.x / hypot(point) - 0.5). The
 * detour through width and hypot moves the last bit of cos a and sin a, which decides ties: at -30 degrees
 * (width 17) tap 1 has dy = 0, where ceil(sin(a) - 0.5) gives -1. hypot is the correctly rounded one
 * (C libraries differ in its last bit; see hypotCorrectlyRounded). Ties need special angles (multiples
 * of 30 degrees): for the uniformly drawn angles of motion_blur and snow the old and new rule never
 * disagreed on 4.2 million sampled taps.
 */
export function motionTapOffset(tap: number, angleDegrees: number, width: number): { dx: number; dy: number } {
  const a = (Math.PI * angleDegrees) / 180;
  const px = width * Math.sin(a);
  const py = width * Math.cos(a);
  const length = hypotCorrectlyRounded(px, py);
  return { dx: Math.ceil((tap * py) / length - 0.5), dy: Math.ceil((tap * px) / length - 0.5) };
}

/**
 * Motion blur with one angle per image (degrees). Pixels beyond the border repeat the edge
 * (ImageMagick's default virtual-pixel method). Batched as one gather per tap: cost O(taps * pixels).
 */
export function motionBlur(x: Tensor4D, radius: number, sigma: number, anglesDegrees: ArrayLike<number>): Tensor4D {
  const [n, h, w, c] = x.shape;
  if (anglesDegrees.length !== n) throw new Error(`motionBlur: ${anglesDegrees.length} angles for ${n} images`);
  const weights = motionTapWeights(radius, sigma);
  return tf.tidy(() => {
    const flat = tf.reshape(x, [n * h * w, c]);
    const rowIdx = tf.reshape(tf.range(0, h, 1, 'float32'), [1, h, 1]);
    const colIdx = tf.reshape(tf.range(0, w, 1, 'float32'), [1, 1, w]);
    const base = tf.reshape(tf.mul(tf.range(0, n, 1, 'float32'), h * w), [n, 1, 1]);
    let acc: Tensor = tf.zeros([n, h, w, c]);
    for (let t = 0; t < weights.length; t++) {
      const dy = new Float32Array(n);
      const dx = new Float32Array(n);
      for (let i = 0; i < n; i++) ({ dx: dx[i], dy: dy[i] } = motionTapOffset(t, anglesDegrees[i], weights.length));
      const next = tf.tidy(() => {
        const rows = tf.clipByValue(tf.add(rowIdx, tf.reshape(tf.tensor1d(dy), [n, 1, 1])), 0, h - 1);
        const cols = tf.clipByValue(tf.add(colIdx, tf.reshape(tf.tensor1d(dx), [n, 1, 1])), 0, w - 1);
        const idx = tf.cast(tf.reshape(tf.add(base, tf.add(tf.mul(rows, w), cols)), [-1]), 'int32');
        const shifted = tf.reshape(tf.gather(flat, idx), [n, h, w, c]);
        return tf.add(acc, tf.mul(shifted, weights[t]));
      });
      acc.dispose();
      acc = next;
    }
    return acc as Tensor4D;
  });
}
