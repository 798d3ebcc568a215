// The performance benchmark's "user model" (issue 14): a depthwise-separable TF.js layers-model at
// 32x32x3, the kind of small mobile classifier a user brings (MobileNet v1's block: depthwise 3x3 ->
// batch norm -> ReLU -> pointwise 1x1 -> batch norm -> ReLU; Howard et al. 2017, "MobileNets", Fig. 3).
// The measuring process builds it with tfjs-layers (seeded random weights: only speed is measured), saves
// it in the on-disk TF.js format (model.json + one weight shard) and loads it back through bench's
// tfjs-layers family (src/models/families), so the real loading path and input mapping are what is timed.
//
// Layers (all 'same' padding, no convolution bias: batch norm follows each convolution):
//   conv 3x3 stride 2, 3 -> 32, BN, ReLU                         32x32 -> 16x16
//   5 blocks [depthwise 3x3 stride s, BN, ReLU, pointwise 1x1 -> c, BN, ReLU], (s, c) =
//     (1, 64), (2, 128), (1, 128), (2, 256), (1, 256)           16x16 -> 8x8 -> 4x4
//   global average pool, dense 256 -> 10 (logits, with bias)
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tf } from '../../src/engine/tf.js';
import type { LayerCount } from './flops.js';
import { fastPath } from '../../src/engine/fastPaths.js';

export interface UserModelSpec {
  inputShape: [number, number, number];
  stem: { filters: number; kernel: number; stride: number };
  blocks: { stride: number; filters: number }[];
  /** Depthwise kernel size of every block. */
  depthwiseKernel: number;
  classes: number;
  /** The pixel range the model is declared to take (bench maps its [0,1] pixels to it). */
  inputRange: [number, number];
}

export const USER_MODEL: UserModelSpec = {
  inputShape: [32, 32, 3],
  stem: { filters: 32, kernel: 3, stride: 2 },
  blocks: [
    { stride: 1, filters: 64 },
    { stride: 2, filters: 128 },
    { stride: 1, filters: 128 },
    { stride: 2, filters: 256 },
    { stride: 1, filters: 256 },
  ],
  depthwiseKernel: 3,
  classes: 10,
  inputRange: [-1, 1],
};

export interface UserModelFlops {
  /** Per-layer multiply-adds of one forward pass, per image. `fused`: the layer runs as a tfjs fused op (see below). */
  layers: (LayerCount & { fused: boolean })[];
  forwardMacs: number;
  /** Multiply-adds of the layers that run as tfjs fused ops (Conv2D and Dense layers). */
  fusedMacs: number;
  /** Multiply-adds of the layers whose weight gradient an attack step forms (see userModelFlops). */
  weightGradientMacs: number;
  /** FLOP (2 per multiply-add) of one forward pass, per image. */
  forwardFlops: number;
  /** FLOP of one PGD step (loss and input gradient), per image: see stepFactor. */
  stepFlops: number;
  /** stepFlops / forwardFlops. */
  stepFactor: number;
}

/**
 * Multiply-adds of the user model, counted from its layer shapes ('same' padding: an output side is
 * ceil(input side / stride)): a k x k convolution Cin -> Cout makes Ho Wo k^2 Cin Cout, a depthwise one
 * Ho Wo k^2 C, a pointwise one Ho Wo Cin Cout, the dense layer in x out. Batch norm, ReLU, pooling and
 * biases are elementwise and not counted.
 *
 * One PGD step = forward + gradient w.r.t. the input. The input gradient costs one multiply-add per
 * forward multiply-add (every layer's input gradient is a product of the same size). tfjs-layers runs
 * Conv2D layers (stem, pointwise) as tf.fused.conv2d and Dense as tf.fused.matMul. TensorFlow.js's own
 * gradients of both always form the weight gradient too (another product of the forward's size, useless
 * to an attack); bench's fused conv2d gradient (fast path fused-conv-grad, src/engine/kernels/
 * fused-conv-gradient.ts) forms it only when asked, so with that fast path on only the Dense layer's is
 * formed. DepthwiseConv2D runs unfused, and tf.grad prunes its filter gradient. Hence
 *   step = 2 x forward + multiply-adds of the layers whose weight gradient is formed (x 2 FLOP),
 * a factor of 2.0006 for this model with `convWeightGradients` false (the default while the fast path is
 * on), 2.94 with it true (the profile then shows the Conv2DBackpropFilter calls).
 */
