import type { DeclaredClassifier } from '../classifier.js';
import type { ModelOptions } from './options.js';

export type FamilyName = 'cnnf' | 'tfjs-layers' | 'tfjs-graph';

/**
 * What the planner can know of a model's cost before running it. `forwardFlopsPerImage`: floating-point
 * operations of one forward pass on one image, counted as 2 x the multiply-adds of convolution and
 * matrix-product layers (elementwise layers, normalisation, pooling and activations are not counted);
 * null when the model holds a layer or op whose cost is not known statically. `feedbackCycles`: CNN-F
 * feedback cycles (0 for feedforward models); each adds roughly one generative and one feedforward pass.
 */
export interface CostHints {
  forwardFlopsPerImage: number | null;
  feedbackCycles: number;
}

/** What run.json needs to say about how a model was loaded and read. */
export interface ModelDescription {
  family: FamilyName;
  /** The path given (model.json file or checkpoint directory). */
  source: string;
  /** sha256 of the weight bytes read (TF.js: shards concatenated in manifest order; cnnf: weights.safetensors). */
  weightsSha256: string;
  inputShape: [number, number, number];
  numClasses: number;
  outputKind: 'logits' | 'log-probabilities';
  /**
   * For log-probabilities, how they are computed: `log-softmax` of the pre-softmax tensor (exact, no
   * vanishing gradient), or `clipped-log` = log(max(p, 2^-126)) of the model's probabilities (the
   * gradient vanishes where the softmax saturates). Absent for logits.
   */
  logProbabilities?: 'log-softmax' | 'clipped-log';
  /** The [0,1]-pixel to model-input mapping applied inside the wrapper. */
  inputRange: [number, number];
  mean: number[];
  std: number[];
}

/** A model loaded by a family. */
export interface LoadedModel {
  classifier: DeclaredClassifier;
  description: ModelDescription;
  cost: CostHints;
  /** One-line notices worth printing once (e.g. "softmax head detected: attacks use log-probabilities"). */
  notices: string[];
  dispose(): void;
}

/** Options every family's load takes; a family refuses those that mean nothing to it, in one line. */
export interface LoadOptions extends ModelOptions {
  /** The prediction output used when a call names none (one of the model's outputs; CNN-F default `last`). */
  defaultOutput?: string;
  /** Prefix of messages about options (e.g. `my.json: checkpoints[0]`); default the model path. */
  where?: string;
  /** Directory a relative classNames file is resolved against (default: the working directory). */
  baseDir?: string;
}

/**
 * A model family: how to recognise its files and load them.
 * `detect` is cheap (reads at most the model's JSON description, never weights) and never throws on a
 * file of another family; `load` validates everything and throws one InputError line per problem.
 */
export interface ModelFamily {
  readonly name: FamilyName;
  /** One line for `bench list` and error messages. */
  readonly description: string;
  detect(path: string): Promise<boolean>;
  load(path: string, options?: LoadOptions): Promise<LoadedModel>;
}
