import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/engine/backend.js';
import { tf } from '../../../src/engine/tf.js';
import { loadFashionMnist } from '../../../src/data/fashionMnist.js';
import { CnnfClassifier } from '../../../src/models/cnnfClassifier.js';
import { cnnfFamily, cnnfForwardFlops, loadCnnfModel } from '../../../src/models/families/cnnf.js';
import { detectFamily, loadModel, MODEL_FAMILIES } from '../../../src/models/families/index.js';
import { saveLayersModel } from './tfjsModels.helpers.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const CNNF = join(ROOT, 'checkpoints', 'cnnf-fmnist');
const CNN = join(ROOT, 'checkpoints', 'cnn-fmnist');

/**
 * sha256 of the loss and gradient bits of lossAndGrad on the first 4 Fashion-MNIST test images, for every
 * path (first, e2e, bpda) x output (last, average) x loss (ce, margin), on wasm, computed with the code
 * before contract v2 (commit 21f625c, loadSuiteModel + CnnfClassifier.lossAndGrad).
 */
const GOLDEN: Record<string, string> = {
  'cnn-fmnist': '64b4382d1ec565242009a99d7f1b11f758ba0f7e44d498f29f0c4c6185bf11df',
  'cnnf-fmnist': '5590cd5d1835f718fc3259379b05c48920f1185595b53ee6e0b7da5fb6fb734b',
};

let root: string;
beforeAll(async () => {
  await initBackend('wasm');
  root = await mkdtemp(join(tmpdir(), 'bench-families-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('model family registry', () => {
  it('lists cnnf, tfjs-layers and tfjs-graph, and detects each from its own files', async () => {
    expect(MODEL_FAMILIES.map((f) => f.name)).toEqual(['cnnf', 'tfjs-layers', 'tfjs-graph']);
    expect((await detectFamily(CNNF)).name).toBe('cnnf');
    expect((await detectFamily(join(CNNF, 'model.json'))).name).toBe('cnnf');
    const m = tf.sequential();
    m.add(tf.layers.flatten({ inputShape: [2, 2, 1] }));
    m.add(tf.layers.dense({ units: 2 }));
    const file = await saveLayersModel(m, join(root, 'layers'));
    expect(await cnnfFamily.detect(file)).toBe(false);
    expect(await cnnfFamily.detect(join(root, 'layers'))).toBe(false);
    expect((await detectFamily(join(root, 'layers'))).name).toBe('tfjs-layers');
  });
});

describe('cnnf family: the committed checkpoints behind contract v2', () => {
  it('declares its outputs, gradient paths, classes and cost', async () => {
    const loaded = await loadModel(CNNF);
    expect(loaded.family).toBe('cnnf');
    const c = loaded.classifier;
    expect(c).toBeInstanceOf(CnnfClassifier);
    expect([c.family, c.outputs, c.gradientPaths, c.outputKind, c.defaultOutput]).toEqual([
      'cnnf',
      ['first', 'last', 'average'],
      ['first', 'e2e', 'bpda'],
      'logits',
      'last',
    ]);
    expect(c.classNames?.[0]).toBe('T-shirt/top');
    expect(loaded.description).toMatchObject({ family: 'cnnf', inputShape: [28, 28, 1], numClasses: 10, inputRange: [0, 1], mean: [0.5], std: [0.5] });
    // Reference Fashion-MNIST network: 3x3 'same' convs 1->16, 16->32, 32->32 at 28x28 (then pool), 32->64 at
    // 14x14 (then pool), dense 7*7*64 -> 1000 -> 128 -> 10.
    const macs = 28 * 28 * 9 * (1 * 16 + 16 * 32 + 32 * 32) + 14 * 14 * 9 * 32 * 64 + 3136 * 1000 + 1000 * 128 + 128 * 10;
    expect(loaded.cost).toEqual({ forwardFlopsPerImage: 2 * macs, feedbackCycles: 1 });
    expect(cnnfForwardFlops((loaded as Awaited<ReturnType<typeof loadCnnfModel>>).manifest.architecture)).toBe(2 * macs);
    expect(() => c.logitsFor(tf.zeros([1, 28, 28, 1]), { path: 'direct' })).toThrow('model "cnnf-fmnist": has no gradient path "direct" (allowed: first, e2e, bpda)');
    loaded.dispose();
  });

  for (const name of ['cnn-fmnist', 'cnnf-fmnist'])
    it(`${name}: loss and gradient bits through the registry equal those of the code before contract v2`, async () => {
      const test = await loadFashionMnist('test', { limit: 4 });
      const x = tf.tensor4d(test.images, [4, 28, 28, 1]);
      const y = tf.tensor1d(test.labels, 'int32');
      const loaded = await loadCnnfModel(name === 'cnn-fmnist' ? CNN : CNNF);
      const h = createHash('sha256');
      for (const path of ['first', 'e2e', 'bpda'] as const)
        for (const output of ['last', 'average'] as const)
          for (const loss of ['ce', 'margin'] as const) {
            const r = loaded.classifier.lossAndGrad(x, y, { path, output, loss });
            h.update(Buffer.from(r.loss.dataSync().buffer));
            h.update(Buffer.from(r.grad.dataSync().buffer));
            tf.dispose([r.loss, r.grad]);
          }
      expect(h.digest('hex')).toBe(GOLDEN[name]);
      loaded.dispose();
    });

  it('logitsFor: path first is the first pass, e2e and bpda give the requested output\'s value', async () => {
    const loaded = await loadCnnfModel(CNNF, { defaultOutput: 'average', name: 'renamed' });
    const c = loaded.classifier;
    expect(c.name).toBe('renamed');
    expect(c.defaultOutput).toBe('average');
    const test = await loadFashionMnist('test', { limit: 2 });
    const x = tf.tensor4d(test.images, [2, 28, 28, 1]);
    const run = c.network.run(x);
    const bits = (t: tf.Tensor) => Array.from(t.dataSync());
    expect(bits(c.logitsFor(x, { path: 'first', output: 'last' }))).toEqual(bits(run.first));
    expect(bits(c.logitsFor(x, { path: 'e2e', output: 'last' }))).toEqual(bits(run.last));
    expect(bits(c.logitsFor(x, { path: 'bpda' }))).toEqual(bits(run.average));
    expect(bits(c.logitsFor(x))).toEqual(bits(run.average));
    loaded.dispose();
  });

  it('refuses options that do not apply to a checkpoint, in one line', async () => {
    await expect(loadCnnfModel(CNNF, { inputRange: [0, 255] })).rejects.toThrow(`${CNNF}: inputRange: a bench checkpoint carries its own normalisation; leave it out`);
    await expect(loadCnnfModel(CNNF, { output: 'probabilities' })).rejects.toThrow(/does not apply: a CNN-F checkpoint outputs logits \(allowed: auto, logits\)/);
    await expect(loadCnnfModel(CNNF, { defaultOutput: 'logits' })).rejects.toThrow(/"logits" is not an output of a CNN-F \(allowed: first, last, average\)/);
  });
});
