import { inputError } from '../src/engine/errors.js';
import { apgdRun, apgdStart } from './apgdCore.js';
import { defineAttack, type AttackContext } from './define.js';
import { LOSS_KINDS, type AttackLossName } from './losses.js';
import type { ParamSchema } from './params.js';
import type { TargetParams, ThreatModel } from './types.js';

/**
 * APGD-CE (Croce & Hein, ICML 2020, "Reliable evaluation of adversarial robustness with an ensemble of
 * diverse parameter-free attacks", Algorithm 1; fra31/auto-attack autoattack/autopgd_base.py APGDAttack),
 * L-inf (`apgd-ce`) and L2 (`apgd-ce-l2`, the reference's norm='L2'): step size 2 eps halved at checkpoints, momentum 0.75, restarts from the best point, with the
 * reference's schedule (attacks/apgdCore.ts, where the algorithm and its differences from the paper are).
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

/** Refuses restarts > 1 without a random start (every run would be the same). */
export function checkApgdRestarts(p: { restarts: number; randomStart: boolean }, where: string): void {
  if (p.restarts > 1 && !p.randomStart)
    throw inputError(`${where}.restarts`, 'restarts > 1 repeat the same run without randomStart', 'restarts: 1, or randomStart: true');
}

/** The name of an APGD attack under `norm`: `base` for L-inf, `base`-l2 for L2 (apgd-ce, apgd-ce-l2). */
export function apgdName(base: string, norm: ThreatModel): string {
  return norm === 'linf' ? base : `${base}-l2`;
}

const makeApgdCe = (norm: ThreatModel) =>
  defineAttack<ApgdParams>({
    name: apgdName('apgd-ce', norm),
    kind: 'fixed-epsilon',
    threatModel: norm,
    usesGradient: true,
    iterationParam: 'steps',
    repeatParams: ['restarts'],
    // Each step: one input gradient and one forward pass (the loss and fooled check of the new iterate).
    cost: (p) => ({ gradients: p.steps * p.restarts, forwards: p.steps * p.restarts }),
    describe:
      norm === 'linf'
        ? 'APGD-CE, Croce & Hein 2020 (AutoAttack): step-size-free PGD with momentum, 100 iterations'
        : 'APGD-CE L2, Croce & Hein 2020 (AutoAttack): step-size-free PGD with momentum, normalised gradient steps, 100 iterations',
    defaults: apgdDefaults,
    schema: apgdSchema,
    check: checkApgdRestarts,
    perturb: (ctx) => perturbApgdRestarts(ctx, ctx.params),
  });

/** APGD-CE under L-inf: `apgd-ce`. */
export const apgdCe = makeApgdCe('linf');
/** APGD-CE under L2: `apgd-ce-l2`. */
export const apgdCeL2 = makeApgdCe('l2');
