/**
 * CIFAR-10-C at its native 32x32x3 through the CLI: `bench run --suite corruption` on a generated CIFAR-10
 * binary test batch with a small TF.js layers-model taking 32x32 RGB, every corruption (the RGB-only
 * saturate included) at severity 5; and the one-line refusal of saturate on grey Fashion-MNIST images.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { CORRUPTION_NAMES } from '../../corruptions/registry.js';
import { runBench as bench } from '../helpers/cli.js';
import { cifarRecords } from '../helpers/datasetFiles.js';
import { saveLayersModel } from '../models/families/tfjsModels.helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'bench-cifar-c-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const model = join(tmp, 'rgb-net');
const data = join(tmp, 'cifar-10-batches-bin');

beforeAll(async () => {
  await initBackend('cpu');
  const input = tf.input({ shape: [32, 32, 3] });
  let h = tf.layers.conv2d({ filters: 4, kernelSize: 4, strides: 4, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }).apply(input) as tf.SymbolicTensor;
  h = tf.layers.flatten().apply(h) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 10, kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }).apply(h) as tf.SymbolicTensor;
  await saveLayersModel(tf.model({ inputs: input, outputs: out }), model);
  // Three colourful images with a grey band (so brightness, saturate and snow's grey all matter), labels 0..2.
  mkdirSync(data);
  writeFileSync(
    join(data, 'test_batch.bin'),
    cifarRecords([[0], [1], [2]], (n, ch, y, x) => (y >= 12 && y < 16 ? x * 8 : (37 * y + 11 * x * (ch + 1) + 53 * ch + 29 * n) % 256)),
  );
});

describe('the corruption suite on 32x32 RGB CIFAR-10 images', { timeout: 300_000 }, () => {
  it('runs every corruption at severity 5 and records the images as 32x32x3', async () => {
    const out = join(tmp, 'run');
    const r = await bench([
      'run', '--suite', 'corruption', '--models', join(model, 'model.json'), '--dataset', `cifar10:${data}`, '--limit', '3',
      '--corruptions', CORRUPTION_NAMES.join(','), '--severities', '5', '--workers', '1', '--quiet', '--out', out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
    expect(run.dataset).toMatchObject({ name: 'cifar10', shape: [3, 32, 32, 3] });
    const cells = readdirSync(join(out, 'cells')).map((f) => JSON.parse(readFileSync(join(out, 'cells', f), 'utf8')));
    const corrupted = cells.filter((c) => c.kind === 'corruption');
    expect(corrupted.map((c) => c.corruption).sort()).toEqual([...CORRUPTION_NAMES].sort());
    for (const cell of corrupted) expect(cell).toMatchObject({ severity: 5, samples: 3 });
  });

  it('refuses saturate on grey images before loading a model, in one line', async () => {
    const r = await bench([
      'run', '--suite', 'corruption', '--models', 'checkpoints/cnn-fmnist', '--limit', '2', '--corruptions', 'saturate',
      '--severities', '1', '--workers', '1', '--quiet', '--out', join(tmp, 'grey'),
    ]);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("--corruptions: saturate is not defined on the dataset's 1-channel images");
    expect(lines[0]).toContain('C in {3}');
  });
});
