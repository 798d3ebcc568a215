import { tf, type Tensor4D } from '../src/engine/tf.js';
import type { KeyedRng } from '../src/engine/rng.js';
import type { ThreatModel } from './types.js';

/*
 * The geometry of each threat model (attacks/threatModels.ts), shared by every attack: random starts, the
 * steepest-ascent step, projection onto the eps ball and the image box [0,1], and distances. Images are
 * NHWC float32 [N,H,W,C] in [0,1] pixel units; eps is in the threat model's norm.
 *
 * Random starting points are drawn on the host from each sample's own keyed stream (so a sample's start
 * does not depend on which batch it is in); `rng` must already be restricted to the rows of `x`.
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

/**
 * AutoAttack's L2 start (fra31/auto-attack, autoattack/autopgd_base.py attack_single_run, norm 'L2'): on the
 * sphere of radius eps around x along a normalised Gaussian direction, x + eps t / (||t||_2 + 1e-12), then
 * clipped to [0,1] (which only shrinks the norm). Unlike l2RandomStart the radius is always eps, not
 * uniform in the ball; it is shrunk by 1e-6 relative as projectL2 does, so float32 rounding stays inside.
 * x: [N,H,W,C] in [0,1]; eps: L2 radius in [0,1] pixel units; rng restricted to the rows of x.
 */
export function l2SphereStart(x: Tensor4D, eps: number, rng: KeyedRng): Tensor4D {
  const rows = x.shape[0];
  const size = x.shape[1] * x.shape[2] * x.shape[3];
  const t = rng.derive('l2-sphere-start').normal(size);
  for (let r = 0; r < rows; r++) {
    let sq = 0;
    for (let i = 0; i < size; i++) sq += t[r * size + i] ** 2;
    const scale = (eps * (1 - 1e-6)) / (Math.sqrt(sq) + 1e-12);
    for (let i = 0; i < size; i++) t[r * size + i] *= scale;
  }
  return tf.tidy(() => tf.clipByValue(tf.add(x, tf.tensor4d(t, x.shape, 'float32')), 0, 1) as Tensor4D);
}

/** A random start of the threat model's ball: linfRandomStart or l2RandomStart. */
export function randomStart(norm: ThreatModel, x: Tensor4D, eps: number, rng: KeyedRng): Tensor4D {
  return norm === 'linf' ? linfRandomStart(x, eps, rng) : l2RandomStart(x, eps, rng);
}

/**
 * The steepest-ascent direction of a first-order attack step from an input gradient [N,H,W,C] that may
 * hold NaN or infinities (a model whose logits overflow), never NaN:
 * - linf: sign(g), a NaN component 0;
 * - l2: g / ||g||_2 per row, computed as (g / m) / ||g / m||_2 with m = max |g| so the norm cannot
 *   overflow float32; a row with infinite components points along their signs only (the limit of
 *   g / ||g|| as they grow), each NaN component is 0, and an all-zero row stays 0.
 * With finite gradients the L2 direction is the unit vector of g even when ||g|| underflows.
 */
export function ascentDirection(grad: Tensor4D, norm: ThreatModel): Tensor4D {
  return tf.tidy(() => {
    const g = tf.where(tf.isNaN(grad), tf.zerosLike(grad), grad);
    if (norm === 'linf') return tf.sign(g) as Tensor4D;
    const inf = tf.isInf(g);
    const rowInf = tf.any(inf, [1, 2, 3], true);
    const kept = tf.where(rowInf, tf.where(inf, tf.sign(g), tf.zerosLike(g)), g);
    const m = tf.max(tf.abs(kept), [1, 2, 3], true);
    const scaled = tf.div(kept, tf.where(tf.greater(m, 0), m, tf.onesLike(m)));
    const n = rowNormsL2(scaled as Tensor4D);
    return tf.div(scaled, tf.where(tf.greater(n, 0), n, tf.onesLike(n))) as Tensor4D;
  });
}

/**
 * AutoAttack's normalised L2 gradient g / (||g||_2 + 1e-12) per row of [N,H,W,C] (fra31/auto-attack,
 * autoattack/autopgd_base.py normalize, norm 'L2'): ascentDirection(grad, 'l2') scaled by n / (n + 1e-12),
 * n = ||g||_2, so a vanishing gradient (n near or below 1e-12) gives a proportionally shorter step, as in
 * the reference, instead of a unit one. n is computed as m ||g / m|| (m = max |g|) so it cannot overflow;
 * NaN components count as 0 and a row with infinite components is the unit vector of their signs.
 */
export function dampedL2Direction(grad: Tensor4D): Tensor4D {
  return tf.tidy(() => {
    const g = tf.where(tf.isNaN(grad), tf.zerosLike(grad), grad);
    const m = tf.max(tf.abs(g), [1, 2, 3], true);
    const finiteM = tf.where(tf.logicalAnd(tf.greater(m, 0), tf.isFinite(m)), m, tf.onesLike(m));
    const n = tf.where(tf.isInf(m), m, tf.mul(finiteM, rowNormsL2(tf.div(g, finiteM) as Tensor4D)));
    // n / (n + 1e-12) written as 1 / (1 + 1e-12 / n): 0 at n = 0, 1 at n = Infinity.
    const factor = tf.div(1, tf.add(1, tf.div(1e-12, n)));
    return tf.mul(ascentDirection(grad, 'l2'), factor) as Tensor4D;
  });
}

