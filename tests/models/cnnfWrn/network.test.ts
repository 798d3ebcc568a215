// The Wide-ResNet CNN-F's end-to-end input gradient (the PGD step of issue 15) with a model's constant
// weights, on wasm: the fast formulations (sub-pixel transposed convolutions, pooled spatial sums, the
// upsampling's summed gradient, Winograd F(2x2,3x3) for the 64-channel stride-1 convolutions of group 3,
// their input gradients and tied transposed convolutions) give the gradient of the plain ones, and the step runs none of the
// kernels they replace (the Tile gradient's slices, the zero-inserted strided adjoints' pads).
import { describe, expect, it } from 'vitest';
import { tf, type Tensor4D } from '../../../src/engine/tf.js';
import { initBackend } from '../../../src/engine/backend.js';
import { SampleStream } from '../../../src/engine/rng.js';
import { setDisabledFastPaths } from '../../../src/engine/fastPaths.js';
import { registerConstantKernels, releaseConstantKernels, winogradCalls } from '../../../src/engine/kernels/index.js';
import { wrnArchitecture, wrnWeightSpecs } from '../../../src/models/cnnfWrn/architecture.js';
import { WrnCnnfNetwork } from '../../../src/models/cnnfWrn/network.js';

const arch = wrnArchitecture(10, 1, 1, 1, 0.1); // WRN-10-1, feedback to block 1, one cycle: both stride-2 groups
const normalization = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };

function weights(): Record<string, tf.Tensor> {
  const params: Record<string, tf.Tensor> = {};
  for (const spec of wrnWeightSpecs(arch)) {
    const s = new SampleStream(3, spec.name, 0);
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const std = spec.shape.length === 4 ? Math.sqrt(2 / (spec.shape[0] * spec.shape[1] * spec.shape[3])) : 0.3;
    params[spec.name] = tf.tensor(Float32Array.from({ length: n }, () => std * s.normal()), spec.shape);
  }
  return params;
}

/** Cross-entropy of the last logits summed over the batch, and its gradient w.r.t. the [0,1] input. */
function e2eGradient(net: WrnCnnfNetwork, x: Tensor4D, labels: tf.Tensor2D): Float32Array {
  return tf.tidy(() => tf.grad((xi: tf.Tensor) => tf.losses.softmaxCrossEntropy(labels, net.run(xi as Tensor4D).last, undefined, undefined, tf.Reduction.SUM))(x).dataSync() as Float32Array);
}

describe('WRN CNN-F e2e gradient with constant weights on wasm', () => {
  it('equals the plain formulation and runs no Tile-gradient slices, zero insertion or spatial transposes, and makes no tensor on the first step', async () => {
    await initBackend('wasm');
    const weightMap = weights();
    const params = Object.values(weightMap);
    const s = new SampleStream(3, 'x', 0);
    const x = tf.tensor4d(Float32Array.from({ length: 2 * 32 * 32 * 3 }, () => s.next()), [2, 32, 32, 3]);
    const labels = tf.oneHot(tf.tensor1d([3, 7], 'int32'), 10).toFloat() as tf.Tensor2D;
    setDisabledFastPaths(['constant-kernels', 'subpixel-transpose', 'spatial-sum-pool', 'winograd-3x3']);
    const plainCalls = winogradCalls();
    const plain = e2eGradient(new WrnCnnfNetwork(arch, normalization, weightMap), x, labels);
    expect(winogradCalls()).toBe(plainCalls);
    setDisabledFastPaths(null);
    // As a checkpoint loader does: constant weights, then the network (which makes its sub-pixel kernels).
    registerConstantKernels(params);
    const net = new WrnCnnfNetwork(arch, normalization, weightMap);
    const before = tf.memory().numTensors;
    const profile = await tf.profile(() => e2eGradient(net, x, labels).length);
    expect(tf.memory().numTensors).toBe(before); // no cache filled during the first step
    const fastCalls = winogradCalls();
    const fast = e2eGradient(net, x, labels);
    // Group 3's 64->64 conv2 forward in each pass, its input gradients, the feedback's tied transposed convolution.
    expect(winogradCalls()).toBeGreaterThan(fastCalls);
    releaseConstantKernels(params);
    const calls = (name: string) => profile.kernels.filter((k) => k.name === name).length;
    expect(calls('Slice')).toBe(0); // the Tile gradient: one Slice of dy per position of the 8x8 map
    // Zero insertion (conv2d-transpose.ts) pads rank-3 views; the sub-pixel framing pads NHWC maps by a row/column.
    expect(profile.kernels.filter((k) => k.name === 'PadV2' && k.inputShapes[0].length !== 4)).toEqual([]);
    // wasm's Sum transposes a map before reducing its spatial axes: the spatial sums run as AvgPool.
    expect(profile.kernels.filter((k) => k.name === 'Sum' && k.inputShapes[0].length === 4 && k.inputShapes[0][1] > 1).map((k) => k.inputShapes[0])).toEqual([]);
    let maxDiff = 0, maxRef = 0;
    for (let i = 0; i < plain.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(fast[i] - plain[i]));
      maxRef = Math.max(maxRef, Math.abs(plain[i]));
    }
    expect(maxRef).toBeGreaterThan(0);
    expect(maxDiff).toBeLessThan(1e-4 * maxRef);
    tf.dispose([x, labels, ...params]);
  }, 120_000);
});
