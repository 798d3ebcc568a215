import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { KeyedRng } from '../../src/engine/rng.js';
import { loadFashionMnist } from '../../src/data/fashionMnist.js';
import { rangeIndices, toBatchTensor, toLabelTensor } from '../../src/data/batching.js';
import { getAttack } from '../../attacks/registry.js';
import { scaledClassifier } from '../helpers/scaledCheckpoint.js';

/**
 * Attacks on a model whose logits are large but finite: the committed CNN with its classifier layer scaled
 * by 1e9 predicts exactly as the CNN does, and an attack on the margin (which only the sign of the
 * gradient and the ranking of the logits reach) must break exactly the same samples. With the label
 * hidden by subtracting 1e9, PGD-margin left 80% of these images robust on the scaled model and 0% on the
 * original.
 */
const ROOT = join(import.meta.dirname, '..', '..');
const N = 5;
const EPS = 0.1;
let models: { scale: number; m: Awaited<ReturnType<typeof scaledClassifier>> }[] = [];

beforeAll(async () => {
  await initBackend('wasm');
  models = [];
  for (const scale of [1, 1e9, 1e10]) models.push({ scale, m: await scaledClassifier(join(ROOT, 'checkpoints', 'cnn-fmnist'), scale) });
});

afterAll(() => models.forEach(({ m }) => m.dispose()));

describe('margin attacks on the CNN with logits scaled by 1e9', () => {
  it('PGD with the margin loss breaks the same samples as on the unscaled CNN', async () => {
    const test = await loadFashionMnist('test', { limit: N });
    const rows = rangeIndices(0, N);
    const pgd = getAttack('pgd');
    const fooled: boolean[][] = [];
    for (const { m } of models.slice(0, 2)) {
      const x = toBatchTensor(test.images, rows, [28, 28, 1]);
      const y = toLabelTensor(test.labels, rows);
      const res = await pgd.run(m.classifier, x, y, EPS, new KeyedRng(0, 'test/pgd-margin', Array.from(rows)), {
        path: 'first',
        output: 'last',
        params: pgd.parseParams({ loss: 'margin', steps: 10 }, 'test'),
      });
      fooled.push(res.fooled);
      tf.dispose([x, y, res.xAdv]);
    }
    // The unscaled CNN is broken on (almost) every image at eps 0.1, so the comparison has teeth.
    expect(fooled[0].filter(Boolean).length).toBeGreaterThanOrEqual(N - 1);
    expect(fooled[1]).toEqual(fooled[0]);
  });

  it('the margin loss of the scaled models is the scaled margin (to float32 rounding), also where the label wins', async () => {
    const test = await loadFashionMnist('test', { limit: N });
    const x = toBatchTensor(test.images, rangeIndices(0, N), [28, 28, 1]);
    const y = toLabelTensor(test.labels, rangeIndices(0, N));
    const margins = models.map(({ m }) => {
      const { loss, grad } = m.classifier.lossAndGrad(x, y, { path: 'first', loss: 'margin' });
      const v = Array.from(loss.dataSync());
      tf.dispose([loss, grad]);
      return v;
    });
    expect(margins[0].filter((v) => v < 0).length).toBeGreaterThanOrEqual(N - 1); // correctly classified
    for (const [k, { scale }] of models.entries()) {
      const relativeError = margins[0].map((plain, i) => Math.abs(margins[k][i] / scale - plain) / Math.max(1, Math.abs(plain)));
      expect([scale, relativeError.every((e) => e < 1e-4)]).toEqual([scale, true]);
    }
    tf.dispose([x, y]);
  });
});
