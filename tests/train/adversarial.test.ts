import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf, type Tensor1D, type Tensor4D } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { encodeIdx } from '../../src/data/idx.js';
import { loadFashionMnist } from '../../src/data/fashionMnist.js';
import { loadSuiteModel, type SuiteModel } from '../../src/suite/loadClassifier.js';
import { CnnfNetwork } from '../../src/models/cnnf.js';
import { crossEntropy } from '../../attacks/losses.js';
import { adversarialBatch, type AdversarialTraining } from '../../src/train/adversarial.js';
import { train, type TrainOptions } from '../../src/train/trainer.js';
import { loadCheckpoint } from '../../src/models/checkpoint.js';

const ROOT = join(import.meta.dirname, '..', '..');
const EPS = 0.1;
const PGD7: AdversarialTraining = { kind: 'pgd', eps: EPS, steps: 7, stepSize: EPS * 0.355, cleanWeight: 0.1 };
const FGSM_RS: AdversarialTraining = { kind: 'fgsm-rs', eps: EPS, steps: 1, stepSize: 0, cleanWeight: 0.1 };

/** Mean first-pass cross entropy of `x` (read back to the host). */
function firstPassLoss(network: CnnfNetwork, x: Tensor4D, y: Tensor1D): number {
  return tf.tidy(() => tf.mean(crossEntropy(network.firstPassLogits(x), y)).dataSync()[0]);
}

describe('adversarial training examples (--adv)', () => {
  let cnn: SuiteModel;
  let x: Tensor4D;
  let y: Tensor1D;
  const rows = Array.from({ length: 64 }, (_, i) => i);

  beforeAll(async () => {
    await initBackend('wasm');
    cnn = await loadSuiteModel({ path: join(ROOT, 'checkpoints', 'cnn-fmnist'), output: 'last', where: 'cnn-fmnist' });
    const data = await loadFashionMnist('test', { limit: 64 });
    x = tf.tensor4d(data.images, [64, 28, 28, 1]);
    y = tf.tensor1d(Array.from(data.labels), 'int32');
  });
  afterAll(() => {
    cnn?.dispose();
    tf.dispose([x, y]);
  });

  const network = () => (cnn.classifier as unknown as { network: CnnfNetwork }).network;

  for (const adv of [FGSM_RS, PGD7]) {
    it(`${adv.kind} stays in the eps-ball and [0,1], is reproducible per (seed, epoch, rows) and raises the loss`, () => {
      const a = adversarialBatch(network(), x, y, adv, 1, 0, rows);
      const b = adversarialBatch(network(), x, y, adv, 1, 0, rows);
      const other = adversarialBatch(network(), x, y, adv, 1, 1, rows);
      const [va, vb, vo, vx] = [a, b, other, x].map((t) => t.dataSync());
      let maxDiff = 0;
      let outside = 0;
      for (let i = 0; i < vx.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(va[i] - vx[i]));
        if (va[i] < 0 || va[i] > 1) outside++;
      }
      expect(maxDiff).toBeLessThanOrEqual(EPS + 1e-6);
      expect(maxDiff).toBeGreaterThan(EPS * 0.9);
      expect(outside).toBe(0);
      expect(vb).toEqual(va);
      // A new epoch draws a new random start.
      expect(vo).not.toEqual(va);
      // On the trained CNN, eps 0.1 examples must cost far more loss than clean ones, PGD-7 more than FGSM.
      const clean = firstPassLoss(network(), x, y);
      const adversarial = firstPassLoss(network(), a, y);
      expect(adversarial).toBeGreaterThan(clean + 1);
      tf.dispose([a, b, other]);
    });
  }

  it('PGD-7 finds a higher loss than FGSM with random start', () => {
    const f = adversarialBatch(network(), x, y, FGSM_RS, 1, 0, rows);
    const p = adversarialBatch(network(), x, y, PGD7, 1, 0, rows);
    expect(firstPassLoss(network(), p, y)).toBeGreaterThan(firstPassLoss(network(), f, y));
    tf.dispose([f, p]);
  });

  it('bench train --adv fgsm-rs trains on adversarial examples: loss falls, the recipe is recorded, the weights differ from standard training', async () => {
    const count = 300;
    const data = await loadFashionMnist('test', { limit: count });
    const dataDir = mkdtempSync(join(tmpdir(), 'bench-adv-data-'));
    const pixels = Uint8Array.from(data.images, (v) => Math.round(v * 255));
    writeFileSync(join(dataDir, 'train-images-idx3-ubyte.gz'), gzipSync(encodeIdx([count, 28, 28], pixels)));
    writeFileSync(join(dataDir, 'train-labels-idx1-ubyte.gz'), gzipSync(encodeIdx([count], Uint8Array.from(data.labels))));
    const base = (out: string, adv?: AdversarialTraining): TrainOptions => ({
      arch: 'cnn', ind: 0, cycles: 0, resParam: 0, epochs: 3, batchSize: 50, lr: 0.05, momentum: 0.9, weightDecay: 5e-4,
      power: 0.9, gradClip: 0.5, mseWeight: 0.1, seed: 2, validationSize: 50, dataDir, out, name: 'tiny', resume: false,
      testLimit: 50, quiet: true, command: 'test', adv,
    });
    const standardDir = mkdtempSync(join(tmpdir(), 'bench-adv-standard-'));
    const robustDir = mkdtempSync(join(tmpdir(), 'bench-adv-robust-'));
    await train(base(standardDir));
    const { history } = await train(base(robustDir, FGSM_RS));
    expect(history[2].loss).toBeLessThan(history[0].loss);

    const standard = await loadCheckpoint(standardDir);
    const robust = await loadCheckpoint(robustDir);
    expect((robust.manifest.provenance.recipe as { adv?: AdversarialTraining }).adv).toEqual(FGSM_RS);
    // Same seed, data order and initialisation: only the adversarial examples can make the weights differ.
    let maxDiff = 0;
    for (const [name, w] of Object.entries(standard.weights))
      for (let i = 0; i < w.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(w.data[i] - robust.weights[name].data[i]));
    expect(maxDiff).toBeGreaterThan(1e-3);
  }, 300_000);
});
