/**
 * End-to-end runner tests on the reference fixture models (random weights; the mechanics are what is
 * tested). Labels are replaced by the CNN-F's own clean predictions so it is 100% accurate clean and the
 * attacks have samples to work on.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { initBackend, type BackendInfo } from '../../src/engine/backend.js';
import { KeyedRng } from '../../src/engine/rng.js';
import type { ImageDataset } from '../../src/data/fashionMnist.js';
import { loadFashionMnist } from '../../src/data/fashionMnist.js';
import { cellFileName } from '../../src/rundir/files.js';
import { planPart } from '../../src/rundir/manifest.js';
import { decodeBits, type SuiteCellResult } from '../../src/rundir/records.js';
import { loadSuiteModel, type SuiteModel } from '../../src/suite/loadClassifier.js';
import { executeRun, prepareRun, type RunOutcome, type RunRequest } from '../../src/suite/runner.js';
import { getAttack } from '../../attacks/registry.js';
import { corruptionKey, getCorruption } from '../../corruptions/registry.js';
import { fixtureCheckpoint } from './fixtures.js';

const N = 10;
const SEED = 3;
let root: string;
let backend: BackendInfo;
let cnnf: SuiteModel;
let labels: Int32Array;
let base: RunOutcome;

const relabel = (d: ImageDataset): ImageDataset => ({ ...d, labels: labels.slice(0, d.count) });

function writeConfig(name: string, config: Record<string, unknown>): string {
  const path = join(root, `${name}.json`);
  writeFileSync(path, JSON.stringify(config));
  return path;
}

const adversarialConfig = (batchSize: number, sanity = true) => ({
  suite: 'adversarial',
  checkpoints: [join(root, 'cnn'), join(root, 'cnnf')],
  attacks: [
    { name: 'fgsm', paths: ['first'] },
    { name: 'pgd', params: { steps: 2 }, paths: ['first', 'e2e', 'bpda'] },
    { name: 'square', params: { queries: 6 }, limit: 5 },
  ],
  epsilons: [0, 0.02, 0.05],
  limit: N,
  batchSize,
  seed: SEED,
  sanity,
  sanityLimit: 3,
});

async function run(req: RunRequest): Promise<RunOutcome> {
  const prep = await prepareRun(req);
  return executeRun(prep, { backend, quiet: true, transformData: relabel });
}

/** What must not change between equivalent runs: everything but timings and dates. */
function numbers(cells: readonly { id: string; format: string }[]) {
  return Object.fromEntries(
    cells.map((c) => {
      const { timings, completedAt, ...rest } = c as SuiteCellResult;
      void timings;
      void completedAt;
      return [c.id, rest];
    }),
  );
}

beforeAll(async () => {
  backend = await initBackend('wasm');
  root = mkdtempSync(join(tmpdir(), 'bench-runner-'));
  await fixtureCheckpoint('cnn', join(root, 'cnn'), 'cnn-fmnist');
  await fixtureCheckpoint('cnnf', join(root, 'cnnf'), 'cnnf-fmnist');
  cnnf = await loadSuiteModel({ path: join(root, 'cnnf'), output: 'last', where: 'cnnf' });
  const data = await loadFashionMnist('test', { limit: N });
  const x = tf.tensor4d(data.images, [N, 28, 28, 1]);
  const logits = cnnf.classifier.logits(x, 'last');
  const pred = tf.argMax(logits, 1);
  labels = Int32Array.from(pred.dataSync());
  tf.dispose([x, logits, pred]);
  base = await run({ configFile: writeConfig('base', adversarialConfig(16)), out: join(root, 'base') });
});

