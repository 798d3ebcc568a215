import { tf, type Tensor1D, type Tensor4D } from '../engine/tf.js';
import { KeyedRng } from '../engine/rng.js';
import type { FeedbackNetwork } from '../models/network.js';
import { crossEntropy } from '../../attacks/losses.js';

/**
 * The adversary used during adversarial training. As in the reference's train.py, examples are crafted
 * through the first feedforward pass (the generative loop is not attacked while training).
 * - fgsm-rs: FGSM with a uniform random start and step 1.25 eps (Wong, Rice & Kolter 2020), the
 *   affordable one on CPUs;
 * - pgd: L-inf PGD with random start (the paper: 7 steps of 0.0355 at eps 0.1 in [0,1] pixel units).
 */
export interface AdversarialTraining {
  kind: 'fgsm-rs' | 'pgd';
  eps: number;
  steps: number;
  stepSize: number;
  /** Weight of the clean cross entropy next to the adversarial one (the reference's clean_parameter). */
  cleanWeight: number;
}

function inputGradient(network: Pick<FeedbackNetwork, 'firstPassLogits'>, x: Tensor4D, y: Tensor1D): Tensor4D {
  return tf.grad((xi: tf.Tensor) => tf.sum(crossEntropy(network.firstPassLogits(xi as Tensor4D), y)))(x) as Tensor4D;
}

/** Adversarial versions of a clean batch; `rows` are the global training indices (keys the random start). */
export function adversarialBatch(
  network: Pick<FeedbackNetwork, 'firstPassLogits'>,
  x: Tensor4D,
  y: Tensor1D,
  adv: AdversarialTraining,
  seed: number,
  epoch: number,
  rows: readonly number[],
): Tensor4D {
  return tf.tidy(() => {
    const rng = new KeyedRng(seed, `adversarial-training/epoch-${epoch}`, rows);
    const perSample = x.shape[1] * x.shape[2] * x.shape[3];
    const start = tf.tensor(rng.uniform(perSample, -adv.eps, adv.eps), x.shape);
    const lower = tf.maximum(tf.sub(x, adv.eps), 0);
    const upper = tf.minimum(tf.add(x, adv.eps), 1);
    let xAdv = tf.clipByValue(tf.add(x, start), 0, 1) as Tensor4D;
    const steps = adv.kind === 'fgsm-rs' ? 1 : adv.steps;
    const stepSize = adv.kind === 'fgsm-rs' ? 1.25 * adv.eps : adv.stepSize;
    for (let s = 0; s < steps; s++) {
      const g = inputGradient(network, xAdv, y);
      xAdv = tf.minimum(tf.maximum(tf.add(xAdv, tf.mul(stepSize, tf.sign(g))), lower), upper) as Tensor4D;
    }
    return xAdv;
  });
}
