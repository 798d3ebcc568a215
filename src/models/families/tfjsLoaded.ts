// The last step both TF.js loaders (tfjsLayers.ts, tfjsGraph.ts) share once they have a runnable model.
import { inputError } from '../../engine/errors.js';
import type { Tensor2D, Tensor4D } from '../../engine/tf.js';
import { dryRun } from './common.js';
import type { ResolvedModelOptions } from './options.js';
import { TfjsClassifier, type HeadReading } from './tfjsClassifier.js';
import type { LoadedModel } from './types.js';

/** What a TF.js loader found out about its model. */
export interface TfjsModelParts {
  family: 'tfjs-layers' | 'tfjs-graph';
  /** The path the user gave, and the model.json file that messages name. */
  path: string;
  file: string;
  weightsSha256: string;
  /** [height, width, channels] of the one image input. */
  inputShape: [number, number, number];
  numClasses: number;
  resolved: ResolvedModelOptions;
  head: HeadReading;
  /** How the output was recognised as probabilities, for the notice (e.g. 'softmax head detected'); null when only the options say so. */
  softmaxFound: string | null;
  /** What log-softmax is taken of with head 'log-softmax', for the notice (e.g. 'the pre-softmax tensor'). */
  preSoftmaxName: string;
  /** The model's output [N, K] on an input already in its range; preSoftmax: the softmax's input [N, K]. */
  forward(input: Tensor4D): Tensor2D;
  preSoftmax?(input: Tensor4D): Tensor2D;
  /** Forward FLOPs per image as the family counts them (null when unknown); called after the dry run, since
   * counting may execute the model. */
  forwardFlops(): number | null;
  /** Releases the model's weights (and any copy made for the pre-softmax model). */
  dispose(): void;
}

/**
 * Builds the TfjsClassifier of a loaded TF.js model, runs it once on a zero image (an op without a TF.js
 * kernel fails here, naming the op), and returns the LoadedModel: classifier, description, cost hints and the
 * notice that says how a probability head is read (log-softmax of the softmax's input, or the log of
 * clipped probabilities). Throws InputError naming `file` when the dry run's class count differs from the
 * declared numClasses. Does not dispose the model on error: the caller's try/catch does.
 */
export function finishTfjsModel(p: TfjsModelParts): LoadedModel {
  const notices: string[] = [];
  if (p.head !== 'logits')
    notices.push(
      `${p.resolved.name}: ${p.softmaxFound ?? 'output read as probabilities'}: attacks use log-probabilities (${p.head === 'log-softmax' ? `log-softmax of ${p.preSoftmaxName}` : 'log of clipped probabilities; gradients vanish where the softmax saturates'})`,
    );
  const classifier = new TfjsClassifier({
    family: p.family,
    name: p.resolved.name,
    inputShape: p.inputShape,
    numClasses: p.numClasses,
    classNames: p.resolved.classNames,
    mapping: p.resolved.mapping,
    head: p.head,
    forward: p.forward,
    preSoftmax: p.preSoftmax,
  });
  const classes = dryRun(classifier, p.file);
  if (classes !== p.numClasses) throw inputError(p.file, `output has ${classes} classes on a zero image, its shape declares ${p.numClasses}`);
  const flops = p.forwardFlops();
  return {
    classifier,
    description: {
      family: p.family,
      source: p.path,
      weightsSha256: p.weightsSha256,
      inputShape: p.inputShape,
      numClasses: p.numClasses,
      outputKind: classifier.outputKind,
      ...(p.head === 'logits' ? {} : { logProbabilities: p.head }),
      inputRange: p.resolved.mapping.inputRange,
      mean: p.resolved.mapping.mean,
      std: p.resolved.mapping.std,
    },
    cost: { forwardFlopsPerImage: flops, feedbackCycles: 0 },
    notices,
    dispose: p.dispose,
  };
}
