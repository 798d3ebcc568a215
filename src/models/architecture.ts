import { inputError, showValue } from '../engine/errors.js';
import { validateWrnArchitecture, wrnWeightSpecs, type WrnArchitecture } from './cnnfWrn/architecture.js';

/**
 * The network's shape lives in data (model.json), not in code paths, so other sizes plug in without
 * touching attacks. The family is CNN-F (Huang et al. 2020): conv blocks conv -> InsNorm -> bias ->
 * AdaReLU [-> AdaPool 2x2], then dense layers with AdaReLU, then a dense classifier. A plain CNN is the
 * same network with cycles = 0.
 *
 * Weight layout of a checkpoint (safetensors, float32, little-endian):
 *   conv{k}.kernel  [3, 3, in, out]  (HWIO, TensorFlow's layout; PyTorch's OIHW is transposed on import)
 *   conv{k}.bias    [out]
 *   fc{j}.kernel    [in, out]        (fc1's input index runs over NHWC flattening h, w, c)
 *   fc{j}.bias      [out]
 * with k = 1..convs.length and j = 1..dense.length + 1 (the last fc is the classifier).
 */
export interface ConvBlockSpec {
  filters: number;
  /** 2x2 AdaPool after the activation. */
  pool: boolean;
}

export interface ArchitectureSpec {
  family: 'cnnf';
  /** [height, width, channels] of the input image. */
  inputShape: [number, number, number];
  numClasses: number;
  kernelSize: number;
  convs: ConvBlockSpec[];
  /** Hidden dense widths (each followed by AdaReLU); the classifier layer is added after them. */
  dense: number[];
  /** Feedback reconstructs the input of conv block ind+1 (0 = the image itself). */
  ind: number;
  cycles: number;
  resParam: number;
  insNormEpsilon: number;
}

/** Any checkpoint's architecture, told apart by `family`: 'cnnf' (above) or 'cnnf-wrn' (./cnnfWrn/architecture.ts). */
export type ModelArchitecture = ArchitectureSpec | WrnArchitecture;
export const ARCHITECTURE_FAMILIES = ['cnnf', 'cnnf-wrn'] as const;

export interface Normalization {
  /** Per-channel mean and std applied to [0,1] pixels: (x - mean) / std. */
  mean: number[];
  std: number[];
}

/** Upper bound on feedback cycles a checkpoint may declare. */
export const MAX_FEEDBACK_CYCLES = 50;

/** The Fashion-MNIST network of the reference implementation (4 conv + 3 fc). */
export function fmnistArchitecture(ind: number, cycles: number, resParam: number): ArchitectureSpec {
  return {
    family: 'cnnf',
    inputShape: [28, 28, 1],
    numClasses: 10,
    kernelSize: 3,
    convs: [
      { filters: 16, pool: false },
      { filters: 32, pool: false },
      { filters: 32, pool: true },
      { filters: 64, pool: true },
    ],
    dense: [1000, 128],
    ind,
    cycles,
    resParam,
    insNormEpsilon: 1e-8,
  };
}

/** The reference normalisation (p - 0.5) / 0.5: pixels in [0,1] map to [-1,1]. */
export const REFERENCE_NORMALIZATION: Normalization = { mean: [0.5], std: [0.5] };

export interface WeightSpec {
  name: string;
  shape: number[];
}

/** Every weight the architecture needs, in a fixed order. */
export function weightSpecs(a: ModelArchitecture): WeightSpec[] {
  if (a.family === 'cnnf-wrn') return wrnWeightSpecs(a);
  const specs: WeightSpec[] = [];
  let channels = a.inputShape[2];
  let [h, w] = a.inputShape;
  a.convs.forEach((c, i) => {
    specs.push({ name: `conv${i + 1}.kernel`, shape: [a.kernelSize, a.kernelSize, channels, c.filters] });
    specs.push({ name: `conv${i + 1}.bias`, shape: [c.filters] });
    channels = c.filters;
    if (c.pool) {
      h = Math.floor(h / 2);
      w = Math.floor(w / 2);
    }
  });
  let width = h * w * channels;
  const widths = [...a.dense, a.numClasses];
  widths.forEach((units, j) => {
    specs.push({ name: `fc${j + 1}.kernel`, shape: [width, units] });
    specs.push({ name: `fc${j + 1}.bias`, shape: [units] });
    width = units;
  });
  return specs;
}

/** Validates a parsed architecture object; `where` names the file for error messages. */
export function validateArchitecture(raw: unknown, where: string): ModelArchitecture {
  if (typeof raw !== 'object' || raw === null) throw inputError(where, 'architecture must be an object');
  const a = raw as Record<string, unknown>;
  const field = (name: string) => `${where}: architecture.${name}`;
  if (a.family === 'cnnf-wrn') return validateWrnArchitecture(a, where);
  if (a.family !== 'cnnf')
    throw inputError(field('family'), `unknown family ${showValue(a.family)}`, ARCHITECTURE_FAMILIES.map((f) => `"${f}"`).join(', '));
  const posInt = (v: unknown) => Number.isInteger(v) && (v as number) > 0;
  const shape = a.inputShape;
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every(posInt))
    throw inputError(field('inputShape'), 'must be [height, width, channels] of positive integers');
  if (!posInt(a.numClasses)) throw inputError(field('numClasses'), 'must be a positive integer');
  if (!posInt(a.kernelSize) || (a.kernelSize as number) % 2 !== 1)
    throw inputError(field('kernelSize'), 'must be an odd positive integer');
  if (!Array.isArray(a.convs) || a.convs.length === 0) throw inputError(field('convs'), 'must be a non-empty list');
  a.convs.forEach((c: unknown, i: number) => {
    const cc = c as Record<string, unknown>;
    if (typeof c !== 'object' || c === null || !posInt(cc.filters) || typeof cc.pool !== 'boolean')
      throw inputError(field(`convs[${i}]`), 'must be {"filters": positive integer, "pool": boolean}');
  });
  if (!Array.isArray(a.dense) || !a.dense.every(posInt)) throw inputError(field('dense'), 'must be a list of positive integers');
  if (!Number.isInteger(a.ind) || (a.ind as number) < 0 || (a.ind as number) >= a.convs.length)
    throw inputError(field('ind'), `must be an integer`, `0..${a.convs.length - 1}`);
  // The paper uses up to 5 cycles; the bound keeps a hostile model.json from turning one pass into a hang.
  if (!Number.isInteger(a.cycles) || (a.cycles as number) < 0 || (a.cycles as number) > MAX_FEEDBACK_CYCLES)
    throw inputError(field('cycles'), 'must be an integer', `0..${MAX_FEEDBACK_CYCLES}`);
  if (typeof a.resParam !== 'number' || !(a.resParam >= 0 && a.resParam <= 1))
    throw inputError(field('resParam'), 'must be a number', '0..1');
  if (typeof a.insNormEpsilon !== 'number' || !(a.insNormEpsilon > 0))
    throw inputError(field('insNormEpsilon'), 'must be a positive number');
  return a as unknown as ArchitectureSpec;
}
