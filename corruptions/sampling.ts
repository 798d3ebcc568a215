/**
 * Resampling shared by several corruptions: bilinear sampling at arbitrary coordinates (elastic, affine
 * warps), centre zoom (zoom blur, snow) and per-sample line blur (motion blur, snow). All are batched
 * tensor ops; only small index tables are built on the host.
 */
import { tf, type Tensor, type Tensor4D } from '../src/engine/tf.js';
import type { BorderMode } from './filters.js';
import { roundHalfEven } from '../src/engine/pyNumeric.js';

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

/**
 * The kernel of ImageMagick's MotionBlurImage(radius, sigma, angle), which CIFAR-10-C calls through Wand:
 * width = 2*ceil(radius)+1 taps on a ray from the pixel, tap i weighted exp(-i^2 / 2 sigma^2) (normalised),
 * sampling the pixel at offset (ceil(i cos(angle) - 0.5), ceil(i sin(angle) - 0.5)) in (x, y), x right,
 * y down. The blur is one-sided: each pixel averages the pixels "behind" it along the ray.
 */
export function motionTapWeights(radius: number, sigma: number): Float64Array {
  const width = 2 * Math.ceil(radius) + 1;
  const s = Math.max(Math.abs(sigma), 1e-12);
  const k = Float64Array.from({ length: width }, (_, i) => Math.exp(-(i * i) / (2 * s * s)));
  const sum = k.reduce((a, b) => a + b, 0);
  return k.map((v) => v / sum);
}

export function motionTapOffset(tap: number, angleDegrees: number): { dx: number; dy: number } {
  const a = (angleDegrees * Math.PI) / 180;
  return { dx: Math.ceil(tap * Math.cos(a) - 0.5), dy: Math.ceil(tap * Math.sin(a) - 0.5) };
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
      for (let i = 0; i < n; i++) ({ dx: dx[i], dy: dy[i] } = motionTapOffset(t, anglesDegrees[i]));
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
