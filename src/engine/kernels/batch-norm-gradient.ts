// A replacement gradient for the FusedBatchNorm kernel (tf.batchNorm, tfjs-layers' BatchNormalization at
// inference) that broadcasts instead of tiling.
// Why: TensorFlow.js 4.22's own gradient (tfjs-core gradients/FusedBatchNorm_grad) forms the input
// gradient as dy * tile(1/sqrt(var + eps), [N,H,W,1]) * scale, materialising the per-channel factor at the
// activation's full size, and wasm's Tile is a slow generic loop: on a depthwise-separable user model with
// batch norm after every convolution the Tile calls were 55% of an attack step (docs/performance.md,
// "User-model case"). It also forms x - mean and dy * scale before it knows which gradients are asked for;
// an attack asks only for the input's.
// This gradient computes the same products in the same order, with the factor broadcast along the channel
// axis, so every gradient is bitwise the one TensorFlow.js computes (tests/engine/kernels/batch-norm-gradient
// .test.ts); the products for the mean, variance and scale gradients are formed only when asked for.
// A mean that is not one-dimensional (tfjs also accepts [N,H,W,C]-shaped statistics) keeps the original.
import { tf } from '../tf.js';
import { fastPath } from '../fastPaths.js';
import { gradientOverride } from './gradient-override.js';

const override = gradientOverride({
  kernelName: tf.FusedBatchNorm,
  inputsToSave: ['x', 'mean', 'variance', 'scale'],
  gradFunc: (dy, saved, attrs) => {
    const [x, mean, variance, scale] = saved;
    if (mean.rank !== 1 || !fastPath('batch-norm-grad')) {
      const original = override.original();
      if (original === null) throw new Error('FusedBatchNorm gradient: the original gradient was not captured');
      return original.gradFunc(dy, saved, attrs);
    }
    const { varianceEpsilon } = attrs as unknown as { varianceEpsilon: number };
    const dyT = dy as tf.Tensor;
    const scaleValue = scale == null ? tf.scalar(1) : scale;
    const reductionAxes = tf.broadcast_util.getReductionAxes(mean.shape, x.shape);
    // [C]: broadcasts against the last (channel) axis of the NHWC x and dy.
    const oneOverSqrtVariance = tf.rsqrt(tf.add(variance, tf.scalar(varianceEpsilon)));
    const perChannel = (t: tf.Tensor) => tf.reshape(tf.sum(t, reductionAxes), mean.shape);
    return {
      x: () => tf.reshape(tf.mul(tf.mul(dyT, oneOverSqrtVariance), scaleValue), x.shape),
      mean: () => perChannel(tf.mul(tf.mul(oneOverSqrtVariance, tf.scalar(-1)), tf.mul(dyT, scaleValue))),
      variance: () => {
        const r = oneOverSqrtVariance;
        const minusHalfRCube = tf.mul(tf.mul(tf.mul(r, r), r), tf.scalar(-0.5));
        return perChannel(tf.mul(tf.mul(minusHalfRCube, tf.sub(x, mean)), tf.mul(dyT, scaleValue)));
      },
      scale: () => perChannel(tf.mul(dyT, tf.mul(tf.sub(x, mean), oneOverSqrtVariance))),
      offset: () => perChannel(dyT),
    };
  },
});

/**
 * Replaces the global FusedBatchNorm gradient with the broadcasting one above (the gradient registry is
 * shared by every backend; the fast path `batch-norm-grad`, checked per call, turns it back to tfjs's own).
 * Idempotent. Gradients returned: x [N,H,W,C] like dy; mean, variance, scale, offset [C].
 */
export const registerBatchNormGradient = override.register;

/** Puts TensorFlow.js's own FusedBatchNorm gradient back (benchmarks, reference computations). Idempotent. */
export const unregisterBatchNormGradient = override.unregister;

export const batchNormGradientRegistered = override.registered;
