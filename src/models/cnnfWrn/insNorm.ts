import { tf, type Tensor, type Tensor4D } from '../../engine/tf.js';
import { fastPath } from '../../engine/fastPaths.js';
import { insNormKernelsApply, insNormOnKernels } from '../../engine/kernels/ins-norm-kernels.js';

/**
 * Sum over the spatial axes 1 and 2 of an NHWC tensor, [N,1,1,C], as two passes (rows, then columns).
 * The wasm backend's Sum and Mean kernels add sequentially in float32, so one pass over the 1024
 * positions of a 32x32 map accumulates ~sqrt(1024) roundings; two passes of 32 keep the error close to
 * PyTorch's blocked reductions. Measured on the WRN-40-2 reference fixture (cnn_wrn40-2, wasm): the
 * per-image relative error of the first-pass logits went from median 1.6e-6 to 6.2e-7 (the cpu backend,
 * which accumulates in float64, gives 5.3e-7); that matters because every AdaReLU unit that lands on
 * the other side of zero changes the feedback and the gradient.
 */
export function spatialSum(x: Tensor): Tensor {
  const [, h, w] = x.shape;
  if (pairwise && isPowerOfTwo(h) && isPowerOfTwo(w)) return pairwiseSpatialSum(x);
  if (fastPath('spatial-sum-pool') && isPowerOfTwo(h) && isPowerOfTwo(w)) {
    // The same two passes as average pools (column windows, then the row), scaled back: wasm's Sum
    // transposes the map before reducing a non-innermost axis, AvgPool (XNNPACK) reads NHWC as it is,
    // 2-5x faster on the WRN's maps (scripts/perf/micro-kernels.ts). Scaling by 1/h, 1/w and h·w is exact
    // for powers of two.
    const rows = tf.avgPool(x as Tensor4D, [h, 1], [h, 1], 'valid');
    return tf.mul(tf.avgPool(rows, [1, w], [1, w], 'valid'), h * w);
  }
  return tf.sum(tf.sum(x, 1, true), 2, true);
}

let pairwise = false;

/**
 * Switches spatialSum to a pairwise tree (halves of the rows added until one row is left, then the
 * same over the columns: log2(h·w) float32 roundings per sum, the error order of PyTorch's cascaded
 * CPU reductions) for maps with power-of-two sides; false (the default) restores the two-pass sums.
 * A diagnostic (scripts/parity/wrn-trace.ts --pairwise-sums; README, "Where the remaining WRN outliers
 * come from"): on the WRN CNN-F fixture it brings the per-layer error of the first pass from 1.1x to
 * 1.0x PyTorch's, but does not lower the number of images beyond tolerance, so no command uses it.
 * Returns the previous setting.
 */
export function setPairwiseSpatialSums(on: boolean): boolean {
  const previous = pairwise;
  pairwise = on;
  return previous;
}

/** [N,h,w,C] -> [N,1,1,C] by halving the rows, then the columns (h, w powers of two). */
function pairwiseSpatialSum(x: Tensor): Tensor {
  let y = x;
  for (const axis of [1, 2]) {
    while (y.shape[axis] > 1) {
      const [a, b] = tf.split(y, 2, axis);
      y = tf.add(a, b);
    }
  }
  return y;
}

const isPowerOfTwo = (n: number) => n > 0 && (n & (n - 1)) === 0;

/**
 * InsNorm of the reference (cnnf/layers.py): y = x / sqrt(mean(x², spatial) + eps) per image and
 * channel (not mean-centred), NHWC [N,H,W,C] -> same shape, with the spatial sums of spatialSum and a
 * hand-written gradient (the one autograd derives, on the per-channel values):
 *   s = mean(x²) + eps, b = sqrt(s), t = sum(dy · x), dx = dy / b + 2 (-(t / b²) / (2b) / HW) · x.
 */
export function insNormAccurate(x: Tensor4D, epsilon: number): Tensor4D {
  const [, h, w, c] = x.shape;
  if (fastPath('ins-norm-wasm') && !pairwise && insNormKernelsApply(c)) return insNormWasm(x, epsilon);
  const op = tf.customGrad(((xi: Tensor4D, save: (t: Tensor[]) => void) => {
    const s = tf.add(tf.div(spatialSum(tf.square(xi)), h * w), epsilon);
    const b = tf.sqrt(s);
    save([xi, b]);
    return {
      value: tf.div(xi, b),
      gradFunc: (dy: Tensor, [xs, bs]: Tensor[]) => {
        const dA = tf.div(dy, bs);
        const t = spatialSum(tf.mul(dy, xs));
        const dB = tf.neg(tf.div(t, tf.square(bs)));
        const dS = tf.div(dB, tf.mul(bs, 2));
        const q2 = tf.mul(tf.div(dS, h * w), 2);
        return tf.add(dA, tf.mul(q2, xs));
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(x) as Tensor4D;
}

/**
 * insNormAccurate with its full-size passes as wasm kernels (fast path `ins-norm-wasm`,
 * src/engine/kernels/ins-norm-kernels.ts): the spatial sums of x² and dy·x in one pass each, x / b and
 * dy / b + q·x in one pass each; the per-channel arithmetic as the same TensorFlow.js ops. Gives the
 * plain formulation's bits (spatialSum's two sequential passes, spatial-sum-pool off), and not the
 * pooled sums'. NHWC [N,H,W,C] with C a multiple of 4, on wasm.
 */
function insNormWasm(x: Tensor4D, epsilon: number): Tensor4D {
  return insNormOnKernels(x, epsilon, (t) => t as Tensor4D);
}