export function userModelFlops(spec: UserModelSpec = USER_MODEL, convWeightGradients = !fastPath('fused-conv-grad')): UserModelFlops {
  let [h, w, c] = spec.inputShape;
  const out = (side: number, stride: number) => Math.ceil(side / stride);
  const layers: (LayerCount & { fused: boolean })[] = [];
  const k = spec.stem.kernel;
  h = out(h, spec.stem.stride);
  w = out(w, spec.stem.stride);
  layers.push({ name: 'conv', macs: h * w * k * k * c * spec.stem.filters, fused: true });
  c = spec.stem.filters;
  spec.blocks.forEach((b, i) => {
    h = out(h, b.stride);
    w = out(w, b.stride);
    const d = spec.depthwiseKernel;
    layers.push({ name: `block${i + 1}/depthwise`, macs: h * w * d * d * c, fused: false });
    layers.push({ name: `block${i + 1}/pointwise`, macs: h * w * c * b.filters, fused: true });
    c = b.filters;
  });
  layers.push({ name: 'dense', macs: c * spec.classes, fused: true });
  const forwardMacs = layers.reduce((s, l) => s + l.macs, 0);
  const fusedMacs = layers.filter((l) => l.fused).reduce((s, l) => s + l.macs, 0);
  const weightGradientMacs = layers.filter((l) => l.fused && (convWeightGradients || l.name === 'dense')).reduce((s, l) => s + l.macs, 0);
  const forwardFlops = 2 * forwardMacs;
  const stepFlops = 2 * (2 * forwardMacs + weightGradientMacs);
  return { layers, forwardMacs, fusedMacs, weightGradientMacs, forwardFlops, stepFlops, stepFactor: stepFlops / forwardFlops };
}

/**
 * Builds the user model (functional tfjs-layers model, input [batch, 32, 32, 3] in `inputRange` units,
 * output [batch, classes] logits) with seeded Glorot-uniform weights and random batch-norm statistics
 * (mean in [-0.1, 0.1), variance in [0.5, 1.5)), so every run builds the same model.
 */
export function buildUserModel(spec: UserModelSpec = USER_MODEL, seed = 14): tf.LayersModel {
  let s = seed;
  const glorot = () => tf.initializers.glorotUniform({ seed: s++ });
  const bn = () =>
    tf.layers.batchNormalization({
      movingMeanInitializer: tf.initializers.randomUniform({ minval: -0.1, maxval: 0.1, seed: s++ }),
      movingVarianceInitializer: tf.initializers.randomUniform({ minval: 0.5, maxval: 1.5, seed: s++ }),
    });
  const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor) => layer.apply(x) as tf.SymbolicTensor;
  const input = tf.input({ shape: spec.inputShape });
  let x = apply(tf.layers.conv2d({ filters: spec.stem.filters, kernelSize: spec.stem.kernel, strides: spec.stem.stride, padding: 'same', useBias: false, kernelInitializer: glorot() }), input);
  x = apply(tf.layers.reLU(), apply(bn(), x));
  for (const b of spec.blocks) {
    x = apply(tf.layers.depthwiseConv2d({ kernelSize: spec.depthwiseKernel, strides: b.stride, padding: 'same', useBias: false, depthwiseInitializer: glorot() }), x);
    x = apply(tf.layers.reLU(), apply(bn(), x));
    x = apply(tf.layers.conv2d({ filters: b.filters, kernelSize: 1, padding: 'same', useBias: false, kernelInitializer: glorot() }), x);
    x = apply(tf.layers.reLU(), apply(bn(), x));
  }
  x = apply(tf.layers.globalAveragePooling2d({}), x);
  const logits = apply(tf.layers.dense({ units: spec.classes, kernelInitializer: glorot(), biasInitializer: tf.initializers.randomUniform({ minval: -0.1, maxval: 0.1, seed: s++ }) }), x);
  return tf.model({ inputs: input, outputs: logits, name: 'perf_user_model' });
}

/**
 * Writes `model` to `dir` as the TF.js on-disk format (tfjs-node's file:// layout): model.json with
 * format, generatedBy, convertedBy, modelTopology and a weightsManifest naming one shard, and the shard.
 * Returns the model.json path.
 */
export async function saveUserModel(model: tf.LayersModel, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const shard = 'group1-shard1of1.bin';
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weights = tf.io.CompositeArrayBuffer.join(artifacts.weightData!);
      const modelJson = {
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: [shard], weights: artifacts.weightSpecs }],
      };
      await writeFile(join(dir, 'model.json'), JSON.stringify(modelJson));
      await writeFile(join(dir, shard), Buffer.from(weights));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return join(dir, 'model.json');
}
