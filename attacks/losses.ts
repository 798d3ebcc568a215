import { tf, type Tensor, type Tensor1D, type Tensor2D } from '../src/engine/tf.js';
import { inputError } from '../src/engine/errors.js';

/*
 * The losses attacks ascend, computed by the attacks on a model's differentiable logits (attacks/gradients.ts),
 * so a new loss needs no change to any model. Training's cross entropy is the same function.
 *
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
 * Row-wise sum of the NaN entries of `values` [N, classes]: 0 for a row without NaN, NaN otherwise (never an
 * infinity), so adding it makes a row holding a NaN NaN (tf.argMax skips NaN, so a pick alone would not).
 */
function nanOf(values: Tensor2D): Tensor1D {
  return tf.sum(tf.where(tf.isNaN(values), values, tf.zerosLike(values)), 1) as Tensor1D;
}

/**
 * The k largest entries of each row of `logits` [N, classes], [N] each, largest first (z_pi1 >= z_pi2 >= ...):
 * the row maximum is picked by its first index (tf.argMax), hidden with -Infinity, and so on, so each value
 * is one entry of `logits` (gradient to that entry only, as margin; at ties the lowest index, one
 * subgradient). Needs k <= classes.
 */
function largest(logits: Tensor2D, k: number): Tensor1D[] {
  const out: Tensor1D[] = [];
  let rest: Tensor2D = logits;
  for (let i = 0; i < k; i++) {
    const top = tf.cast(tf.oneHot(tf.argMax(rest, 1), logits.shape[1]), 'bool');
    out.push(pick(logits, top));
    rest = tf.where(top, tf.fill(logits.shape, -Infinity), rest) as Tensor2D;
  }
  return out;
}

function checkClasses(name: string, logits: Tensor2D, needed: number): void {
  if (logits.shape[1] < needed)
    throw inputError(`loss ${name}`, `needs logits of at least ${needed} classes, the model has ${logits.shape[1]}`, `models with >= ${needed} classes`);
}

/**
 * Per-sample Difference of Logits Ratio (Croce & Hein, ICML 2020, eq. 6), [N]:
 *   DLR(z, y) = -(z_y - max_{j != y} z_j) / (z_pi1 - z_pi3 + 1e-12),
 * z_pi1 >= z_pi2 >= z_pi3 the sorted logits (AutoAttack's autopgd_base.py dlr_loss, in its float order).
 * Positive once the sample is misclassified; invariant to shifting and (up to the 1e-12) scaling the
 * logits, so it is exact at any logit scale (e.g. the same value at 1 and 1e12). The maximum over j != y
 * hides the label with -Infinity as margin does; a row holding a NaN gives NaN. Needs >= 3 classes
 * (InputError otherwise).
 */
export function dlr(logits: Tensor2D, labels: Tensor1D): Tensor1D {
  checkClasses('dlr', logits, 3);
  return tf.tidy(() => {
    const [z1, , z3] = largest(logits, 3);
    // margin(z, y) = max_{j != y} z_j - z_y = -(z_y - max_{j != y} z_j): the numerator with its sign.
    const numerator = margin(logits, labels);
    return tf.add(tf.div(numerator, tf.add(tf.sub(z1, z3), 1e-12)), nanOf(logits)) as Tensor1D;
  });
}

/**
 * Per-sample targeted DLR (Croce & Hein 2020, eq. 7), [N], which a targeted attack ascends:
 *   -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12)
 * for true labels y and targets t (AutoAttack's autopgd_base.py dlr_loss_targeted, in its float order).
 * Exact at any logit scale like dlr; a row holding a NaN gives NaN. Needs >= 4 classes (InputError).
 */
export function targetedDlr(logits: Tensor2D, trueLabels: Tensor1D, targets: Tensor1D): Tensor1D {
  checkClasses('dlr (targeted)', logits, 4);
  return tf.tidy(() => {
    const classes = logits.shape[1];
    const [z1, , z3, z4] = largest(logits, 4);
    const zy = pick(logits, labelMask(trueLabels, classes));
    const zt = pick(logits, labelMask(targets, classes));
    const denominator = tf.add(tf.sub(z1, tf.div(tf.add(z3, z4), 2)), 1e-12);
    return tf.add(tf.div(tf.neg(tf.sub(zy, zt)), denominator), nanOf(logits)) as Tensor1D;
  });
}

/**
 * Per-sample logit difference z_t - z_y, [N], for int32 targets t [N] and labels y [N] (the function whose zero
 * set is the decision boundary between y and t, linearised by FAB: Croce & Hein, ICML 2020; AutoAttack's
 * fab_pt.py get_diff_logits_grads_batch_targeted differentiates the same value). Each logit is picked with a
 * mask (exact at any logit scale, gradient to the two entries only); 0 when t = y.
 */
export function logitDifference(logits: Tensor2D, labels: Tensor1D, targets: Tensor1D): Tensor1D {
  return tf.tidy(() => {
    const classes = logits.shape[1];
    return tf.sub(pick(logits, labelMask(targets, classes)), pick(logits, labelMask(labels, classes))) as Tensor1D;
  });
}

/**
 * The losses an attack can ascend, by name: `ce` (cross entropy), `margin` (C&W), `dlr` (Difference of Logits
 * Ratio; targeted: the targeted DLR).
 */
export const ATTACK_LOSSES = ['ce', 'margin', 'dlr'] as const;
export type AttackLossName = (typeof ATTACK_LOSSES)[number];

/**
 * The losses FGSM, PGD and APGD-CE offer in their `loss` parameter. DLR is in ATTACK_LOSSES for attacks
 * that declare it (an APGD-DLR); these three keep their published losses.
 */
export const LOSS_KINDS: readonly AttackLossName[] = ['ce', 'margin'];

/**
 * The per-sample loss [N] an attack ascends on logits [N, classes]. Untargeted (labels are the true labels):
 * ce(y), margin(y) or dlr(y). Targeted (labels are the target classes t): -ce(t), -margin(t) =
 * z_t - max_{j != t} z_j, or targetedDlr(y, t), which needs the true labels `trueLabels` as well
 * (InputError without them).
 */
export function attackLoss(
  logits: Tensor2D,
  labels: Tensor1D,
  loss: AttackLossName = 'ce',
  targeted = false,
  trueLabels?: Tensor1D,
): Tensor1D {
  if (loss === 'dlr') {
    if (!targeted) return dlr(logits, labels);
    if (!trueLabels) throw inputError('loss dlr', 'the targeted DLR needs the true labels besides the targets', 'trueLabels given');
    return targetedDlr(logits, trueLabels, labels);
  }
  const value = loss === 'ce' ? crossEntropy(logits, labels) : margin(logits, labels);
  return targeted ? (tf.neg(value) as Tensor1D) : value;
}