afterAll(() => {
  cnnf?.dispose();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('adversarial runner', () => {
  it('writes run.json and one parseable cell file per planned cell, and no temp files', () => {
    const manifest = JSON.parse(readFileSync(join(base.runDir, 'run.json'), 'utf8'));
    expect(manifest.format).toBe('bench-run/2');
    // The whole plan: every cell and probe, grouped in the units that execute together.
    expect(manifest.shard).toBeNull();
    expect(manifest.plan.cells).toEqual(manifest.cells);
    expect(manifest.plan.probes).toEqual(manifest.probes);
    expect(manifest.plan.units.flatMap((u: { cells: string[] }) => u.cells)).toEqual(manifest.cells);
    expect(manifest.plan.units.every((u: { id: string; cost: number }) => typeof u.id === 'string' && u.cost > 0)).toBe(true);
    // The dataset record: run.json alone tells the class count (bench merge's sanity checks use it).
    expect(manifest.dataset.numClasses).toBe(10);
    expect(manifest.sampleIndices).toEqual([...Array(N).keys()]);
    expect(manifest.checkpoints.map((c: { name: string }) => c.name)).toEqual(['cnn-fmnist', 'cnnf-fmnist']);
    expect(readdirSync(join(base.runDir, 'cells')).sort()).toEqual(manifest.cells.map(cellFileName).sort());
    expect(readdirSync(join(base.runDir, 'probes')).sort()).toEqual(manifest.probes.map(cellFileName).sort());
    for (const c of base.cells) expect(c.accuracy).toBeCloseTo(c.correct / c.samples, 12);
    expect(base.cells.find((c) => c.id === 'cnnf-fmnist|clean')!.accuracy).toBe(1);
    const sanity = JSON.parse(readFileSync(join(base.runDir, 'sanity.json'), 'utf8'));
    expect(sanity.length).toBe(2 * 12); // twelve checks per checkpoint (logits-finite, scores-are-logits and AutoAttack's four included)
  });

  it('skipping misclassified and already-broken samples gives the plain loop\'s answer (attack every sample at every eps)', async () => {
    const data = relabel(await loadFashionMnist('test', { limit: N }));
    const x = tf.tensor4d(data.images, [N, 28, 28, 1]);
    const y = tf.tensor1d(data.labels, 'int32');
    const indices = [...Array(N).keys()];
    const clean = cnnf.classifier.logits(x, 'last');
    const cleanPred = tf.argMax(clean, 1);
    const cleanOk = Array.from(cleanPred.dataSync(), (p, i) => p === data.labels[i]);
    tf.dispose([clean, cleanPred]);
    for (const [label, params, path] of [
      ['pgd', { steps: 2 }, 'e2e'],
      ['pgd', { steps: 2 }, 'bpda'],
      ['fgsm', {}, 'first'],
    ] as const) {
      const attack = getAttack(label);
      let robust = cleanOk.slice();
      for (const eps of [0, 0.02, 0.05]) {
        const id = `cnnf-fmnist|${label}|${path}|${eps}`;
        // The plain loop: every sample attacked in one batch, whatever happened before.
        const res = await attack.run(cnnf.classifier, x, y, eps, new KeyedRng(SEED, id, indices), {
          path,
          output: 'last',
          params: attack.parseParams(params, 'test'),
        });
        res.xAdv.dispose();
        robust = robust.map((ok, i) => ok && !res.fooled[i]);
        const cell = base.cells.find((c) => c.id === id)!;
        expect(decodeBits(cell.correctBits, N)).toEqual(robust);
      }
    }
    tf.dispose([x, y]);
    // The savings are real: later eps attack fewer samples.
    const attacked = [0.02, 0.05].map((eps) => base.cells.find((c) => c.id === `cnnf-fmnist|pgd|e2e|${eps}`)!.attacked!);
    expect(attacked[0]).toBe(N);
    expect(attacked[1]).toBeLessThanOrEqual(attacked[0]);
  });

  it('a feedforward CNN computes one gradient path; the others are copies with the same numbers', () => {
    const first = base.cells.find((c) => c.id === 'cnn-fmnist|pgd|first|0.05')!;
    const e2e = base.cells.find((c) => c.id === 'cnn-fmnist|pgd|e2e|0.05')!;
    expect(e2e.copyOf).toBe(first.id);
    expect([e2e.correctBits, e2e.accuracy, e2e.path]).toEqual([first.correctBits, first.accuracy, 'e2e']);
  });

  it('results do not depend on the batch size (7 vs 16)', async () => {
    const tensors = tf.memory().numTensors;
    const other = await run({ configFile: writeConfig('batch7', adversarialConfig(7, false)), out: join(root, 'batch7') });
    expect(numbers(other.cells)).toEqual(numbers(base.cells));
    expect(tf.memory().numTensors).toBe(tensors); // no tensor outlives the run
  });

  it('--resume computes only the missing cells and gives identical results', async () => {
    const dir = join(root, 'resumed');
    cpSync(base.runDir, dir, { recursive: true });
    const deleted = ['cnnf-fmnist|pgd|e2e|0.02', 'cnn-fmnist|pgd|bpda|0.05', 'cnn-fmnist|clean', 'cnnf-fmnist|square|none|0.05'];
    for (const id of deleted) rmSync(join(dir, 'cells', cellFileName(id)));
    rmSync(join(dir, 'probes', cellFileName('cnnf-fmnist|probe|large-eps|e2e|0.5')));
    // A truncated file counts as missing.
    writeFileSync(join(dir, 'cells', cellFileName('cnnf-fmnist|fgsm|e2e|0.05')), '{"format": "bench-ce');
    const kept = join(dir, 'cells', cellFileName('cnnf-fmnist|pgd|e2e|0.05'));
    const keptBefore = readFileSync(kept, 'utf8');
    const keptMtime = statSync(kept).mtimeMs;
    const resumed = await run({ resume: dir });
    expect(numbers(resumed.cells)).toEqual(numbers(base.cells));
    expect(numbers(resumed.probes)).toEqual(numbers(base.probes));
    expect(readFileSync(kept, 'utf8')).toBe(keptBefore);
    expect(statSync(kept).mtimeMs).toBe(keptMtime);
    await expect(prepareRun({ resume: dir, overrides: { limit: 5 } })).rejects.toThrow('--limit: --resume continues a run');
  });

  it('shards 1/2 and 2/2 together hold every cell, each equal to the unsharded run', async () => {
    const config = writeConfig('shard', adversarialConfig(16));
    const a = await run({ configFile: config, out: join(root, 'shard1'), shard: '1/2' });
    const b = await run({ configFile: config, out: join(root, 'shard2'), shard: '2/2' });
    // Each shard records the whole run's plan and its own units; the units partition the plan.
    expect(a.manifest.plan).toEqual(base.manifest.plan);
    expect(b.manifest.plan).toEqual(base.manifest.plan);
    expect(a.manifest.shard).toMatchObject({ index: 1, count: 2 });
    expect([...a.manifest.shard!.units!, ...b.manifest.shard!.units!].sort()).toEqual(base.manifest.plan!.units.map((u) => u.id).sort());
    expect(a.manifest.cells).toEqual(planPart(base.manifest.plan!, a.manifest.shard!.units!).cells);
    const ids = [...a.manifest.cells, ...b.manifest.cells];
    expect([...ids].sort()).toEqual([...base.manifest.cells].sort());
    expect(new Set(ids).size).toBe(ids.length);
    expect(a.cells.length).toBeGreaterThan(0);
    expect(b.cells.length).toBeGreaterThan(0);
    const all = { ...numbers(a.cells), ...numbers(b.cells) };
    expect(all).toEqual(numbers(base.cells));
    // Probes too, including a more-steps probe whose main cells are in the other shard (recomputed there).
    expect({ ...numbers(a.probes), ...numbers(b.probes) }).toEqual(numbers(base.probes));
    const split = [a, b].some((s, k) =>
      s.probes.some((p) => p.id.includes('pgd-steps') && !s.manifest.cells.includes((p as SuiteCellResult).reference!.id) && [a, b][1 - k].manifest.cells.includes((p as SuiteCellResult).reference!.id)),
    );
    expect(split).toBe(true);
  });
});

describe('parallel runs', () => {
  it('--workers 2 (a helper process on the same run directory) gives the cells of a single process', async () => {
    const config = writeConfig('workers', {
      ...adversarialConfig(16, false),
      attacks: [{ name: 'fgsm', paths: ['first', 'e2e'] }, { name: 'pgd', params: { steps: 2 }, paths: ['first', 'bpda'] }],
    });
    const single = await executeRun(await prepareRun({ configFile: config, out: join(root, 'single') }), {
      backend,
      quiet: true,
    });
    const parallel = await executeRun(await prepareRun({ configFile: config, out: join(root, 'parallel'), workers: 2 }), {
      backend,
      quiet: true,
    });
    expect(parallel.manifest.backend.workers).toBe(2);
    expect(numbers(parallel.cells)).toEqual(numbers(single.cells));
    expect(readdirSync(parallel.runDir).sort()).toEqual(['cells', 'checksums.json', 'images', 'run.json']);
  });
});

describe('corruption runner', () => {
  it('evaluates every checkpoint on the same keyed corrupted images, independently of batch size', async () => {
    const config = (batchSize: number) =>
      writeConfig(`corr${batchSize}`, {
        suite: 'corruption',
        checkpoints: [join(root, 'cnn'), join(root, 'cnnf')],
        corruptions: ['gaussian_noise', 'brightness'],
        severities: [1, 4],
        limit: 10,
        batchSize,
        seed: SEED,
      });
    const out = await run({ configFile: config(10), out: join(root, 'corr10') });
    expect(out.manifest.config.baseline).toBe('cnn-fmnist');
    expect(out.cells.map((c) => c.id)).toEqual(out.manifest.cells);
    // Independent computation of one cell: corrupt with the documented key, classify, compare.
    const data = relabel(await loadFashionMnist('test', { limit: 10 }));
    const x = tf.tensor4d(data.images, [10, 28, 28, 1]);
    const xc = getCorruption('gaussian_noise').apply(x, 4, new KeyedRng(SEED, corruptionKey('gaussian_noise', 4), [...Array(10).keys()]));
    const logits = cnnf.classifier.logits(xc, 'last');
    const pred = Array.from(tf.argMax(logits, 1).dataSync());
    tf.dispose([x, xc, logits]);
    const cell = out.cells.find((c) => c.id === 'cnnf-fmnist|corruption|gaussian_noise|4')!;
    expect(decodeBits(cell.correctBits, 10)).toEqual(pred.map((p, i) => p === data.labels[i]));
    expect(cell).toMatchObject({ kind: 'corruption', corruption: 'gaussian_noise', family: 'noise', severity: 4, samples: 10 });
    const small = await run({ configFile: config(3), out: join(root, 'corr3') });
    expect(numbers(small.cells)).toEqual(numbers(out.cells));
  });
});
