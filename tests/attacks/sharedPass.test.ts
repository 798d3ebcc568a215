import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf, type Tensor4D } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { KeyedRng } from '../../src/engine/rng.js';
import { DEFAULT_DATASET, loadDataset } from '../../src/datasets/index.js';
import { toBatch } from '../../src/data/batching.js';
import type { Classifier } from '../../src/models/classifier.js';
import { loadSuiteModel, type SuiteModel } from '../../src/suite/loadClassifier.js';
import { CountingClassifier } from '../../src/suite/context.js';
import { logitsLossAndGrad } from '../../attacks/gradients.js';
import { getAttack } from '../../attacks/registry.js';

/**
 * Gradient attacks read their per-step scores (fooled or not) from the logits of the gradient pass when the
 * model declares the path's logits to be its predictions (Classifier.predictionPaths; attacks/define.ts
 * lossGradAndScore): one forward pass fewer per step, and exactly the same examples as scoring with a
 * separate forward pass.
 */

beforeAll(async () => {
  await initBackend('wasm');
});

const N = 12;

async function images() {
  const data = await loadDataset(DEFAULT_DATASET, { limit: N });
  return toBatch(data, Array.from({ length: N }, (_, i) => i));
}

/** The same model with no prediction paths declared: every score takes its own forward pass. */
function withoutPredictionPaths(model: Classifier): CountingClassifier {
  const counting = new CountingClassifier(model);
  Object.defineProperty(counting, 'predictionPaths', { value: undefined });
  return counting;
}

async function attackWith(model: Classifier, name: string, path: string, params: Record<string, unknown>) {
  const { x, y, sampleIndices } = await images();
  const attack = getAttack(name);
  const res = await attack.run(model, x, y, 0.03, new KeyedRng(5, `shared/${name}`, sampleIndices), {
    path,
    output: 'last',
    params: attack.parseParams(params, 'params'),
  });
  const xAdv = Array.from(res.xAdv.dataSync());
  tf.dispose([res.xAdv, x, y]);
  return { xAdv, fooled: res.fooled };
}

describe('declared prediction paths', () => {
  let cnnf: SuiteModel;
  beforeAll(async () => {
    cnnf = await loadSuiteModel({ path: 'checkpoints/cnnf-fmnist', where: 'test' });
  });
  afterAll(() => cnnf.dispose());

  it('CNN-F: e2e and bpda gradient passes compute logits() exactly, for each feedback output; first does not', async () => {
    const model = cnnf.classifier;
    expect(model.predictionPaths).toEqual(['e2e', 'bpda']);
    const { x, y } = await images();
    for (const output of ['last', 'average'])
      for (const path of ['e2e', 'bpda', 'first']) {
        const pass = logitsLossAndGrad(model as Required<Classifier>, x, y, { path, output, loss: 'ce' });
        const plain = model.logits(x, output);
        const same = Array.from(pass.logits.dataSync()).every((v, i) => v === plain.dataSync()[i]);
        // The first pass is a different computation from the feedback outputs.
        expect(same, `${path} ${output}`).toBe(path !== 'first');
        tf.dispose([pass.loss, pass.grad, pass.logits, plain]);
      }
    tf.dispose([x, y]);
  }, 120_000);
});

describe('attacks score with the gradient pass where its logits are the predictions', () => {
  let cnn: SuiteModel;
  beforeAll(async () => {
    cnn = await loadSuiteModel({ path: 'checkpoints/cnn-fmnist', where: 'test' });
  });
  afterAll(() => cnn.dispose());

  const cases: [string, Record<string, unknown>][] = [
    ['apgd-ce', { steps: 8 }],
    ['apgd-t', { steps: 6, targets: 2 }],
    ['pgd', { steps: 6, earlyStop: true, relStepSize: 0.1 }],
    ['fmn', { steps: 6 }],
  ];
  for (const [name, params] of cases)
    it(`${name}: the same examples with one forward pass fewer per step`, async () => {
      const shared = new CountingClassifier(cnn.classifier);
      const separate = withoutPredictionPaths(cnn.classifier);
      expect(shared.predictionPaths).toContain('e2e');
      const a = await attackWith(shared, name, 'e2e', params);
      const b = await attackWith(separate, name, 'e2e', params);
      expect(a.fooled).toEqual(b.fooled);
      expect(a.xAdv).toEqual(b.xAdv);
      expect(shared.gradientImages).toBe(separate.gradientImages);
      // APGD scored every gradient pass's images with a forward pass of their own; now none.
      if (name.startsWith('apgd')) expect(separate.forwardImages - shared.forwardImages).toBe(shared.gradientImages);
      else expect(shared.forwardImages).toBeLessThan(separate.forwardImages);
    }, 120_000);
});
