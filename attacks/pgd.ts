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
  projectL2,
  projectLinf,
  RowStore,
  unchanged,
  retireFooled,
  keepWorstCase,
  checkTargetParams,
  targetedParams,
} from './common.js';
import { parseWithSchema, type ParamSchema } from './params.js';
import { l2RandomStart, linfRandomStart } from './random.js';
import type { Attack, AttackResult, AttackRunOptions, TargetParams, ThreatModel } from './types.js';

/**
 * Projected gradient descent (Madry et al. 2018), L-inf (signed gradient steps) and L2 (normalised
 * gradient steps). Step size defaults to 2.5 * eps / steps, the rule of Madry et al. that Foolbox 3
 * uses as rel_stepsize (so the iterate can cross the ball and come back within the budget).
 */
export interface PgdParams extends TargetParams {
  norm: ThreatModel;
  steps: number;
  /** Absolute step size in pixel units; overrides relStepSize. */
  stepSize?: number;
  /** Step size relative to eps; default 2.5 / steps. */
  relStepSize?: number;
  randomStart: boolean;
  /** Independent runs from fresh random starts; a sample counts fooled if any run fools it. */
  restarts: number;
  loss: LossKind;
  /** Stop iterating a sample (and keep its example) as soon as it is fooled. */
  earlyStop: boolean;
}

export const LOSS_KINDS: readonly LossKind[] = ['ce', 'margin'];

const schema: ParamSchema<PgdParams> = {
  norm: { kind: 'enum', values: ['linf', 'l2'] },
  steps: { kind: 'int', min: 1 },
  stepSize: { kind: 'number', min: 0, exclusiveMin: true, optional: true },
  relStepSize: { kind: 'number', min: 0, exclusiveMin: true, optional: true },
  randomStart: { kind: 'boolean' },
  restarts: { kind: 'int', min: 1 },
  loss: { kind: 'enum', values: LOSS_KINDS },
  targeted: { kind: 'boolean' },
  targetClass: { kind: 'int', min: 0, optional: true },
  earlyStop: { kind: 'boolean' },
};

export function stepSizeOf(params: { steps: number; stepSize?: number; relStepSize?: number }, eps: number): number {
  if (params.stepSize !== undefined) return params.stepSize;
  return (params.relStepSize ?? 2.5 / params.steps) * eps;
}

export function project(xAdv: Tensor4D, x: Tensor4D, eps: number, norm: ThreatModel): Tensor4D {
  return norm === 'linf' ? projectLinf(xAdv, x, eps) : projectL2(xAdv, x, eps);
}

async function runPgd(
  classifier: Classifier,
  x: Tensor4D,
  y: Tensor1D,
  eps: number,
  rng: KeyedRng,
  options: AttackRunOptions & { params: PgdParams },
): Promise<AttackResult> {
  const p = options.params;
  checkEps(eps, p.norm, x);
  const goal = attackGoal(classifier, y, p);
  const n = x.shape[0];
  if (eps === 0 || n === 0) return unchanged(classifier, x, goal, options.output);

  const store = new RowStore(x);
  const alpha = stepSizeOf(p, eps);
  const done = goal.skip.slice();
  const bestMargin = new Float64Array(n).fill(Infinity);
  const labelsOf = (rows: number[]) => rows.map((r) => goal.lossLabels[r]);

  if (p.earlyStop) {
    // Samples misclassified already (or already at the target) need no perturbation.
    const clean = evaluate(classifier, x, goal.lossLabels, goal.targeted, options.output);
    clean.fooled.forEach((f, i) => (done[i] ||= f));
  }

  for (let restart = 0; restart < p.restarts; restart++) {
    let rows = indicesWhere(n, (i) => !done[i]);
    if (rows.length === 0) break;
    let xs = gatherRows(x, rows);
    let ys = labelTensor(goal.lossLabels, rows);
    const startRng = rng.derive(`restart${restart}`).select(rows);
    let cur = p.randomStart
      ? p.norm === 'linf'
        ? linfRandomStart(xs, eps, startRng)
        : l2RandomStart(xs, eps, startRng)
      : tf.clone(xs);

    for (let step = 0; step < p.steps && rows.length > 0; step++) {
      const { loss, grad } = classifier.lossAndGrad(cur, ys, {
        path: options.path,
        output: options.output,
        loss: p.loss,
        targeted: goal.targeted,
      });
      const next = tf.tidy(() => {
        const moved = tf.add(cur, tf.mul(ascentDirection(grad, p.norm), alpha)) as Tensor4D;
        return project(moved, xs, eps, p.norm);
      });
      loss.dispose();
      grad.dispose();
      cur.dispose();
      cur = next;

      if (p.earlyStop) {
        const score = evaluate(classifier, cur, labelsOf(rows), goal.targeted, options.output);
        const keep = retireFooled(store, cur, rows, score.fooled, done);
        if (keep) {
          rows = keep.map((k) => rows[k]);
          cur = keepRows(cur, keep);
          xs = keepRows(xs, keep);
          ys = keepRows(ys, keep);
        }
      }
    }

    // Per-sample worst case over restarts: a fooled run wins; otherwise the lowest margin.
    const score = evaluate(classifier, cur, labelsOf(rows), goal.targeted, options.output);
    keepWorstCase(store, cur, rows, score, bestMargin, done);
    cur.dispose();
    xs.dispose();
    ys.dispose();
  }
  return finish(classifier, store, goal, options.output);
}

function makePgd(norm: ThreatModel): Attack<PgdParams> {
  const name = norm === 'linf' ? 'pgd' : 'pgd-l2';
  const defaults: PgdParams = {
    norm,
    steps: 20,
    stepSize: undefined,
    relStepSize: undefined,
    randomStart: true,
    restarts: 1,
    loss: 'ce',
    targeted: false,
    targetClass: undefined,
    earlyStop: true,
  };
  return {
    name,
    threatModel: norm,
    usesGradient: true,
    iterationParam: 'steps',
    isTargeted: targetedParams,
    // Each step: one input gradient, and one forward pass to retire fooled samples (earlyStop).
    cost: (p) => ({ gradients: p.steps * p.restarts, forwards: p.steps * p.restarts }),
    describe: `PGD ${norm === 'linf' ? 'L-inf (signed steps)' : 'L2 (normalised steps)'}, Madry et al. 2018: ${defaults.steps} steps of 2.5*eps/steps from a random start`,
    defaults,
    parseParams(raw: unknown, where: string): PgdParams {
      const p = parseWithSchema(raw, where, defaults, schema);
      if (p.norm !== norm)
        throw inputError(`${where}.norm`, `${name} is the ${norm} attack; use ${norm === 'linf' ? 'pgd-l2' : 'pgd'} for ${p.norm}`, norm);
      if (p.stepSize !== undefined && p.relStepSize !== undefined)
        throw inputError(where, 'give stepSize or relStepSize, not both', 'stepSize (absolute) or relStepSize (times eps)');
      if (p.restarts > 1 && !p.randomStart)
        throw inputError(`${where}.restarts`, 'restarts > 1 repeat the same run without randomStart', 'restarts: 1, or randomStart: true');
      checkTargetParams(p, where);
      return p;
    },
    run: runPgd,
  };
}

export const pgd = makePgd('linf');
export const pgdL2 = makePgd('l2');
