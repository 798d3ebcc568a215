import { tf, type Tensor1D, type Tensor4D } from '../src/engine/tf.js';
import { inputError } from '../src/engine/errors.js';
import type { KeyedRng } from '../src/engine/rng.js';
import type { Classifier, LossKind } from '../src/models/classifier.js';
import {
  ascentDirection,
  attackGoal,
  checkEps,
  gatherRows,
  evaluate,
  finish,
  indicesWhere,
  keepRows,
  labelTensor,
  projectLinf,
  RowStore,
  scoreLogits,
  unchanged,
  retireFooled,
  keepWorstCase,
  checkTargetParams,
} from './common.js';
import { parseWithSchema, type ParamSchema } from './params.js';
import { LOSS_KINDS } from './pgd.js';
import { linfRandomStart } from './random.js';
import type { Attack, AttackResult, AttackRunOptions, TargetParams } from './types.js';

/**
 * APGD (Croce & Hein, ICML 2020, "Reliable evaluation of adversarial robustness with an ensemble of
 * diverse parameter-free attacks", Algorithm 1), L-inf:
 * - initial step size eta = 2 eps, first step without momentum;
 * - z = P(x_k + eta sign(g)), x_{k+1} = P(x_k + alpha (z - x_k) + (1 - alpha)(x_k - x_{k-1})), alpha = 0.75;
 * - checkpoints w_j = ceil(p_j N) with p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06);
 * - at a checkpoint the step size is halved and the iterate restarts from the best point when
 *   (1) fewer than rho (w_j - w_{j-1}) of the steps since the last checkpoint increased the loss
 *   (rho = 0.75), or (2) the step size was not reduced at the last checkpoint and the best loss has
 *   not improved since.
 * Like AutoAttack, the start is uniform in the eps ball, and a sample is done once an iterate fools it.
 * A sample never fooled returns its highest-loss point.
 */
export interface ApgdParams extends TargetParams {
  steps: number;
  restarts: number;
  randomStart: boolean;
  loss: LossKind;
  /** Momentum weight alpha of the paper. */
  momentum: number;
  /** Fraction of loss-increasing steps below which the step size is halved. */
  rho: number;
}

const defaults: ApgdParams = {
  steps: 100,
  restarts: 1,
  randomStart: true,
  loss: 'ce',
  momentum: 0.75,
  rho: 0.75,
  targeted: false,
  targetClass: undefined,
};

const schema: ParamSchema<ApgdParams> = {
  steps: { kind: 'int', min: 1 },
  restarts: { kind: 'int', min: 1 },
  randomStart: { kind: 'boolean' },
  loss: { kind: 'enum', values: LOSS_KINDS },
  momentum: { kind: 'number', min: 0, max: 1, exclusiveMin: true },
  rho: { kind: 'number', min: 0, max: 1 },
  targeted: { kind: 'boolean' },
  targetClass: { kind: 'int', min: 0, optional: true },
};

/** Iteration counts after which the step-size conditions are checked (w_1, w_2, ... < = steps). */
export function apgdCheckpoints(steps: number): number[] {
  const out: number[] = [];
  let before = 0;
  let p = 0.22;
  while (p <= 1) {
    // The 1e-9 keeps ceil from rounding 0.41 * 100 = 41.000000000000004 up to 42.
    const w = Math.ceil(p * steps - 1e-9);
    if (w > 0 && (out.length === 0 || w > out[out.length - 1])) out.push(w);
    const next = p + Math.max(p - before - 0.03, 0.06);
    before = p;
    p = next;
  }
  return out;
}

/** Per-sample host state of one APGD run; positions follow the active rows. */
interface HostState {
  eta: Float32Array;
  lossPrev: Float64Array;
  lossBest: Float64Array;
  lossBestAtCheck: Float64Array;
  successes: Int32Array;
  reducedAtCheck: boolean[];
}

