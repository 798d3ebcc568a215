import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/engine/backend.js';
import { tf } from '../../src/engine/tf.js';
import { fmnistArchitecture, REFERENCE_NORMALIZATION } from '../../src/models/architecture.js';
import { FASHION_MNIST_CLASS_NAMES, loadCheckpoint, saveCheckpoint } from '../../src/models/checkpoint.js';
import { importReferenceFile } from '../../src/models/importReference.js';
import { verifyAgainstReference } from '../../src/models/verify.js';
import { CnnfNetwork } from '../../src/models/cnnf.js';
import { CnnfClassifier } from '../../src/models/cnnfClassifier.js';

// The port against the original PyTorch CNN-F: both torch.save formats imported, every case compared.
const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'cnnf-reference');

async function importFixture(folder: string) {
  const meta = JSON.parse(readFileSync(join(FIXTURES, folder, 'meta.json'), 'utf8'));
  const architecture = fmnistArchitecture(meta.ind, meta.cycles, meta.res_param);
  const { weights } = await importReferenceFile(join(FIXTURES, folder, 'state_dict.pt'), architecture);
  const dir = mkdtempSync(join(tmpdir(), `bench-ref-${folder}-`));
  await saveCheckpoint(dir, { name: folder, architecture, normalization: REFERENCE_NORMALIZATION, classNames: [...FASHION_MNIST_CLASS_NAMES], provenance: {} }, weights);
  return loadCheckpoint(dir);
}

for (const backend of ['wasm', 'cpu'] as const) {
  describe(`reference CNN-F fixtures on ${backend}`, () => {
    beforeAll(async () => {
      await initBackend(backend);
    });

    it('the CNN-F (ind 2, 1 cycle, legacy .pt) reproduces every reference case per sample', async () => {
      const results = await verifyAgainstReference(await importFixture('cnnf_ind2_cycles1'), join(FIXTURES, 'cnnf_ind2_cycles1', 'cases.safetensors'));
      expect(results.map((r) => r.name).sort()).toEqual(
        ['feature_ind', 'grad_e2e_avg', 'grad_e2e_last', 'grad_first', 'logits_avg', 'logits_first', 'logits_last', 'recon_ind_cycle1'].sort(),
      );
      for (const r of results) {
        expect(r.passed, `${r.name}: ${JSON.stringify(r.outliers)}`).toBe(true);
        // Most images agree to float32 rounding, not just within tolerance.
        expect(r.medianRelativeError).toBeLessThan(1e-5);
      }
      // verify's chunked convolutions (src/engine/kernels/chunked-conv.ts) take ~1.45x the cpu backend's time here.
    }, 300_000);

    it('the feedforward CNN (zip .pt) reproduces logits and first-pass gradients', async () => {
      const results = await verifyAgainstReference(await importFixture('cnn_feedforward'), join(FIXTURES, 'cnn_feedforward', 'cases.safetensors'));
      expect(results.map((r) => r.name).sort()).toEqual(['grad_first', 'logits_first']);
      for (const r of results) expect(r.passed, r.name).toBe(true);
    });

    it('a checkpoint compared with the wrong reference fails on every image', async () => {
      const results = await verifyAgainstReference(await importFixture('cnnf_ind2_cycles1'), join(FIXTURES, 'cnn_feedforward', 'cases.safetensors'));
      const logits = results.find((r) => r.name === 'logits_first')!;
      expect(logits.passed).toBe(false);
      expect(logits.outliers.length).toBe(16);
    });
  });
}

describe('gradient paths of the classifier', () => {
  it('bpda: forward is the full feedback output, backward is the first-pass vector-Jacobian product', async () => {
    await initBackend('wasm');
    const ckpt = await importFixture('cnnf_ind2_cycles1');
    const params = Object.fromEntries(Object.entries(ckpt.weights).map(([k, w]) => [k, tf.tensor(w.data, w.shape)]));
    const network = new CnnfNetwork(ckpt.manifest.architecture, REFERENCE_NORMALIZATION, params);
    const clf = new CnnfClassifier('cnnf', network, 'last');
    const x = tf.randomUniform([6, 28, 28, 1], 0, 1, 'float32', 3) as tf.Tensor4D;
    const y = tf.tensor1d([0, 1, 2, 3, 4, 5], 'int32');
    const full = clf.logits(x, 'last');
    expect(Array.from(tf.tidy(() => clf.bpdaLogits(x, 'last')).dataSync())).toEqual(Array.from(full.dataSync()));
    const { loss, grad } = clf.lossAndGrad(x, y, { path: 'bpda', output: 'last' });
    // Independent: dL/dlogits at the full logits, pulled back through the first pass only.
    const dLogits = tf.grad((l: tf.Tensor) => tf.sum(tf.neg(tf.sum(tf.mul(tf.logSoftmax(l), tf.cast(tf.oneHot(y, 10), 'float32')), 1))))(full);
    const expected = tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(network.firstPassLogits(xi as tf.Tensor4D), dLogits)))(x);
    expect(tf.max(tf.abs(tf.sub(grad, expected))).dataSync()[0]).toBeLessThan(1e-6);
    const e2e = clf.lossAndGrad(x, y, { path: 'e2e', output: 'last' });
    expect(Array.from(loss.dataSync())).toEqual(Array.from(e2e.loss.dataSync()));
    // ...and it is not the end-to-end gradient (the feedback loop does change it).
    expect(tf.max(tf.abs(tf.sub(grad, e2e.grad))).dataSync()[0]).toBeGreaterThan(1e-4);
  });
});
