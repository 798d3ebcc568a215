import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/engine/backend.js';
import { InputError } from '../../../src/engine/errors.js';
import { tf, type Tensor4D } from '../../../src/engine/tf.js';
import { detectFamily, loadModel } from '../../../src/models/families/index.js';
import { layersForwardFlops, loadLayersModel } from '../../../src/models/families/tfjsLayers.js';
import { mulberry32 } from '../../helpers/mulberry32.js';
import { saveLayersModel } from './tfjsModels.helpers.js';

let root: string;
beforeAll(async () => {
  await initBackend('wasm'); // registers bench's wasm gradient kernels; tests below pick their backend
  await tf.setBackend('cpu');
  root = await mkdtemp(join(tmpdir(), 'bench-layers-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Non-trivial batch-norm statistics so inference mode (moving mean/variance) is visible in the outputs. */
function randomizeBatchNorm(model: tf.LayersModel, seed: number): void {
  const rand = mulberry32(seed);
  for (const layer of model.layers)
    if (layer.getClassName() === 'BatchNormalization')
      layer.setWeights(layer.getWeights().map((w, i) => tf.tensor(Array.from({ length: w.size }, () => (i === 3 ? 0.5 + rand() : rand() - 0.5)), w.shape)));
}

/** Seeded initialisers: every model (and so every finite-difference check) is the same on every run. */
let seed = 100;
const init = () => ({ kernelInitializer: tf.initializers.glorotUniform({ seed: seed++ }), biasInitializer: tf.initializers.randomUniform({ minval: -0.1, maxval: 0.1, seed: seed++ }) });
const dwInit = () => ({ depthwiseInitializer: tf.initializers.glorotUniform({ seed: seed++ }), biasInitializer: tf.initializers.randomUniform({ minval: -0.1, maxval: 0.1, seed: seed++ }) });
const sepInit = () => ({ ...dwInit(), pointwiseInitializer: tf.initializers.glorotUniform({ seed: seed++ }) });

/** Grey 28x28x1 Sequential: strided conv, batch norm, dropout, max pool, dense softmax head. */
function greySequential(): tf.Sequential {
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', ...init() }));
  m.add(tf.layers.batchNormalization());
  m.add(tf.layers.dropout({ rate: 0.5 }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 10, activation: 'softmax', ...init() }));
  randomizeBatchNorm(m, 1);
  return m;
}

/** RGB 32x32x3 functional: depthwise and separable convs, batch norm, global average pooling, linear head. */
function rgbFunctional(): tf.LayersModel {
  const input = tf.input({ shape: [32, 32, 3] });
  let x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', ...init() }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization().apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
  x = tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 1, padding: 'same', activation: 'relu', ...dwInit() }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.separableConv2d({ filters: 12, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', ...sepInit() }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 7, ...init() }).apply(x) as tf.SymbolicTensor;
  const m = tf.model({ inputs: input, outputs: out });
  randomizeBatchNorm(m, 2);
  return m;
}

/** RGB 64x64x3 Sequential whose softmax is a separate Activation layer. */
function rgb64ActivationSoftmax(): tf.Sequential {
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [64, 64, 3], filters: 4, kernelSize: 5, strides: 4, activation: 'relu' }));
  m.add(tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, depthMultiplier: 2 }));
  m.add(tf.layers.globalAveragePooling2d({}));
  m.add(tf.layers.dense({ units: 5 }));
  m.add(tf.layers.activation({ activation: 'softmax' }));
  return m;
}

const images = (n: number, shape: number[], seed: number) => {
  const rand = mulberry32(seed);
  const size = n * shape.reduce((a, b) => a * b, 1);
  return tf.tensor4d(Float32Array.from({ length: size }, () => rand()), [n, ...shape] as [number, number, number, number]);
};
const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

