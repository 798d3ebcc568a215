import type { Tensor1D, Tensor4D } from '../src/engine/tf.js';
import type { KeyedRng } from '../src/engine/rng.js';
import type { Classifier } from '../src/models/classifier.js';
import { attackGoal, outcome } from './common.js';
import type { Attack, AttackRunOptions, TargetParams } from './types.js';

export interface TransferResult {
  /** Adversarial examples crafted on the source model. */
  xAdv: Tensor4D;
  /** Fooled on the target model (what a transfer evaluation reports). */
  fooled: boolean[];
  /** Fooled on the source model, for reference (transfer rate = fooled / fooledSource). */
  fooledSource: boolean[];
  /** Rows whose target-model logits on xAdv hold a NaN or an infinity. */
  nonFiniteLogits: boolean[];
}

/**
 * Transfer (black-box) attack: craft with `inner` on `source`, evaluate on `target`. The inner
 * attack's targeted/targetClass params, if any, decide success on the target the same way.
 * `targetOutput` chooses the target model's logits (default: options.output).
 */
export async function transferAttack<P>(
  source: Classifier,
  target: Classifier,
  inner: Attack<P>,
  x: Tensor4D,
  y: Tensor1D,
  eps: number,
  rng: KeyedRng,
  options: AttackRunOptions & { params: P; targetOutput?: string },
): Promise<TransferResult> {
  const crafted = await inner.run(source, x, y, eps, rng, options);
  const goal = attackGoal(target, y, (options.params ?? {}) as Partial<TargetParams>);
  const onTarget = outcome(target, crafted.xAdv, goal, options.targetOutput ?? options.output);
  return { xAdv: crafted.xAdv, fooled: onTarget.fooled, fooledSource: crafted.fooled, nonFiniteLogits: onTarget.nonFiniteLogits ?? [] };
}
