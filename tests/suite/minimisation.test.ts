/**
 * The minimisation kind through the runner, on a hand-built model whose minimal perturbations have a closed
 * form: a linear TF.js layers-model (flatten + dense, logits z = W^T x + b) on float32 npz images. For label y
 * and class j the smallest perturbation reaching z_j >= z_y has norm (z_y - z_j) / ||w_y - w_j||_* (dual norm:
 * L1 for L-inf, L2 for L2), and the model's minimal adversarial distance d* is the minimum over j != y (the
 * optimum stays inside [0,1] for these interior images, checked). FMN (fmn, fmn-l2) runs once per sweep and
 * every eps cell is derived from its distances; the cells must be what a per-epsilon run reports.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { initBackend, type BackendInfo } from '../../src/engine/backend.js';
import { KeyedRng } from '../../src/engine/rng.js';
import { getAttack } from '../../attacks/registry.js';
import { withinBall } from '../../attacks/norms.js';
import { cellFileName } from '../../src/rundir/files.js';
import { decodeBits, type SuiteCellResult } from '../../src/rundir/records.js';
import { loadSuiteModel } from '../../src/suite/loadClassifier.js';
import { deriveSweep } from '../../src/suite/minimisation.js';
import { executeRun, outcomeRun, prepareRun, type RunOutcome, type RunRequest } from '../../src/suite/runner.js';
import { accuracyVsEpsTable } from '../../src/report/tables.js';
import { saveLayersModel } from '../models/families/tfjsModels.helpers.js';
import { npyBytes, zipBytes } from '../helpers/datasetFiles.js';
import { mulberry32 } from '../helpers/mulberry32.js';

const H = 8;
const D = H * H;
const K = 10;
const N = 12;
const STEPS = 50;

let root: string;
let backend: BackendInfo;
let weights: Float32Array; // [D, K]
let bias: Float32Array;
let images: Float32Array; // [N, D]
let labels: number[];
/** Closed-form minimal distance per sample: L-inf and L2. */
const exact: Record<'linf' | 'l2', number[]> = { linf: [], l2: [] };
const epsilons: Record<'linf' | 'l2', number[]> = { linf: [], l2: [] };
let base: RunOutcome;
let progress = '';

function logits64(x: ArrayLike<number>, r: number): number[] {
  return Array.from({ length: K }, (_, j) => {
    let z = bias[j];
    for (let i = 0; i < D; i++) z += x[r * D + i] * weights[i * K + j];
    return z;
  });
}

/** d* and whether the optimum x + delta* stays in [0,1]. */
function closedForm(r: number, norm: 'linf' | 'l2'): { distance: number; feasible: boolean } {
  const z = logits64(images, r);
  const y = labels[r];
  let best = { distance: Infinity, feasible: false };
  for (let j = 0; j < K; j++) {
    if (j === y) continue;
    const d = Array.from({ length: D }, (_, i) => weights[i * K + y] - weights[i * K + j]);
    const m = z[y] - z[j];
    const l1 = d.reduce((s, v) => s + Math.abs(v), 0);
    const l2sq = d.reduce((s, v) => s + v * v, 0);
    const distance = norm === 'linf' ? m / l1 : m / Math.sqrt(l2sq);
    if (distance >= best.distance) continue;
    const delta = d.map((v) => (norm === 'linf' ? -distance * Math.sign(v) : (-m * v) / l2sq));
    best = { distance, feasible: delta.every((v, i) => images[r * D + i] + v >= 0 && images[r * D + i] + v <= 1) };
  }
  return best;
}

/** Radii between the sorted closed-form distances (each at least 2% from every d*), plus 0 and one above all. */
function radiiBetween(ds: number[]): number[] {
  const s = [...ds].sort((a, b) => a - b);
  const mids = [s[1], s[4], s[7], s[10]].map((v, k) => Number(((v + [s[2], s[5], s[8], s[11]][k]) / 2).toPrecision(3)));
  return [0, ...mids, Number((s[s.length - 1] * 1.5).toPrecision(3))];
}

const config = () => ({
  suite: 'adversarial',
  checkpoints: [join(root, 'linear', 'model.json')],
  dataset: `npz:${join(root, 'data.npz')}`,
  attacks: [
    { name: 'fmn', params: { steps: STEPS }, epsilons: epsilons.linf },
    { name: 'fmn-l2', params: { steps: STEPS }, epsilons: epsilons.l2 },
  ],
  limit: N,
  batchSize: 5,
  seed: 1,
  sanity: false,
});