describe('tfjs-layers family: models saved by tfjs-layers load back with the same outputs', () => {
  it('grey Sequential with a softmax head: auto reads it as probabilities; scores are log-softmax of the pre-softmax logits', async () => {
    const model = greySequential();
    const file = await saveLayersModel(model, join(root, 'grey'));
    expect((await detectFamily(file)).name).toBe('tfjs-layers');
    const loaded = await loadModel(file);
    const c = loaded.classifier;
    expect(loaded.family).toBe('tfjs-layers');
    expect(c.inputShape).toEqual([28, 28, 1]);
    expect(c.numClasses).toBe(10);
    expect(c.name).toBe('grey');
    expect(c.outputs).toEqual(['logits']);
    expect(c.gradientPaths).toEqual(['direct']);
    expect(c.outputKind).toBe('log-probabilities');
    expect(loaded.description.logProbabilities).toBe('log-softmax');
    expect(loaded.notices.join(' ')).toMatch(/softmax head detected/);
    const x = images(3, [28, 28, 1], 3);
    const expected = tf.log(model.predict(x) as tf.Tensor);
    expect(maxAbsDiff(c.logits(x), expected)).toBeLessThan(1e-5);
    // Inference mode: dropout is off, so two calls agree exactly.
    expect(maxAbsDiff(c.logits(x), c.logits(x))).toBe(0);
    loaded.dispose();
  });

  it('RGB functional model with depthwise/separable convs and a linear head: logits equal the in-memory model', async () => {
    const model = rgbFunctional();
    const file = await saveLayersModel(model, join(root, 'rgb32'));
    const loaded = await loadLayersModel(file);
    expect(loaded.classifier.outputKind).toBe('logits');
    expect(loaded.classifier.inputShape).toEqual([32, 32, 3]);
    expect(loaded.classifier.numClasses).toBe(7);
    const x = images(2, [32, 32, 3], 4);
    expect(maxAbsDiff(loaded.classifier.logits(x), model.predict(x) as tf.Tensor)).toBeLessThan(1e-5);
    // FLOPs by hand: conv 16x16 positions x 3*3*3*8; depthwise 16x16 x 3*3*8*1; separable 8x8 x (3*3*8 + 8*12); dense 12*7.
    const macs = 16 * 16 * 216 + 16 * 16 * 72 + 8 * 8 * (72 + 96) + 84;
    expect(loaded.cost).toEqual({ forwardFlopsPerImage: 2 * macs, feedbackCycles: 0 });
    expect(layersForwardFlops(model)).toBe(2 * macs);
    loaded.dispose();
  });

  it('64x64x3 with a separate Activation(softmax) layer: detected, and output "logits" overrides the detection', async () => {
    const model = rgb64ActivationSoftmax();
    const file = await saveLayersModel(model, join(root, 'rgb64'));
    const x = images(2, [64, 64, 3], 5);
    const probs = model.predict(x) as tf.Tensor;
    const auto = await loadLayersModel(file);
    expect(auto.classifier.outputKind).toBe('log-probabilities');
    expect(maxAbsDiff(auto.classifier.logits(x), tf.log(probs))).toBeLessThan(1e-5);
    const asLogits = await loadLayersModel(file, { output: 'logits' });
    expect(asLogits.classifier.outputKind).toBe('logits');
    expect(maxAbsDiff(asLogits.classifier.logits(x), probs)).toBe(0);
    auto.dispose();
    asLogits.dispose();
  });

  it('output "probabilities" on a model without a softmax layer takes log(max(p, 2^-126))', async () => {
    const m = tf.sequential();
    m.add(tf.layers.flatten({ inputShape: [4, 4, 1] }));
    m.add(tf.layers.dense({ units: 3, activation: 'sigmoid' }));
    const file = await saveLayersModel(m, join(root, 'sigmoid'));
    const loaded = await loadLayersModel(file, { output: 'probabilities' });
    expect(loaded.description.logProbabilities).toBe('clipped-log');
    const x = images(2, [4, 4, 1], 6);
    expect(maxAbsDiff(loaded.classifier.logits(x), tf.log(m.predict(x) as tf.Tensor))).toBeLessThan(1e-6);
    loaded.dispose();
  });

  it('inputRange and per-channel mean/std map [0,1] pixels as documented: ((lo + p (hi - lo)) - mean) / std', async () => {
    const model = rgbFunctional();
    const file = await saveLayersModel(model, join(root, 'mapped'));
    const x = images(2, [32, 32, 3], 7);
    const mean = [120, 110, 100];
    const std = [60, 50, 40];
    const loaded = await loadLayersModel(file, { inputRange: [0, 255], mean, std });
    // Manual computation, element by element in float64, then the in-memory model.
    const px = x.dataSync();
    const manual = Float32Array.from(px, (p, i) => (0 + p * 255 - mean[i % 3]) / std[i % 3]);
    const expected = model.predict(tf.tensor4d(manual, x.shape)) as tf.Tensor;
    expect(maxAbsDiff(loaded.classifier.logits(x), expected)).toBeLessThan(1e-4);
    expect(loaded.description).toMatchObject({ inputRange: [0, 255], mean, std });
    const signed = await loadLayersModel(file, { inputRange: [-1, 1] });
    const manualSigned = Float32Array.from(px, (p) => -1 + p * 2);
    expect(maxAbsDiff(signed.classifier.logits(x), model.predict(tf.tensor4d(manualSigned, x.shape)) as tf.Tensor)).toBeLessThan(1e-5);
    loaded.dispose();
    signed.dispose();
  });

  it('options checked against the model: mean length must equal the channels, class names the classes (file or list)', async () => {
    const file = await saveLayersModel(rgbFunctional(), join(root, 'opts'));
    await expect(loadLayersModel(file, { mean: [0.5, 0.5] })).rejects.toThrow(/mean: has 2 values, the model's input has 3 channels/);
    await expect(loadLayersModel(file, { classNames: ['a', 'b'] })).rejects.toThrow(/lists 2 class names, the model has 7 classes/);
    const names = join(root, 'names.txt');
    await writeFile(names, 'a\nb\nc\nd\ne\nf\ng\n');
    const loaded = await loadLayersModel(file, { classNames: names, name: 'mine' });
    expect(loaded.classifier.classNames).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g']);
    expect(loaded.classifier.name).toBe('mine');
    loaded.dispose();
  });

  it('asks for what the model lacks: an undeclared gradient path or output is one line naming the model and its offer', async () => {
    const file = await saveLayersModel(rgbFunctional(), join(root, 'offer'));
    const loaded = await loadLayersModel(file);
    const x = images(1, [32, 32, 3], 8);
    expect(() => loaded.classifier.logitsFor(x, { path: 'e2e' })).toThrow(InputError);
    expect(() => loaded.classifier.logitsFor(x, { path: 'e2e' })).toThrow('model "offer": has no gradient path "e2e" (allowed: direct)');
    expect(() => loaded.classifier.logitsFor(x, { output: 'last' })).toThrow('model "offer": has no output "last" (allowed: logits)');
    loaded.dispose();
  });

  it('refuses a model whose input is not a fixed-size image batch, in one line', async () => {
    const m = tf.sequential();
    m.add(tf.layers.dense({ inputShape: [784], units: 10 }));
    const file = await saveLayersModel(m, join(root, 'flat'));
    await expect(loadLayersModel(file)).rejects.toThrow(/input shape \[\?, 784\] is not an image batch/);
    const input = tf.input({ shape: [null, null, 3] });
    const pooled = tf.layers.globalAveragePooling2d({}).apply(input) as tf.SymbolicTensor;
    const free = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2 }).apply(pooled) as tf.SymbolicTensor });
    const freeFile = await saveLayersModel(free, join(root, 'free'));
    await expect(loadLayersModel(freeFile)).rejects.toThrow(/input shape \[\?, \?, \?, 3\] leaves a dimension other than the batch unknown/);
  });
});

