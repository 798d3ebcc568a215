import { tf, type Tensor1D, type Tensor2D, type Tensor4D, type Tensor5D } from '../src/engine/tf.js';
import { inputError } from '../src/engine/errors.js';
import type { Classifier, LogitsRequest } from '../src/models/classifier.js';
import { attackLoss, logitDifference, type AttackLossName } from './losses.js';

/** What an attack asks of a gradient: where it is taken through the model, and of which loss. */
export interface AttackGradientOptions {
  /** One of the model's gradient paths (CNN-F: first, e2e, bpda; TF.js models: direct). */
  path: string;
  /** One of the model's outputs (default: its configured output). */
  output?: string;
  /** The loss ascended (attacks/losses.ts); default ce. */
  loss?: AttackLossName;
  /** Labels are target classes: the loss is the one to ascend to reach them (attacks/losses.ts attackLoss). */
  targeted?: boolean;
  /** True labels int32 [N], needed by the targeted DLR only. */
  trueLabels?: Tensor1D;
}

/**
 * Loss [N] and input gradient d(sum of loss)/dx [N,H,W,C] in [0,1] pixel space by automatic differentiation
 * (tf.valueAndGrad) of an attack loss (attacks/losses.ts) over a model's differentiable logits. Labels are
 * int32 [N] (the targets when `targeted`). Whatever the model does inside logitsFor (CNN-F's BPDA swap and
 * its e2e fast paths) is what the gradient goes through. Also returns the pass's logits [N,K] (the caller
 * disposes them): the model's predictions when the path is one of its predictionPaths.
 */
export function logitsLossAndGrad(
  model: { logitsFor(x: Tensor4D, request?: LogitsRequest): Tensor2D },
  x: Tensor4D,
  labels: Tensor1D,
  options: AttackGradientOptions,
): { loss: Tensor1D; grad: Tensor4D; logits: Tensor2D } {
  let logits: Tensor2D | undefined;
  const out = tf.tidy(() => {
    const request = { output: options.output, path: options.path };
    // valueAndGrad of the per-sample loss with the default all-ones dy is the gradient of its sum.
    const { value, grad } = tf.valueAndGrad((xi: tf.Tensor) => {
      logits = tf.keep(model.logitsFor(xi as Tensor4D, request));
      return attackLoss(logits, labels, options.loss ?? 'ce', options.targeted ?? false, options.trueLabels);
    })(x);
    return { loss: value as Tensor1D, grad: grad as Tensor4D };
  });
  return { ...out, logits: logits! };
}

/** Losses a classifier without logitsFor computes itself in Classifier.lossAndGrad (the first contract). */
const SELF_COMPUTED_LOSSES: readonly AttackLossName[] = ['ce', 'margin'];

/**
 * The gradient every gradient attack takes: loss [N] and d(sum of loss)/dx [N,H,W,C] of `x` (NHWC, [0,1]) for
 * int32 `labels` [N]. Through `model.logitsFor` with the attack's own loss when the model gives differentiable
 * logits (every loaded model); otherwise (a classifier with hand-written gradients, e.g. a test stub) through
 * its lossAndGrad, which knows ce and margin only: another loss is an InputError naming the model.
 */
export function lossAndGrad(model: Classifier, x: Tensor4D, labels: Tensor1D, options: AttackGradientOptions): { loss: Tensor1D; grad: Tensor4D } {
  if (typeof model.logitsFor === 'function') {
    const { loss, grad, logits } = logitsLossAndGrad(model as Required<Pick<Classifier, 'logitsFor'>>, x, labels, options);
    logits.dispose();
    return { loss, grad };
  }
  const loss = options.loss ?? 'ce';
  if (!SELF_COMPUTED_LOSSES.includes(loss))
    throw inputError(`model "${model.name}"`, `gives no differentiable logits, so no ${loss} loss gradient`, SELF_COMPUTED_LOSSES.join(', '));
  return model.lossAndGrad(x, labels, options);
}

/** Where per-class logit gradients are taken: one of the model's gradient paths and outputs. */
export interface LogitGradientOptions {
  /** One of the model's gradient paths (CNN-F: first, e2e, bpda; TF.js models: direct). */
  path: string;
  /** One of the model's outputs (default: its configured output). */
  output?: string;
}

type Differentiable = { logitsFor(x: Tensor4D, request?: LogitsRequest): Tensor2D };

function differentiable(model: Classifier | Differentiable, what: string): Differentiable {
  if (typeof model.logitsFor === 'function') return model as Differentiable;
  const name = (model as Partial<Classifier>).name ?? 'model';
  throw inputError(`model "${name}"`, `gives no differentiable logits, so no ${what}`, 'models with logitsFor (every loaded model)');
}

/**
 * The gradient of one logit difference per sample, in ONE backward pass: difference [N] = z_t - z_y and
 * grad [N,H,W,C] = d(z_t - z_y)/dx in [0,1] pixel space, for images x NHWC [N,H,W,C], int32 labels y [N] and
 * int32 targets t [N] (attacks/losses.ts logitDifference), through the model's logitsFor on the given path
 * and output. What targeted FAB linearises each step (AutoAttack's fab_pt.py
 * get_diff_logits_grads_batch_targeted, which returns the same value and gradient). Since each row's
 * difference depends on that row only, the gradient of their sum is the per-row gradient. A classifier
 * without logitsFor is an InputError naming it.
 */
