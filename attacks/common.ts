import { tf, type Tensor, type Tensor1D, type Tensor4D } from '../src/engine/tf.js';
import { inputError } from '../src/engine/errors.js';
import type { Classifier } from '../src/models/classifier.js';
import { attackMargin, attackMarginTensor, attackSucceeded, rowHasNonFinite } from '../src/models/decision.js';
import type { AttackResult, TargetParams } from './types.js';

/** What an attack is trying to reach for each sample. */
export interface AttackGoal {
  targeted: boolean;
  /** True labels as given. */
  trueLabels: Int32Array;
  /** Labels the loss is computed against: the true labels, or the target classes when targeted. */
  lossLabels: Int32Array;
  /** Rows that cannot be attacked meaningfully (targeted with target == true label): left unchanged, never fooled. */
  skip: boolean[];
}

export function attackGoal(classifier: Classifier, y: Tensor1D, params: Partial<TargetParams>, where = 'params'): AttackGoal {
  const trueLabels = Int32Array.from(y.dataSync() as ArrayLike<number>);
  const classes = classifier.numClasses;
  const targeted = params.targeted === true;
  if (params.targetClass !== undefined && params.targetClass >= classes)
    throw inputError(`${where}.targetClass`, `class ${params.targetClass} does not exist in ${classifier.name}`, `integers 0..${classes - 1}`);
  const lossLabels = targeted
    ? trueLabels.map((l) => (params.targetClass !== undefined ? params.targetClass : (l + 1) % classes))
    : Int32Array.from(trueLabels);
  const skip = Array.from(trueLabels, (l, i) => targeted && lossLabels[i] === l);
  return { targeted, trueLabels, lossLabels, skip };
}

/** Per-row outcome of one forward pass, by the shared decision rule of src/models/decision.ts. */
export interface Score {
  fooled: boolean[];
  /**
   * Distance to success, never NaN (src/models/decision.ts attackMargin): untargeted z_y - max_{j!=y} z_j
   * (fooled iff <= 0), targeted max_{j!=t} z_j - z_t (fooled iff < 0). Attacks minimise it to pick the
   * worst case among candidates.
   */
  margin: Float64Array;
  /** Rows whose logits hold a NaN or an infinity. */
  nonFinite: boolean[];
}

/** Scores row-major logits [rows, classes] against per-row labels. */
export function scoreLogits(logits: ArrayLike<number>, classes: number, labels: ArrayLike<number>, targeted: boolean): Score {
  const rows = labels.length;
  const fooled = new Array<boolean>(rows);
  const nonFinite = new Array<boolean>(rows);
  const margin = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    margin[r] = attackMargin(logits, r, classes, labels[r], targeted);
    fooled[r] = attackSucceeded(margin[r], targeted);
    nonFinite[r] = rowHasNonFinite(logits, r, classes);
  }
  return { fooled, margin, nonFinite };
}

/** One forward pass and a small host read: the fooled mask and margins of `x` for `labels`. */
export function evaluate(classifier: Classifier, x: Tensor4D, labels: ArrayLike<number>, targeted: boolean, output: string): Score {
  if (x.shape[0] === 0) return { fooled: [], margin: new Float64Array(0), nonFinite: [] };
  const logits = classifier.logits(x, output);
  const values = logits.dataSync();
  logits.dispose();
  return scoreLogits(values, classifier.numClasses, labels, targeted);
}

/** Gathers rows of `t` at `positions` and disposes `t`. */
export function keepRows<T extends Tensor>(t: T, positions: readonly number[]): T {
  if (positions.length === t.shape[0] && positions.every((p, i) => p === i)) return t;
  const kept = tf.tidy(() => tf.gather(t, tf.tensor1d(Array.from(positions), 'int32')) as T);
  t.dispose();
  return kept;
}

/** Host copy of a batch of images; attacks write each sample's final adversarial example into it. */
export class RowStore {
  readonly data: Float32Array;
  readonly rowSize: number;
  constructor(private readonly x: Tensor4D) {
    this.data = Float32Array.from(x.dataSync() as Float32Array);
    this.rowSize = x.shape[1] * x.shape[2] * x.shape[3];
  }
  /** Writes rows `rows` of the batch from the tensor `t`, whose row k holds batch row rows[k]. */
  write(rows: readonly number[], t: Tensor4D, positions?: readonly number[]): void {
    if (rows.length === 0) return;
    const src = positions ? tf.tidy(() => tf.gather(t, tf.tensor1d(Array.from(positions), 'int32'))) : t;
    const values = src.dataSync() as Float32Array;
    if (src !== t) src.dispose();
    for (let k = 0; k < rows.length; k++)
      this.data.set(values.subarray(k * this.rowSize, (k + 1) * this.rowSize), rows[k] * this.rowSize);
  }
  writeHost(row: number, values: Float32Array): void {
    this.data.set(values, row * this.rowSize);
  }
  row(row: number): Float32Array {
    return this.data.subarray(row * this.rowSize, (row + 1) * this.rowSize);
  }
  toTensor(): Tensor4D {
    return tf.tensor4d(this.data, this.x.shape as [number, number, number, number], 'float32');
  }
}

