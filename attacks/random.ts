import { tf, type Tensor4D } from '../src/engine/tf.js';
import type { KeyedRng } from '../src/engine/rng.js';

/**
 * Random starting points for iterative attacks, drawn on the host from each sample's own keyed
 * stream (so a sample's start does not depend on which batch it is in). `rng` must already be
 * restricted to the rows of `x`.
 */

/** Uniform in the L-inf ball of radius eps around x, clipped to [0,1] (Madry et al. 2018). */
export function linfRandomStart(x: Tensor4D, eps: number, rng: KeyedRng): Tensor4D {
  const size = x.shape[1] * x.shape[2] * x.shape[3];
  const noise = rng.derive('linf-start').uniform(size, -eps, eps);
  return tf.tidy(() => tf.clipByValue(tf.add(x, tf.tensor4d(noise, x.shape, 'float32')), 0, 1) as Tensor4D);
}

/**
 * Uniform in the L2 ball: a uniformly random direction (normalised Gaussian) times radius
 * eps * u^(1/d), as Foolbox's L2 random start; then clipped to [0,1] (which only shrinks the norm).
 */
export function l2RandomStart(x: Tensor4D, eps: number, rng: KeyedRng): Tensor4D {
  const rows = x.shape[0];
  const size = x.shape[1] * x.shape[2] * x.shape[3];
  const gauss = rng.derive('l2-direction').normal(size);
  const u = rng.derive('l2-radius').uniform(1);
  for (let r = 0; r < rows; r++) {
    let sq = 0;
    for (let i = 0; i < size; i++) sq += gauss[r * size + i] ** 2;
    // 1 - 1e-6: stay strictly inside the ball despite float32 rounding.
    const scale = (eps * (1 - 1e-6) * Math.pow(u[r], 1 / size)) / Math.max(Math.sqrt(sq), 1e-12);
    for (let i = 0; i < size; i++) gauss[r * size + i] *= scale;
  }
  return tf.tidy(() => tf.clipByValue(tf.add(x, tf.tensor4d(gauss, x.shape, 'float32')), 0, 1) as Tensor4D);
}
