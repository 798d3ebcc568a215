import { tf, type Tensor, type Tensor1D, type Tensor4D } from '../engine/tf.js';
import type { FeedbackRun } from '../models/network.js';
import { crossEntropy } from '../../attacks/losses.js';

/** What the objective needs of a network: every pass's logits and the reconstructions the losses compare. */
export interface TrainableNetwork {
  readonly cycles: number;
  run(x: Tensor4D): FeedbackRun & { blockReconstructions: Tensor4D[][]; blockFeatures: Tensor4D[] };
}

/**
 * The training objective of the reference implementation (train.py): cross entropy on the first pass and
 * on every feedback cycle, each weighted 1/(cycles+1), plus per cycle the reconstruction losses (MSE of
 * the feedback reconstruction at layer ind against the first-pass activation there, and of each block's
 * reconstruction against its first-pass output: the pooled conv blocks of the Fashion-MNIST CNN-F, the
 * three groups of the CIFAR Wide-ResNet), weighted mseWeight / ((1 + blocks) * cycles).
 *
 * Adversarial training (`cleanCount` set): the batch is [clean; adversarial]. The cross entropy per pass
 * is (cleanWeight * CE(clean) + CE(adversarial)) / 2, and the adversarial reconstructions are pulled
 * towards the clean first-pass activations, as the reference's train_adv does.
 */
export function cnnfTrainingLoss(
  network: TrainableNetwork,
  x: Tensor4D,
  y: Tensor1D,
  mseWeight: number,
  cleanCount?: number,
  cleanWeight = 1,
): { loss: tf.Scalar; lastLogits: Tensor } {
  const cycles = network.cycles;
  const run = network.run(x);
  const ceWeight = 1 / (cycles + 1);
  const n = x.shape[0];
  const part = (t: Tensor, from: number, count: number) => tf.slice(t, [from, ...new Array(t.rank - 1).fill(0)], [count, ...new Array(t.rank - 1).fill(-1)]);
  const passLoss = (logits: Tensor): Tensor => {
    if (cleanCount === undefined) return tf.mean(crossEntropy(logits as tf.Tensor2D, y));
    const clean = tf.mean(crossEntropy(part(logits, 0, cleanCount) as tf.Tensor2D, part(y, 0, cleanCount) as Tensor1D));
    const adversarial = tf.mean(crossEntropy(part(logits, cleanCount, n - cleanCount) as tf.Tensor2D, part(y, cleanCount, n - cleanCount) as Tensor1D));
    return tf.div(tf.add(tf.mul(cleanWeight, clean), adversarial), 2);
  };
  const terms: Tensor[] = run.perPass.map((logits) => tf.mul(ceWeight, passLoss(logits)));
  for (let c = 0; c < cycles; c++) {
    const pairs: [Tensor, Tensor][] = [[run.reconstructions[c], run.featureInd]];
    run.blockReconstructions[c].forEach((recon, i) => pairs.push([recon, run.blockFeatures[i]]));
    const w = mseWeight / (pairs.length * cycles);
    for (const [recon, target] of pairs) {
      const diff =
        cleanCount === undefined
          ? tf.squaredDifference(recon, target)
          : tf.squaredDifference(part(recon, cleanCount, n - cleanCount), part(target, 0, cleanCount));
      terms.push(tf.mul(w, tf.mean(diff)));
    }
  }
  return { loss: tf.addN(terms) as tf.Scalar, lastLogits: run.last };
}
