import { inputError } from '../src/engine/errors.js';
import { apgdName, checkApgdRestarts } from './apgd.js';
import { apgdRun, checkDlrClasses, type ApgdShared } from './apgdCore.js';
import { rankClasses, scoreLogits } from './common.js';
import { defineAttack, type AttackContext } from './define.js';
import type { ParamSchema } from './params.js';
import type { ThreatModel } from './types.js';

/**
 * APGD-T (Croce & Hein, ICML 2020, section 4; fra31/auto-attack, autoattack/autopgd_base.py
 * APGDAttack_targeted), L-inf (`apgd-t`) and L2 (`apgd-t-l2`, the reference's norm='L2'): for each of the `targets` classes ranked highest by the clean logits after the top
 * one (the 2nd, 3rd, ... largest clean logit, as the reference's output.sort()[1][:, -target_class]),
 * in that order, `restarts` APGD runs (attacks/apgdCore.ts: the same step-size schedule, momentum and
 * checkpoints, n_iter_2 = int(0.22 N) etc.) ascending the targeted DLR
 *   -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2)
 * (attacks/losses.ts targetedDlr), each run only on the samples no earlier run broke. The goal is
 * untargeted: a sample is broken once any iterate of any run is misclassified (not only as t), and its
 * example is that iterate; a sample never broken returns the lowest-margin best-loss point over all runs.
 */
export interface ApgdTParams {
  steps: number;
  /** Runs per target class (AutoAttack: 1). */
  restarts: number;
  /** How many target classes, the top-k other classes by clean logit (AutoAttack's n_target_classes, 9). */
  targets: number;
  randomStart: boolean;
  /** Momentum weight alpha of the paper. */
  momentum: number;
  /** Fraction of loss-increasing steps below which the step size is halved. */
  rho: number;
}

const defaults: ApgdTParams = { steps: 100, restarts: 1, targets: 9, randomStart: true, momentum: 0.75, rho: 0.75 };

const schema: ParamSchema<ApgdTParams> = {
  steps: { kind: 'int', min: 1 },
  restarts: { kind: 'int', min: 1 },
  targets: { kind: 'int', min: 1 },
  randomStart: { kind: 'boolean' },
  momentum: { kind: 'number', min: 0, max: 1, exclusiveMin: true },
  rho: { kind: 'number', min: 0, max: 1 },
};

async function perturbApgdT(ctx: AttackContext<ApgdTParams>): Promise<void> {
  const { model, x, goal, params: p } = ctx;
  const n = x.shape[0];
  const classes = model.numClasses;
  // One clean forward pass: which rows are already misclassified, and the targets' ranking.
  const logits = model.logits(x, ctx.output);
  const values = logits.dataSync();
  logits.dispose();
  const clean = scoreLogits(values, classes, goal.lossLabels, goal.targeted);
  const shared: ApgdShared = {
    done: goal.skip.map((s, i) => s || clean.fooled[i]),
    bestMargin: new Float64Array(n).fill(Infinity),
  };
  const ranked = rankClasses(values, classes);
  for (let t = 1; t <= p.targets; t++) {
    const targets = Int32Array.from(ranked, (order) => order[t]);
    for (let restart = 0; restart < p.restarts; restart++) {
      if (shared.done.every(Boolean)) return;
      apgdRun(ctx, shared, ctx.rng.derive(`target${t}`).derive(`restart${restart}`), { ...p, loss: 'dlr', targets });
    }
  }
}

const makeApgdT = (norm: ThreatModel) =>
  defineAttack<ApgdTParams>({
    name: apgdName('apgd-t', norm),
    kind: 'fixed-epsilon',
    threatModel: norm,
    usesGradient: true,
    iterationParam: 'steps',
    repeatParams: ['targets', 'restarts'],
    // Untargeted success (any misclassification), whatever the targeted loss.
    isTargeted: () => false,
    // Per target and restart, each step: one input gradient and one forward pass; plus one clean forward pass.
    cost: (p) => ({ gradients: p.steps * p.restarts * p.targets, forwards: p.steps * p.restarts * p.targets + 1 }),
    describe: `APGD-T${norm === 'linf' ? '' : ' L2'}, Croce & Hein 2020 (AutoAttack): APGD on the targeted DLR loss against each of the top \`targets\` (9) other classes by clean logit in turn, 100 iterations each (>= 4 classes)`,
    defaults,
    schema,
    check: checkApgdRestarts,
    checkModel(p, model, where) {
      checkDlrClasses(apgdName('apgd-t', norm), model, true, where, norm);
      if (p.targets > model.numClasses - 1)
        throw inputError(
          `${where}.targets`,
          `${p.targets} target classes, but model ${JSON.stringify(model.name)} has only ${model.numClasses - 1} classes besides the true one`,
          `integers 1..${model.numClasses - 1}`,
        );
    },
    perturb: perturbApgdT,
  });

/** APGD-T under L-inf: `apgd-t`. */
export const apgdT = makeApgdT('linf');
/** APGD-T under L2: `apgd-t-l2`. */
export const apgdTL2 = makeApgdT('l2');
