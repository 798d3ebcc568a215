import { tf, type Tensor1D, type Tensor2D } from '../engine/tf.js';

/**
 * The one decision rule of the benchmark, used by clean accuracy, attacks (success, early stop, the
 * choice among candidates), robust accuracy and the example panels alike. On logits z [classes]:
 *
 * - The margin of class c is z_c - max_{j != c} z_j, in the extended reals: a difference of two
 *   infinities of the same sign (a tie at +-Infinity) counts as 0, a tie like any other; a row holding a
 *   NaN has no margin (NaN).
 * - The prediction is the class whose margin is > 0: the class whose logit is strictly greater than every
 *   other. A row with a NaN logit, or whose largest value is shared by two classes (any tie, +Infinity =
 *   +Infinity included), has no prediction (NO_PREDICTION): a model that cannot rank the top class has
 *   not answered. Unlike tf.argMax (lowest index wins a tie, NaN skipped), no class is favoured by its
 *   index. Finite logits of a trained model essentially never tie, so clean accuracy is the usual one.
 * - A sample is classified correctly iff the prediction equals its label; so a row without a prediction
 *   is misclassified (a model cannot gain robust accuracy by emitting NaN or saturating), and a
 *   targeted attack reaches its target iff the prediction equals the target.
 *
 * Attacks rank candidates by the distance to success (see attackMargin): it is never NaN.
 */
export const NO_PREDICTION = -1;

/** z_label - max_{j != label} z_j of row `row` of row-major logits, extended reals, ties at infinity = 0, NaN row = NaN. */
export function labelMargin(logits: ArrayLike<number>, row: number, classes: number, label: number): number {
  const base = row * classes;
  let other = -Infinity;
  let nan = false;
  for (let j = 0; j < classes; j++) {
    const z = logits[base + j];
    if (Number.isNaN(z)) nan = true;
    else if (j !== label && z > other) other = z;
  }
  if (nan) return NaN;
  const d = logits[base + label] - other;
  return Number.isNaN(d) ? 0 : d;
}

/** The predicted class of each row of row-major logits [rows, classes], NO_PREDICTION for a NaN row or a tie at the top. */
export function predictClasses(logits: ArrayLike<number>, classes: number): Int32Array {
  const rows = classes === 0 ? 0 : Math.floor(logits.length / classes);
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const base = r * classes;
    let top = 0;
    for (let j = 1; j < classes; j++) if (logits[base + j] > logits[base + top] || Number.isNaN(logits[base + top])) top = j;
    out[r] = labelMargin(logits, r, classes, top) > 0 ? top : NO_PREDICTION;
  }
  return out;
}

/** Whether row `row` holds a NaN or an infinite logit. */
export function rowHasNonFinite(logits: ArrayLike<number>, row: number, classes: number): boolean {
  for (let j = row * classes; j < (row + 1) * classes; j++) if (!Number.isFinite(logits[j])) return true;
  return false;
}

/**
 * An attack's distance to success for one row, never NaN (attacks minimise it):
 * untargeted labelMargin(y), success iff <= 0; targeted -labelMargin(t), success iff < 0. A NaN row is
 * -Infinity untargeted (the sample is misclassified: success) and +Infinity targeted (no prediction,
 * so not the target: as far from success as possible).
 */
export function attackMargin(logits: ArrayLike<number>, row: number, classes: number, label: number, targeted: boolean): number {
  const m = labelMargin(logits, row, classes, label);
  if (Number.isNaN(m)) return targeted ? Infinity : -Infinity;
  return targeted ? -m : m;
}

/** Success of an attack on a row from its attackMargin: untargeted m <= 0 (not correct), targeted m < 0 (the target predicted). */
export function attackSucceeded(margin: number, targeted: boolean): boolean {
  return targeted ? margin < 0 : margin <= 0;
}

/**
 * attackMargin on device for logits [N, classes] and int32 labels [N]: [N], the same numbers as the host
 * version (up to float32 rounding of the difference). For scoring only; the differentiable loss is
 * attacks/losses.ts margin.
 */
export function attackMarginTensor(logits: Tensor2D, labels: Tensor1D, targeted: boolean): Tensor1D {
  return tf.tidy(() => {
    const isLabel = tf.cast(tf.oneHot(tf.cast(labels, 'int32'), logits.shape[1]), 'bool');
    const zLabel = tf.sum(tf.where(isLabel, logits, tf.zerosLike(logits)), 1);
    const zOther = tf.max(tf.where(isLabel, tf.fill(logits.shape, -Infinity), logits), 1);
    const raw = tf.sub(zLabel, zOther);
    // Inf - Inf is a tie (0); a row holding a NaN logit is decided below.
    const m = tf.where(tf.isNaN(raw), tf.zerosLike(raw), raw);
    const nanRow = tf.any(tf.isNaN(logits), 1);
    const signed = targeted ? tf.neg(m) : m;
    return tf.where(nanRow, tf.fill([logits.shape[0]], targeted ? Infinity : -Infinity), signed) as Tensor1D;
  });
}
