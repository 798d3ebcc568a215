/**
 * `bench train --arch cnnf-wrn` on a tiny generated CIFAR-10 binary training set (the published record
 * layout: label byte then R, G, B planes) with a WRN-10-1: it runs the reference recipe's defaults
 * (PGD-7 adversarial training at eps 0.0315 / step 0.01, clean weight 0.05, 2 cycles, flips and crops)
 * for two steps and writes a checkpoint the model-family loader reads; bad flags are one line, exit 2.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/engine/backend.js';
import { tf } from '../../src/engine/tf.js';
import { loadModel } from '../../src/models/families/index.js';
import { idxBytes, tinyCifarDir } from '../helpers/datasetFiles.js';
import { InputError } from '../../src/engine/errors.js';
import { wrnOptions, type TrainArgs } from '../../src/cli/train.js';
import { trainWrn } from '../../src/train/wrnTrainer.js';
import { runBench } from '../helpers/cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'bench-train-wrn-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const TINY = ['--depth', '10', '--widen', '1', '--ind', '1', '--batch-size', '4', '--epochs', '1', '--validation-size', '2', '--test-limit', '2', '--quiet'];

describe('bench train --arch cnnf-wrn', { timeout: 300_000 }, () => {
  let data = '';
  beforeAll(async () => {
    data = tinyCifarDir(join(tmp, 'cifar-10-batches-bin'), 2, 4);
    await initBackend('wasm');
  });

  /** The flags as yargs hands them to the handler, with the command's defaults. */
  const args = (over: Partial<TrainArgs>): TrainArgs => ({
    arch: 'cnnf-wrn', resParam: 0.1, batchSize: 4, lr: 0.05, momentum: 0.9, weightDecay: 5e-4, power: 0.9, gradClip: 0.5, mseWeight: 0.1,
    validationSize: 2, augment: true, out: join(tmp, 'x'), resume: false, advSteps: 7, quiet: true, dataset: `cifar10:${data}`, ...over,
  });

  it('trains two steps with the reference recipe and writes a checkpoint bench loads', async () => {
    const out = join(tmp, 'ckpt');
    // In process (what the command's handler runs), to spare a CLI start-up; the refusal below goes through the CLI.
    const result = await trainWrn(wrnOptions(args({ depth: 10, widen: 1, ind: 1, epochs: 1, testLimit: 2, out })));
    expect(result.checkpointDir).toBe(out);
    expect(result.imagesPerSecond).toBeGreaterThan(0);
    const manifest = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'));
    expect(manifest.architecture).toMatchObject({ family: 'cnnf-wrn', depth: 10, widen: 1, ind: 1, cycles: 2, resParam: 0.1, numClasses: 10 });
    expect(manifest.normalization).toEqual({ mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
    // The reference's run_train_cifar.sh, with its [-1,1] eps and step halved to [0,1] pixels.
    expect(manifest.provenance.recipe).toMatchObject({
      adv: { kind: 'pgd', eps: 0.063 / 2, steps: 7, stepSize: 0.02 / 2, cleanWeight: 0.05 },
      augment: true, lr: 0.05, momentum: 0.9, weightDecay: 5e-4, power: 0.9, gradClip: 0.5, mseWeight: 0.1, seed: 0,
    });
    // 10 training images, 2 held out, batches of 4: two steps.
    expect(manifest.provenance.history).toHaveLength(1);
    expect(manifest.metrics).toMatchObject({ testImages: 2, split: 'test' });

    const model = await loadModel(out);
    expect(model.family).toBe('cnnf');
    expect(model.classifier.inputShape).toEqual([32, 32, 3]);
    expect(model.classifier.outputs).toEqual(['first', 'last', 'average']);
    const logits = tf.tidy(() => model.classifier.logits(tf.fill([1, 32, 32, 3], 0.5) as tf.Tensor4D, 'average'));
    expect(Array.from(await logits.data()).every(Number.isFinite)).toBe(true);
    logits.dispose();
    model.dispose();
  });

  it('a missing --dataset is one line, exit 2', async () => {
    const r = await runBench(['train', '--arch', 'cnnf-wrn', ...TINY, '--out', join(tmp, 'x')]);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('--dataset: required with --arch cnnf-wrn');
  });

  it.each([
    [{ ind: 5, depth: 10 }, '--ind: 5 is not an integer in 0..1'],
    [{ depth: 12 }, '--depth: 12 is not a Wide-ResNet depth'],
    [{ cycles: -1 }, '--cycles: -1 is not an integer in 0..50'],
    [{ dataDir: '/tmp' }, '--data-dir: reads Fashion-MNIST'],
    [{ advEps: 0 }, '--adv-eps: 0 is not a positive number'],
  ] as [Partial<TrainArgs>, string][])('refuses %j with one line naming the flag', (over, message) => {
    expect(() => wrnOptions(args(over))).toThrow(InputError);
    expect(() => wrnOptions(args(over))).toThrow(message);
  });

  it('the defaults are the reference run (WRN-40-2, ind 5, 2 cycles, 500 epochs, seed 0)', () => {
    expect(wrnOptions(args({}))).toMatchObject({ depth: 40, widen: 2, ind: 5, cycles: 2, resParam: 0.1, epochs: 500, seed: 0, augment: true });
  });

  it('refuses training data that is not 32x32x3, and a missing directory, in one line', async () => {
    const fm = join(tmp, 'fmnist');
    mkdirSync(fm);
    writeFileSync(join(fm, 'train-images-idx3-ubyte'), idxBytes([2, 28, 28], new Uint8Array(2 * 784)));
    writeFileSync(join(fm, 'train-labels-idx1-ubyte'), idxBytes([2], [0, 1]));
    const base = wrnOptions(args({ depth: 10, widen: 1, ind: 1 }));
    await expect(trainWrn({ ...base, dataset: `fashion-mnist:${fm}` })).rejects.toThrow(/holds 28x28x1 images; the Wide-ResNet CNN-F takes 32x32x3/);
    await expect(trainWrn({ ...base, dataset: `cifar10:${tmp}/none` })).rejects.toThrow(/directory not found/);
  });
});
