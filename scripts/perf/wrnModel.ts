// The Wide-ResNet CNN-F (src/models/cnnfWrn) as the perf harness times it: built with random weights
// (the arithmetic does not depend on their values), and the three timed calls of a WRN measurement --
// the first feedforward pass, the full feedback inference, and one end-to-end PGD step -- so that
// scripts/perf.ts (through scripts/perf/child.ts) and scripts/wrn-perf.ts time exactly the same work as
// the PyTorch driver scripts/reference/wrn_perf.py.
import { tf, type Tensor1D, type Tensor4D } from '../../src/engine/tf.js';
import { SampleStream } from '../../src/engine/rng.js';
import { wrnArchitecture, wrnWeightSpecs, type WrnArchitecture } from '../../src/models/cnnfWrn/architecture.js';
import { CnnfClassifier } from '../../src/models/cnnfClassifier.js';
import { buildNetwork } from '../../src/models/network.js';
import { fastPath } from '../../src/engine/fastPaths.js';
import { registerConstantKernels, releaseConstantKernels } from '../../src/engine/kernels/index.js';

/** A WRN configuration: depth 6n+4, widen factor, feedback target block `ind`, feedback cycles. */
export interface WrnConfig {
  depth: number;
  widen: number;
  ind: number;
  cycles: number;
}

/** The paper's CIFAR-10 CNN-F (Huang et al. 2020): WRN-40-2, ind 5, 2 cycles (res_param 0.1). */
export const PAPER_WRN: WrnConfig = { depth: 40, widen: 2, ind: 5, cycles: 2 };
/** A small WRN for smoke runs (perf --quick): WRN-10-1, ind 1, 1 cycle; every code path of the large one. */
export const QUICK_WRN: WrnConfig = { depth: 10, widen: 1, ind: 1, cycles: 1 };

/** What a WRN measurement times: the first pass, the full inference (`last` output), or one e2e PGD step. */
export type WrnCase = 'first' | 'forward' | 'e2e';
export const WRN_CASES: readonly WrnCase[] = ['first', 'forward', 'e2e'];

export const wrnArch = (c: WrnConfig): WrnArchitecture => wrnArchitecture(c.depth, c.widen, c.ind, c.cycles, 0.1);

/**
 * The classifier with seeded random weights: He-normal convolutions (std sqrt(2 / (k·k·out)), as the
 * reference initialises them), the classifier N(0, 1/in), biases N(0, 0.1); inputs normalised by mean
 * and std 0.5 (the reference's [-1, 1] input space). `dispose` frees the weights.
 */
export function buildWrnClassifier(c: WrnConfig): { classifier: CnnfClassifier; dispose: () => void } {
  const arch = wrnArch(c);
  const params: Record<string, tf.Tensor> = {};
  for (const spec of wrnWeightSpecs(arch)) {
    const s = new SampleStream(1, `perf/${spec.name}`, 0);
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const std = spec.shape.length === 4 ? Math.sqrt(2 / (spec.shape[0] * spec.shape[1] * spec.shape[3])) : spec.name === 'fc.kernel' ? 1 / Math.sqrt(spec.shape[0]) : 0.1;
    params[spec.name] = tf.tensor(Float32Array.from({ length: size }, () => std * s.normal()), spec.shape);
  }
  // Constant weights, as the cnnf family declares a loaded checkpoint's (src/models/families/cnnf.ts).
  if (fastPath('constant-kernels')) registerConstantKernels(Object.values(params));
  const classifier = new CnnfClassifier('wrn', buildNetwork(arch, { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] }, params), 'last');
  const dispose = () => {
    releaseConstantKernels(Object.values(params));
    tf.dispose(Object.values(params));
  };
  return { classifier, dispose };
}

/** Seeded uniform [0,1] images [batch,32,32,3] and labels i mod 10. */
export function wrnInputs(batch: number): { x: Tensor4D; y: Tensor1D } {
  return {
    x: tf.randomUniform([batch, 32, 32, 3], 0, 1, 'float32', 7) as Tensor4D,
    y: tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 10), 'int32'),
  };
}

/**
 * The call a WRN measurement times (its result must be read back to finish the work):
 *  - first: logits of the first feedforward pass;
 *  - forward: logits after all feedback cycles (what an evaluation computes);
 *  - e2e: one L-inf PGD step through the unrolled feedback loop, as the reference's advertorch attack on
 *    `run_cycles_adv` does: cross-entropy loss of the last logits, its gradient w.r.t. the input, then
 *    x + (2/255) sign(grad) projected on the 8/255 ball around x and on [0,1].
 */
export function wrnCall(classifier: CnnfClassifier, kind: WrnCase, x: Tensor4D, y: Tensor1D): () => tf.Tensor {
  if (kind === 'first') return () => classifier.logits(x, 'first');
  if (kind === 'forward') return () => classifier.logits(x, 'last');
  const eps = 8 / 255;
  const step = 2 / 255;
  return () =>
    tf.tidy(() => {
      const { grad } = classifier.lossAndGrad(x, y, { path: 'e2e', output: 'last', loss: 'ce' });
      const moved = tf.add(x, tf.mul(step, tf.sign(grad)));
      return tf.clipByValue(tf.minimum(tf.maximum(moved, tf.sub(x, eps)), tf.add(x, eps)), 0, 1);
    });
}
