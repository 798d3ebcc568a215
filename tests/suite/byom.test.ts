/**
 * Bring your own model and data, end to end through the CLI: a TF.js layers-model saved by tfjs-layers
 * (32x32 RGB, softmax head) next to the committed 28x28 grey CNN, on an npz dataset (grey 28x28, adapted
 * to the TF.js model's input) and on an image folder with `--labels model`; then the report. Also the
 * one-line refusals a user meets: a gradient path the model lacks, a file that is no model.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { ROOT, runBench as bench } from '../helpers/cli.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { saveLayersModel } from '../models/families/tfjsModels.helpers.js';
import { i64, npyBytes, zipBytes } from '../helpers/datasetFiles.js';
import { mulberry32 } from '../helpers/mulberry32.js';

const tmp = mkdtempSync(join(tmpdir(), 'bench-byom-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const modelJson = join(tmp, 'rgb-net', 'model.json');
const npz = join(tmp, 'grey.npz');
const folder = join(tmp, 'folder');

beforeAll(async () => {
  await initBackend('cpu');
  // A small functional RGB classifier: strided conv, batch norm, max pool, dense softmax head.
  tf.util.seedrandom?.('byom');
  const input = tf.input({ shape: [32, 32, 3] });
  let h = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }).apply(input) as tf.SymbolicTensor;
  h = tf.layers.batchNormalization().apply(h) as tf.SymbolicTensor;
  h = tf.layers.maxPooling2d({ poolSize: 2 }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.flatten().apply(h) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }).apply(h) as tf.SymbolicTensor;
  await saveLayersModel(tf.model({ inputs: input, outputs: out }), join(tmp, 'rgb-net'));

  // npz: 12 grey 28x28 uint8 images (NHWC without channel axis -> N,H,W,1) with labels 0..9.
  const rand = mulberry32(7);
  const n = 12;
  const pixels = Uint8Array.from({ length: n * 28 * 28 }, () => Math.floor(rand() * 256));
  writeFileSync(
    npz,
    zipBytes([
      { name: 'x.npy', data: npyBytes('|u1', [n, 28, 28, 1], pixels) },
      { name: 'y.npy', data: npyBytes('<i8', [n], i64(Array.from({ length: n }, (_, i) => i % 10))) },
    ]),
  );

  // A folder of two classes, four 32x32 RGB PNGs each (no labels the model knows: --labels model).
  for (const cls of ['cats', 'dogs'])
    for (let k = 0; k < 4; k++) {
      mkdirSync(join(folder, cls), { recursive: true });
      const png = new PNG({ width: 32, height: 32 });
      for (let i = 0; i < png.data.length; i++) png.data[i] = (i & 3) === 3 ? 255 : Math.floor(rand() * 256);
      writeFileSync(join(folder, cls, `${k}.png`), PNG.sync.write(png, { colorType: 2 }));
    }
});

describe('bring your own model and data', { timeout: 600_000 }, () => {
  it('adversarial suite: a TF.js layers-model and the committed CNN on an npz dataset, then the report', async () => {
    const out = join(tmp, 'adv');
    const r = await bench([
      'run', '--suite', 'adversarial', '--models', `${modelJson},checkpoints/cnn-fmnist`, '--dataset', `npz:${npz}`,
      '--attacks', 'fgsm,pgd', '--epsilons', '0,0.03', '--limit', '8', '--no-sanity', '--workers', '1', '--quiet', '--out', out,
    ]);
    expect(r.stderr).toContain('notice: dataset: 8 images of 28x28x1 adapted to the model input 32x32x3');
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
    expect(run.dataset).toMatchObject({ name: 'npz', shape: [8, 28, 28, 1], numClasses: 10, labels: 'dataset' });
    expect(run.dataset.files[0].sha256).toMatch(/^[0-9a-f]{64}$/);
    const [mine, cnn] = run.checkpoints;
    expect(mine).toMatchObject({ family: 'tfjs-layers', output: 'logits', gradientPaths: ['direct'], inputShape: [32, 32, 3], scores: 'log-probabilities' });
    expect(mine.cycles ?? 0).toBe(0);
    expect(cnn).toMatchObject({ name: 'cnn-fmnist', gradientPaths: ['first', 'e2e', 'bpda'] });
    // The TF.js model is attacked through its one path; the CNN keeps CNN-F's three.
    const cells: string[] = run.cells;
    expect(cells.filter((id) => id.startsWith(`${mine.name}|pgd|`))).toEqual([`${mine.name}|pgd|direct|0`, `${mine.name}|pgd|direct|0.03`]);
    expect(cells).toContain('cnn-fmnist|pgd|e2e|0.03');
    const report = readFileSync(join(out, 'report.html'), 'utf8');
    expect(report).toContain(mine.name);
    expect(readdirSync(join(out, 'cells')).length).toBe(cells.length);
  });

  it('shards of that run merge back to the unsharded cells, and compare reads the TF.js model', async () => {
    const base = ['run', '--suite', 'adversarial', '--models', `${modelJson},checkpoints/cnn-fmnist`, '--dataset', `npz:${npz}`,
      '--attacks', 'fgsm,pgd', '--epsilons', '0,0.03', '--limit', '8', '--no-sanity', '--workers', '1', '--quiet'];
    for (const i of [1, 2]) {
      const r = await bench([...base, '--shard', `${i}/2`, '--out', join(tmp, `shard${i}`)]);
      expect(r.code, r.stderr).toBe(0);
    }
    const merged = join(tmp, 'merged');
    const m = await bench(['merge', join(tmp, 'shard1'), join(tmp, 'shard2'), '--out', merged, '--quiet']);
    expect(m.code, m.stderr).toBe(0);
    const bits = (dir: string) =>
      Object.fromEntries(readdirSync(join(dir, 'cells')).map((f) => [f, JSON.parse(readFileSync(join(dir, 'cells', f), 'utf8')).correctBits]));
    expect(bits(merged)).toEqual(bits(join(tmp, 'adv')));
    const c = await bench(['compare', join(tmp, 'adv'), merged, '--allow-inconclusive']);
    expect(c.code, c.stderr + c.stdout).toBe(0);
  });

  it('corruption suite: an image folder labelled by the model’s own clean predictions', async () => {
    const out = join(tmp, 'corr');
    const r = await bench([
      'run', '--suite', 'corruption', '--models', modelJson, '--dataset', `folder:${folder}`, '--labels', 'model',
      '--corruptions', 'gaussian_noise,brightness', '--severities', '1,5', '--workers', '1', '--quiet', '--out', out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
    expect(run.dataset).toMatchObject({ name: 'folder', classNames: ['cats', 'dogs'], shape: [8, 32, 32, 3], labels: 'model' });
    const clean = JSON.parse(readFileSync(join(out, 'cells', readdirSync(join(out, 'cells')).find((f) => f.endsWith('_clean.json'))!), 'utf8'));
    // Labels are the model's clean predictions: clean accuracy is 100% by construction.
    expect(clean.accuracy).toBe(1);
  });

  it('refuses a gradient path the model lacks, naming the model and what it offers, and writes nothing', async () => {
    const config = join(tmp, 'paths.json');
    writeFileSync(config, JSON.stringify({ suite: 'adversarial', checkpoints: [{ path: modelJson, name: 'mine' }], dataset: `npz:${npz}`, attacks: [{ name: 'pgd', paths: ['e2e'] }], epsilons: [0, 0.03], limit: 4 }));
    const out = join(tmp, 'paths-run');
    const r = await bench(['run', '--config', config, '--quiet', '--workers', '1', '--out', out]);
    expect(r.code).toBe(2);
    // Notices (input adaptation, softmax head) print even under --quiet; the refusal is one error line.
    expect(r.stderr.trim().split('\n').filter((l) => !l.startsWith('notice: '))).toEqual(['error: attacks: pgd: paths: model "mine" has no gradient path "e2e" (allowed: direct (leave "paths" out to attack through every path the model offers))']);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses a file that is neither a bench checkpoint nor a TF.js model in one line', async () => {
    const bad = join(tmp, 'bad', 'model.json');
    mkdirSync(join(tmp, 'bad'), { recursive: true });
    writeFileSync(bad, JSON.stringify({ format: 'onnx', graph: {} }));
    const out = join(tmp, 'bad-run');
    const r = await bench(['run', '--suite', 'corruption', '--models', bad, '--limit', '4', '--quiet', '--workers', '1', '--out', out]);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^error: .*model\.json: format "onnx": not a model bench reads \(allowed: /);
    expect(existsSync(out)).toBe(false);
  });
});