export function logitDifferenceAndGrad(
  model: Classifier | Differentiable,
  x: Tensor4D,
  labels: Tensor1D,
  targets: Tensor1D,
  options: LogitGradientOptions,
): { difference: Tensor1D; grad: Tensor4D } {
  const m = differentiable(model, 'logit-difference gradient');
  return tf.tidy(() => {
    const request = { output: options.output, path: options.path };
    const { value, grad } = tf.valueAndGrad((xi: tf.Tensor) => logitDifference(m.logitsFor(xi as Tensor4D, request), labels, targets))(x);
    return { difference: value as Tensor1D, grad: grad as Tensor4D };
  });
}

/**
 * Whether the differentiable logits of `path` (logitsFor) are the model's predictions: true when the model
 * lists the path in Classifier.predictionPaths. Then a gradient pass's own logits score the images it was
 * taken at, as AutoAttack's attacks do with the logits of their gradient pass, and no second forward pass is
 * needed.
 */
export function pathGivesPredictions(model: Classifier, path: string): boolean {
  return typeof model.logitsFor === 'function' && (model.predictionPaths ?? []).includes(path);
}

/**
 * The Jacobian of the logits with respect to the input, for a batch: logits [N,K] and jacobian
 * [N,K,H,W,C] with jacobian[i,k] = d z_k(x_i) / d x_i (in [0,1] pixel space), for images x NHWC [N,H,W,C]
 * and a model of K classes, through its logitsFor on the given path and output. Computed in one forward
 * and one backward pass over the batch tiled K times ([K*N,H,W,C]: copy k differentiates the sum of column
 * k), which needs K times the memory of one gradient pass and equals K separate backward passes (each
 * row's logits depend on that row only). The value per class that AutoAttack's fab_pt.py
 * get_diff_logits_grads_batch takes with K backward passes. A classifier without logitsFor is an
 * InputError naming it.
 */
export function logitsJacobian(
  model: Classifier | Differentiable,
  x: Tensor4D,
  options: LogitGradientOptions,
): { logits: Tensor2D; jacobian: Tensor5D } {
  const m = differentiable(model, 'logit Jacobian');
  const [n, h, w, c] = x.shape;
  const request = { output: options.output, path: options.path };
  let logits: Tensor2D | undefined;
  const jacobian = tf.tidy(() => {
    // K: the model's declared class count, or (a bare logitsFor) the width of one row's logits.
    const classes = (model as Partial<Classifier>).numClasses ?? m.logitsFor(tf.slice(x, [0, 0, 0, 0], [1, h, w, c]) as Tensor4D, request).shape[1];
    const tiled = tf.tile(x, [classes, 1, 1, 1]) as Tensor4D; // row k*N + i is x_i
    const copyOf = tf.tensor1d(Int32Array.from({ length: classes * n }, (_, r) => Math.floor(r / n)), 'int32');
    const column = tf.cast(tf.oneHot(copyOf, classes), 'bool'); // [K*N,K]: copy k keeps column k
    const { grad } = tf.valueAndGrad((xi: tf.Tensor) => {
      const z = m.logitsFor(xi as Tensor4D, request);
      logits = tf.keep(tf.slice(z, [0, 0], [n, classes]) as Tensor2D);
      return tf.sum(tf.where(column, z, tf.zerosLike(z)));
    })(tiled);
    // [K*N,H,W,C] -> [K,N,H,W,C] -> [N,K,H,W,C]
    return tf.transpose(tf.reshape(grad, [classes, n, h, w, c]), [1, 0, 2, 3, 4]) as Tensor5D;
  });
  return { logits: logits!, jacobian };
}

/**
 * Expectation over Transformation (Athalye et al. 2018, "Obfuscated Gradients Give a False Sense of
 * Security", Sec. 4.3; AutoAttack's eot_iter): the element-wise mean of `n` calls of `call`, field by field,
 * for a call returning tensors of fixed shapes (e.g. a loss [N] and its input gradient [N,H,W,C], or logits
 * [N,K] and their Jacobian [N,K,H,W,C]). For a deterministic model it equals one call up to the float32
 * rounding of the mean (so an attack's path may differ in its last bits from eot 1); for a randomised one
 * (random input transformations, noise) each field estimates its expectation with n times less variance.
 * n = 1 is `call()` itself, unchanged. The sum runs in call order (float32) and is divided by n once.
 * The caller owns the returned tensors; every intermediate is disposed. Throws an internal Error for n not
 * a positive integer (parseParams refuses such an `eot` before any run).
 */
export function eotMean<T extends Record<string, tf.Tensor>>(n: number, call: () => T): T {
  if (!Number.isInteger(n) || n < 1) throw new Error(`internal: eot must be a positive integer, got ${n}`);
  if (n === 1) return call();
  const sum = call();
  const keys = Object.keys(sum) as (keyof T)[];
  for (let k = 1; k < n; k++) {
    const one = call();
    for (const key of keys) {
      const next = tf.add(sum[key], one[key]);
      tf.dispose([sum[key], one[key]]);
      sum[key] = next as T[keyof T];
    }
  }
  for (const key of keys) {
    const mean = tf.div(sum[key], n);
    sum[key].dispose();
    sum[key] = mean as T[keyof T];
  }
  return sum;
}

/**
 * EOT of the loss gradient (eotMean of lossAndGrad): the mean of `n` calls of lossAndGrad on the same
 * images, loss [N] and gradient [N,H,W,C]. n = 1 is a plain lossAndGrad call.
 */
export function eotLossAndGrad(
  model: Classifier,
  x: Tensor4D,
  labels: Tensor1D,
  options: AttackGradientOptions,
  n: number,
): { loss: Tensor1D; grad: Tensor4D } {
  return eotMean(n, () => lossAndGrad(model, x, labels, options));
}
