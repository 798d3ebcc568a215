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

/**
 * How a corruption follows its reference function at each image shape. Every size the reference derives
 * from its 32 px side (crop sizes, IMSIZE, loop ranges, map sizes) is computed here from the image's own
 * side, and every RGB step is chosen by the channel count, so the shape of the images being corrupted
 * decides: 32x32x3 (CIFAR-10-C's images) gets the reference's own values and steps, 28x28x1
 * (Fashion-MNIST) the adaptation written in `other`.
 */
export interface Adaptation {
  /** How the step is done at 32x32 RGB, where worth saying (e.g. the HSV round trip). */
  native?: string;
  /** What applies on 1-channel or non-32 px images, e.g. 28x28 grey Fashion-MNIST. */
  other?: string;
  /** Departures from the reference at every shape (an 8-bit rounding omitted, another codec). */
  always?: string;
}

/**
 * Citation of one function's table, then what applies at 32x32x3 (as published unless said) and on
 * other images (grey, other sides), then departures at every shape.
 */
export function cite(functionName: string, a: Adaptation = {}): string {
  const parts = [
    `${CIFAR10C_SOURCE} (${functionName})`,
    `at 32x32 RGB: the published table${a.native ? `, ${a.native}` : ''}`,
    `other images (e.g. 28x28 grey): ${a.other ?? 'the same table (it does not depend on the image size)'}`,
  ];
  if (a.always) parts.push(a.always);
  return parts.join('; ');
}

export interface CorruptionSpec<P> {
  name: string;
  family: CorruptionFamily;
  describe: string;
  severities: readonly [P, P, P, P, P];
  source: string;
  /** Channel counts it is defined on (default IMAGE_CHANNELS, grey and RGB). */
  channels?: readonly number[];
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
 * side with a channel count in `channels` (grey and RGB by default), every value finite and in [0,1];
 * `rng` must hold one sample index per row.
 */
export function checkImages(name: string, x: Tensor4D, rng: KeyedRng, channels: readonly number[] = IMAGE_CHANNELS): void {
  const where = `corruption ${name}`;
  const shape = `[${x.shape.join(', ')}]`;
  const allowed = `float32 NHWC images [N, H, W, C] with H, W >= ${MIN_IMAGE_SIDE} and C in {${channels.join(', ')}}`;
  if (x.rank !== 4) throw inputError(`${where}: image shape`, `${shape} is not a batch of images (rank ${x.rank})`, allowed);
  const [, h, w, c] = x.shape;
  if (h < MIN_IMAGE_SIDE || w < MIN_IMAGE_SIDE)
    throw inputError(`${where}: image shape`, `${shape}: ${h} x ${w} px is under ${MIN_IMAGE_SIDE} px on a side`, allowed);
  if (!channels.includes(c)) throw inputError(`${where}: image shape`, `${shape}: ${c} channels`, allowed);
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
  const { corrupt, channels = IMAGE_CHANNELS, ...fields } = spec;
  return {
    ...fields,
    channels,
    apply(x: Tensor4D, severity: number, rng: KeyedRng): Tensor4D {
      checkSeverity(spec.name, severity);
      checkImages(spec.name, x, rng, channels);
      if (severity === 0 || x.shape[0] === 0) return tf.clone(x);
      const raw = corrupt(x, spec.severities[severity - 1], rng);
      const out = tf.clipByValue(raw, 0, 1);
      raw.dispose();
      return out;
    },
  };
}