function writeConfig(name: string): string {
  const path = join(root, `${name}.json`);
  writeFileSync(path, JSON.stringify(config()));
  return path;
}

async function run(req: RunRequest, stream?: NodeJS.WriteStream): Promise<RunOutcome> {
  const prep = await prepareRun(req);
  return executeRun(prep, { backend, quiet: !stream, progressStream: stream });
}

/** Everything but timings and dates. */
function numbers(cells: readonly SuiteCellResult[]) {
  return Object.fromEntries(cells.map(({ timings, completedAt, ...rest }) => (void timings, void completedAt, [rest.id, rest])));
}

const sweep = (outcome: RunOutcome, label: string) => outcome.cells.filter((c) => c.attack === label);

beforeAll(async () => {
  backend = await initBackend('wasm');
  root = mkdtempSync(join(tmpdir(), 'bench-minimisation-'));
  const rand = mulberry32(5);
  weights = Float32Array.from({ length: D * K }, () => 0.3 * (rand() + rand() + rand() - 1.5));
  bias = Float32Array.from({ length: K }, () => 0.1 * (rand() - 0.5));
  // Interior images in [0.4, 0.6]: the closed-form optima stay inside the box (checked below).
  images = Float32Array.from({ length: N * D }, () => Math.fround(0.4 + 0.2 * rand()));
  labels = Array.from({ length: N }, (_, r) => {
    const z = logits64(images, r);
    return z.indexOf(Math.max(...z));
  });
  // One sample misclassified clean (distance 0, wrong at every eps), labelled K - 1 so the npz has K classes.
  labels[3] = labels[3] === K - 1 ? K - 2 : K - 1;
  for (const norm of ['linf', 'l2'] as const) {
    const forms = Array.from({ length: N }, (_, r) => (r === 3 ? { distance: 0, feasible: true } : closedForm(r, norm)));
    expect(forms.every((f) => f.feasible)).toBe(true);
    exact[norm] = forms.map((f) => f.distance);
    epsilons[norm] = radiiBetween(exact[norm]);
  }
  const model = tf.sequential({
    layers: [tf.layers.flatten({ inputShape: [H, H, 1] }), tf.layers.dense({ units: K, weights: [tf.tensor2d(weights, [D, K]), tf.tensor1d(bias)] })],
  });
  await saveLayersModel(model, join(root, 'linear'));
  model.dispose();
  const i64 = (v: number[]) => new Uint8Array(BigInt64Array.from(v.map(BigInt)).buffer);
  writeFileSync(
    join(root, 'data.npz'),
    zipBytes([
      { name: 'x.npy', data: npyBytes('<f4', [N, H, H, 1], new Uint8Array(images.buffer)) },
      { name: 'y.npy', data: npyBytes('<i8', [N], i64(labels)) },
    ]),
  );
  const sink = new Writable({ write: (chunk, _enc, done) => ((progress += String(chunk)), done()) }) as unknown as NodeJS.WriteStream;
  base = await run({ configFile: writeConfig('base'), out: join(root, 'base') }, sink);
}, 600_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('a minimisation attack in the runner (fmn, fmn-l2 on a linear model)', { timeout: 600_000 }, () => {
  it('runs once per sweep: one progress bar, the gradients of one run, recorded once, one cell per eps', () => {
    const correct = labels.length - 1;
    for (const [label, norm] of [
      ['fmn', 'linf'],
      ['fmn-l2', 'l2'],
    ] as const) {
      const cells = sweep(base, label);
      expect(cells.map((c) => c.eps)).toEqual(epsilons[norm]);
      // One bar for the whole sweep (a fixed-epsilon sweep shows one per eps > 0).
      const bars = progress.split('\n').filter((l) => l.includes(`|${label}|direct|`) && l.includes('adversarial examples found'));
      expect(bars).toHaveLength(1);
      expect(bars[0]).toContain(`(one run for ${epsilons[norm].length} eps) adversarial examples found for ${correct} of ${correct}`);
      const gradients = cells.map((c) => c.timings.gradientEvaluations ?? 0);
      expect(gradients.filter((g) => g > 0)).toEqual([STEPS * correct]);
      expect(new Set(cells.map((c) => c.minimisation?.run))).toEqual(new Set([`linear|${label}|direct|minimise`]));
    }
  });

  it('records per-sample distances: the closed-form minimum (relative 1e-3), 0 for the sample misclassified clean', () => {
    for (const [label, norm] of [
      ['fmn', 'linf'],
      ['fmn-l2', 'l2'],
    ] as const)
      for (const cell of sweep(base, label)) {
        const d = cell.minimisation!.distances;
        expect(d).toHaveLength(N);
        d.forEach((v, r) => {
          if (r === 3) return expect(v).toBe(0);
          expect(v).not.toBeNull();
          // Never below it, up to the float32 rounding of the model's logits (1e-6 pixel units here).
          expect(v!).toBeGreaterThanOrEqual(exact[norm][r] * (1 - 1e-5) - 1e-6);
          expect(v!).toBeLessThanOrEqual(exact[norm][r] * (1 + 1e-3));
        });
      }
  });

  it('every eps cell is the closed-form answer and what a per-epsilon run reports (bits, attacked, the sweep of survivors)', async () => {
    const loaded = await loadSuiteModel({ path: join(root, 'linear', 'model.json'), where: 'test' });
    for (const [label, norm] of [
      ['fmn', 'linf'],
      ['fmn-l2', 'l2'],
    ] as const) {
      const attack = getAttack(label);
      const params = attack.parseParams({ steps: STEPS }, 'test');
      let before = labels.map((_, r) => r !== 3);
      for (const cell of sweep(base, label)) {
        const bits = decodeBits(cell.correctBits, N);
        const eps = cell.eps!;
        // The closed form (the radii lie 2% or more from every d*).
        expect(bits).toEqual(exact[norm].map((d, r) => r !== 3 && !(eps > 0 && d <= eps)));
        // A per-epsilon run: the attack's run(eps) on the survivors of the smaller eps, as the fixed-epsilon sweep does.
        const rows = before.flatMap((c, r) => (c ? [r] : []));
        expect(cell.attacked).toBe(eps > 0 ? rows.length : 0);
        const perEps = before.slice();
        if (eps > 0 && rows.length > 0) {
          const x = tf.tensor4d(Float32Array.from(rows.flatMap((r) => Array.from(images.subarray(r * D, (r + 1) * D)))), [rows.length, H, H, 1]);
          const y = tf.tensor1d(rows.map((r) => labels[r]), 'int32');
          const res = await attack.run(loaded.classifier, x, y, eps, new KeyedRng(1, 'per-eps', rows), { path: 'direct', output: loaded.ref.output, params });
          rows.forEach((r, k) => (perEps[r] = !res.fooled[k]));
          tf.dispose([x, y, res.xAdv]);
        }
        expect(bits).toEqual(perEps);
        before = bits;
      }
    }
    loaded.dispose?.();
  });

  it('the example panel shows, per eps cell, the example the cell classified: misclassified exactly where the cell says broken', () => {
    for (const label of ['fmn', 'fmn-l2']) {
      const sidecar = JSON.parse(readFileSync(join(base.runDir, 'images', `adversarial-linear-${label}-direct.json`), 'utf8'));
      const cells = sweep(base, label).filter((c) => c.eps! > 0);
      expect(sidecar.details.cells).toEqual(cells.map((c) => c.id));
      cells.forEach((cell, k) => {
        const bits = decodeBits(cell.correctBits, N);
        sidecar.details.predictions[k].forEach((p: number, r: number) => expect([r, p === labels[r]]).toEqual([r, bits[r]]));
      });
    }
  });

  it('--resume recomputes a sweep with a missing cell once, giving identical cells, and keeps the stored ones', async () => {
    const dir = join(root, 'resumed');
    cpSync(base.runDir, dir, { recursive: true });
    const fmnCells = sweep(base, 'fmn');
    const timed = fmnCells.find((c) => (c.timings.gradientEvaluations ?? 0) > 0)!;
    const deleted = [timed.id, fmnCells[fmnCells.length - 1].id];
    for (const id of deleted) rmSync(join(dir, 'cells', cellFileName(id)));
    const kept = join(dir, 'cells', cellFileName(fmnCells[2].id));
    const keptText = readFileSync(kept, 'utf8');
    const keptMtime = statSync(kept).mtimeMs;
    const untouched = join(dir, 'cells', cellFileName(sweep(base, 'fmn-l2')[1].id));
    const untouchedMtime = statSync(untouched).mtimeMs;
    const resumed = await run({ resume: dir });
    expect(numbers(resumed.cells)).toEqual(numbers(base.cells));
    expect(readFileSync(kept, 'utf8')).toBe(keptText);
    expect(statSync(kept).mtimeMs).toBe(keptMtime);
    expect(statSync(untouched).mtimeMs).toBe(untouchedMtime);
    // The re-run's gradients are recorded once, in the first missing cell with eps > 0.
    const again = sweep(resumed, 'fmn').filter((c) => (c.timings.gradientEvaluations ?? 0) > 0);
    expect(again.map((c) => c.id)).toEqual([timed.id]);
  });

  it('--shard i/n keeps each sweep whole in one shard; the shards together equal the unsharded run', async () => {
    const file = writeConfig('shard');
    const a = await run({ configFile: file, out: join(root, 'shard1'), shard: '1/2' });
    const b = await run({ configFile: file, out: join(root, 'shard2'), shard: '2/2' });
    expect(a.manifest.plan).toEqual(base.manifest.plan);
    for (const label of ['fmn', 'fmn-l2']) {
      const ids = sweep(base, label).map((c) => c.id);
      const owners = [a, b].filter((s) => ids.some((id) => s.manifest.cells.includes(id)));
      expect(owners).toHaveLength(1);
      expect(ids.every((id) => owners[0].manifest.cells.includes(id))).toBe(true);
    }
    const attackCells = (o: RunOutcome) => o.cells.filter((c) => c.kind === 'attack');
    expect({ ...numbers(attackCells(a)), ...numbers(attackCells(b)) }).toEqual(numbers(attackCells(base)));
  });
});

describe('the report of a minimisation sweep', () => {
  it('accuracy-vs-eps shows the median minimal perturbation over the clean-correct samples (the closed form, relative 1e-3)', () => {
    const table = accuracyVsEpsTable(outcomeRun(base));
    const col = table.columns.findIndex((c) => c.csvHeader === 'median_min_distance');
    expect(col).toBeGreaterThan(0);
    const median = (v: number[]) => {
      const s = [...v].sort((a, b) => a - b);
      return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    };
    for (const [label, norm] of [
      ['fmn', 'linf'],
      ['fmn-l2', 'l2'],
    ] as const) {
      const row = table.rows.find((r) => r.values[1] === label)!;
      const expected = median(exact[norm].filter((_, r) => r !== 3));
      expect(Math.abs(Number(row.values[col]) / expected - 1)).toBeLessThanOrEqual(1e-3);
    }
    expect(table.rows.find((r) => r.values[1] === 'worst case')!.values[col]).toBeNull();
  });
});

describe('deriveSweep', () => {
  it('counts a sample broken from the eps its distance fits (the ball tolerance included), as the survivor sweep does', () => {
    const clean = [true, true, true, false, true, true];
    const rows = [0, 1, 2, 4, 5];
    const eps = [0, 0.1, 0.2];
    // Row 0 exactly at 0.1, row 1 just inside the tolerance of 0.1, row 2 just outside it, row 4 never found,
    // row 5 found with non-finite logits at 0.2.
    const edge = 0.1 * (1 + 1e-5) + 1e-5;
    const found = {
      distance: Float64Array.from([0.1, edge, edge * (1 + 1e-9), Infinity, 0.15]),
      foundCorrect: [false, false, false, false, false],
      foundNonFinite: [false, false, false, false, true],
      cleanNonFinite: [false, false, false, false, false],
    };
    expect(withinBall(edge, 0.1)).toBe(true);
    const cells = deriveSweep(clean, rows, found, eps);
    expect(cells.map((c) => c.correct)).toEqual([
      [true, true, true, false, true, true],
      [false, false, true, false, true, true],
      [false, false, false, false, true, false],
    ]);
    expect(cells.map((c) => c.attacked)).toEqual([0, 5, 3]);
    expect(cells.map((c) => c.nonFiniteLogits)).toEqual([0, 0, 1]);
  });
});