describe('tfjs-layers family: input gradients', () => {
  /**
   * Central finite differences of the summed loss along random directions d: (L(x + h d) - L(x - h d)) / 2h
   * must equal <grad, d>. float32 forward passes (loss rounding ~1e-7 / 2h) and ReLU/max-pool kinks within
   * h bound the agreement (the error shrinks with h: kinks): h = 3e-4, tolerance 3% + 2e-4.
   */
  async function checkGradient(file: string, shape: [number, number, number], options: Parameters<typeof loadLayersModel>[1], loss: 'ce' | 'margin') {
    const loaded = await loadLayersModel(file, options);
    const c = loaded.classifier;
    const x = tf.tidy(() => tf.add(tf.mul(images(2, shape, 11), 0.8), 0.1)) as Tensor4D;
    const y = tf.tensor1d([1, 2], 'int32');
    const { loss: value, grad } = c.lossAndGrad(x, y, { path: 'direct', loss });
    expect(value.shape).toEqual([2]);
    expect(grad.shape).toEqual(x.shape);
    const total = (xi: Tensor4D) => tf.tidy(() => c.lossAndGrad(xi, y, { path: 'direct', loss }).loss.sum().dataSync()[0]);
    const h = 3e-4;
    for (let k = 0; k < 3; k++) {
      const d = tf.tidy(() => tf.sub(images(2, shape, 20 + k), 0.5)) as Tensor4D;
      const fd = (total(tf.add(x, tf.mul(d, h)) as Tensor4D) - total(tf.sub(x, tf.mul(d, h)) as Tensor4D)) / (2 * h);
      const analytic = tf.sum(tf.mul(grad, d)).dataSync()[0];
      expect(Math.abs(fd - analytic)).toBeLessThan(0.03 * Math.abs(analytic) + 2e-4);
    }
    loaded.dispose();
  }

  it('cross entropy through a softmax head (log-softmax path), with input mapping, matches finite differences on cpu', async () => {
    const file = await saveLayersModel(greySequential(), join(root, 'grad-grey'));
    await checkGradient(file, [28, 28, 1], { inputRange: [0, 255], mean: [33], std: [78] }, 'ce');
  });

  it('C&W margin through depthwise/separable convs and batch norm matches finite differences on cpu', async () => {
    const file = await saveLayersModel(rgbFunctional(), join(root, 'grad-rgb'));
    await checkGradient(file, [32, 32, 3], {}, 'margin');
  });
});

