import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf, type Tensor1D, type Tensor4D } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { KeyedRng } from '../../src/engine/rng.js';
import { DEFAULT_DATASET, loadDataset } from '../../src/datasets/index.js';
import { toBatch } from '../../src/data/batching.js';
import type { Classifier, LogitsRequest } from '../../src/models/classifier.js';
import { loadSuiteModel, type SuiteModel } from '../../src/suite/loadClassifier.js';
import { getAttack } from '../../attacks/registry.js';

/**
 * APGD-DLR and APGD-T on the committed checkpoints, through the model contract a user's run goes through
 * (loadSuiteModel, the Fashion-MNIST test images): on the CNN they break what APGD-CE breaks (at L-inf 0.1
 * APGD-CE leaves no image correct, and neither may they; a DLR ascended the wrong way would leave most
 * correct), and at 0.03 APGD-DLR is about as strong as APGD-CE (measured on these 32 images, 10 steps, of
 * the 28 correct clean: 13 left correct by APGD-CE, 14 by APGD-DLR; AutoAttack reports the two within a few points of each other on standard models).
 * On CNN-F they take their gradient through the path asked for (first, e2e, bpda).
 */
const N = 32;
let x: Tensor4D;
let y: Tensor1D;

beforeAll(async () => {
  await initBackend('wasm');
  const data = await loadDataset(DEFAULT_DATASET, { limit: N });
  ({ x, y } = toBatch(data, Array.from({ length: N }, (_, i) => i)));
});
afterAll(() => tf.dispose([x, y]));

async function robust(model: Classifier, name: string, eps: number, params: Record<string, unknown>, images = x, labels = y, path = 'first', output = 'first') {
  const a = getAttack(name);
  const n = images.shape[0];
  const res = await a.run(model, images, labels, eps, new KeyedRng(1, `apgdDlr/${name}`, [...Array(n).keys()]), { path, output, params: a.parseParams(params, 'test') });
  const xAdv = Float32Array.from(res.xAdv.dataSync() as Float32Array);
  res.xAdv.dispose();
  return { correct: res.fooled.filter((f) => !f).length, xAdv };
}

describe('on the committed CNN (first 32 Fashion-MNIST test images, 10 steps)', () => {
  let cnn: SuiteModel;
  beforeAll(async () => {
    cnn = await loadSuiteModel({ path: 'checkpoints/cnn-fmnist', where: 'test' });
  });
  afterAll(() => cnn.dispose());

  it('at eps 0.1 APGD-DLR and APGD-T leave no more images correct than APGD-CE (none)', async () => {
    const ce = await robust(cnn.classifier, 'apgd-ce', 0.1, { steps: 10 });
    const dlr = await robust(cnn.classifier, 'apgd-dlr', 0.1, { steps: 10 });
    const t = await robust(cnn.classifier, 'apgd-t', 0.1, { steps: 10, targets: 3 });
    expect(ce.correct).toBe(0);
    expect(dlr.correct).toBeLessThanOrEqual(ce.correct);
    expect(t.correct).toBeLessThanOrEqual(ce.correct);
  });

  it('at eps 0.03 APGD-DLR is about as strong as APGD-CE (within 3 of 32 images)', async () => {
    const ce = await robust(cnn.classifier, 'apgd-ce', 0.03, { steps: 10 });
    const dlr = await robust(cnn.classifier, 'apgd-dlr', 0.03, { steps: 10 });
    const clean = await robust(cnn.classifier, 'apgd-dlr', 0, {});
    expect(dlr.correct).toBeLessThan(clean.correct);
    expect(Math.abs(dlr.correct - ce.correct)).toBeLessThanOrEqual(3);
  });
});

describe('on the committed CNN-F, through each gradient path', () => {
  let cnnf: SuiteModel;
  beforeAll(async () => {
    cnnf = await loadSuiteModel({ path: 'checkpoints/cnnf-fmnist', where: 'test' });
  });
  afterAll(() => cnnf.dispose());

  it('asks the model for the logits of the path and output it runs on, and stays in the ball', async () => {
    const inner = cnnf.classifier;
    const images = tf.slice(x, [0, 0, 0, 0], [2, -1, -1, -1]) as Tensor4D;
    const labels = tf.slice(y, [0], [2]) as Tensor1D;
    const host = images.dataSync() as Float32Array;
    for (const path of inner.gradientPaths)
      for (const [name, params] of [['apgd-dlr', { steps: 2 }], ['apgd-t', { steps: 2, targets: 2 }]] as const) {
        const requests: (LogitsRequest | undefined)[] = [];
        // The loaded classifier, with its logitsFor recording what each gradient asks for.
        const recording = new Proxy(inner, {
          get(target, key, receiver) {
            if (key !== 'logitsFor') return Reflect.get(target, key, receiver);
            return (v: Tensor4D, request?: LogitsRequest) => {
              requests.push(request);
              return target.logitsFor(v, request);
            };
          },
        });
        const { xAdv } = await robust(recording, name, 0.01, params, images, labels, path, cnnf.ref.output);
        expect([path, name, requests.length > 0]).toEqual([path, name, true]);
        for (const r of requests) expect(r).toEqual({ path, output: cnnf.ref.output });
        expect(Math.max(...Array.from(xAdv, (v, i) => Math.abs(v - host[i])))).toBeLessThanOrEqual(0.01 + 1e-6);
      }
    tf.dispose([images, labels]);
  });
});