function filterState(s: HostState, keep: number[]): HostState {
  return {
    eta: Float32Array.from(keep, (k) => s.eta[k]),
    lossPrev: Float64Array.from(keep, (k) => s.lossPrev[k]),
    lossBest: Float64Array.from(keep, (k) => s.lossBest[k]),
    lossBestAtCheck: Float64Array.from(keep, (k) => s.lossBestAtCheck[k]),
    successes: Int32Array.from(keep, (k) => s.successes[k]),
    reducedAtCheck: keep.map((k) => s.reducedAtCheck[k]),
  };
}

function rowMask(flags: ArrayLike<boolean | number>): Tensor4D {
  return tf.tensor4d(Float32Array.from(flags as ArrayLike<number>, (f) => (f ? 1 : 0)), [flags.length, 1, 1, 1]);
}

async function runApgd(
  classifier: Classifier,
  x: Tensor4D,
  y: Tensor1D,
  eps: number,
  rng: KeyedRng,
  options: AttackRunOptions & { params: ApgdParams },
): Promise<AttackResult> {
  checkEps(eps);
  const p = options.params;
  const goal = attackGoal(classifier, y, p);
  const n = x.shape[0];
  if (eps === 0 || n === 0) return unchanged(classifier, x, goal, options.output);

  const store = new RowStore(x);
  const checkpoints = apgdCheckpoints(p.steps);
  const done = goal.skip.slice();
  const bestMargin = new Float64Array(n).fill(Infinity);
  const labelsOf = (rows: number[]) => rows.map((r) => goal.lossLabels[r]);
  const classes = classifier.numClasses;

  const clean = evaluate(classifier, x, goal.lossLabels, goal.targeted, options.output);
  clean.fooled.forEach((f, i) => (done[i] ||= f));

  for (let restart = 0; restart < p.restarts; restart++) {
    let rows = indicesWhere(n, (i) => !done[i]);
    if (rows.length === 0) break;
    let xs = gatherRows(x, rows);
    let ys = labelTensor(goal.lossLabels, rows);
    let cur = p.randomStart ? linfRandomStart(xs, eps, rng.derive(`restart${restart}`).select(rows)) : tf.clone(xs);

    /** Loss and gradient at `cur`, plus the fooled mask, in one host read. */
    const probe = (): { grad: Tensor4D; f: Float64Array; fooled: boolean[] } => {
      const { loss, grad } = classifier.lossAndGrad(cur, ys, {
        path: options.path,
        output: options.output,
        loss: p.loss,
        targeted: goal.targeted,
      });
      const logits = classifier.logits(cur, options.output);
      const packed = tf.tidy(() => tf.concat([logits, tf.reshape(loss, [-1, 1])], 1));
      const values = packed.dataSync();
      tf.dispose([loss, logits, packed]);
      const width = classes + 1;
      const m = rows.length;
      const logitValues = new Float32Array(m * classes);
      const f = new Float64Array(m);
      for (let k = 0; k < m; k++) {
        logitValues.set(values.subarray(k * width, k * width + classes), k * classes);
        // A NaN loss (NaN or overflowing logits) ranks below every other value: never the best point.
        const v = values[k * width + classes];
        f[k] = Number.isNaN(v) ? -Infinity : v;
      }
      const score = scoreLogits(logitValues, classes, labelsOf(rows), goal.targeted);
      return { grad, f, fooled: score.fooled };
    };

    let { grad, f, fooled } = probe();
    let prev = tf.clone(cur);
    let xBest = tf.clone(cur);
    let gradBest = tf.clone(grad);
    let state: HostState = {
      eta: new Float32Array(rows.length).fill(2 * eps),
      lossPrev: Float64Array.from(f),
      lossBest: Float64Array.from(f),
      lossBestAtCheck: Float64Array.from(f),
      successes: new Int32Array(rows.length),
      reducedAtCheck: new Array<boolean>(rows.length).fill(false),
    };

    /** Retires fooled samples with the iterate that fooled them. */
    const retire = () => {
      const keep = retireFooled(store, cur, rows, fooled, done);
      if (!keep) return;
      rows = keep.map((k) => rows[k]);
      [xs, cur, prev, xBest, gradBest, grad] = [xs, cur, prev, xBest, gradBest, grad].map((t) => keepRows(t, keep));
      ys = keepRows(ys, keep);
      f = Float64Array.from(keep, (k) => f[k]);
      state = filterState(state, keep);
    };
    retire();

    let nextCheck = 0;
    let lastCheckAt = 0;
    for (let k = 0; k < p.steps && rows.length > 0; k++) {
      const eta = tf.tensor4d(state.eta, [rows.length, 1, 1, 1]);
      const next = tf.tidy(() => {
        const z = projectLinf(tf.add(cur, tf.mul(ascentDirection(grad, 'linf'), eta)) as Tensor4D, xs, eps);
        if (k === 0) return z;
        const a = p.momentum;
        const moved = tf.add(tf.add(cur, tf.mul(tf.sub(z, cur), a)), tf.mul(tf.sub(cur, prev), 1 - a)) as Tensor4D;
        return projectLinf(moved, xs, eps);
      });
      eta.dispose();
      prev.dispose();
      grad.dispose();
      prev = cur;
      cur = next;
      ({ grad, f, fooled } = probe());
      retire();
      if (rows.length === 0) break;

      const improved = new Array<boolean>(rows.length);
      for (let i = 0; i < rows.length; i++) {
        if (f[i] > state.lossPrev[i]) state.successes[i]++;
        state.lossPrev[i] = f[i];
        improved[i] = f[i] > state.lossBest[i];
        if (improved[i]) state.lossBest[i] = f[i];
      }
      if (improved.some(Boolean)) {
        const mask = rowMask(improved);
        const nb = tf.tidy(() => tf.where(tf.cast(mask, 'bool'), cur, xBest) as Tensor4D);
        const ng = tf.tidy(() => tf.where(tf.cast(mask, 'bool'), grad, gradBest) as Tensor4D);
        tf.dispose([mask, xBest, gradBest]);
        xBest = nb;
        gradBest = ng;
      }

      if (nextCheck < checkpoints.length && k + 1 === checkpoints[nextCheck]) {
        const span = checkpoints[nextCheck] - lastCheckAt;
        const halve = new Array<boolean>(rows.length);
        for (let i = 0; i < rows.length; i++) {
          const fewSuccesses = state.successes[i] < p.rho * span;
          const stalled = !state.reducedAtCheck[i] && state.lossBest[i] <= state.lossBestAtCheck[i];
          halve[i] = fewSuccesses || stalled;
          if (halve[i]) {
            state.eta[i] /= 2;
            state.lossPrev[i] = state.lossBest[i];
          }
          state.reducedAtCheck[i] = halve[i];
          state.lossBestAtCheck[i] = state.lossBest[i];
          state.successes[i] = 0;
        }
        if (halve.some(Boolean)) {
          const mask = rowMask(halve);
          const nc = tf.tidy(() => tf.where(tf.cast(mask, 'bool'), xBest, cur) as Tensor4D);
          const ng = tf.tidy(() => tf.where(tf.cast(mask, 'bool'), gradBest, grad) as Tensor4D);
          tf.dispose([mask, cur, grad]);
          cur = nc;
          grad = ng;
        }
        lastCheckAt = checkpoints[nextCheck];
        nextCheck++;
      }
    }

    // Samples never fooled in this run: their best-loss point, kept if it is the worst case so far.
    const score = evaluate(classifier, xBest, labelsOf(rows), goal.targeted, options.output);
    keepWorstCase(store, xBest, rows, score, bestMargin, done);
    tf.dispose([xs, ys, cur, prev, xBest, gradBest, grad]);
  }
  return finish(classifier, store, goal, options.output);
}

export const apgdCe: Attack<ApgdParams> = {
  name: 'apgd-ce',
  threatModel: 'linf',
  usesGradient: true,
  describe: 'APGD-CE, Croce & Hein 2020 (AutoAttack): step-size-free PGD with momentum, 100 iterations',
  defaults,
  parseParams(raw: unknown, where: string): ApgdParams {
    const p = parseWithSchema(raw, where, defaults, schema);
    if (p.restarts > 1 && !p.randomStart)
      throw inputError(`${where}.restarts`, 'restarts > 1 repeat the same run without randomStart', 'restarts: 1, or randomStart: true');
    checkTargetParams(p, where);
    return p;
  },
  run: runApgd,
};
