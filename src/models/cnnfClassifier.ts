import { tf, type Tensor1D, type Tensor2D, type Tensor4D } from '../engine/tf.js';
import type { Classifier, LossAndGradOptions, OutputKind } from './classifier.js';
import type { FeedbackNetwork } from './network.js';
import { attackLoss } from './losses.js';
import { fastPath } from '../engine/fastPaths.js';

/**
 * A CNN-F (or CNN, cycles = 0) of any family (src/models/network.ts) behind the Classifier contract that attacks and corruptions
 * see. `defaultOutput` is what predictions use unless a call names another output.
 */
export class CnnfClassifier implements Classifier {
  readonly inputShape: readonly [number, number, number];
  readonly numClasses: number;
  readonly hasFeedback: boolean;

  constructor(
    readonly name: string,
    readonly network: FeedbackNetwork,
    readonly defaultOutput: OutputKind = 'last',
  ) {
    this.inputShape = network.arch.inputShape;
    this.numClasses = network.arch.numClasses;
    this.hasFeedback = network.arch.cycles > 0;
  }

  /** Logits of the requested output; the first output never runs the feedback loop. */
  private logitsOf(x: Tensor4D, output: OutputKind): Tensor2D {
    if (output === 'first' || !this.hasFeedback) return this.network.firstPassLogits(x);
    const run = this.network.run(x);
    return output === 'last' ? run.last : run.average;
  }

  logits(x: Tensor4D, output: OutputKind = this.defaultOutput): Tensor2D {
    return tf.tidy(() => this.logitsOf(x, output));
  }

  /**
   * BPDA (Athalye et al. 2018): the value is the full feedback inference, the backward pass is the
   * first pass's vector-Jacobian product, i.e. the feedback loop is approximated by the identity.
   * Built as a custom-gradient swap on the first-pass logits: their value is replaced by the full
   * output's while their gradient passes through unchanged. The full output is computed from the same
   * input but is not an input of the swap, so no gradient flows into the feedback loop. The first-pass
   * logits are those of the full inference's own first pass (one first pass per step, not two).
   */
  bpdaLogits(x: Tensor4D, output: OutputKind): Tensor2D {
    let full: Tensor2D;
    let first: Tensor2D;
    if (this.hasFeedback && output !== 'first' && fastPath('bpda-first-pass')) {
      // The full inference already runs the first pass: take its logits rather than computing them again.
      const run = this.network.run(x);
      full = output === 'last' ? run.last : run.average;
      first = run.first;
    } else {
      full = this.logitsOf(x, output);
      first = this.network.firstPassLogits(x);
    }
    const swap = tf.customGrad(((firstLogits: tf.Tensor) => {
      void firstLogits;
      return { value: tf.clone(full), gradFunc: (dy: tf.Tensor) => [dy] };
    }) as unknown as Parameters<typeof tf.customGrad>[0]);
    return swap(first) as Tensor2D;
  }

  lossAndGrad(x: Tensor4D, y: Tensor1D, options: LossAndGradOptions): { loss: Tensor1D; grad: Tensor4D } {
    const output = options.output ?? this.defaultOutput;
    return tf.tidy(() => {
      const logitsFor = (xi: Tensor4D): Tensor2D => {
        if (!this.hasFeedback || options.path === 'first') return this.network.firstPassLogits(xi);
        if (options.path === 'bpda') return this.bpdaLogits(xi, output);
        return this.logitsOf(xi, output);
      };
      // valueAndGrad of the per-sample loss with the default all-ones dy is the gradient of its sum.
      const { value, grad } = tf.valueAndGrad((xi: tf.Tensor) =>
        attackLoss(logitsFor(xi as Tensor4D), y, options.loss ?? 'ce', options.targeted ?? false),
      )(x);
      return { loss: value as Tensor1D, grad: grad as Tensor4D };
    });
  }
}
