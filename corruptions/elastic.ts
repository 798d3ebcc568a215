/**
 * Elastic transform. Table: CIFAR-10-C (Hendrycks & Dietterich 2019, ICLR), make_cifar_c.py
 * `elastic_transform` (a modification of erniejunior's elastic-transform gist, after Simard et al. 2003).
 * The reference writes every parameter as a multiple of IMSIZE (32); the table here stores those multiples,
 * and they are applied to the image's side (elasticPixels): 32 on CIFAR-10 gives the reference's values,
 * 28 on Fashion-MNIST is the adaptation.
 * Steps: a random affine warp (three anchor points moved by up to `affine * side` pixels, OpenCV's
 * warpAffine: bilinear, BORDER_REFLECT_101), then a smooth displacement field (uniform noise in [-1, 1]
 * blurred by a Gaussian of `sigma * side`, truncate 3, skimage/scipy `reflect` border, scaled by
 * `alpha * side`) applied with bilinear sampling (map_coordinates order 1, mode `reflect`).
 */
import { tf, type Tensor } from '../src/engine/tf.js';
import { cite, defineCorruption } from './define.js';
import { gaussianBlur } from './filters.js';
import { bilinearSample } from './sampling.js';

/** Row-major 2x3 affine map [a b c; d e f]: (x, y) -> (a x + b y + c, d x + e y + f). */
export type Affine = [number, number, number, number, number, number];
export type Point = readonly [number, number];

/** The affine map sending the three `from` points to the three `to` points (cv2.getAffineTransform). */
export function affineFromPoints(from: readonly Point[], to: readonly Point[]): Affine {
  const [[x0, y0], [x1, y1], [x2, y2]] = from;
  const det = x0 * (y1 - y2) - y0 * (x1 - x2) + (x1 * y2 - x2 * y1);
  if (Math.abs(det) < 1e-12) throw new Error('affineFromPoints: the three points are collinear');
  // Inverse of [[x0 y0 1]; [x1 y1 1]; [x2 y2 1]] by cofactors, applied to each output coordinate.
  const inv = [
    [y1 - y2, y2 - y0, y0 - y1],
    [x2 - x1, x0 - x2, x1 - x0],
    [x1 * y2 - x2 * y1, x2 * y0 - x0 * y2, x0 * y1 - x1 * y0],
  ].map((row) => row.map((v) => v / det));
  const solve = (rhs: number[]) => inv.map((row) => row[0] * rhs[0] + row[1] * rhs[1] + row[2] * rhs[2]);
  const [a, b, c] = solve(to.map((p) => p[0]));
  const [d, e, f] = solve(to.map((p) => p[1]));
  return [a, b, c, d, e, f];
}

export function invertAffine([a, b, c, d, e, f]: Affine): Affine {
  const det = a * e - b * d;
  const ia = e / det;
  const ib = -b / det;
  const id = -d / det;
  const ie = a / det;
  return [ia, ib, -(ia * c + ib * f), id, ie, -(id * c + ie * f)];
}

export interface ElasticParams {
  /** Displacement scale, times the image side. */
  alpha: number;
  /** Smoothness of the displacement field (Gaussian sigma), times the image side. */
  sigma: number;
  /** Largest move of an affine anchor point, times the image side. */
  affine: number;
}

/**
 * The table row in pixels for an image of side `side` = min(H, W): alpha, sigma and the affine range are
 * the reference's `IMSIZE * c` (IMSIZE = 32 at CIFAR-10-C's size, the image side otherwise), multiplied
 * in float64 as there.
 */
export function elasticPixels(p: ElasticParams, side: number): ElasticParams {
  return { alpha: p.alpha * side, sigma: p.sigma * side, affine: p.affine * side };
}

/**
 * The three affine anchors (x, y) of an H x W image: centre (floor(W/2), floor(H/2)) plus or minus
 * floor(min(H, W) / 3), as the reference's center_square = float32(shape) // 2 and
 * square_size = min(shape) // 3 (order: +/+, +/-, -/-).
 */
export function elasticAnchors(h: number, w: number): Point[] {
  const cx = Math.floor(w / 2);
  const cy = Math.floor(h / 2);
  const arm = Math.floor(Math.min(h, w) / 3);
  return [
    [cx + arm, cy + arm],
    [cx + arm, cy - arm],
    [cx - arm, cy - arm],
  ];
}

export const elasticTransform = defineCorruption<ElasticParams>({
  name: 'elastic_transform',
  family: 'digital',
  describe: 'elastic transform: random affine warp plus a smooth random displacement field (sizes x image side)',
  severities: [
    { alpha: 0, sigma: 0, affine: 0.08 },
    { alpha: 0.05, sigma: 0.2, affine: 0.07 },
    { alpha: 0.08, sigma: 0.06, affine: 0.06 },
    { alpha: 0.1, sigma: 0.04, affine: 0.05 },
    { alpha: 0.1, sigma: 0.03, affine: 0.03 },
  ],
  source: cite('elastic_transform', { native: 'IMSIZE = 32', other: 'IMSIZE = the image side (28 on Fashion-MNIST)' }),
  corrupt: (x, table, rng) => {
    const [n, h, w] = x.shape;
    const p = elasticPixels(table, Math.min(h, w));
    const anchors = elasticAnchors(h, w);
    const moves = rng.derive('affine').uniform(6, -p.affine, p.affine);
    const coeffs = new Float32Array(6 * n);
    for (let r = 0; r < n; r++) {
      const moved = anchors.map(([ax, ay], k): Point => [ax + moves[6 * r + 2 * k], ay + moves[6 * r + 2 * k + 1]]);
      // warpAffine samples the source at M^-1 (destination pixel).
      coeffs.set(invertAffine(affineFromPoints(anchors, moved)), 6 * r);
    }
    const gridX = tf.tidy(() => tf.reshape(tf.range(0, w, 1, 'float32'), [1, 1, w]));
    const gridY = tf.tidy(() => tf.reshape(tf.range(0, h, 1, 'float32'), [1, h, 1]));
    const warped = tf.tidy(() => {
      const k = tf.split(tf.reshape(tf.tensor2d(coeffs, [n, 6]), [n, 1, 1, 6]), 6, 3).map((t) => tf.reshape(t, [n, 1, 1]));
      const srcX = tf.add(tf.add(tf.mul(k[0], gridX), tf.mul(k[1], gridY)), k[2]);
      const srcY = tf.add(tf.add(tf.mul(k[3], gridX), tf.mul(k[4], gridY)), k[5]);
      return bilinearSample(x, srcY, srcX, 'reflect101');
    });
    if (p.alpha === 0) {
      tf.dispose([gridX, gridY]);
      return warped;
    }
    const noiseX = rng.derive('dx').uniform(h * w, -1, 1);
    const noiseY = rng.derive('dy').uniform(h * w, -1, 1);
    const out = tf.tidy(() => {
      const field = (noise: Float32Array): Tensor =>
        tf.reshape(tf.mul(gaussianBlur(tf.tensor4d(noise, [n, h, w, 1]), p.sigma, 'symmetric', 3), p.alpha), [n, h, w]);
      return bilinearSample(warped, tf.add(gridY, field(noiseY)), tf.add(gridX, field(noiseX)), 'symmetric');
    });
    tf.dispose([gridX, gridY, warped]);
    return out;
  },
});
