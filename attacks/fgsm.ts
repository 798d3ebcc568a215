import { tf, type Tensor1D, type Tensor4D } from '../src/engine/tf.js';
import type { KeyedRng } from '../src/engine/rng.js';
import type { Classifier, LossKind } from '../src/models/classifier.js';
import {
  ascentDirection,
  attackGoal,
  checkEps,
  finish,
  gatherRows,
  indicesWhere,
  labelTensor,
  projectLinf,
  RowStore,
  unchanged,
  checkTargetParams,
  targetedParams,
} from './common.js';
import { parseWithSchema, type ParamSchema } from './params.js';
import { LOSS_KINDS } from './pgd.js';
import type { Attack, AttackResult, AttackRunOptions, TargetParams } from './types.js';

/** Fast gradient sign method (Goodfellow et al. 2015): one step x + eps * sign(grad), clipped to [0,1]. */
export interface FgsmParams extends TargetParams {
  loss: LossKind;
}

const defaults: FgsmParams = { loss: 'ce', targeted: false, targetClass: undefined };

const schema: ParamSchema<FgsmParams> = {
  loss: { kind: 'enum', values: LOSS_KINDS },
  targeted: { kind: 'boolean' },
  targetClass: { kind: 'int', min: 0, optional: true },
};

async function runFgsm(
  classifier: Classifier,
  x: Tensor4D,
  y: Tensor1D,
  eps: number,
  _rng: KeyedRng,
  options: AttackRunOptions & { params: FgsmParams },
): Promise<AttackResult> {
  checkEps(eps);
  const p = options.params;
  const goal = attackGoal(classifier, y, p);
  const rows = indicesWhere(x.shape[0], (i) => !goal.skip[i]);
  if (eps === 0 || rows.length === 0) return unchanged(classifier, x, goal, options.output);

  const store = new RowStore(x);
  const xs = gatherRows(x, rows);
  const ys = labelTensor(goal.lossLabels, rows);
  const { loss, grad } = classifier.lossAndGrad(xs, ys, {
    path: options.path,
    output: options.output,
    loss: p.loss,
    targeted: goal.targeted,
  });
  const xAdv = tf.tidy(() => projectLinf(tf.add(xs, tf.mul(ascentDirection(grad, 'linf'), eps)) as Tensor4D, xs, eps));
  store.write(rows, xAdv);
  tf.dispose([xs, ys, loss, grad, xAdv]);
  return finish(classifier, store, goal, options.output);
}

export const fgsm: Attack<FgsmParams> = {
  name: 'fgsm',
  threatModel: 'linf',
  usesGradient: true,
  isTargeted: targetedParams,
  // One input gradient, one forward pass for the final prediction.
  cost: () => ({ gradients: 1, forwards: 1 }),
  describe: 'FGSM, Goodfellow et al. 2015: one signed-gradient step of size eps',
  defaults,
  parseParams(raw: unknown, where: string): FgsmParams {
    const p = parseWithSchema(raw, where, defaults, schema);
    checkTargetParams(p, where);
    return p;
  },
  run: runFgsm,
};
