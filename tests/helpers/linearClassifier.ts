import { tf, type Tensor1D, type Tensor2D, type Tensor4D } from '../../src/engine/tf.js';
import { SampleStream } from '../../src/engine/rng.js';
import type { Classifier, LogitsRequest, LossAndGradOptions, OutputKind } from '../../src/models/classifier.js';

/**
 * A linear classifier for attack tests: logits = flatten(x) W + b, with the loss gradient written out
 * by hand (not tf autodiff), so attack tests check against an independent derivation:
 * - ce:     loss = logsumexp(z) - z_l,        dloss/dz = softmax(z) - onehot(l)
 * - margin: loss = max_{j != l} z_j - z_l,    dloss/dz = onehot(j*) - onehot(l)
 * and dloss/dx = (dloss/dz) W^T, where `l` is the label passed in. For targeted: true (labels are the
 * targets) both are negated, so an attack always ascends the returned loss (the convention of
 * attacks/losses.ts attackLoss). It counts calls so tests can check what an attack used.
 *
 * With `{ logitsFor: true }` it also offers differentiable logits (Classifier.logitsFor, the same forward
 * pass), which attacks/gradients.ts then prefers: what an attack whose loss the stub does not write out
 * (the DLR losses) needs. Without it, attacks take the hand-written gradients above.
 */
export interface LinearClassifier extends Classifier {
  /** Weights [inputs, classes] row-major, as float32 values (the model's exact parameters). */
  readonly weights: Float32Array;
  readonly bias: Float32Array;
  readonly calls: { logits: number; lossAndGrad: number; options: LossAndGradOptions[]; logitsFor: (LogitsRequest | undefined)[] };
  dispose(): void;
}

export function linearClassifier(
  inputShape: [number, number, number],
  numClasses: number,
  weights: ArrayLike<number>,
  bias: ArrayLike<number>,
  options: { logitsFor?: boolean } = {},
): LinearClassifier {
  const inputs = inputShape[0] * inputShape[1] * inputShape[2];
  const w32 = Float32Array.from(weights);
  const b32 = Float32Array.from(bias);
  if (w32.length !== inputs * numClasses || b32.length !== numClasses) throw new Error('linearClassifier: bad parameter sizes');
  const W = tf.keep(tf.tensor2d(w32, [inputs, numClasses]));
  const b = tf.keep(tf.tensor1d(b32));
  const calls = { logits: 0, lossAndGrad: 0, options: [] as LossAndGradOptions[], logitsFor: [] as (LogitsRequest | undefined)[] };
  const forward = (x: Tensor4D) => tf.add(tf.matMul(tf.reshape(x, [x.shape[0], inputs]), W), b) as Tensor2D;

  return {
    name: 'linear',
    inputShape,
    numClasses,
    hasFeedback: false,
    weights: w32,
    bias: b32,
    calls,
    logits(x: Tensor4D, _output?: OutputKind): Tensor2D {
      calls.logits++;
      return tf.tidy(() => forward(x));
    },
    ...(options.logitsFor
      ? {
          logitsFor(x: Tensor4D, request?: LogitsRequest): Tensor2D {
            calls.logitsFor.push(request);
            return forward(x);
          },
        }
      : {}),
    lossAndGrad(x: Tensor4D, y: Tensor1D, options: LossAndGradOptions) {
      calls.lossAndGrad++;
      calls.options.push(options);
      return tf.tidy(() => {
        const z = forward(x);
        const onehot = tf.oneHot(tf.cast(y, 'int32'), numClasses);
        const isLabel = tf.cast(onehot, 'bool');
        const zLabel = tf.sum(tf.where(isLabel, z, tf.zerosLike(z)), 1);
        let loss: tf.Tensor;
        let dz: tf.Tensor;
        if ((options.loss ?? 'ce') === 'ce') {
          loss = tf.sub(tf.logSumExp(z, 1), zLabel);
          dz = tf.sub(tf.softmax(z), onehot);
        } else {
          // The label hidden with -Infinity, exact at any logit scale (attacks/losses.ts).
          const others = tf.where(isLabel, tf.fill(z.shape, -Infinity), z);
          const jStar = tf.argMax(others, 1);
          loss = tf.sub(tf.max(others, 1), zLabel);
          dz = tf.sub(tf.oneHot(jStar, numClasses), onehot);
        }
        const sign = options.targeted ? -1 : 1;
        const grad = tf.reshape(tf.mul(tf.matMul(dz, W, false, true), sign), x.shape) as Tensor4D;
        return { loss: tf.mul(loss, sign) as Tensor1D, grad };
      });
    },
    dispose() {
      W.dispose();
      b.dispose();
    },
  };
}

