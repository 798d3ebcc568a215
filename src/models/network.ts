import type { Tensor, Tensor2D, Tensor4D } from '../engine/tf.js';
import type { ModelArchitecture, Normalization } from './architecture.js';
import { CnnfNetwork } from './cnnf.js';
import { WrnCnnfNetwork } from './cnnfWrn/network.js';

/** What one full CNN-F inference returns (every family). */
export interface FeedbackRun {
  /** Logits of the first feedforward pass. */
  first: Tensor2D;
  /** Logits after all feedback cycles (equals first when cycles = 0). */
  last: Tensor2D;
  /** Mean of the logits of the first pass and of every cycle. */
  average: Tensor2D;
  /** Logits of every pass: [first, cycle 1, ..., cycle C]. */
  perPass: Tensor2D[];
  /** The activation the feedback reconstructs, from the first pass (the normalised image when ind = 0). */
  featureInd: Tensor4D;
  /** Generative reconstructions of that activation, one per cycle. */
  reconstructions: Tensor4D[];
}

/** A network of one model family as the classifier sees it (NHWC inputs in [0,1] pixels). */
export interface FeedbackNetwork {
  readonly arch: { inputShape: [number, number, number]; numClasses: number; cycles: number };
  readonly normalization: Normalization;
  /** Full inference with `cycles` feedback cycles (default: the architecture's). Call inside tf.tidy or tf.grad. */
  run(x: Tensor4D, cycles?: number): FeedbackRun;
  /** Logits of the first feedforward pass only (the reference's forward_adv). */
  firstPassLogits(x: Tensor4D): Tensor2D;
}

/** The network of a checkpoint's architecture family ("cnnf": Fashion-MNIST CNN-F; "cnnf-wrn": CIFAR Wide-ResNet CNN-F). */
export function buildNetwork(arch: ModelArchitecture, normalization: Normalization, params: Record<string, Tensor>): FeedbackNetwork {
  return arch.family === 'cnnf-wrn' ? new WrnCnnfNetwork(arch, normalization, params) : new CnnfNetwork(arch, normalization, params);
}
