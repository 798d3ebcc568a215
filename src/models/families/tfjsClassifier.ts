import { inputError } from '../../engine/errors.js';
import { tf, type Tensor2D, type Tensor4D } from '../../engine/tf.js';
import {
  DIRECT_PATH,
  LOGITS_OUTPUT,
  type DeclaredClassifier,
  type LogitsKind,
  type LogitsRequest,
  type ModelLossAndGradOptions,
} from '../classifier.js';
import { lossAndGradVia, resolveRequest } from '../declared.js';
import { mapInput, type InputMapping } from './options.js';

/**
 * How the wrapper reads the model's final tensor: as logits; as probabilities whose pre-softmax tensor it
 * can compute (`log-softmax` of it); or as probabilities only (`clipped-log`: log(max(p, TINY))).
 */
export type HeadReading = 'logits' | 'log-softmax' | 'clipped-log';

/** Smallest normal float32, 2^-126: log of it is finite (-87.3) and so is its gradient 1/p. */
export const TINY_PROBABILITY = 2 ** -126;

export interface TfjsClassifierSpec {
  family: 'tfjs-layers' | 'tfjs-graph';
  name: string;
  inputShape: readonly [number, number, number];
  numClasses: number;
  classNames?: readonly string[];
  mapping: InputMapping;
  head: HeadReading;
  /** The model's own output [N, K] for an input already in the model's range; differentiable. */
  forward(input: Tensor4D): Tensor2D;
  /** The tensor the final softmax is applied to, [N, K]; required for head `log-softmax`. */
  preSoftmax?(input: Tensor4D): Tensor2D;
}

/**
 * A single-output TF.js model (layers or graph) behind contract v2: output `logits`, gradient path
 * `direct` (plain autodiff through the model), [0,1] pixels mapped to the model's input range and
 * normalisation inside (options.ts mapInput). With a softmax head the scores are log-probabilities.
 */
export class TfjsClassifier implements DeclaredClassifier {
  readonly family: 'tfjs-layers' | 'tfjs-graph';
  readonly name: string;
  readonly inputShape: readonly [number, number, number];
  readonly numClasses: number;
  readonly classNames?: readonly string[];
  readonly hasFeedback = false;
  readonly outputs: readonly string[] = [LOGITS_OUTPUT];
  readonly defaultOutput = LOGITS_OUTPUT;
  readonly gradientPaths: readonly string[] = [DIRECT_PATH];
  readonly exactPath = DIRECT_PATH;
  /** logits() is logitsFor inside a tidy. */
  readonly predictionPaths: readonly string[] = [DIRECT_PATH];
  readonly outputKind: LogitsKind;
  readonly head: HeadReading;
  readonly mapping: InputMapping;

  constructor(private readonly spec: TfjsClassifierSpec) {
    this.family = spec.family;
    this.name = spec.name;
    this.inputShape = spec.inputShape;
    this.numClasses = spec.numClasses;
    this.classNames = spec.classNames;
    this.head = spec.head;
    this.mapping = spec.mapping;
    this.outputKind = spec.head === 'logits' ? 'logits' : 'log-probabilities';
    if (spec.head === 'log-softmax' && !spec.preSoftmax) throw new Error('TfjsClassifier: head log-softmax needs preSoftmax');
  }

  logitsFor(x: Tensor4D, request?: LogitsRequest): Tensor2D {
    resolveRequest(this, DIRECT_PATH, request);
    const [h, w, c] = this.inputShape;
    if (x.rank !== 4 || x.shape[1] !== h || x.shape[2] !== w || x.shape[3] !== c)
      throw inputError(`model "${this.name}"`, `got images of shape [${x.shape.join(', ')}], it takes [N, ${h}, ${w}, ${c}]`);
    const input = mapInput(x, this.mapping);
    if (this.head === 'logits') return this.spec.forward(input);
    if (this.head === 'log-softmax') return tf.logSoftmax(this.spec.preSoftmax!(input));
    return tf.log(tf.maximum(this.spec.forward(input), tf.scalar(TINY_PROBABILITY))) as Tensor2D;
  }

  /** Scores [N, classes] (logits or log-probabilities, see outputKind); the only output is `logits`. */
  logits(x: Tensor4D, output?: string): Tensor2D {
    return tf.tidy(() => this.logitsFor(x, { output }));
  }

  /** Contract v1/v2 loss and input gradient (src/models/declared.ts lossAndGradVia); path must be `direct`. */
  lossAndGrad(x: Tensor4D, y: tf.Tensor1D, options: ModelLossAndGradOptions): { loss: tf.Tensor1D; grad: Tensor4D } {
    return lossAndGradVia(this, x, y, options);
  }
}