describe('tfjs-layers family: batch norm without scale or offset', () => {
  /** A 12x12x2 Sequential whose three batch-norm layers lack a scale, an offset, or both (Keras's InceptionV3 has scale=False). */
  function partialBatchNorm(explicit: boolean): tf.Sequential {
    const m = tf.sequential();
    const bn = (scale: boolean, center: boolean) => tf.layers.batchNormalization(explicit ? {} : { scale, center });
    m.add(tf.layers.conv2d({ inputShape: [12, 12, 2], filters: 4, kernelSize: 3, padding: 'same', ...init() }));
    m.add(bn(false, true));
    m.add(tf.layers.reLU());
    m.add(tf.layers.conv2d({ filters: 5, kernelSize: 3, strides: 2, ...init() }));
    m.add(bn(true, false));
    m.add(tf.layers.conv2d({ filters: 3, kernelSize: 3, ...init() }));
    m.add(bn(false, false));
    m.add(tf.layers.flatten());
    m.add(tf.layers.dense({ units: 4, ...init() }));
    return m;
  }

  it('differentiates on wasm and cpu, with the logits and input gradient of the same model with explicit scale 1 and offset 0', async () => {
    seed = 500;
    const partial = partialBatchNorm(false);
    seed = 500;
    const explicit = partialBatchNorm(true);
    // Same kernels (same seeds) and the same moving statistics; the explicit model's gamma/beta stay 1/0.
    const rand = mulberry32(7);
    partial.layers.forEach((layer, i) => {
      if (layer.getClassName() !== 'BatchNormalization') return;
      const stats = layer.getWeights().slice(-2).map((w, j) => tf.tensor(Array.from({ length: w.size }, () => (j === 1 ? 0.5 + rand() : rand() - 0.5)), w.shape));
      layer.setWeights([...layer.getWeights().slice(0, -2), ...stats]);
      const other = explicit.layers[i];
      other.setWeights([...other.getWeights().slice(0, -2), ...stats]);
    });
    const partialFile = await saveLayersModel(partial, join(root, 'bn-partial'));
    const explicitFile = await saveLayersModel(explicit, join(root, 'bn-explicit'));
    const x = images(3, [12, 12, 2], 41);
    const y = tf.tensor1d([0, 2, 3], 'int32');
    for (const backend of ['cpu', 'wasm']) {
      await tf.setBackend(backend);
      try {
        // TF.js itself cannot differentiate the partial model: what this family works around.
        expect(() => tf.grad((xi: tf.Tensor) => tf.sum(partial.predict(xi) as tf.Tensor))(x)).toThrow();
        const a = await loadLayersModel(partialFile);
        const b = await loadLayersModel(explicitFile);
        expect(maxAbsDiff(a.classifier.logits(x), partial.predict(x) as tf.Tensor)).toBeLessThan(1e-5);
        expect(maxAbsDiff(a.classifier.logits(x), b.classifier.logits(x))).toBe(0);
        const ga = a.classifier.lossAndGrad(x, y, { path: 'direct' }).grad;
        const gb = b.classifier.lossAndGrad(x, y, { path: 'direct' }).grad;
        expect(tf.tidy(() => tf.max(tf.abs(gb)).dataSync()[0])).toBeGreaterThan(0);
        expect(maxAbsDiff(ga, gb)).toBe(0);
        tf.dispose([ga, gb]);
        a.dispose();
        b.dispose();
      } finally {
        await tf.setBackend('cpu');
      }
    }
  });
});

describe('tfjs-layers family on the wasm backend', () => {
  it('gives the cpu outputs and, for conv/dense models, the cpu input gradient', async () => {
    const m = tf.sequential();
    m.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 4, kernelSize: 3, strides: 2, activation: 'relu' }));
    m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    m.add(tf.layers.flatten());
    m.add(tf.layers.dense({ units: 10, activation: 'softmax' }));
    const file = await saveLayersModel(m, join(root, 'wasm'));
    const x = images(2, [28, 28, 1], 30);
    const y = tf.tensor1d([3, 4], 'int32');
    const onCpu = await loadLayersModel(file);
    const cpuLogits = onCpu.classifier.logits(x);
    const cpuGrad = onCpu.classifier.lossAndGrad(x, y, { path: 'direct' }).grad;
    try {
      await tf.setBackend('wasm');
      const onWasm = await loadLayersModel(file);
      expect(maxAbsDiff(onWasm.classifier.logits(x), cpuLogits)).toBeLessThan(1e-5);
      expect(maxAbsDiff(onWasm.classifier.lossAndGrad(x, y, { path: 'direct' }).grad, cpuGrad)).toBeLessThan(1e-5);
      onWasm.dispose();
    } finally {
      await tf.setBackend('cpu');
    }
    onCpu.dispose();
  });
});
