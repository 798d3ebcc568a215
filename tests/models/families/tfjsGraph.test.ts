import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf, type Tensor4D } from '../../../src/engine/tf.js';
import { detectFamily, loadModel } from '../../../src/models/families/index.js';
import { loadGraphModel } from '../../../src/models/families/tfjsGraph.js';
import { mulberry32 } from '../../helpers/mulberry32.js';
import { saveGraphModel, type GraphWeights } from './tfjsModels.helpers.js';

let root: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  root = await mkdtemp(join(tmpdir(), 'bench-graph-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const SHAPE: [number, number, number] = [8, 8, 3];
const FILTERS = 4;
const CLASSES = 5;
const FLAT = 4 * 4 * FILTERS;

function weights(seed: number): GraphWeights {
  const rand = mulberry32(seed);
  const r = (n: number, scale: number) => Float32Array.from({ length: n }, () => (rand() - 0.5) * scale);
  return { kernel: r(3 * 3 * 3 * FILTERS, 1), convBias: r(FILTERS, 0.2), dense: r(FLAT * CLASSES, 1), denseBias: r(CLASSES, 0.2) };
}

/**
 * The graph's computation written independently with tf ops on the cpu backend: conv 3x3 stride 2 'same',
 * bias, relu, NHWC flatten, dense: the reference the loaded graph must reproduce.
 */
function reference(x: tf.Tensor4D, w: GraphWeights): tf.Tensor2D {
  return tf.tidy(() => {
    const k = tf.tensor4d(w.kernel, [3, 3, 3, FILTERS]);
    const a = tf.relu(tf.add(tf.conv2d(x, k, 2, 'same'), tf.tensor1d(w.convBias)));
    return tf.add(tf.matMul(tf.reshape(a, [x.shape[0], FLAT]), tf.tensor2d(w.dense, [FLAT, CLASSES])), tf.tensor1d(w.denseBias)) as tf.Tensor2D;
  });
}

const images = (n: number, seed: number) => {
  const rand = mulberry32(seed);
  return tf.tensor4d(Float32Array.from({ length: n * 8 * 8 * 3 }, () => rand()), [n, ...SHAPE]);
};
const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

describe('tfjs-graph family: a converter-format graph-model (Placeholder, Const, Conv2D, BiasAdd, Relu, Reshape, MatMul, Softmax, Identity)', () => {
  it('is detected by its format, loads from disk and gives the graph\'s logits', async () => {
    const w = weights(1);
    const file = await saveGraphModel(join(root, 'linear'), SHAPE, FILTERS, CLASSES, w);
    expect((await detectFamily(file)).name).toBe('tfjs-graph');
    expect((await detectFamily(join(root, 'linear'))).name).toBe('tfjs-graph');
    const loaded = await loadModel(file);
    const c = loaded.classifier;
    expect(loaded.family).toBe('tfjs-graph');
    expect([c.inputShape, c.numClasses, c.outputKind, c.name]).toEqual([SHAPE, CLASSES, 'logits', 'linear']);
    expect(c.gradientPaths).toEqual(['direct']);
    const x = images(3, 2);
    expect(maxAbsDiff(c.logits(x), reference(x, w))).toBeLessThan(1e-5);
    // FLOPs by hand: conv 4x4 positions x 3*3*3*4, matmul 64*5.
    expect(loaded.cost.forwardFlopsPerImage).toBe(2 * (16 * 108 + FLAT * CLASSES));
    loaded.dispose();
  });

  it('a final Softmax op (through Identity) is detected: scores are log-softmax of the Softmax input', async () => {
    const w = weights(3);
    const file = await saveGraphModel(join(root, 'softmax'), SHAPE, FILTERS, CLASSES, w, { softmax: true });
    const loaded = await loadGraphModel(file);
    expect(loaded.classifier.outputKind).toBe('log-probabilities');
    expect(loaded.description.logProbabilities).toBe('log-softmax');
    const x = images(2, 4);
    expect(maxAbsDiff(loaded.classifier.logits(x), tf.logSoftmax(reference(x, w)))).toBeLessThan(1e-5);
    loaded.dispose();
  });

  it('input mapping and the input gradient through the graph match the reference computation on cpu', async () => {
    const w = weights(5);
    const file = await saveGraphModel(join(root, 'grad'), SHAPE, FILTERS, CLASSES, w, { softmax: true });
    const loaded = await loadGraphModel(file, { inputRange: [-1, 1], mean: [0.1, 0, -0.1], std: [0.5] });
    const x = images(2, 6);
    const y = tf.tensor1d([0, 3], 'int32');
    const mapped = (xi: tf.Tensor) => tf.div(tf.sub(tf.add(tf.mul(xi, 2), -1), tf.tensor1d([0.1, 0, -0.1])), 0.5) as Tensor4D;
    expect(maxAbsDiff(loaded.classifier.logits(x), tf.logSoftmax(reference(mapped(x) as Tensor4D, w)))).toBeLessThan(1e-5);
    // Reference gradient: autodiff of the independent reference (cross entropy of the labels).
    const refGrad = tf.grad((xi: tf.Tensor) =>
      tf.sum(tf.neg(tf.sum(tf.mul(tf.logSoftmax(reference(mapped(xi) as Tensor4D, w)), tf.oneHot(y, CLASSES)), 1))),
    )(x);
    const { grad } = loaded.classifier.lossAndGrad(x, y, { path: 'direct', loss: 'ce' });
    expect(maxAbsDiff(grad, refGrad)).toBeLessThan(1e-5);
    loaded.dispose();
  });
});

describe('tfjs-graph family: gradient check before a gradient attack', () => {
  it('an op without a TF.js gradient (DepthToSpace) is named in one line by checkInputGradient; a plain graph passes', async () => {
    const { checkInputGradient } = await import('../../../src/models/families/common.js');
    const w = weights(7);
    const file = await saveGraphModel(join(root, 'd2s'), SHAPE, FILTERS, CLASSES, w, {
      extraOp: 'DepthToSpace',
      extraAttr: { block_size: { i: '2' }, data_format: { s: Buffer.from('NHWC').toString('base64') } },
    });
    const loaded = await loadGraphModel(file); // the forward pass works: [N,4,4,4] -> [N,8,8,1], still 64 values
    // Reference: the same graph with depthToSpace in place of relu.
    const x = images(1, 8);
    const ref = tf.tidy(() => {
      const a = tf.depthToSpace(tf.add(tf.conv2d(x, tf.tensor4d(w.kernel, [3, 3, 3, FILTERS]), 2, 'same'), tf.tensor1d(w.convBias)) as tf.Tensor4D, 2);
      return tf.add(tf.matMul(tf.reshape(a, [1, FLAT]), tf.tensor2d(w.dense, [FLAT, CLASSES])), tf.tensor1d(w.denseBias));
    });
    expect(maxAbsDiff(loaded.classifier.logits(x), ref)).toBeLessThan(1e-5);
    expect(() => checkInputGradient(loaded.classifier, file)).toThrow(`${file}: op "DepthToSpace" has no gradient in TF.js, so gradient attacks cannot run on this model`);
    loaded.dispose();
    const plain = await loadGraphModel(await saveGraphModel(join(root, 'plain'), SHAPE, FILTERS, CLASSES, w));
    expect(() => checkInputGradient(plain.classifier, file)).not.toThrow();
    plain.dispose();
  });
});
