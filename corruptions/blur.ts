/**
 * Blur corruptions. Tables: CIFAR-10-C (Hendrycks & Dietterich 2019, ICLR), make_cifar_c.py functions
 * gaussian_blur, defocus_blur, motion_blur, glass_blur, zoom_blur.
 * At 32x32 (CIFAR-10-C's own size) every size below is the reference's. Adaptation to 28x28: blur sizes (sigmas, disk radii, motion radius/sigma, swap distance) are in pixels in
 * the table and are kept in pixels: Fashion-MNIST objects fill a 28-pixel frame about as CIFAR objects fill
 * 32 pixels, and rescaling by 28/32 would change each parameter by only 12%, below the step between
 * severities. The glass-blur swap loop runs over the image's frame (the reference's 32x32 one at 32 px).
 * Zoom factors are relative and apply unchanged; the crop sizes come from the image side (clippedZoom).
 */
import { tf, type Tensor4D } from '../src/engine/tf.js';
import { cite, defineCorruption } from './define.js';
import { filter2d, gaussianBlur as gaussianFilter } from './filters.js';
import { clippedZoom, motionBlur as motionBlurImages } from './sampling.js';
import { numpyArange } from '../src/engine/pyNumeric.js';

/** skimage.filters.gaussian(sigma) with its defaults: truncate 4, border `nearest` (edge). */
export const gaussianBlur = defineCorruption<{ sigma: number }>({
  name: 'gaussian_blur',
  family: 'blur',
  describe: 'Gaussian blur with standard deviation `sigma` pixels',
  severities: [{ sigma: 0.4 }, { sigma: 0.6 }, { sigma: 0.7 }, { sigma: 0.8 }, { sigma: 1 }],
  source: cite('gaussian_blur', { other: 'sigma kept in pixels', always: 'one of the four held-out corruptions of the paper (not in the 15 of CIFAR-10-C)' }),
  corrupt: (x, { sigma }) => gaussianFilter(x, sigma, 'edge'),
});

/**
 * The reference's anti-aliased disk: the indicator of x^2 + y^2 <= radius^2 on a 17x17 grid (or
 * (2r+1)^2 beyond radius 8), normalised, then smoothed by OpenCV's 3x3 (5x5 beyond radius 8) Gaussian with
 * sigma `aliasBlur`. Returned cropped to its nonzero support, which is exact (the rest is 0).
 */
export function defocusKernel(radius: number, aliasBlur: number): { kernel: Float32Array; size: number } {
  const half = radius <= 8 ? 8 : Math.floor(radius);
  const g = radius <= 8 ? 1 : 2;
  const n = 2 * half + 1;
  const disk = new Float64Array(n * n);
  let total = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++)
      if ((i - half) ** 2 + (j - half) ** 2 <= radius * radius) total += disk[i * n + j] = 1;
  for (let i = 0; i < disk.length; i++) disk[i] /= total;
  // cv2.getGaussianKernel(2g+1, aliasBlur); the disk sits well inside the grid, so borders do not matter.
  const gk = Array.from({ length: 2 * g + 1 }, (_, k) => Math.exp(-((k - g) ** 2) / (2 * aliasBlur * aliasBlur)));
  const gs = gk.reduce((a, b) => a + b, 0);
  const smooth = (src: Float64Array, dy: number, dx: number) => {
    const out = new Float64Array(n * n);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let k = -g; k <= g; k++) {
          const ii = i + k * dy;
          const jj = j + k * dx;
          if (ii >= 0 && ii < n && jj >= 0 && jj < n) acc += (gk[k + g] / gs) * src[ii * n + jj];
        }
        out[i * n + j] = acc;
      }
    return out;
  };
  const full = smooth(smooth(disk, 1, 0), 0, 1);
  const reach = Math.min(half, Math.floor(radius) + g);
  const size = 2 * reach + 1;
  const kernel = new Float32Array(size * size);
  for (let i = 0; i < size; i++)
    for (let j = 0; j < size; j++) kernel[i * size + j] = full[(i + half - reach) * n + (j + half - reach)];
  return { kernel, size };
}

/** cv2.filter2D with the anti-aliased disk kernel; border BORDER_REFLECT_101 (OpenCV's default). */
export const defocusBlur = defineCorruption<{ radius: number; aliasBlur: number }>({
  name: 'defocus_blur',
  family: 'blur',
  describe: 'defocus: convolution with an anti-aliased disk of `radius` pixels (smoothed by sigma `aliasBlur`)',
  severities: [
    { radius: 0.3, aliasBlur: 0.4 },
    { radius: 0.4, aliasBlur: 0.5 },
    { radius: 0.5, aliasBlur: 0.6 },
    { radius: 1, aliasBlur: 0.2 },
    { radius: 1.5, aliasBlur: 0.1 },
  ],
  source: cite('defocus_blur', { native: 'each channel filtered', other: 'disk radii kept in pixels' }),
  corrupt: (x, { radius, aliasBlur }) => {
    const { kernel, size } = defocusKernel(radius, aliasBlur);
    return filter2d(x, kernel, size, size, 'reflect101');
  },
});

