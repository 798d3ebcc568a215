import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/engine/backend.js';
import { encodeIdx } from '../../src/data/idx.js';
import { loadFashionMnist } from '../../src/data/fashionMnist.js';
import { train, type TrainOptions } from '../../src/train/trainer.js';
import { loadCheckpoint } from '../../src/models/checkpoint.js';
import { polyLearningRate } from '../../src/train/optimizer.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** A small "training set" in IDX form (the first N vendored test images), so tests need no download. */
async function tinyTrainingDir(count: number): Promise<string> {
  const test = await loadFashionMnist('test', { limit: count });
  const dir = mkdtempSync(join(tmpdir(), 'bench-train-data-'));
  const pixels = Uint8Array.from(test.images, (v) => Math.round(v * 255));
  writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(encodeIdx([count, 28, 28], pixels)));
  writeFileSync(join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(encodeIdx([count], Uint8Array.from(test.labels))));
  return dir;
}

function options(dataDir: string, out: string, over: Partial<TrainOptions> = {}): TrainOptions {
  return {
    arch: 'cnn', ind: 0, cycles: 0, resParam: 0, epochs: 2, batchSize: 40, lr: 0.05, momentum: 0.9, weightDecay: 5e-4,
    power: 0.9, gradClip: 0.5, mseWeight: 0.1, seed: 3, validationSize: 40, dataDir, out, name: 'tiny', resume: false,
    testLimit: 100, quiet: true, command: 'test', ...over,
  };
}

describe('bench train', () => {
  let dataDir = '';
  beforeAll(async () => {
    await initBackend('wasm');
    dataDir = await tinyTrainingDir(400);
  });

  it('polynomial decay matches the reference lr_poly', () => {
    expect(polyLearningRate(0.05, 0, 100, 0.9)).toBe(0.05);
    expect(polyLearningRate(0.05, 50, 100, 0.9)).toBeCloseTo(0.05 * Math.pow(0.5, 0.9), 12);
    expect(polyLearningRate(0.05, 100, 100, 0.9)).toBe(0);
  });

  it('CNN-F training lowers the loss and writes a loadable checkpoint with test metrics', async () => {
    const out = mkdtempSync(join(tmpdir(), 'bench-train-cnnf-'));
    const { history } = await train(options(dataDir, out, { arch: 'cnnf', ind: 2, cycles: 1, resParam: 0.1, epochs: 3, lr: 0.1 }));
    expect(history).toHaveLength(3);
    expect(history[2].loss).toBeLessThan(history[0].loss * 0.9);
    const ckpt = await loadCheckpoint(out);
    expect(ckpt.manifest.architecture.cycles).toBe(1);
    const acc = ckpt.manifest.metrics.cleanAccuracy as { first: number; last: number; average: number };
    // Better than chance after a few steps on 360 images.
    expect(acc.last).toBeGreaterThan(0.3);
    expect(ckpt.manifest.provenance.epochs).toBe(3);
  });

  it('--resume after a SIGKILL ends with the same weights as an uninterrupted run', async () => {
    const cli = (args: string[]) => [join(ROOT, 'node_modules', '.bin', 'tsx'), [join(ROOT, 'src', 'cli', 'main.ts'), 'train', ...args]] as const;
    const common = ['--arch', 'cnn', '--epochs', '3', '--batch-size', '40', '--validation-size', '40', '--seed', '5', '--data-dir', dataDir, '--test-limit', '100', '--quiet', '--backend', 'wasm'];
    const straight = mkdtempSync(join(tmpdir(), 'bench-train-straight-'));
    const [cmd, args] = cli([...common, '--out', straight]);
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);

    const interrupted = join(mkdtempSync(join(tmpdir(), 'bench-train-killed-')), 'ckpt');
    mkdirSync(interrupted);
    const [cmd2, args2] = cli([...common, '--out', interrupted]);
    const child = spawn(cmd2, args2, { stdio: 'ignore', detached: true });
    const statePath = join(interrupted, 'training-state.json');
    // Kill the whole process group as soon as the first epoch's checkpoint is on disk.
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (existsSync(statePath) && JSON.parse(readFileSync(statePath, 'utf8')).epochsDone >= 1) {
          clearInterval(timer);
          process.kill(-child.pid!, 'SIGKILL');
          resolve();
        }
      }, 50);
      child.on('exit', (code) => {
        clearInterval(timer);
        if (code === 0) reject(new Error('the run finished before it could be interrupted'));
      });
    });
    expect(JSON.parse(readFileSync(statePath, 'utf8')).epochsDone).toBeLessThan(3);
    const [cmd3, args3] = cli([...common, '--out', interrupted, '--resume']);
    const resumed = spawnSync(cmd3, args3, { encoding: 'utf8' });
    expect(resumed.status, resumed.stderr).toBe(0);

    const a = await loadCheckpoint(straight);
    const b = await loadCheckpoint(interrupted);
    for (const name of Object.keys(a.weights)) expect(b.weights[name].data, name).toEqual(a.weights[name].data);
    expect(b.manifest.metrics).toEqual(a.manifest.metrics);
  }, 400_000);
});
