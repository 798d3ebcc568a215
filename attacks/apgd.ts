import { inputError } from '../src/engine/errors.js';
import { apgdRun, apgdStart } from './apgdCore.js';
import { defineAttack, type AttackContext } from './define.js';
import { LOSS_KINDS, type AttackLossName } from './losses.js';
import type { ParamSchema } from './params.js';
import type { TargetParams } from './types.js';

/**
 * APGD (Croce & Hein, ICML 2020, "Reliable evaluation of adversarial robustness with an ensemble of
 * diverse parameter-free attacks", Algorithm 1), L-inf:
 * - initial step size eta = 2 eps, first step without momentum;
 * - z = P(x_k + eta sign(g)), x_{k+1} = P(x_k + alpha (z - x_k) + (1 - alpha)(x_k - x_{k-1})), alpha = 0.75;
 * - checkpoints after windows of int(0.22 N), then 3% of N shorter each, at least 6% of N (the reference's
 *   integer form of the paper's p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06); see apgdCheckpoints);
 * - at a checkpoint the step size is halved and the iterate restarts from the best point when
 *   (1) at most rho (w_j - w_{j-1}) of the steps since the last checkpoint increased the loss
 *   (rho = 0.75; the reference's <=, see apgdOscillates), or (2) the step size was not reduced at the
 *   last checkpoint and the best loss has not improved since (as the paper; the reference starts with
 *   "reduced", so there (2) is off at the first checkpoint).
 * Like AutoAttack, the start is uniform in the eps ball, and a sample is done once an iterate fools it.
 * A sample never fooled returns its highest-loss point.
 */
export interface ApgdParams extends TargetParams {
  steps: number;
  restarts: number;
  randomStart: boolean;
  loss: AttackLossName;
  /** Momentum weight alpha of the paper. */
  momentum: number;
  /** Fraction of loss-increasing steps below which the step size is halved. */
  rho: number;
}

export const apgdDefaults: ApgdParams = {
  steps: 100,
  restarts: 1,
  randomStart: true,
  loss: 'ce',
  momentum: 0.75,
  rho: 0.75,
  targeted: false,
  targetClass: undefined,
};

export const apgdSchema: ParamSchema<ApgdParams> = {
  steps: { kind: 'int', min: 1 },
  restarts: { kind: 'int', min: 1 },
  randomStart: { kind: 'boolean' },
  loss: { kind: 'enum', values: LOSS_KINDS },
  momentum: { kind: 'number', min: 0, max: 1, exclusiveMin: true },
  rho: { kind: 'number', min: 0, max: 1 },
  targeted: { kind: 'boolean' },
  targetClass: { kind: 'int', min: 0, optional: true },
};

/** Moved to attacks/apgdCore.ts (shared with apgd-dlr and apgd-t); re-exported for existing importers. */
export { apgdCheckpoints, apgdOscillates } from './apgdCore.js';

/**
 * APGD's restarts on one batch (apgd-ce, apgd-dlr): the clean check, then up to `restarts` runs of
 * attacks/apgdCore.ts apgdRun, each on the rows no earlier run fooled, from its own random start (key
 * `restart<i>`); per sample the first fooling iterate, or the lowest-margin best-loss point over the runs.
 */
export function perturbApgdRestarts(ctx: AttackContext<unknown>, p: Omit<ApgdParams, keyof TargetParams>): void {
  const shared = apgdStart(ctx);
  for (let restart = 0; restart < p.restarts; restart++) {
    if (shared.done.every(Boolean)) break;
    apgdRun(ctx, shared, ctx.rng.derive(`restart${restart}`), p);
  }
}

export const apgdCe = defineAttack<ApgdParams>({
  name: 'apgd-ce',
  kind: 'fixed-epsilon',
  threatModel: 'linf',
  usesGradient: true,
  iterationParam: 'steps',
  // Each step: one input gradient and one forward pass (the loss and fooled check of the new iterate).
  cost: (p) => ({ gradients: p.steps * p.restarts, forwards: p.steps * p.restarts }),
  describe: 'APGD-CE, Croce & Hein 2020 (AutoAttack): step-size-free PGD with momentum, 100 iterations',
  defaults: apgdDefaults,
  schema: apgdSchema,
  check(p, where) {
    if (p.restarts > 1 && !p.randomStart)
      throw inputError(`${where}.restarts`, 'restarts > 1 repeat the same run without randomStart', 'restarts: 1, or randomStart: true');
  },
  perturb: (ctx) => perturbApgdRestarts(ctx, ctx.params),
});
