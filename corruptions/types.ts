import type { Tensor4D } from '../src/engine/tf.js';
import type { KeyedRng } from '../src/engine/rng.js';

/** The four groups of Hendrycks & Dietterich (2019), Figure 1; reports average within a family. */
export type CorruptionFamily = 'noise' | 'blur' | 'weather' | 'digital';
export const CORRUPTION_FAMILIES: readonly CorruptionFamily[] = ['noise', 'blur', 'weather', 'digital'];

/** Severities run 1..5 as in CIFAR-10-C; 0 means "no corruption" (the clean images). */
export const MAX_SEVERITY = 5;
export const SEVERITIES: readonly number[] = [0, 1, 2, 3, 4, 5];

export interface Corruption<P> {
  /** Snake-case name as in the CIFAR-10-C file names, e.g. 'gaussian_noise'. */
  name: string;
  family: CorruptionFamily;
  /** One line saying what the corruption does. */
  describe: string;
  /** The parameter used at severity 1..5 (index 0 is severity 1). */
  severities: readonly [P, P, P, P, P];
  /** Where the table comes from (paper and generation script), and how it was adapted. */
  source: string;
  /** Channel counts the corruption is defined on: [1, 3] (grey and RGB), or [3] for RGB-only ones. */
  channels: readonly number[];
  /**
   * NHWC images in [0,1] -> new tensor of the same shape in [0,1]; the caller owns both and disposes them.
   * Row i draws its randomness from rng's stream for row i only, so a sample's result does not depend on
   * the batch it is in. Severity 0 (and an empty batch) returns a copy of x. Throws InputError for
   * anything but float32 [N, H, W, C] images with H, W >= 3, C in `channels` and values in [0,1] (define.ts
   * checkImages), and for a severity outside 0..5.
   */
  apply(x: Tensor4D, severity: number, rng: KeyedRng): Tensor4D;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyCorruption = Corruption<any>;
