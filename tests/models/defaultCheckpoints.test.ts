import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/engine/backend.js';
import { tf } from '../../src/engine/tf.js';
import { KeyedRng } from '../../src/engine/rng.js';
import { loadFashionMnist } from '../../src/data/fashionMnist.js';
import { rangeIndices, toBatchTensor, toLabelTensor } from '../../src/data/batching.js';
import { CnnfNetwork } from '../../src/models/cnnf.js';
import { cleanAccuracy } from '../../src/models/evaluate.js';
import { loadSuiteModel } from '../../src/suite/loadClassifier.js';
import { loadCnnfModel } from '../../src/models/families/cnnf.js';
import { getAttack } from '../../attacks/registry.js';
import { getCorruption, corruptionKey } from '../../corruptions/registry.js';

// The committed default checkpoints: what the README and the default runs rely on.
const ROOT = join(import.meta.dirname, '..', '..');

describe('committed default checkpoints', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  for (const name of ['cnn-fmnist', 'cnnf-fmnist']) {
    it(`${name} loads and reproduces the clean accuracies recorded in its model.json (10,000 test images)`, async () => {
      // Through the cnnf family, which also gives the manifest with the recorded metrics.
      const model = await loadCnnfModel(join(ROOT, 'checkpoints', name));
      const test = await loadFashionMnist('test');
      const recorded = model.manifest.metrics.cleanAccuracy as { first: number; last: number; average: number };
      const measured = await cleanAccuracy(model.classifier.network as CnnfNetwork, test);
      expect(measured.images).toBe(10000);
      expect(measured.first).toBe(recorded.first);
      expect(measured.last).toBe(recorded.last);
      expect(measured.average).toBe(recorded.average);
      // The targets of the training issue.
      expect(recorded.last).toBeGreaterThanOrEqual(name === 'cnn-fmnist' ? 0.9 : 0.89);
      model.dispose();
    }, 300_000);
  }

  it('PGD-20 at eps 0.1 drives the standard-trained CNN below 10% robust accuracy', async () => {
    const model = await loadSuiteModel({ path: join(ROOT, 'checkpoints', 'cnn-fmnist'), output: 'last', where: 'cnn-fmnist' });
    const test = await loadFashionMnist('test', { limit: 200 });
    const rows = rangeIndices(0, 200);
    const x = toBatchTensor(test.images, rows, [28, 28, 1]);
    const y = toLabelTensor(test.labels, rows);
    const pgd = getAttack('pgd');
    const { xAdv, fooled } = await pgd.run(model.classifier, x, y, 0.1, new KeyedRng(0, 'test/pgd', Array.from(rows)), {
      path: 'first',
      output: 'last',
      params: pgd.parseParams({ steps: 20 }, 'test'),
    });
    const robust = fooled.filter((f) => !f).length / fooled.length;
    expect(robust).toBeLessThan(0.1);
    tf.dispose([x, y, xAdv]);
    model.dispose();
  }, 300_000);

  it('the default CNN loses accuracy as noise and blur severity grows', async () => {
    const model = await loadSuiteModel({ path: join(ROOT, 'checkpoints', 'cnn-fmnist'), output: 'last', where: 'cnn-fmnist' });
    const n = 500;
    const test = await loadFashionMnist('test', { limit: n });
    const rows = rangeIndices(0, n);
    const x = toBatchTensor(test.images, rows, [28, 28, 1]);
    const y = toLabelTensor(test.labels, rows);
    for (const name of ['gaussian_noise', 'impulse_noise', 'gaussian_blur', 'defocus_blur']) {
      const corruption = getCorruption(name);
      const accuracy: number[] = [];
      for (let severity = 0; severity <= 5; severity++) {
        const rng = new KeyedRng(0, corruptionKey(name, severity), Array.from(rows));
        const hits = tf.tidy(() => {
          const xc = corruption.apply(x, severity, rng);
          return tf.sum(tf.cast(tf.equal(tf.argMax(model.classifier.logits(xc), 1), y), 'int32'));
        });
        accuracy.push((await hits.data())[0] / n);
        hits.dispose();
      }
      // Monotone within noise: never more than 3 points above the previous severity (a 95% interval
      // at ~90% accuracy on 500 images is about +-2.6 points), and clearly lower at 5 than at 0.
      for (let s = 1; s <= 5; s++) expect(accuracy[s], `${name} ${accuracy.join(' ')}`).toBeLessThanOrEqual(accuracy[s - 1] + 0.03);
      expect(accuracy[5], `${name} ${accuracy.join(' ')}`).toBeLessThan(accuracy[0] - 0.01);
    }
    tf.dispose([x, y]);
    model.dispose();
  }, 300_000);
});