/** Gaussian weights (std `scale`) and biases, reproducible from `seed`. */
export function randomLinear(
  seed: number,
  inputShape: [number, number, number],
  numClasses: number,
  scale = 1,
  options: { logitsFor?: boolean } = {},
): LinearClassifier {
  const inputs = inputShape[0] * inputShape[1] * inputShape[2];
  const s = new SampleStream(seed, 'linear-weights', 0);
  const w = Array.from({ length: inputs * numClasses }, () => scale * s.normal());
  const bias = Array.from({ length: numClasses }, () => 0.1 * s.normal());
  return linearClassifier(inputShape, numClasses, w, bias, options);
}

/** Uniform images in [lo, hi], reproducible from `seed`, as [n, H, W, C] host values. */
export function randomImages(seed: number, n: number, inputShape: [number, number, number], lo = 0, hi = 1): Float32Array {
  const size = inputShape[0] * inputShape[1] * inputShape[2];
  const s = new SampleStream(seed, 'images', 0);
  return Float32Array.from({ length: n * size }, () => lo + (hi - lo) * s.next());
}

/** Logits of host images in float64 from the model's exact float32 parameters: [n][classes]. */
export function logitsF64(model: LinearClassifier, images: ArrayLike<number>, n: number): number[][] {
  const inputs = images.length / n;
  const classes = model.numClasses;
  return Array.from({ length: n }, (_, r) =>
    Array.from({ length: classes }, (_, j) => {
      let z = model.bias[j];
      for (let i = 0; i < inputs; i++) z += images[r * inputs + i] * model.weights[i * classes + j];
      return z;
    }),
  );
}

/**
 * Attacks whose loss a stub's hand-written lossAndGrad does not offer (the DLR losses: the stubs write out ce
 * and margin only): tests give them a model with logitsFor.
 */
export const NEEDS_LOGITS_FOR: readonly string[] = ['apgd-dlr', 'apgd-dlr-l2', 'apgd-t', 'apgd-t-l2', 'fab-t', 'fab-t-l2'];

/**
 * The same linear model offering differentiable logits (logitsFor: flatten(x) W + b), as every loaded
 * model does, so attacks take any gradient of it by autodiff (per-class gradients, DLR); its hand-written
 * lossAndGrad stays available.
 */
export function withLogitsFor(model: LinearClassifier): LinearClassifier & Required<Pick<Classifier, 'logitsFor'>> {
  const inputs = model.inputShape[0] * model.inputShape[1] * model.inputShape[2];
  const W = tf.keep(tf.tensor2d(model.weights, [inputs, model.numClasses]));
  const b = tf.keep(tf.tensor1d(model.bias));
  return {
    ...model,
    logits: (x: Tensor4D, output?: OutputKind) => model.logits(x, output),
    lossAndGrad: (x: Tensor4D, y: Tensor1D, options: LossAndGradOptions) => model.lossAndGrad(x, y, options),
    logitsFor: (x: Tensor4D) => tf.add(tf.matMul(tf.reshape(x, [x.shape[0], inputs]), W), b) as Tensor2D,
    dispose() {
      model.dispose();
      tf.dispose([W, b]);
    },
  };
}
