import { tf, type Tensor4D } from '../src/engine/tf.js';
import type { KeyedRng } from '../src/engine/rng.js';
import { inputError } from '../src/engine/errors.js';
import { checkPixels } from '../src/models/queryGuard.js';
import { MAX_SEVERITY, type Corruption, type CorruptionFamily } from './types.js';

/**
 * The paper and script every table in this folder is taken from. The numbers are copied from the
 * CIFAR-10-C generation script at commit ca360085d57889288c4143fddd8a707bbcae01bd; the code is ours.
 */
export const CIFAR10C_SOURCE =
  'CIFAR-10-C: Hendrycks & Dietterich 2019, "Benchmarking Neural Network Robustness to Common Corruptions ' +
  'and Perturbations", ICLR; parameter lists of hendrycks/robustness ImageNet-C/create_c/make_cifar_c.py';

/** Citation of one function's table, plus how it was adapted to 28x28 grey images (if at all). */
export function cite(functionName: string, adaptation?: string): string {
  return `${CIFAR10C_SOURCE} (${functionName})${adaptation ? `; ${adaptation}` : ''}`;
}

export interface CorruptionSpec<P> {
  name: string;
  family: CorruptionFamily;
  describe: string;
  severities: readonly [P, P, P, P, P];
  source: string;
  /** Computes the corrupted batch for one severity's parameter; the result is clipped to [0,1] afterwards. */
  corrupt(x: Tensor4D, param: P, rng: KeyedRng): Tensor4D;
}

export function checkSeverity(name: string, severity: number): void {
  if (!Number.isInteger(severity) || severity < 0 || severity > MAX_SEVERITY)
    throw inputError(`corruption ${name}`, `severity ${JSON.stringify(severity)} is not an integer in 0..${MAX_SEVERITY}`, '0, 1, 2, 3, 4, 5');
}

/**
 * Smallest image side every corruption is defined on: elastic_transform's affine anchors sit
 * floor(side / 3) px from the centre (a 2 px image has them all on one point), and pixelate's reduced
 * size int(side * 0.65) is 0 on a 1 px image (a black output). 3 px is the least side where all work.
 */
export const MIN_IMAGE_SIDE = 3;
/** Channel counts the corruptions are defined for: grey (our adaptation) and RGB (CIFAR-10-C). */
export const IMAGE_CHANNELS: readonly number[] = [1, 3];

/**
 * Refuses what no corruption can take, with an InputError naming the corruption, the field and the
 * allowed values: `x` must be a float32 NHWC tensor (rank 4) of images at least MIN_IMAGE_SIDE px on a
 * side with 1 or 3 channels, every value finite and in [0,1]; `rng` must hold one sample index per row.
 */
export function checkImages(name: string, x: Tensor4D, rng: KeyedRng): void {
  const where = `corruption ${name}`;
  const shape = `[${x.shape.join(', ')}]`;
  const allowed = `float32 NHWC images [N, H, W, C] with H, W >= ${MIN_IMAGE_SIDE} and C in {${IMAGE_CHANNELS.join(', ')}}`;
  if (x.rank !== 4) throw inputError(`${where}: image shape`, `${shape} is not a batch of images (rank ${x.rank})`, allowed);
  const [, h, w, c] = x.shape;
  if (h < MIN_IMAGE_SIDE || w < MIN_IMAGE_SIDE)
    throw inputError(`${where}: image shape`, `${shape}: ${h} x ${w} px is under ${MIN_IMAGE_SIDE} px on a side`, allowed);
  if (!IMAGE_CHANNELS.includes(c)) throw inputError(`${where}: image shape`, `${shape}: ${c} channels`, allowed);
  if (x.dtype !== 'float32') throw inputError(`${where}: image dtype`, `${x.dtype}`, allowed);
  if (rng.sampleIndices.length !== x.shape[0])
    throw inputError(`${where}: rng.sampleIndices`, `${rng.sampleIndices.length} sample indices for a batch of ${x.shape[0]} images`, 'one index per image');
  const { invalid, min, max } = checkPixels(x);
  if (invalid > 0)
    throw inputError(`${where}: image values`, `${invalid} values outside [0,1] or not finite (range [${min}, ${max}])`, 'finite pixel values in [0, 1]');
}

/**
 * Wraps a spec with the checks and conventions every corruption shares: the input checks of
 * checkImages (InputError), severity 0 and an empty batch returning a copy, clipping to [0,1], rng rows.
 */
export function defineCorruption<P>(spec: CorruptionSpec<P>): Corruption<P> {
  const { corrupt, ...fields } = spec;
  return {
    ...fields,
    apply(x: Tensor4D, severity: number, rng: KeyedRng): Tensor4D {
      checkSeverity(spec.name, severity);
      checkImages(spec.name, x, rng);
      if (severity === 0 || x.shape[0] === 0) return tf.clone(x);
      const raw = corrupt(x, spec.severities[severity - 1], rng);
      const out = tf.clipByValue(raw, 0, 1);
      raw.dispose();
      return out;
    },
  };
}
