/**
 * Tensor leaks over a run: the live tensor count (tf.memory().numTensors) must be the same before every
 * batch of a corruption run and after every cell of an attack run, and back to where it was when the
 * run returns. A leak of one tensor per batch would grow without bound on a 10,000-image run
 * (scripts/memory-soak.ts measures that case, RSS included).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { initBackend, type BackendInfo } from '../../src/engine/backend.js';
import { getCorruption } from '../../corruptions/registry.js';
import type { AnyCorruption } from '../../corruptions/types.js';
import { executeRun, prepareRun } from '../../src/suite/runner.js';
import { fixtureCheckpoint } from './fixtures.js';

let root: string;
let backend: BackendInfo;

beforeAll(async () => {
  backend = await initBackend('wasm');
  root = mkdtempSync(join(tmpdir(), 'bench-memory-'));
  await fixtureCheckpoint('cnn', join(root, 'cnn'), 'cnn-fmnist');
  await fixtureCheckpoint('cnnf', join(root, 'cnnf'), 'cnnf-fmnist');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function run(name: string, config: Record<string, unknown>, extra: { corruptionLookup?: (n: string) => AnyCorruption; onCell?: () => void } = {}) {
  const file = join(root, `${name}.json`);
  writeFileSync(file, JSON.stringify({ checkpoints: [join(root, 'cnn'), join(root, 'cnnf')], seed: 5, ...config }));
  return executeRun(await prepareRun({ configFile: file, out: join(root, name) }), { backend, quiet: true, ...extra });
}

describe('no tensor leaks', () => {
  it('a corruption run: the same tensor count before every batch and after every cell', async () => {
    const atBatch: number[] = [];
    const atCell: number[] = [];
    let cellsLeft = 2 * (1 + 3);
    const lookup = (name: string): AnyCorruption => {
      const c = getCorruption(name);
      return {
        ...c,
        // Sampled before the batch is corrupted; calls after the last cell draw the example panels.
        apply: ((x: tf.Tensor4D, severity: number, rng: never) => {
          if (cellsLeft > 0) atBatch.push(tf.memory().numTensors);
          return c.apply(x, severity, rng);
        }) as AnyCorruption['apply'],
      } as AnyCorruption;
    };
    const before = tf.memory().numTensors;
    await run('corruption', { suite: 'corruption', corruptions: ['gaussian_noise', 'gaussian_blur', 'brightness'], severities: [3], limit: 40, batchSize: 10 }, {
      corruptionLookup: lookup,
      onCell: () => {
        cellsLeft--;
        atCell.push(tf.memory().numTensors);
      },
    });
    expect(atBatch.length).toBe(3 * 4);
    expect(new Set(atBatch).size, `tensors before each batch: ${atBatch.join(' ')}`).toBe(1);
    expect(new Set(atCell).size, `tensors after each cell: ${atCell.join(' ')}`).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('an attack run (gradient, feedback and score-based attacks, sanity probes): the same count after every cell', async () => {
    const atCell: number[] = [];
    const before = tf.memory().numTensors;
    const out = await run(
      'attacks',
      {
        suite: 'adversarial',
        attacks: [
          { name: 'fgsm', paths: ['first', 'e2e'] },
          { name: 'pgd', params: { steps: 2 }, paths: ['bpda'] },
          { name: 'square', params: { queries: 4 } },
        ],
        epsilons: [0, 0.05, 0.1],
        limit: 6,
        batchSize: 4,
        sanity: true,
        sanityLimit: 3,
      },
      { onCell: () => void atCell.push(tf.memory().numTensors) },
    );
    expect(atCell.length).toBeGreaterThanOrEqual(out.manifest.cells.length);
    expect(new Set(atCell).size, `tensors after each cell: ${atCell.join(' ')}`).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
  });
});