/**
 * The outcome of adversarial images `xAdv` (kept by the caller in the result): fooled[i] by one forward pass
 * on `output` under the shared decision rule (src/models/decision.ts), false for skipped rows, and the rows
 * whose logits are not finite.
 */
export function outcome(classifier: Classifier, xAdv: Tensor4D, goal: AttackGoal, output: string): AttackResult {
  const score = evaluate(classifier, xAdv, goal.lossLabels, goal.targeted, output);
  return { xAdv, fooled: score.fooled.map((f, i) => f && !goal.skip[i]), nonFiniteLogits: score.nonFinite };
}

/** The final answer: fooled is decided by one forward pass on the returned images. */
export function finish(classifier: Classifier, store: RowStore, goal: AttackGoal, output: string): AttackResult {
  return outcome(classifier, store.toTensor(), goal, output);
}

/** eps = 0 (or nothing to attack): x unchanged, fooled from the clean prediction. */
export function unchanged(classifier: Classifier, x: Tensor4D, goal: AttackGoal, output: string): AttackResult {
  return outcome(classifier, tf.clone(x), goal, output);
}

/** Moved to attacks/threatModels.ts; re-exported for existing importers. */
export { checkEps } from './threatModels.js';

/** Indices i with pred(i) true. */
export function indicesWhere(n: number, pred: (i: number) => boolean): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (pred(i)) out.push(i);
  return out;
}

/** Int32 labels of the given batch rows as a tensor. */
export function labelTensor(labels: Int32Array, rows: readonly number[]): Tensor1D {
  return tf.tensor1d(Int32Array.from(rows, (r) => labels[r]), 'int32');
}

/** A tensor [rows, H, W, C] from per-row host values (row-major). */
export function hostRows(values: Float32Array, rows: number, shape: readonly number[]): Tensor4D {
  return tf.tensor4d(values, [rows, shape[1], shape[2], shape[3]], 'float32');
}

/**
 * Score.margin on device, [rows]: untargeted z_y - max_{j!=y} z_j, targeted max_{j!=t} z_j - z_t
 * (negative once the attack succeeds), for int32 `labels` [rows]; never NaN (src/models/decision.ts).
 */
export const marginTensor = attackMarginTensor;

/** Rows `rows` of x as a new tensor (x is kept). */
export function gatherRows(x: Tensor4D, rows: readonly number[]): Tensor4D {
  return tf.tidy(() => tf.gather(x, tf.tensor1d(Array.from(rows), 'int32')) as Tensor4D);
}

/**
 * Early stop: writes the rows of `cur` that already fool the model (per `fooled`, indexed like `rows`)
 * into the store as their final examples and marks their batch rows done. Returns the positions in
 * `rows` still to attack, or null when nothing was fooled (the caller keeps its tensors as they are).
 */
export function retireFooled(store: RowStore, cur: Tensor4D, rows: readonly number[], fooled: readonly boolean[], done: boolean[]): number[] | null {
  const fooledAt = indicesWhere(rows.length, (k) => fooled[k]);
  if (fooledAt.length === 0) return null;
  store.write(
    fooledAt.map((k) => rows[k]),
    cur,
    fooledAt,
  );
  for (const k of fooledAt) done[rows[k]] = true;
  return indicesWhere(rows.length, (k) => !fooled[k]);
}

/**
 * Keeps, per sample, the worst case over restarts: rows of `cur` that fool the model, or whose margin
 * is below the best so far, replace the stored example.
 */
export function keepWorstCase(store: RowStore, cur: Tensor4D, rows: readonly number[], score: Score, bestMargin: Float64Array, done: boolean[]): void {
  const better = indicesWhere(rows.length, (k) => score.fooled[k] || score.margin[k] < bestMargin[rows[k]]);
  store.write(
    better.map((k) => rows[k]),
    cur,
    better,
  );
  for (const k of better) {
    bestMargin[rows[k]] = score.margin[k];
    if (score.fooled[k]) done[rows[k]] = true;
  }
}

/** Attack.isTargeted of every attack with TargetParams. */
export function targetedParams(p: Partial<TargetParams>): boolean {
  return p.targeted === true;
}

/** The check every targeted-capable attack makes on its parsed parameters. */
export function checkTargetParams(p: Partial<TargetParams>, where: string): void {
  if (p.targetClass !== undefined && !p.targeted)
    throw inputError(`${where}.targetClass`, 'a target class needs targeted: true', 'targeted: true');
}

/**
 * Classes of each row of row-major logits [rows, classes] from the largest logit down; ties keep the lower
 * class first (the reference's torch sort leaves their order unspecified): ranked[r][k - 1] is the class of
 * rank k, as autopgd_base.py's and fab_pt.py's `output.sort()[1][:, -k]` (APGD-T's and FAB-T's targets).
 */
export function rankClasses(logits: ArrayLike<number>, classes: number): number[][] {
  const rows = logits.length / classes;
  return Array.from({ length: rows }, (_, r) =>
    Array.from({ length: classes }, (_, j) => j).sort((a, b) => logits[r * classes + b] - logits[r * classes + a] || a - b),
  );
}
