/**
 * Weather corruptions. Tables: CIFAR-10-C (Hendrycks & Dietterich 2019, ICLR), make_cifar_c.py functions
 * snow, fog, brightness. Brightness is a weather corruption in the paper (Figure 1), so it is grouped here.
 * Frost is not provided: the reference blends crops of six frost photographs, and we only ship procedural
 * corruptions.
 * Sizes come from the image: at 32x32 RGB the fog map is the reference's 32x32 and snow's noise layer
 * 32x32, as published. Adaptation to 28x28: the fog map is generated at 32x32 (the next power of two)
 * and its top-left 28x28 crop is used, as the reference crops [:32, :32]; snow's noise layer is drawn at
 * the image size and its flake blur lengths stay in pixels (see blur.ts for why pixel sizes are kept).
 * RGB steps as the reference: brightness through HSV (hsv.ts), snow's wash-out against the BT.601 grey.
 */
import { tf, type Tensor4D } from '../src/engine/tf.js';
import { editHsv } from './hsv.js';
import { cite, defineCorruption } from './define.js';
import { nextPowerOfTwo, plasmaFractal } from './plasma.js';
import { clippedZoom, motionBlur } from './sampling.js';

/** Luma as cv2.COLOR_RGB2GRAY (ITU-R BT.601 weights); a grey image is its own luma. [N,H,W,C] -> [N,H,W,1]. */
export function luma(x: Tensor4D): Tensor4D {
  if (x.shape[3] === 1) return tf.clone(x);
  return tf.tidy(() => tf.sum(tf.mul(x, tf.tensor1d([0.299, 0.587, 0.114])), 3, true) as Tensor4D);
}

/**
 * Snow's washed-out image, the deterministic half of the reference's snow:
 * blend * x + (1 - blend) * max(x, 1.5 * grey + 0.5), where grey is cv2.cvtColor(x, COLOR_RGB2GRAY)
 * (0.299 R + 0.587 G + 0.114 B, one value per pixel, broadcast over the channels) and a grey image is its
 * own grey. x: [N, H, W, C] in [0,1]; returns a new tensor of the same shape (values may exceed 1).
 */
export function snowWash(x: Tensor4D, blend: number): Tensor4D {
  return tf.tidy(() => {
    const washed = tf.maximum(x, tf.add(tf.mul(luma(x), 1.5), 0.5));
    return tf.add(tf.mul(x, blend), tf.mul(washed, 1 - blend)) as Tensor4D;
  });
}

export interface SnowParams {
  /** Mean and std of the Gaussian noise layer the flakes grow from. */
  mean: number;
  std: number;
  /** Centre zoom of the noise layer (larger flakes). */
  zoom: number;
  /** Noise below this is no flake. */
  threshold: number;
  /** Motion blur of the flakes (pixels). */
  radius: number;
  sigma: number;
  /** Weight of the original image against its washed-out version max(x, 1.5 luma + 0.5). */
  blend: number;
}

/**
 * Snow: Gaussian noise layer, centre zoom, threshold, motion blur at an angle in [-135, -45) degrees
 * (falling flakes), image washed out towards white, then the layer and its 180-degree rotation added.
 */
