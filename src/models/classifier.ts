import type { Tensor, Tensor1D, Tensor2D, Tensor4D } from '../engine/tf.js';

/** Which logits a prediction uses: the first feedforward pass, the last feedback cycle, or their mean. */
export type OutputKind = 'first' | 'last' | 'average';
export const OUTPUT_KINDS: readonly OutputKind[] = ['first', 'last', 'average'];

/**
 * How an attack's gradient is taken through a CNN-F:
 * - first: through the first feedforward pass only (the reference's forward_adv);
 * - e2e: through the whole unrolled feedback loop (masks and pooling choices are constants of the pass);
 * - bpda: forward is the full feedback inference, backward is the first-pass gradient (Athalye et al. 2018).
 * A feedforward network answers every path with its ordinary gradient.
 */
export type GradientPath = 'first' | 'e2e' | 'bpda';
export const GRADIENT_PATHS: readonly GradientPath[] = ['first', 'e2e', 'bpda'];

export type LossKind = 'ce' | 'margin';

export interface LossAndGradOptions {
  path: GradientPath;
  /** The logits the loss is computed on (default: the classifier's configured output). */
  output?: OutputKind;
  /** ce: cross entropy; margin: C&W margin max_{j!=y} z_j - z_y. Default ce. */
  loss?: LossKind;
  /**
   * Targeted: the labels passed are target classes and the returned loss is the one to ASCEND to reach them
   * (ce: minus the cross entropy of the target; margin: z_t - max_{j!=t} z_j).
   */
  targeted?: boolean;
}

/**
 * What attacks and corruptions see of a model. Inputs are NHWC float32 images in [0,1];
 * the classifier owns its normalisation. Nothing here exposes internals.
 */
export interface Classifier {
  readonly name: string;
  readonly inputShape: readonly [number, number, number];
  readonly numClasses: number;
  /** True when the model has feedback cycles (paths first/e2e/bpda differ). */
  readonly hasFeedback: boolean;
  /** Logits [N, classes]. */
  logits(x: Tensor4D, output?: OutputKind): Tensor2D;
  /**
   * Per-sample loss [N] that an attack ASCENDS (untargeted ce: cross entropy of y; untargeted margin:
   * max_{j!=y} z_j - z_y, positive when fooled) and d(sum of loss)/dx [N,H,W,C] in [0,1] pixel space.
   * Labels are int32 [N]; for targeted attacks pass the target labels and set `targeted`.
   */
  lossAndGrad(x: Tensor4D, y: Tensor1D, options: LossAndGradOptions): { loss: Tensor1D; grad: Tensor4D };
}

export type { Tensor };
