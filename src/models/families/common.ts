import { basename, dirname } from 'node:path';
import { inputError } from '../../engine/errors.js';
import { tf, type Tensor4D } from '../../engine/tf.js';
import type { DeclaredClassifier } from '../classifier.js';
import { attackLoss } from '../../../attacks/losses.js';
import { explainTfjsError } from './tfjsFiles.js';

/** A model's default name: its directory's name for `.../name/model.json`, else the file name without `.json`. */
export function defaultModelName(file: string): string {
  const base = basename(file);
  return base === 'model.json' ? basename(dirname(file)) : base.replace(/\.json$/i, '');
}

/**
 * The [H, W, C] of a model input shape [batch, H, W, C]; anything else (another rank, an unknown or
 * non-positive dimension other than the batch) is one InputError line naming the file.
 */
export function imageInputShape(shape: readonly (number | null | undefined)[] | undefined, file: string): [number, number, number] {
  const show = shape ? `[${shape.map((d) => (d === null || d === undefined || d < 0 ? '?' : d)).join(', ')}]` : 'unknown';
  if (!shape || shape.length !== 4)
    throw inputError(file, `input shape ${show} is not an image batch`, '[batch, height, width, channels] (NHWC)');
  const dims = shape.slice(1);
  if (!dims.every((d) => typeof d === 'number' && Number.isInteger(d) && d > 0))
    throw inputError(file, `input shape ${show} leaves a dimension other than the batch unknown`, '[batch, height, width, channels] with fixed height, width and channels');
  return dims as [number, number, number];
}

/**
 * Runs the model once on a zero image (batch 1) so that an op or kernel with no implementation fails at
 * load time, in one line naming `file` and the op, instead of mid-run. Returns the output's class count.
 */
export function dryRun(classifier: DeclaredClassifier, file: string): number {
  try {
    return tf.tidy(() => {
      const z = tf.zeros([1, ...classifier.inputShape]) as Tensor4D;
      const out = classifier.logitsFor(z);
      if (out.rank !== 2 || out.shape[0] !== 1) throw inputError(file, `output shape [${out.shape.join(', ')}] on one image is not [1, classes]`);
      return out.shape[1];
    });
  } catch (err) {
    throw explainTfjsError(err, file, 'the model fails on a zero image');
  }
}

/**
 * Takes one input gradient (cross entropy of class 0, the model's default output and path) on a zero image,
 * so that a missing gradient kernel (e.g. `DepthwiseConv2dNativeBackpropInput` on plain tfjs wasm) fails
 * before a gradient attack starts, in one line naming `file` and the kernel. For suites that need gradients.
 */
export function checkInputGradient(classifier: DeclaredClassifier, file: string): void {
  try {
    tf.tidy(() => {
      const z = tf.zeros([1, ...classifier.inputShape]) as Tensor4D;
      const { value, grad } = tf.valueAndGrad((xi: tf.Tensor) => attackLoss(classifier.logitsFor(xi as Tensor4D), tf.tensor1d([0], 'int32')))(z);
      grad.dataSync();
      value.dataSync();
    });
  } catch (err) {
    throw explainTfjsError(err, file, 'the model has no input gradient');
  }
}