export const snow = defineCorruption<SnowParams>({
  name: 'snow',
  family: 'weather',
  describe: 'snow: thresholded, zoomed Gaussian noise blurred into falling flakes over a washed-out image',
  severities: [
    { mean: 0.1, std: 0.2, zoom: 1, threshold: 0.6, radius: 8, sigma: 3, blend: 0.95 },
    { mean: 0.1, std: 0.2, zoom: 1, threshold: 0.5, radius: 10, sigma: 4, blend: 0.9 },
    { mean: 0.15, std: 0.3, zoom: 1.75, threshold: 0.55, radius: 10, sigma: 4, blend: 0.9 },
    { mean: 0.25, std: 0.3, zoom: 2.25, threshold: 0.6, radius: 12, sigma: 6, blend: 0.85 },
    { mean: 0.3, std: 0.3, zoom: 1.25, threshold: 0.65, radius: 14, sigma: 12, blend: 0.8 },
  ],
  source: cite('snow', {
    native: 'noise layer 32x32, wash-out against cv2 RGB2GRAY grey (0.299, 0.587, 0.114), one flake layer on every channel',
    other: 'noise layer drawn at the image size, flake blur lengths kept in pixels, the grey image is its own grey',
    always: 'the 8-bit rounding of the flake layer (PNG round trip through ImageMagick) is omitted',
  }),
  corrupt: (x, p, rng) => {
    const [n, h, w, c] = x.shape;
    const layerNoise = rng.derive('layer').normal(h * w, p.mean, p.std);
    const angles = rng.derive('angle').uniform(1, -135, -45);
    const flakes = tf.tidy(() => {
      const zoomed = clippedZoom(tf.tensor4d(layerNoise, [n, h, w, 1]), p.zoom);
      const kept = tf.clipByValue(tf.where(tf.less(zoomed, p.threshold), tf.zerosLike(zoomed), zoomed), 0, 1) as Tensor4D;
      return motionBlur(kept, p.radius, p.sigma, angles);
    });
    const out = tf.tidy(() => {
      const base = snowWash(x, p.blend);
      const both = tf.add(flakes, tf.reverse(flakes, [1, 2]));
      return tf.add(base, c === 1 ? both : tf.tile(both, [1, 1, 1, c])) as Tensor4D;
    });
    flakes.dispose();
    return out;
  },
});

/** Fog: x + strength * plasma, rescaled by max(x) / (max(x) + strength) so the brightest pixel keeps its level. */
export const fog = defineCorruption<{ strength: number; decay: number }>({
  name: 'fog',
  family: 'weather',
  describe: 'fog: a plasma-fractal haze of weight `strength` (octave decay `decay`), contrast rescaled',
  severities: [
    { strength: 0.2, decay: 3 },
    { strength: 0.5, decay: 3 },
    { strength: 0.75, decay: 2.5 },
    { strength: 1, decay: 2 },
    { strength: 1.5, decay: 1.75 },
  ],
  source: cite('fog', { native: 'plasma map 32x32 on every channel, max over all channels', other: 'map generated at the next power of two (32 for 28) and its top-left corner used' }),
  corrupt: (x, { strength, decay }, rng) => {
    const [n, h, w] = x.shape;
    const size = nextPowerOfTwo(Math.max(h, w, 2));
    const haze = new Float32Array(n * h * w);
    for (let r = 0; r < n; r++) {
      const map = plasmaFractal(rng.stream(r), size, decay);
      for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) haze[(r * h + i) * w + j] = map[i * size + j];
    }
    return tf.tidy(() => {
      const maxVal = tf.max(x, [1, 2, 3], true);
      const hazy = tf.add(x, tf.mul(tf.tensor4d(haze, [n, h, w, 1]), strength));
      return tf.div(tf.mul(hazy, maxVal), tf.add(maxVal, strength)) as Tensor4D;
    });
  },
});

/**
 * Brightness: add `delta` to the V channel of HSV and clip it to [0, 1]. RGB images go through
 * skimage.color.rgb2hsv / hsv2rgb as the reference does (hsv.ts, float64 on the host); on a grey image V
 * is the grey value itself, so a grey pixel becomes min(x + delta, 1).
 */
export const brightness = defineCorruption<{ delta: number }>({
  name: 'brightness',
  family: 'weather',
  describe: 'brightness: add `delta` to the HSV value channel (for grey images: to the grey level)',
  severities: [{ delta: 0.05 }, { delta: 0.1 }, { delta: 0.15 }, { delta: 0.2 }, { delta: 0.3 }],
  source: cite('brightness', { native: 'through HSV as skimage.color.rgb2hsv/hsv2rgb', other: 'V is the grey value, so min(x + delta, 1)' }),
  corrupt: (x, { delta }) => {
    if (x.shape[3] === 1) return tf.add(x, delta) as Tensor4D;
    return editHsv(x, (p) => {
      p.v = Math.min(Math.max(p.v + delta, 0), 1);
    });
  },
});

export const WEATHER_CORRUPTIONS = [snow, fog, brightness] as const;
