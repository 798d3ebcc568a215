import { tf, type Tensor1D, type Tensor2D, type Tensor4D } from '../engine/tf.js';
import type { Classifier, LossAndGradOptions, OutputKind } from './classifier.js';
import { CnnfNetwork } from './cnnf.js';
import { attackLoss } from './losses.js';

/**
 * A CNN-F (or CNN, cycles = 0) checkpoint behind the Classifier contract that attacks and corruptions
 * see. `defaultOutput` is what predictions use unless a call names another output.
 */
export class CnnfClassifier implements Classifier {
  readonly inputShape: readonly [number, number, number];
  readonly numClasses: number;
  readonly hasFeedback: boolean;

  constructor(
    readonly name: string,
    readonly network: CnnfNetwork,
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
   */
  bpdaLogits(x: Tensor4D, output: OutputKind): Tensor2D {
    const f = tf.customGrad(((input: tf.Tensor, save: tf.GradSaveFunc) => {
      const value = tf.tidy(() => this.logitsOf(input as Tensor4D, output));
      save([input]);
      return {
        value,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
          tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(this.network.firstPassLogits(xi as Tensor4D), dy)))(saved[0]),
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0]);
    return f(x) as Tensor2D;
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
