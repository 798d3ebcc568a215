import { tf } from '../src/engine/tf.js';
import { gatherRows, indicesWhere } from './common.js';
import { defineAttack, type AttackContext } from './define.js';
import { LOSS_KINDS, type AttackLossName } from './losses.js';
import { ascentStep, projectLinf } from './norms.js';
import type { ParamSchema } from './params.js';
import type { TargetParams } from './types.js';

/** Fast gradient sign method (Goodfellow et al. 2015): one step x + eps * sign(grad), clipped to [0,1]. */
export interface FgsmParams extends TargetParams {
  loss: AttackLossName;
}

const defaults: FgsmParams = { loss: 'ce', targeted: false, targetClass: undefined };

const schema: ParamSchema<FgsmParams> = {
  loss: { kind: 'enum', values: LOSS_KINDS },
  targeted: { kind: 'boolean' },
  targetClass: { kind: 'int', min: 0, optional: true },
};

function perturbFgsm(ctx: AttackContext<FgsmParams>): void {
  const { x, eps, goal, store } = ctx;
  const rows = indicesWhere(x.shape[0], (i) => !goal.skip[i]);
  const xs = gatherRows(x, rows);
  const { loss, grad } = ctx.lossAndGrad(xs, rows, ctx.params.loss);
  const xAdv = tf.tidy(() => projectLinf(ascentStep(xs, grad, eps, 'linf'), xs, eps));
  store.write(rows, xAdv);
  tf.dispose([xs, loss, grad, xAdv]);
}

export const fgsm = defineAttack<FgsmParams>({
  name: 'fgsm',
  kind: 'fixed-epsilon',
  threatModel: 'linf',
  usesGradient: true,
  // One input gradient, one forward pass for the final prediction.
  cost: () => ({ gradients: 1, forwards: 1 }),
  describe: 'FGSM, Goodfellow et al. 2015: one signed-gradient step of size eps',
  defaults,
  schema,
  perturb: perturbFgsm,
});
