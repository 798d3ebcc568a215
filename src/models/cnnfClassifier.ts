import { tf, type Tensor1D, type Tensor2D, type Tensor4D } from '../engine/tf.js';
import {
  GRADIENT_PATHS,
  OUTPUT_KINDS,
  type DeclaredClassifier,
  type GradientPath,
  type LogitsRequest,
  type LossAndGradOptions,
  type OutputKind,
} from './classifier.js';
import type { FeedbackNetwork } from './network.js';
import { lossAndGradVia, resolveRequest } from './declared.js';
import { fastPath } from '../engine/fastPaths.js';

/**
 * A CNN-F (or CNN, cycles = 0) of any family (src/models/network.ts) behind the Classifier contract that attacks and corruptions
 * see. `defaultOutput` is what predictions use unless a call names another output.
 *
 * Contract v2: family `cnnf`; outputs first/last/average and gradient paths first/e2e/bpda, declared by
 * every CNN-F checkpoint including cycles = 0 (a plain CNN, where all three of each coincide), so
 * existing configs keep their meaning. Scores are logits.
 */
export class CnnfClassifier implements DeclaredClassifier {
  readonly family = 'cnnf';
  readonly inputShape: readonly [number, number, number];
  readonly numClasses: number;
  readonly hasFeedback: boolean;
  readonly outputs: readonly OutputKind[] = OUTPUT_KINDS;
  readonly gradientPaths: readonly GradientPath[] = GRADIENT_PATHS;
  readonly exactPath = 'e2e';
  /**
   * e2e runs logitsOf itself and bpda's value is a clone of it (bpdaLogits); with no feedback every path is
   * the first pass, which is also every output.
   */
  readonly predictionPaths: readonly GradientPath[];
  readonly outputKind = 'logits' as const;

  constructor(
    readonly name: string,
    readonly network: FeedbackNetwork,
    readonly defaultOutput: OutputKind = 'last',
    readonly classNames?: readonly string[],
  ) {
    this.inputShape = network.arch.inputShape;
    this.numClasses = network.arch.numClasses;
    this.hasFeedback = network.arch.cycles > 0;
    this.predictionPaths = this.hasFeedback ? ['e2e', 'bpda'] : GRADIENT_PATHS;
  }

  /** Logits of the requested output; the first output never runs the feedback loop. */
  private logitsOf(x: Tensor4D, output: OutputKind): Tensor2D {
    if (output === 'first' || !this.hasFeedback) return this.network.firstPassLogits(x);
    const run = this.network.run(x);
    return output === 'last' ? run.last : run.average;
  }

  logits(x: Tensor4D, output: string = this.defaultOutput): Tensor2D {
    const { output: checked } = resolveRequest(this, 'e2e', { output });
    return tf.tidy(() => this.logitsOf(x, checked as OutputKind));
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

  /**
   * Differentiable logits [N, classes] of [0,1] images [N,H,W,C] (contract v2): path `first` is the first
   * pass whatever the output; `bpda` is the full output's value with the first pass's gradient; `e2e`
   * (the default) is the requested output through the whole unrolled loop.
   */
  logitsFor(x: Tensor4D, request?: LogitsRequest): Tensor2D {
    const { output, path } = resolveRequest(this, 'e2e', request);
    if (!this.hasFeedback || path === 'first') return this.network.firstPassLogits(x);
    if (path === 'bpda') return this.bpdaLogits(x, output as OutputKind);
    return this.logitsOf(x, output as OutputKind);
  }

  /** Loss and input gradient through logitsFor (src/models/declared.ts lossAndGradVia); attacks call attacks/gradients.ts. */
  lossAndGrad(x: Tensor4D, y: Tensor1D, options: LossAndGradOptions): { loss: Tensor1D; grad: Tensor4D } {
    return lossAndGradVia(this, x, y, { ...options, output: options.output ?? this.defaultOutput });
  }
}
