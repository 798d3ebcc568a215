/**
 * Noise corruptions. Tables: CIFAR-10-C (Hendrycks & Dietterich 2019, ICLR), make_cifar_c.py functions
 * gaussian_noise, shot_noise, impulse_noise, speckle_noise. Noise is per pixel and per channel and does not
 * depend on the image size, so the tables apply to 32x32 RGB and 28x28 grey images alike.
 * Each image's noise comes from its own keyed stream (rng row), then the batch is combined with tensor ops.
 */
import { tf, type Tensor4D } from '../src/engine/tf.js';
import type { KeyedRng } from '../src/engine/rng.js';
import { cite, defineCorruption } from './define.js';
import { samplePoisson } from './poisson.js';

function perImage(x: Tensor4D): number {
  return x.shape[1] * x.shape[2] * x.shape[3];
}

/** x + N(0, std^2) per pixel. */
export const gaussianNoise = defineCorruption<{ std: number }>({
  name: 'gaussian_noise',
  family: 'noise',
  describe: 'additive Gaussian noise with standard deviation `std` (pixel units)',
  severities: [{ std: 0.04 }, { std: 0.06 }, { std: 0.08 }, { std: 0.09 }, { std: 0.1 }],
  source: cite('gaussian_noise', { native: 'noise per pixel and channel' }),
  corrupt: (x, { std }, rng) =>
    tf.tidy(() => tf.add(x, tf.tensor(rng.normal(perImage(x), 0, std), x.shape)) as Tensor4D),
});

/** Poisson(x * rate) / rate per pixel: photon counting with `rate` photons at full intensity. */
export const shotNoise = defineCorruption<{ rate: number }>({
  name: 'shot_noise',
  family: 'noise',
  describe: 'Poisson (shot) noise: Poisson(x * rate) / rate, so the variance is x / rate',
  severities: [{ rate: 500 }, { rate: 250 }, { rate: 100 }, { rate: 75 }, { rate: 50 }],
  source: cite('shot_noise', { native: 'noise per pixel and channel' }),
  corrupt: (x, { rate }, rng) => {
    // The sampler needs the pixel values on the host; the draw for row r uses only row r's stream.
    const pixels = x.dataSync();
    const size = perImage(x);
    const out = new Float32Array(pixels.length);
    for (let r = 0; r < x.shape[0]; r++) {
      const s = rng.stream(r);
      for (let i = r * size; i < (r + 1) * size; i++) out[i] = samplePoisson(s, pixels[i] * rate) / rate;
    }
    return tf.tensor4d(out, x.shape);
  },
});

/**
 * Salt and pepper as skimage.util.random_noise(mode='s&p', amount): a fraction `amount` of the pixel
 * values is replaced, half by 1 (salt) and half by 0 (pepper).
 */
export const impulseNoise = defineCorruption<{ amount: number }>({
  name: 'impulse_noise',
  family: 'noise',
  describe: 'salt-and-pepper noise: a fraction `amount` of pixels set to 0 or 1 with equal odds',
  severities: [{ amount: 0.01 }, { amount: 0.02 }, { amount: 0.03 }, { amount: 0.05 }, { amount: 0.07 }],
  source: cite('impulse_noise', { native: 'each pixel and channel hit on its own' }),
  corrupt: (x, { amount }, rng) => {
    const { replaced, salt } = impulseMasks(rng, perImage(x), amount);
    return tf.tidy(() => {
      const keep = tf.sub(1, tf.tensor4d(replaced, x.shape));
      return tf.add(tf.mul(x, keep), tf.tensor4d(salt, x.shape)) as Tensor4D;
    });
  },
});

/** Per row: replaced[i] = 1 where pixel i is hit, salt[i] = 1 where it is hit by salt. */
function impulseMasks(rng: KeyedRng, size: number, amount: number): { replaced: Float32Array; salt: Float32Array } {
  const rows = rng.sampleIndices.length;
  const replaced = new Float32Array(rows * size);
  const salt = new Float32Array(rows * size);
  for (let r = 0; r < rows; r++) {
    const s = rng.stream(r);
    for (let i = r * size; i < (r + 1) * size; i++) {
      const hit = s.next() < amount;
      const isSalt = s.next() < 0.5;
      if (hit) {
        replaced[i] = 1;
        if (isSalt) salt[i] = 1;
      }
    }
  }
  return { replaced, salt };
}

/** x + x * N(0, std^2): multiplicative noise, strongest on bright pixels. */
export const speckleNoise = defineCorruption<{ std: number }>({
  name: 'speckle_noise',
  family: 'noise',
  describe: 'speckle (multiplicative) noise: x + x * N(0, std^2)',
  severities: [{ std: 0.06 }, { std: 0.1 }, { std: 0.12 }, { std: 0.16 }, { std: 0.2 }],
  source: cite('speckle_noise', { always: 'one of the four held-out corruptions of the paper (not in the 15 of CIFAR-10-C)' }),
  corrupt: (x, { std }, rng) =>
    tf.tidy(() => tf.add(x, tf.mul(x, tf.tensor(rng.normal(perImage(x), 0, std), x.shape))) as Tensor4D),
});

export const NOISE_CORRUPTIONS = [gaussianNoise, shotNoise, impulseNoise, speckleNoise] as const;
