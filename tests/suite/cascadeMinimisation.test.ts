/**
 * A minimisation-kind stage in a cascade (src/suite/cascade.ts): it runs once, on every sample some eps
 * still has correct after the earlier stages, and each eps's cell is derived from the per-sample distances.
 * No registered attack is of that kind on this branch, so the registry is extended here with a stand-in
 * whose "smallest fooling perturbation" of an image is a quarter of its mean pixel value.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { initBackend, type BackendInfo } from '../../src/engine/backend.js';
import type { Tensor4D } from '../../src/engine/tf.js';
import { loadFashionMnist } from '../../src/data/fashionMnist.js';
import { decodeBits, type SuiteCellResult } from '../../src/rundir/records.js';
import { executeRun, prepareRun, type RunOutcome } from '../../src/suite/runner.js';
import type { AnyAttack } from '../../attacks/types.js';
import { fixtureCheckpoint } from './fixtures.js';

const calls: number[][] = [];
const distanceOf = (pixels: ArrayLike<number>, from: number, size: number) => {
  let s = 0;
  for (let i = from; i < from + size; i++) s += pixels[i];
  return s / size / 4;
};

vi.mock('../../attacks/registry.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../attacks/registry.js')>();
  const fake: AnyAttack & { minimise: unknown } = {
    name: 'fake-min',
    kind: 'minimisation',
    threatModel: 'linf',
    usesGradient: true,
    isTargeted: () => false,
    cost: () => ({ gradients: 10, forwards: 10 }),
    describe: 'stand-in minimisation attack (test)',
    defaults: {},
    parseParams: () => ({}),
    run: async () => {
      throw new Error('a minimisation stage must not be run per eps');
    },
    async minimise(_model: unknown, x: Tensor4D) {
      const size = x.shape[1] * x.shape[2] * x.shape[3];
      const pixels = x.dataSync();
      calls.push([x.shape[0]]);
      return { xAdv: x.clone(), distance: Float64Array.from({ length: x.shape[0] }, (_, r) => distanceOf(pixels, r * size, size)) };
    },
  };
  const all = [...real.listAttacks(), fake];
  return { ...real, listAttacks: () => all, getAttack: (name: string, where?: string) => (name === 'fake-min' ? fake : real.getAttack(name, where)) };
});

const N = 12;
const EPS = [0, 0.02, 0.03, 0.05];
let root: string;
let backend: BackendInfo;
let outcome: RunOutcome;

beforeAll(async () => {
  backend = await initBackend('wasm');
  root = mkdtempSync(join(tmpdir(), 'bench-cascade-min-'));
  await fixtureCheckpoint('cnn', join(root, 'cnn'), 'cnn-fmnist');
  const path = join(root, 'c.json');
  writeFileSync(
    path,
    JSON.stringify({
      suite: 'adversarial',
      checkpoints: [join(root, 'cnn')],
      attacks: [
        { name: 'fgsm', paths: ['exact'], cascade: 'c' },
        { name: 'fake-min', paths: ['exact'], cascade: 'c' },
      ],
      epsilons: EPS,
      limit: N,
      batchSize: 100,
      seed: 1,
      sanity: false,
      labels: 'model',
    }),
  );
  const prep = await prepareRun({ configFile: path, out: join(root, 'run') });
  outcome = await executeRun(prep, { backend, quiet: true });
}, 300_000);

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('minimisation stage', () => {
  it('runs once on the union of survivors and gives each eps: correct after stage 1 and distance > eps', async () => {
    const data = await loadFashionMnist('test', { limit: N });
    const size = 28 * 28;
    const cell = (id: string) => outcome.cells.find((c) => c.id === id) as SuiteCellResult;
    const bits = (c: SuiteCellResult) => decodeBits(c.correctBits, c.samples);
    const first = EPS.map((e) => bits(cell(`cnn-fmnist|c/fgsm|e2e|${e}`)));
    // The union over eps > 0 of stage 1's survivors, in one batch.
    const union = first[0].map((_, i) => EPS.some((e, k) => e > 0 && first[k][i])).filter(Boolean).length;
    expect(calls).toEqual([[union]]);
    for (const [k, eps] of EPS.entries()) {
      const expected = first[k].map((ok, i) => (eps === 0 ? ok : ok && !(distanceOf(data.images, i * size, size) <= eps)));
      const rec = cell(`cnn-fmnist|c/fake-min|e2e|${eps}`);
      expect(bits(rec), `eps ${eps}`).toEqual(expected);
      expect(rec.cascade!.broken).toBe(first[k].filter(Boolean).length - expected.filter(Boolean).length);
      expect(bits(cell(`cnn-fmnist|c|e2e|${eps}`))).toEqual(expected);
    }
    // The stand-in breaks some survivors and spares others.
    const second = EPS.map((e) => bits(cell(`cnn-fmnist|c/fake-min|e2e|${e}`)));
    expect(EPS.some((e, k) => e > 0 && second[k].some(Boolean)) && EPS.some((e, k) => e > 0 && first[k].some((ok, i) => ok && !second[k][i]))).toBe(true);
  });

  it('a cascade with a minimisation stage gets its panel without running that stage again, its brokenBy the worst-case cells\'', () => {
    const side = JSON.parse(readFileSync(join(outcome.runDir, 'images', 'adversarial-cnn-fmnist-c-e2e.json'), 'utf8'));
    expect(calls).toHaveLength(1);
    const positive = EPS.filter((e) => e > 0);
    positive.forEach((eps, k) => {
      const w = outcome.cells.find((c) => c.id === `cnn-fmnist|c|e2e|${eps}`) as SuiteCellResult;
      const by = w.cascade!.brokenBy!.slice(0, 6);
      expect(side.details.brokenBy[k]).toEqual(by);
      // Robust images show the last (minimisation) stage's example; images it broke show its example too.
      by.forEach((s: number, r: number) => {
        if (s === -1 || s === 2) expect(side.details.exampleStage[k][r], `eps ${eps} row ${r}`).toBe(2);
      });
    });
  });
});
