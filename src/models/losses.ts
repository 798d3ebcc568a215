import { tf, type Tensor1D, type Tensor2D } from '../engine/tf.js';
import type { LossKind } from './classifier.js';
import { oneHotFloat } from './feedbackLayers.js';

/** Per-sample cross entropy of integer labels, [N]. */
export function crossEntropy(logits: Tensor2D, labels: Tensor1D): Tensor1D {
  return tf.tidy(() => {
    const logProbs = tf.logSoftmax(logits);
    const picked = tf.sum(tf.mul(logProbs, oneHotFloat(labels, logits.shape[1])), 1);
    return tf.neg(picked) as Tensor1D;
  });
}

/** Per-sample C&W margin: the best other logit minus the label's logit, [N] (positive = misclassified). */
export function margin(logits: Tensor2D, labels: Tensor1D): Tensor1D {
  return tf.tidy(() => {
    const onLabel = oneHotFloat(labels, logits.shape[1]);
    const labelLogit = tf.sum(tf.mul(logits, onLabel), 1);
    // Push the label's own logit far down so the max picks the best other class.
    const others = tf.max(tf.sub(logits, tf.mul(onLabel, 1e9)), 1);
    return tf.sub(others, labelLogit) as Tensor1D;
  });
}

/**
 * The per-sample loss an attack ascends. Untargeted: ce(y) or margin(y). Targeted (labels are targets):
 * -ce(t) or -margin(t) = z_t - max_{j != t} z_j.
 */
export function attackLoss(logits: Tensor2D, labels: Tensor1D, loss: LossKind = 'ce', targeted = false): Tensor1D {
  const value = loss === 'ce' ? crossEntropy(logits, labels) : margin(logits, labels);
  return targeted ? (tf.neg(value) as Tensor1D) : value;
}
