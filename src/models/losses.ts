import { tf, type Tensor, type Tensor1D, type Tensor2D } from '../engine/tf.js';
import type { LossKind } from './classifier.js';

/*
 * Losses on logits [N, classes] with int32 labels [N], returning per-sample values [N]. They are exact at
 * any logit scale: the label's entry is picked and hidden with tf.where (never by multiplying a one-hot
 * mask, where 0 * Infinity is NaN, nor by subtracting a large constant, which a logit gap larger than the
 * constant defeats: with the label hidden by subtracting 1e9, logits scaled by 1e10 gave a margin of -1e9
 * instead of -1e10). Gradients flow only through the entries picked, so they carry no 0 * Infinity either.
 */

/** Boolean mask [N, classes]: true at each row's label. */
function labelMask(labels: Tensor1D, classes: number): Tensor {
  return tf.cast(tf.oneHot(tf.cast(labels, 'int32'), classes), 'bool');
}

/** Row-wise values[i, labels[i]], [N]; the gradient goes to that entry only. */
function pick(values: Tensor2D, isLabel: Tensor): Tensor1D {
  return tf.sum(tf.where(isLabel, values, tf.zerosLike(values)), 1) as Tensor1D;
}

/**
 * Per-sample cross entropy of integer labels, [N]: logsumexp(z) - z_y, computed by tf.logSoftmax (which
 * subtracts the row maximum first, so it is exact for finite logits of any magnitude, e.g. 2e12 for
 * z = [3e12, 1e12] and y = 1). Its gradient is softmax(z) - onehot(y).
 */
export function crossEntropy(logits: Tensor2D, labels: Tensor1D): Tensor1D {
  return tf.tidy(() => tf.neg(pick(tf.logSoftmax(logits) as Tensor2D, labelMask(labels, logits.shape[1]))) as Tensor1D);
}

/**
 * Per-sample C&W margin (Carlini & Wagner 2017): max_{j != y} z_j - z_y, [N] (positive = misclassified).
 * The maximum over the other classes is taken with the label's entry set to -Infinity; its gradient is
 * onehot(j*) - onehot(y) for the first maximising other class j* (one subgradient, also at ties, where
 * tf.max's own gradient would give every tied entry a full unit). With a single class it is -Infinity.
 */
export function margin(logits: Tensor2D, labels: Tensor1D): Tensor1D {
  return tf.tidy(() => {
    const isLabel = labelMask(labels, logits.shape[1]);
    const others = tf.where(isLabel, tf.fill(logits.shape, -Infinity), logits) as Tensor2D;
    // The maximising other class, as a mask; picking from `others` (not `logits`) keeps -Infinity when every
    // other entry is -Infinity. tf.argMax skips NaN, so a row holding a NaN is made NaN explicitly.
    const best = tf.cast(tf.oneHot(tf.argMax(others, 1), logits.shape[1]), 'bool');
    // Adds 0 per row, or NaN for a row holding a NaN (never an infinity, so never Infinity - Infinity).
    const nanOf = tf.sum(tf.where(tf.isNaN(others), others, tf.zerosLike(others)), 1);
    const zOther = tf.add(pick(others, best), nanOf) as Tensor1D;
    return tf.sub(zOther, pick(logits, isLabel)) as Tensor1D;
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