/** ImageMagick motion blur along a random angle in [-45, 45) degrees per image (see sampling.ts). */
export const motionBlur = defineCorruption<{ radius: number; sigma: number }>({
  name: 'motion_blur',
  family: 'blur',
  describe: 'motion blur: one-sided Gaussian line kernel (`radius`, `sigma` pixels) at a random angle in [-45, 45) degrees',
  severities: [
    { radius: 6, sigma: 1 },
    { radius: 6, sigma: 1.5 },
    { radius: 6, sigma: 2 },
    { radius: 8, sigma: 2 },
    { radius: 9, sigma: 2.5 },
  ],
  source: cite('motion_blur', { native: 'each channel blurred', other: 'radius and sigma kept in pixels' }),
  corrupt: (x, { radius, sigma }, rng) => motionBlurImages(x, radius, sigma, rng.uniform(1, -45, 45)),
});

/**
 * Gaussian blur, local pixel shuffling, Gaussian blur again. The shuffle visits pixels from the bottom
 * right to the top left (rows and columns size-delta down to delta+1, as the reference's range()) and
 * draws an offset (dy, dx) uniformly from [-delta, delta) (numpy's randint excludes the upper end).
 * The reference writes a swap, `x[h, w], x[h', w'] = x[h', w'], x[h, w]`, but on an RGB array those are
 * numpy views, so it copies: x[h, w] takes the neighbour's value and the neighbour keeps its own. CIFAR-10-C
 * was generated that way and we reproduce it (a true swap drags pixels far across the image). The loop is
 * sequential, so it runs on the host per image.
 */
export const glassBlur = defineCorruption<{ sigma: number; delta: number; iterations: number }>({
  name: 'glass_blur',
  family: 'blur',
  describe: 'frosted glass: Gaussian blur (`sigma`), `iterations` passes of copying each pixel from a random neighbour within `delta`, blur again',
  severities: [
    { sigma: 0.05, delta: 1, iterations: 1 },
    { sigma: 0.25, delta: 1, iterations: 1 },
    { sigma: 0.4, delta: 1, iterations: 1 },
    { sigma: 0.25, delta: 1, iterations: 2 },
    { sigma: 0.4, delta: 1, iterations: 2 },
  ],
  source: cite('glass_blur', {
    native: 'the shuffle visits rows and columns 31 down to 2, copying whole RGB pixels (the reference\'s swap of numpy views)',
    other: 'the shuffle runs over the image\'s own frame (side - delta down to delta + 1) and copies as on RGB; sigma in pixels',
    always: 'its 8-bit rounding between steps is omitted',
  }),
  corrupt: (x, { sigma, delta, iterations }, rng) => {
    const [n, h, w, c] = x.shape;
    const blurred = gaussianFilter(x, sigma, 'edge');
    const px = blurred.dataSync().slice();
    blurred.dispose();
    for (let r = 0; r < n; r++) {
      const s = rng.stream(r);
      const base = r * h * w * c;
      for (let it = 0; it < iterations; it++)
        for (let y = h - delta; y > delta; y--)
          for (let xx = w - delta; xx > delta; xx--) {
            const dx = s.int(2 * delta) - delta;
            const dy = s.int(2 * delta) - delta;
            const a = base + (y * w + xx) * c;
            const b = base + ((y + dy) * w + (xx + dx)) * c;
            for (let ch = 0; ch < c; ch++) px[a + ch] = px[b + ch];
          }
    }
    return tf.tidy(() => gaussianFilter(tf.tensor4d(px, x.shape), sigma, 'edge'));
  },
});

/**
 * The reference's zoom factors, numpy.arange(1, end, 0.01) with end 1.06, 1.11, 1.16, 1.21, 1.26 per
 * severity, element by element as numpy computes them (1.1400000000000001, not 1.14): the crop and
 * zoomed sizes derived from a factor depend on its last bit (see clippedZoom).
 */
const ZOOM_ENDS = [1.06, 1.11, 1.16, 1.21, 1.26] as const;
const zoomFactors = (end: number): readonly number[] => numpyArange(1, end, 0.01);

/** Mean of the image and its centre zooms by each factor (the reference counts factor 1 twice, as here). */
export const zoomBlur = defineCorruption<{ zooms: readonly number[] }>({
  name: 'zoom_blur',
  family: 'blur',
  describe: 'zoom blur: mean of the image and its centre zooms by the listed factors',
  severities: [
    { zooms: zoomFactors(ZOOM_ENDS[0]) },
    { zooms: zoomFactors(ZOOM_ENDS[1]) },
    { zooms: zoomFactors(ZOOM_ENDS[2]) },
    { zooms: zoomFactors(ZOOM_ENDS[3]) },
    { zooms: zoomFactors(ZOOM_ENDS[4]) },
  ],
  source: cite('zoom_blur', { native: 'crop and zoomed sizes for h = 32 as clipped_zoom computes them', other: 'the same factors, crop and zoomed sizes computed for the image side' }),
  corrupt: (x, { zooms }) => {
    let acc = tf.clone(x);
    for (const z of zooms) {
      const next = tf.tidy(() => tf.add(acc, clippedZoom(x, z)) as Tensor4D);
      acc.dispose();
      acc = next;
    }
    const out = tf.div(acc, zooms.length + 1) as Tensor4D;
    acc.dispose();
    return out;
  },
});

export const BLUR_CORRUPTIONS = [gaussianBlur, defocusBlur, motionBlur, glassBlur, zoomBlur] as const;

