import { tf, type Tensor1D, type Tensor2D, type Tensor4D } from '../src/engine/tf.js';
import { inputError } from '../src/engine/errors.js';
import type { Classifier, LogitsRequest } from '../src/models/classifier.js';
import { attackLoss, type AttackLossName } from './losses.js';

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
 * its e2e fast paths) is what the gradient goes through.
 */
export function logitsLossAndGrad(
  model: { logitsFor(x: Tensor4D, request?: LogitsRequest): Tensor2D },
  x: Tensor4D,
  labels: Tensor1D,
  options: AttackGradientOptions,
): { loss: Tensor1D; grad: Tensor4D } {
  return tf.tidy(() => {
    const request = { output: options.output, path: options.path };
    // valueAndGrad of the per-sample loss with the default all-ones dy is the gradient of its sum.
    const { value, grad } = tf.valueAndGrad((xi: tf.Tensor) =>
      attackLoss(model.logitsFor(xi as Tensor4D, request), labels, options.loss ?? 'ce', options.targeted ?? false, options.trueLabels),
    )(x);
    return { loss: value as Tensor1D, grad: grad as Tensor4D };
  });
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
  if (typeof model.logitsFor === 'function') return logitsLossAndGrad(model as Required<Pick<Classifier, 'logitsFor'>>, x, labels, options);
  const loss = options.loss ?? 'ce';
  if (!SELF_COMPUTED_LOSSES.includes(loss))
    throw inputError(`model "${model.name}"`, `gives no differentiable logits, so no ${loss} loss gradient`, SELF_COMPUTED_LOSSES.join(', '));
  return model.lossAndGrad(x, labels, options);
}
