import { inputError } from '../src/engine/errors.js';
import { apgdDefaults, apgdSchema, perturbApgdRestarts, type ApgdParams } from './apgd.js';
import { checkDlrClasses } from './apgdCore.js';
import { defineAttack } from './define.js';
import type { ParamSchema } from './params.js';

/**
 * APGD-DLR (Croce & Hein, ICML 2020; fra31/auto-attack, autoattack/autopgd_base.py APGDAttack with
 * loss='dlr'): APGD's step-size schedule, momentum and checkpoints (attacks/apgdCore.ts) ascending the
 * Difference of Logits Ratio -(z_y - max_{j != y} z_j) / (z_pi1 - z_pi3) (attacks/losses.ts dlr), which is
 * invariant to shifting and scaling the logits, so a model cannot hide behind saturated cross entropy.
 * L-inf, uniform random start, a sample is done once an iterate misclassifies it. With targeted: true it
 * ascends the targeted DLR towards targetClass (or y + 1) instead. Needs a model of at least 3 classes
 * (4 targeted): fewer is an InputError naming the attack to use instead (checkDlrClasses).
 */
export type ApgdDlrParams = Omit<ApgdParams, 'loss'>;

const { loss: _loss, ...defaults } = apgdDefaults;
const { loss: _lossField, ...schema } = apgdSchema;

export const apgdDlr = defineAttack<ApgdDlrParams>({
  name: 'apgd-dlr',
  kind: 'fixed-epsilon',
  threatModel: 'linf',
  usesGradient: true,
  iterationParam: 'steps',
  // Each step: one input gradient and one forward pass (the loss and fooled check of the new iterate).
  cost: (p) => ({ gradients: p.steps * p.restarts, forwards: p.steps * p.restarts }),
  describe: 'APGD-DLR, Croce & Hein 2020 (AutoAttack): APGD on the scale-invariant DLR loss, 100 iterations (>= 3 classes)',
  defaults,
  schema: schema as ParamSchema<ApgdDlrParams>,
  check(p, where) {
    if (p.restarts > 1 && !p.randomStart)
      throw inputError(`${where}.restarts`, 'restarts > 1 repeat the same run without randomStart', 'restarts: 1, or randomStart: true');
  },
  checkModel: (p, model, where) => checkDlrClasses('apgd-dlr', model, p.targeted, where),
  perturb: (ctx) => perturbApgdRestarts(ctx, { ...ctx.params, loss: 'dlr' }),
});