/**
 * One first-order step: x + alpha * ascentDirection(grad), unprojected (sign step for L-inf, normalised
 * gradient step for L2, Madry et al. 2018). `alpha` is a step size in the norm's pixel units, a number or a
 * per-row [N,1,1,1] tensor.
 */
export function ascentStep(x: Tensor4D, grad: Tensor4D, alpha: number | Tensor4D, norm: ThreatModel): Tensor4D {
  return tf.tidy(() => tf.add(x, tf.mul(ascentDirection(grad, norm), alpha)) as Tensor4D);
}

/** Per-sample L2 norms of a [N,H,W,C] tensor, shaped [N,1,1,1] for broadcasting. */
export function rowNormsL2(t: Tensor4D): Tensor4D {
  return tf.tidy(() => tf.sqrt(tf.sum(tf.square(t), [1, 2, 3], true)) as Tensor4D);
}

/** Projection onto the L-inf ball of radius eps around x, then onto the image box [0,1]. */
export function projectLinf(xAdv: Tensor4D, x: Tensor4D, eps: number): Tensor4D {
  return tf.tidy(() => {
    const inBall = tf.minimum(tf.maximum(xAdv, tf.sub(x, eps)), tf.add(x, eps));
    return tf.clipByValue(inBall, 0, 1) as Tensor4D;
  });
}

/**
 * Projection onto the L2 ball of radius eps around x, then onto [0,1]. Clipping to the box after
 * the ball is exact for both constraints: clipping only shrinks each |delta_i| because x is in [0,1].
 * The radius is shrunk by 1e-6 relative so float32 rounding of the norm can never leave the ball.
 */
export function projectL2(xAdv: Tensor4D, x: Tensor4D, eps: number): Tensor4D {
  return tf.tidy(() => {
    const delta = tf.sub(xAdv, x);
    const norms = rowNormsL2(delta as Tensor4D);
    const radius = eps * (1 - 1e-6);
    const factor = tf.minimum(1, tf.div(radius, tf.maximum(norms, 1e-12)));
    return tf.clipByValue(tf.add(x, tf.mul(delta, factor)), 0, 1) as Tensor4D;
  });
}

/** Projection onto the threat model's eps ball around x and the image box [0,1]: projectLinf or projectL2. */
export function project(xAdv: Tensor4D, x: Tensor4D, eps: number, norm: ThreatModel): Tensor4D {
  return norm === 'linf' ? projectLinf(xAdv, x, eps) : projectL2(xAdv, x, eps);
}

/** Per-sample distance ||xAdv - x|| in the threat model's norm (max |delta| or sqrt(sum delta^2)), [N] on the host. */
export function distances(xAdv: Tensor4D, x: Tensor4D, norm: ThreatModel): Float32Array {
  const d = tf.tidy(() => {
    const delta = tf.sub(xAdv, x);
    return norm === 'linf' ? tf.max(tf.abs(delta), [1, 2, 3]) : tf.sqrt(tf.sum(tf.square(delta), [1, 2, 3]));
  });
  const values = d.dataSync() as Float32Array;
  d.dispose();
  return values;
}

/** Slack for float32 rounding when checking that an adversarial example stayed inside its eps ball. */
export const BALL_TOLERANCE = 1e-5;

/**
 * Whether a perturbation of norm `distance` (a value of `distances`, float32 read as a number) lies inside
 * the ball of radius eps, with the relative and absolute float32 slack BALL_TOLERANCE: distance <=
 * eps (1 + BALL_TOLERANCE) + BALL_TOLERANCE. The one rule of the ball check (ballViolation) and of a
 * minimisation attack's sweep (a sample found at `distance` is broken at every eps > 0 this accepts).
 */
export function withinBall(distance: number, eps: number): boolean {
  return distance <= eps * (1 + BALL_TOLERANCE) + BALL_TOLERANCE;
}

/**
 * Why adversarial examples `xAdv` are outside the threat model, or null when they are inside: the largest
 * distance to x above eps (relative and absolute slack BALL_TOLERANCE for float32 rounding), or a pixel
 * outside [0,1] (exactly: the projections clip, so no slack there), e.g.
 * "distance 0.2 for eps 0.1, pixels in [0, 1]".
 */
export function ballViolation(xAdv: Tensor4D, x: Tensor4D, eps: number, norm: ThreatModel): string | null {
  if (x.shape[0] === 0) return null;
  const [dist, lo, hi] = tf
    .tidy(() => {
      const d = tf.sub(xAdv, x);
      const distance = norm === 'linf' ? tf.max(tf.abs(d)) : tf.max(tf.sqrt(tf.sum(tf.square(d), [1, 2, 3])));
      return [distance, tf.min(xAdv), tf.max(xAdv)];
    })
    .map((t) => {
      const v = t.dataSync()[0];
      t.dispose();
      return v;
    });
  if (withinBall(dist, eps) && lo >= 0 && hi <= 1) return null;
  return `distance ${dist} for eps ${eps}, pixels in [${lo}, ${hi}]`;
}
