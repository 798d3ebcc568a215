import { tf, type Tensor, type Tensor4D } from '../engine/tf.js';
import { inputError } from '../engine/errors.js';
import { readSafetensors, type SafeTensor } from './safetensors.js';
import type { LoadedCheckpoint } from './checkpoint.js';
import { CnnfNetwork } from './cnnf.js';
import { CnnfClassifier } from './cnnfClassifier.js';
import type { OutputKind } from './classifier.js';

/*
 * Compares a checkpoint with outputs of the reference PyTorch CNN-F (cases.safetensors: NCHW inputs in
 * the reference's [-1,1] space, raw pixels x_uint8, labels y, and expected logits, features and input
 * gradients). AdaReLU masks and AdaPool choices are discontinuous, so two correct float32
 * implementations can flip a unit on an image whose feedback value sits within rounding of zero; the
 * comparison is therefore per sample: a case passes when all but `maxOutliers` images are within
 * tolerance (relative L2 error per image) and the predicted class agrees on every image.
 */

export interface VerifyOptions {
  logitsTolerance: number;
  gradientTolerance: number;
  maxOutliers: number;
}

export const DEFAULT_VERIFY_OPTIONS: VerifyOptions = { logitsTolerance: 1e-4, gradientTolerance: 1e-3, maxOutliers: 2 };

export interface CaseResult {
  name: string;
  tolerance: number;
  maxRelativeError: number;
  medianRelativeError: number;
  maxAbsoluteError: number;
  /** Images beyond tolerance: index and relative error. */
  outliers: { image: number; relativeError: number }[];
  /** For logits cases: images whose predicted class differs from the reference's. */
  classMismatches: number[];
  passed: boolean;
}

type Produce = (c: CnnfClassifier, x: Tensor4D, y: tf.Tensor1D) => Tensor;

/** The cases we know how to reproduce; gradients are converted to the reference's normalised input space. */
function producers(std: number): Record<string, { kind: 'logits' | 'feature' | 'gradient'; produce: Produce }> {
  const toNchw = (t: Tensor) => tf.transpose(t, [0, 3, 1, 2]);
  // x_pixels = x_norm * std + mean, so dL/dx_norm = dL/dx_pixels * std.
  const gradient = (path: 'first' | 'e2e', output: OutputKind): Produce => (c, x, y) =>
    toNchw(tf.mul(c.lossAndGrad(x, y, { path, output, loss: 'ce' }).grad, std));
  return {
    logits_first: { kind: 'logits', produce: (c, x) => c.logits(x, 'first') },
    logits_last: { kind: 'logits', produce: (c, x) => c.logits(x, 'last') },
    logits_avg: { kind: 'logits', produce: (c, x) => c.logits(x, 'average') },
    feature_ind: { kind: 'feature', produce: (c, x) => toNchw(c.network.run(x).featureInd) },
    recon_ind_cycle1: { kind: 'feature', produce: (c, x) => toNchw(c.network.run(x).reconstructions[0]) },
    grad_first: { kind: 'gradient', produce: gradient('first', 'last') },
    grad_e2e_last: { kind: 'gradient', produce: gradient('e2e', 'last') },
    grad_e2e_avg: { kind: 'gradient', produce: gradient('e2e', 'average') },
  };
}

function compare(name: string, got: Float32Array, want: SafeTensor, images: number, tolerance: number, logits: boolean): CaseResult {
  const ref = want.data as Float32Array;
  if (got.length !== ref.length)
    throw inputError(name, `shape mismatch: reference has ${ref.length} values, the checkpoint produced ${got.length}`);
  const per = ref.length / images;
  const errors: number[] = [];
  const classMismatches: number[] = [];
  let maxAbs = 0;
  for (let i = 0; i < images; i++) {
    let num = 0;
    let den = 0;
    let argGot = 0;
    let argRef = 0;
    for (let j = 0; j < per; j++) {
      const k = i * per + j;
      const d = got[k] - ref[k];
      num += d * d;
      den += ref[k] * ref[k];
      maxAbs = Math.max(maxAbs, Math.abs(d));
      if (got[k] > got[i * per + argGot]) argGot = j;
      if (ref[k] > ref[i * per + argRef]) argRef = j;
    }
    errors.push(den > 0 ? Math.sqrt(num / den) : Math.sqrt(num));
    if (logits && argGot !== argRef) classMismatches.push(i);
  }
  const sorted = [...errors].sort((a, b) => a - b);
  const outliers = errors.map((e, image) => ({ image, relativeError: e })).filter((o) => !(o.relativeError <= tolerance));
  return {
    name,
    tolerance,
    maxRelativeError: sorted[sorted.length - 1],
    medianRelativeError: sorted[Math.floor(sorted.length / 2)],
    maxAbsoluteError: maxAbs,
    outliers,
    classMismatches,
    passed: false,
  };
}

/** Runs every case present in the reference file; cases that the network has no counterpart of are skipped. */
export async function verifyAgainstReference(
  checkpoint: LoadedCheckpoint,
  referencePath: string,
  options: VerifyOptions = DEFAULT_VERIFY_OPTIONS,
): Promise<CaseResult[]> {
  const cases = (await readSafetensors(referencePath)).tensors;
  const rawPixels = cases.get('x_uint8');
  const labels = cases.get('y');
  if (!rawPixels || !labels) throw inputError(referencePath, 'missing the inputs x_uint8 and y', 'a cases.safetensors of the reference fixtures');
  // The inputs must be images: 8-bit pixels [N, H, W] (a float tensor could hold values outside [0,1]).
  if (rawPixels.dtype !== 'U8' || rawPixels.shape.length !== 3)
    throw inputError(`${referencePath}: tensor "x_uint8"`, `is ${rawPixels.dtype} [${rawPixels.shape.join(', ')}]`, 'U8 pixels of shape [N, H, W]');
  const [n, h, w] = rawPixels.shape;
  const { architecture, normalization } = checkpoint.manifest;
  if (h !== architecture.inputShape[0] || w !== architecture.inputShape[1])
    throw inputError(referencePath, `x_uint8 is ${h}x${w} but the checkpoint expects ${architecture.inputShape[0]}x${architecture.inputShape[1]}`);
  const params: Record<string, Tensor> = {};
  for (const [name, wt] of Object.entries(checkpoint.weights)) params[name] = tf.tensor(wt.data, wt.shape);
  const classifier = new CnnfClassifier(checkpoint.manifest.name, new CnnfNetwork(architecture, normalization, params));
  const x = tf.tidy(() => tf.div(tf.tensor(Float32Array.from(rawPixels.data), [n, h, w, 1]), 255)) as Tensor4D;
  const y = tf.tensor1d(Int32Array.from(labels.data), 'int32');
  const results: CaseResult[] = [];
  try {
    for (const [name, p] of Object.entries(producers(normalization.std[0]))) {
      const want = cases.get(name);
      if (!want) continue;
      const got = tf.tidy(() => p.produce(classifier, x, y));
      const data = (await got.data()) as Float32Array;
      got.dispose();
      const tolerance = p.kind === 'gradient' ? options.gradientTolerance : options.logitsTolerance;
      const r = compare(name, data, want, n, tolerance, p.kind === 'logits');
      r.passed = r.outliers.length <= options.maxOutliers && r.classMismatches.length === 0;
      results.push(r);
    }
  } finally {
    x.dispose();
    y.dispose();
    for (const t of Object.values(params)) t.dispose();
  }
  if (results.length === 0) throw inputError(referencePath, 'no comparable case found', Object.keys(producers(1)).join(', '));
  return results;
}
