import type { Tensor, Tensor1D, Tensor2D, Tensor4D } from '../engine/tf.js';
import type { AttackLossName } from '../../attacks/losses.js';

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

export interface LossAndGradOptions {
  /** One of the model's declared gradient paths (CNN-F: first, e2e, bpda; TF.js models: direct). */
  path: string;
  /** The logits the loss is computed on: one of the model's declared outputs (default: its configured output). */
  output?: string;
  /**
   * One of the attack losses of attacks/losses.ts (ce: cross entropy; margin: C&W margin max_{j!=y} z_j - z_y;
   * dlr: Difference of Logits Ratio). Default ce. Models compute none of them: they give logits (logitsFor).
   */
  loss?: AttackLossName;
  /**
   * Targeted: the labels passed are target classes and the returned loss is the one to ASCEND to reach them
   * (ce: minus the cross entropy of the target; margin: z_t - max_{j!=t} z_j; dlr: the targeted DLR).
   */
  targeted?: boolean;
  /** The true labels, int32 [N]: needed by the targeted DLR only (attacks/losses.ts attackLoss). */
  trueLabels?: Tensor1D;
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
  /** Logits [N, classes] of one of the model's declared outputs (default: its configured output). */
  logits(x: Tensor4D, output?: string): Tensor2D;
  /**
   * Differentiable scores [N, classes] (see DeclaredClassifier.logitsFor), usable inside tf.grad. Attacks
   * take their gradients through it with their own loss (attacks/gradients.ts); a classifier without it
   * (a test stub with hand-written gradients) is differentiated through lossAndGrad instead. Per-class
   * logit gradients come from it too (attacks/gradients.ts): logitDifferenceAndGrad, the gradient of
   * z_t - z_y for one target per sample in one backward pass, and logitsJacobian, the Jacobian
   * [N, classes, H, W, C] in one pass over the batch tiled once per class; without logitsFor there are none.
   */
  logitsFor?(x: Tensor4D, request?: LogitsRequest): Tensor2D;
  /**
   * Per-sample loss [N] that an attack ASCENDS (untargeted ce: cross entropy of y; untargeted margin:
   * max_{j!=y} z_j - z_y, positive when fooled) and d(sum of loss)/dx [N,H,W,C] in [0,1] pixel space.
   * Labels are int32 [N]; for targeted attacks pass the target labels and set `targeted`. Models with
   * logitsFor implement it by delegating to attacks/gradients.ts (the losses live with the attacks); it
   * stays for callers outside the attacks (sanity probes, perf scripts) and for stubs without logitsFor.
   */
  lossAndGrad(x: Tensor4D, y: Tensor1D, options: LossAndGradOptions): { loss: Tensor1D; grad: Tensor4D };
  /**
   * The gradient paths on which logitsFor(x, { output, path }) computes exactly logits(x, output), the same
   * operations on the same values, for every output: the gradient pass's own logits then score the images it
   * was taken at, so attacks skip a second forward pass per step (attacks/define.ts lossGradAndScore).
   * CNN-F: e2e and bpda (first differs from the feedback outputs); TF.js models: direct. Absent or empty:
   * every score takes its own forward pass (always correct, one forward pass more per step).
   */
  readonly predictionPaths?: readonly string[];
}

export type { Tensor };

// ---------------------------------------------------------------------------------------------------------
// Contract v2 (design.md "Seams v2"): a model DECLARES what it offers, and the config is checked against the
// declaration instead of against global CNN-F enums. It extends Classifier, so code written against the
// first contract keeps working; CnnfClassifier satisfies both.

/**
 * The gradient path of a model without feedback: the exact input gradient of the model's own computation,
 * by automatic differentiation through every layer, with nothing truncated (as CNN-F's `first`) or
 * approximated (as `bpda`). Named `direct` rather than reusing CNN-F's `e2e` so that reports of
 * feedforward models carry no feedback vocabulary (issue 14).
 */
export const DIRECT_PATH = 'direct';
/** The one prediction output of a single-head model (TF.js layers and graph models). */
export const LOGITS_OUTPUT = 'logits';

/**
 * What `logitsFor` returns: `logits` (unnormalised scores) or `log-probabilities` (the model ends in a
 * softmax; log p is returned instead, which has the same argmax, cross entropy and C&W margin as the
 * pre-softmax logits, since they differ by a per-row constant).
 */
export type LogitsKind = 'logits' | 'log-probabilities';

/** Which output to compute and through which gradient path; omitted fields take the model's defaults. */
export interface LogitsRequest {
  /** One of the model's `outputs` (default `defaultOutput`). */
  output?: string;
  /**
   * One of the model's `gradientPaths`. Default: the exact gradient of the whole computation (`direct`
   * for TF.js models, `e2e` for CNN-F); for a plain prediction the path does not change the value.
   */
  path?: string;
}

/** lossAndGrad options in the v2 vocabulary: output and path are names the model declares. */
export interface ModelLossAndGradOptions extends Omit<LossAndGradOptions, 'path' | 'output'> {
  path: string;
  output?: string;
}

/**
 * A classifier that declares its inputs, classes, outputs and gradient paths (contract v2).
 * Inputs are NHWC float32 images in [0,1] pixel units whatever the model's own input range: the model
 * maps them (range, mean/std) inside, so epsilons stay in [0,1] units.
 */
export interface DeclaredClassifier extends Classifier {
  /** Registry name of the family that loaded it: `cnnf`, `tfjs-layers`, `tfjs-graph`. */
  readonly family: string;
  /** One name per class, index = label, when the model or its options give them. */
  readonly classNames?: readonly string[];
  /** Prediction outputs it offers, e.g. ['logits'] (TF.js) or ['first', 'last', 'average'] (CNN-F). */
  readonly outputs: readonly string[];
  /** The output predictions use when a call names none (one of `outputs`). */
  readonly defaultOutput: string;
  /** Gradient paths it offers, e.g. ['direct'] (TF.js) or ['first', 'e2e', 'bpda'] (CNN-F). */
  readonly gradientPaths: readonly string[];
  /**
   * The path giving the exact gradient of the model's whole computation, nothing truncated (CNN-F's
   * `first`) or approximated (`bpda`): CNN-F `e2e`, TF.js models `direct`. A config's `"paths": ["exact"]`
   * means this path on every model, so one config serves every family.
   */
  readonly exactPath: string;
  /** Whether logitsFor returns logits or log-probabilities (a softmax head). */
  readonly outputKind: LogitsKind;
  /**
   * Differentiable scores [N, classes] of NHWC [0,1] images [N,H,W,C], usable inside tf.grad: no
   * tf.tidy of its own, no data reads. Throws an InputError naming the model and what it offers when
   * asked for an output or path it does not declare.
   */
  logitsFor(x: Tensor4D, request?: LogitsRequest): Tensor2D;
}

/**
 * Every prediction output and gradient path some model family declares: what a config may name before any
 * model is loaded (typos are caught early, with suggestions); each loaded model then checks what it offers.
 */
export const KNOWN_OUTPUTS: readonly string[] = [...OUTPUT_KINDS, LOGITS_OUTPUT];
export const KNOWN_PATHS: readonly string[] = [...GRADIENT_PATHS, DIRECT_PATH];
/** The config keyword for each model's exact gradient path (DeclaredClassifier.exactPath). */
export const EXACT_PATH = 'exact';
