import { tf, type Tensor4D } from '../src/engine/tf.js';
import { inputError } from '../src/engine/errors.js';
import { gatherRows, indicesWhere, keepRows, retireFooled, keepWorstCase } from './common.js';
import { defineAttack, type AttackContext } from './define.js';
import { LOSS_KINDS, type AttackLossName } from './losses.js';
import { ascentStep, project, randomStart } from './norms.js';
import type { ParamSchema } from './params.js';
import type { Attack, TargetParams, ThreatModel } from './types.js';

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
  loss: AttackLossName;
  /** Stop iterating a sample (and keep its example) as soon as it is fooled. */
  earlyStop: boolean;
}

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

/** PGD's step size in pixel units for radius eps: stepSize, else relStepSize * eps, else 2.5 * eps / steps. */
export function stepSizeOf(params: { steps: number; stepSize?: number; relStepSize?: number }, eps: number): number {
  if (params.stepSize !== undefined) return params.stepSize;
  return (params.relStepSize ?? 2.5 / params.steps) * eps;
}

async function perturbPgd(ctx: AttackContext<PgdParams>): Promise<void> {
  const { x, eps, rng, goal, store, params: p } = ctx;
  const n = x.shape[0];
  const alpha = stepSizeOf(p, eps);
  const done = goal.skip.slice();
  const bestMargin = new Float64Array(n).fill(Infinity);

  if (p.earlyStop) {
    // Samples misclassified already (or already at the target) need no perturbation.
    const clean = ctx.evaluate(x);
    clean.fooled.forEach((f, i) => (done[i] ||= f));
  }

  for (let restart = 0; restart < p.restarts; restart++) {
    let rows = indicesWhere(n, (i) => !done[i]);
    if (rows.length === 0) break;
    let xs = gatherRows(x, rows);
    const startRng = rng.derive(`restart${restart}`).select(rows);
    let cur = p.randomStart ? randomStart(p.norm, xs, eps, startRng) : tf.clone(xs);

    for (let step = 0; step < p.steps && rows.length > 0; step++) {
      let grad: Tensor4D;
      if (p.earlyStop && step > 0) {
        // The iterate of the previous step is scored by the pass that takes its gradient (one forward pass
        // fewer per step where the path's logits are the predictions); rows it fools retire with it. The
        // random start itself is not scored, only the iterates after each step.
        const probe = ctx.lossGradAndScore(cur, rows, p.loss);
        probe.loss.dispose();
        grad = probe.grad;
        const keep = retireFooled(store, cur, rows, probe.score.fooled, done);
        if (keep) {
          rows = keep.map((k) => rows[k]);
          cur = keepRows(cur, keep);
          xs = keepRows(xs, keep);
          grad = keepRows(grad, keep);
        }
        if (rows.length === 0) {
          grad.dispose();
          break;
        }
      } else {
        const probe = ctx.lossAndGrad(cur, rows, p.loss);
        probe.loss.dispose();
        grad = probe.grad;
      }
      const next = tf.tidy(() => project(ascentStep(cur, grad, alpha, p.norm), xs, eps, p.norm));
      grad.dispose();
      cur.dispose();
      cur = next;
    }

    // Per-sample worst case over restarts: a fooled run wins; otherwise the lowest margin.
    const score = ctx.evaluate(cur, rows);
    keepWorstCase(store, cur, rows, score, bestMargin, done);
    cur.dispose();
    xs.dispose();
  }
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
  return defineAttack<PgdParams>({
    name,
    kind: 'fixed-epsilon',
    threatModel: norm,
    usesGradient: true,
    iterationParam: 'steps',
    repeatParams: ['restarts'],
    // Each step: one input gradient, and one forward pass to retire fooled samples (earlyStop).
    cost: (p) => ({ gradients: p.steps * p.restarts, forwards: p.steps * p.restarts }),
    describe: `PGD ${norm === 'linf' ? 'L-inf (signed steps)' : 'L2 (normalised steps)'}, Madry et al. 2018: ${defaults.steps} steps of 2.5*eps/steps from a random start`,
    defaults,
    schema,
    check(p, where) {
      if (p.norm !== norm)
        throw inputError(`${where}.norm`, `${name} is the ${norm} attack; use ${norm === 'linf' ? 'pgd-l2' : 'pgd'} for ${p.norm}`, norm);
      if (p.stepSize !== undefined && p.relStepSize !== undefined)
        throw inputError(where, 'give stepSize or relStepSize, not both', 'stepSize (absolute) or relStepSize (times eps)');
      if (p.restarts > 1 && !p.randomStart)
        throw inputError(`${where}.restarts`, 'restarts > 1 repeat the same run without randomStart', 'restarts: 1, or randomStart: true');
    },
    perturb: perturbPgd,
  });
}

export const pgd = makePgd('linf');
export const pgdL2 = makePgd('l2');
