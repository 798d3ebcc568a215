import { tf, type Tensor4D } from '../src/engine/tf.js';
import type { KeyedRng } from '../src/engine/rng.js';
import { inputError } from '../src/engine/errors.js';
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

/** Wraps a spec with the checks and conventions every corruption shares (severity 0, clipping, rng rows). */
export function defineCorruption<P>(spec: CorruptionSpec<P>): Corruption<P> {
  const { corrupt, ...fields } = spec;
  return {
    ...fields,
    apply(x: Tensor4D, severity: number, rng: KeyedRng): Tensor4D {
      checkSeverity(spec.name, severity);
      if (x.rank !== 4) throw new Error(`${spec.name}: expected NHWC images, got shape [${x.shape}]`);
      if (rng.sampleIndices.length !== x.shape[0])
        throw new Error(`${spec.name}: rng has ${rng.sampleIndices.length} sample indices for a batch of ${x.shape[0]}`);
      if (severity === 0) return tf.clone(x);
      const raw = corrupt(x, spec.severities[severity - 1], rng);
      const out = tf.clipByValue(raw, 0, 1);
      raw.dispose();
      return out;
    },
  };
}
