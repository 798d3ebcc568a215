import { apgdDefaults, apgdName, apgdSchema, checkApgdRestarts, perturbApgdRestarts, type ApgdParams } from './apgd.js';
import { checkDlrClasses } from './apgdCore.js';
import { defineAttack } from './define.js';
import type { ParamSchema } from './params.js';
import type { ThreatModel } from './types.js';

/**
 * APGD-DLR (Croce & Hein, ICML 2020; fra31/auto-attack, autoattack/autopgd_base.py APGDAttack with
 * loss='dlr'): APGD's step-size schedule, momentum and checkpoints (attacks/apgdCore.ts) ascending the
 * Difference of Logits Ratio -(z_y - max_{j != y} z_j) / (z_pi1 - z_pi3) (attacks/losses.ts dlr), which is
 * invariant to shifting and scaling the logits, so a model cannot hide behind saturated cross entropy.
 * L-inf (`apgd-dlr`, uniform random start) or L2 (`apgd-dlr-l2`, random start on the eps sphere, normalised
 * gradient steps; the reference's norm='L2'), a sample is done once an iterate misclassifies it. With targeted: true it
 * ascends the targeted DLR towards targetClass (or y + 1) instead. Needs a model of at least 3 classes
 * (4 targeted): fewer is an InputError naming the attack to use instead (checkDlrClasses).
 */
export type ApgdDlrParams = Omit<ApgdParams, 'loss'>;

const { loss: _loss, ...defaults } = apgdDefaults;
const { loss: _lossField, ...schema } = apgdSchema;

const makeApgdDlr = (norm: ThreatModel) =>
  defineAttack<ApgdDlrParams>({
    name: apgdName('apgd-dlr', norm),
    kind: 'fixed-epsilon',
    threatModel: norm,
    usesGradient: true,
    iterationParam: 'steps',
    repeatParams: ['restarts'],
    // Each step: one input gradient and one forward pass (the loss and fooled check of the new iterate).
    cost: (p) => ({ gradients: p.steps * p.restarts, forwards: p.steps * p.restarts }),
    describe: `APGD-DLR${norm === 'linf' ? '' : ' L2'}, Croce & Hein 2020 (AutoAttack): APGD on the scale-invariant DLR loss, 100 iterations (>= 3 classes)`,
    defaults,
    schema: schema as ParamSchema<ApgdDlrParams>,
    check: checkApgdRestarts,
    checkModel: (p, model, where) => checkDlrClasses(apgdName('apgd-dlr', norm), model, p.targeted, where, norm),
    perturb: (ctx) => perturbApgdRestarts(ctx, { ...ctx.params, loss: 'dlr' }),
  });

/** APGD-DLR under L-inf: `apgd-dlr`. */
export const apgdDlr = makeApgdDlr('linf');
/** APGD-DLR under L2: `apgd-dlr-l2`. */
export const apgdDlrL2 = makeApgdDlr('l2');
