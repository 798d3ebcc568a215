/**
 * `bench merge` on synthetic shard directories: the shards are cut from one planned run with the
 * runner's own sharding (planner.shardUnits / restrictPlan), their records and run.json written as the
 * runner writes them (bench-run/2: the whole plan and the shard's units, rundir/manifest.ts planRecord;
 * or the older bench-run/1); merging them must give back the unsharded run.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { InputError, StorageError } from '../../src/engine/errors.js';
import { validateConfig, type AdversarialConfig } from '../../src/suite/config.js';
import { planAdversarial, restrictPlan, shardUnits, type ModelInfo, type Plan, type PlannedCell, type PlanUnit } from '../../src/suite/planner.js';
import { planRecord } from '../../src/rundir/manifest.js';
import type { RunDataset } from '../../src/rundir/records.js';
import { sealedJson } from '../../src/rundir/checksums.js';
import { cellFileName } from '../../src/rundir/files.js';
import type { GradientProbeResult, ProbeRecord, SanityCheck, SuiteCellResult, SuiteRunManifest } from '../../src/rundir/records.js';
import { RunStore } from '../../src/rundir/store.js';
import { computeSanityChecks } from '../../src/suite/sanity.js';
import { mergeShards } from '../../src/compare/mergeShards.js';
import { runMerge } from '../../src/cli/merge.js';
import { cell, checkpointRef, manifest, randomBits, tempDir } from './fixtures.js';

const SAMPLES = 40;
const SHARDS = 3;

interface Fixture {
  root: string;
  full: string;
  shards: string[];
  plan: Plan;
}

function record(c: PlannedCell, seed: number): SuiteCellResult {
  const a = c.attack;
  const fields = a
    ? { attack: a.entry.label, attackParams: a.entry.params, path: a.path, eps: a.eps, threatModel: a.threatModel, ...(a.transfer ? { transferFrom: a.source.name } : {}) }
    : {};
  const rec: SuiteCellResult = cell({ id: c.id, kind: c.kind, checkpoint: c.checkpoint, ...fields }, randomBits(c.samples, 0.7 - 0.1 * (a?.eps ?? 0), seed));
  if (c.copyOf) rec.copyOf = c.copyOf;
  return rec;
}

const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;

function writeDir(dir: string, m: SuiteRunManifest, cells: SuiteCellResult[], probes: ProbeRecord[], sanity: SanityCheck[]): string {
  for (const c of cells) writeFileAtomicSync(join(dir, 'cells', cellFileName(c.id)), sealedJson(c));
  for (const p of probes) writeFileAtomicSync(join(dir, 'probes', cellFileName(p.id)), sealedJson(p));
  writeFileAtomicSync(join(dir, 'sanity.json'), json(sanity));
  writeFileAtomicSync(join(dir, 'run.json'), json(m));
  return dir;
}

/** Example images as the runner writes them (images/*.png + *.json): in an unsharded run and in shard 1 only. */
function writeImages(dir: string): void {
  writeFileAtomicSync(join(dir, 'images', 'adversarial-cnn-a-pgd-first.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]));
  writeFileAtomicSync(join(dir, 'images', 'adversarial-cnn-a-pgd-first.json'), json({ format: 'bench-image/1', title: 'cnn-a: pgd' }));
}

function writeFileAtomicSync(path: string, text: string | Buffer): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

interface FixtureOptions {
  /** run.json format: bench-run/2 (default, what `bench run` writes) or bench-run/1 with each shard's part or the whole plan. */
  format?: 'v2' | 'v1-parts' | 'v1-whole';
  /** The plan's unit order (default the planner's): a recorded plan the planner would not make again. */
  unitOrder?: (units: PlanUnit[]) => PlanUnit[];
  /** run.json's dataset record (default the fixtures' fashion-mnist one). */
  dataset?: RunDataset;
}

/** One planned adversarial run (a CNN and a CNN-F; FGSM and PGD on three paths; sanity probes), and its 3 shards. */
function buildFixture(opts: FixtureOptions = {}): Fixture {
  const format = opts.format ?? 'v2';
  const root = tempDir('merge');
  const refs = [checkpointRef('cnn-a', 0), checkpointRef('cnnf-b', 1)];
  const config = validateConfig(
    {
      suite: 'adversarial',
      checkpoints: refs.map((r) => ({ dir: r.dir })),
      attacks: [{ name: 'fgsm' }, { name: 'pgd', params: { steps: 2 } }],
      epsilons: [0, 0.05, 0.1],
      limit: SAMPLES,
      sanityLimit: 20,
    },
    'configs/fixture.json',
  ) as AdversarialConfig;
  const targets: ModelInfo[] = refs.map((r) => ({ name: r.name, dir: r.dir, cycles: r.cycles, output: r.output }));
  const planned = planAdversarial({ config, targets, sources: new Map(), samples: SAMPLES });
  const plan = opts.unitOrder ? restrictPlan(planned, opts.unitOrder([...planned.units])) : planned;

  const cells = new Map<string, SuiteCellResult>();
  const probes = new Map<string, ProbeRecord>();
  let seed = 100;
  for (const u of planned.units) {
    for (const c of u.cells) (u.kind === 'probe-attack' ? probes : cells).set(c.id, record(c, seed++));
    for (const g of u.gradientProbes) {
      const rec: GradientProbeResult = { format: 'bench-gradient-probe/1', id: g.id, checkpoint: g.checkpoint, path: g.path, output: 'last', samples: g.samples, zero: 0, nonFinite: 0, completedAt: '2025-01-02T03:05:00.000Z' };
      probes.set(g.id, rec);
    }
  }
  const ordered = <T>(ids: string[], m: Map<string, T>) => ids.map((id) => m.get(id)!);
  const sanityOf = (cellIds: string[], probeIds: string[]) =>
    computeSanityChecks({ checkpoints: refs.map((r) => ({ name: r.name, numClasses: 10 })), cells: ordered(cellIds, cells), probes: ordered(probeIds, probes) });

  const v1: SuiteRunManifest = { ...manifest(refs, SAMPLES, plan.cells, config as unknown as Record<string, unknown>), probes: plan.probes, notes: plan.notes };
  // bench-run/2 runs record the dataset's class count (the runner writes the whole DatasetRecord).
  if (format === 'v2') v1.dataset = { ...v1.dataset, numClasses: 10 };
  if (opts.dataset) v1.dataset = opts.dataset;
  const base: SuiteRunManifest = format === 'v2' ? { ...v1, format: 'bench-run/2', plan: planRecord(plan.units) } : v1;
  const full = writeDir(join(root, 'full'), base, ordered(plan.cells, cells), ordered(plan.probes, probes), sanityOf(plan.cells, plan.probes));
  writeImages(full);

  const shards: string[] = [];
  for (let index = 1; index <= SHARDS; index++) {
    const units = shardUnits(plan.units, { index, count: SHARDS });
    const part = restrictPlan(plan, units);
    const whole = format === 'v1-whole';
    const m: SuiteRunManifest = {
      ...base,
      cells: whole ? plan.cells : part.cells,
      probes: whole ? plan.probes : part.probes,
      shard: format === 'v2' ? { index, count: SHARDS, units: units.map((u) => u.id) } : { index, count: SHARDS },
      // Shards run on different hosts at different times; shard 1 started first, on the full run's host.
      createdAt: index === 1 ? base.createdAt : `2025-01-02T03:0${4 + index}:00.000Z`,
      machine: index === 1 ? base.machine : { ...base.machine, hostname: `runner-${index}` },
    };
    shards.push(writeDir(join(root, `shard-${index}`), m, ordered(part.cells, cells), ordered(part.probes, probes), sanityOf(part.cells, part.probes)));
    if (index === 1) writeImages(shards[0]);
  }
  return { root, full, shards, plan };
}

function filesOf(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

function expectSameRun(merged: string, full: string): void {
  expect(filesOf(join(full, 'images'))).toHaveLength(2); // shard 1's images must be copied
  for (const sub of ['cells', 'probes', 'images']) {
    expect(filesOf(join(merged, sub))).toEqual(filesOf(join(full, sub)));
    for (const name of filesOf(join(full, sub))) expect(readFileSync(join(merged, sub, name))).toEqual(readFileSync(join(full, sub, name)));
  }
  const m = JSON.parse(readFileSync(join(merged, 'run.json'), 'utf8'));
  const f = JSON.parse(readFileSync(join(full, 'run.json'), 'utf8'));
  expect(m.shard).toBeNull();
  delete m.shard;
  delete f.shard;
  expect(m).toEqual(f);
  expect(JSON.parse(readFileSync(join(merged, 'sanity.json'), 'utf8'))).toEqual(JSON.parse(readFileSync(join(full, 'sanity.json'), 'utf8')));
}

let fx: Fixture;
beforeAll(() => {
  fx = buildFixture();
});

describe('bench merge', () => {
  test('the fixture really is sharded: every shard has part of the plan, and the parts partition it', () => {
    const parts = fx.shards.map((d) => JSON.parse(readFileSync(join(d, 'run.json'), 'utf8')).cells as string[]);
    expect(parts.every((p) => p.length > 0 && p.length < fx.plan.cells.length)).toBe(true);
    expect(parts.flat().sort()).toEqual([...fx.plan.cells].sort());
    expect(filesOf(join(fx.full, 'cells')).length).toBe(fx.plan.cells.length);
    expect(filesOf(join(fx.full, 'probes')).length).toBe(fx.plan.probes.length);
    // A shard's sanity checks see only its records, so the merged ones must be recomputed, not copied.
    const sanity = (d: string) => readFileSync(join(d, 'sanity.json'), 'utf8');
    expect(fx.shards.every((d) => sanity(d) !== sanity(fx.full))).toBe(true);
  });

  test('merging the 3 shards (bench-run/2, each computing its own part of the plan) gives the unsharded run, byte for byte', async () => {
    const out = join(fx.root, 'merged');
    const r = await mergeShards([...fx.shards].reverse(), { out });
    expect(r.cells).toBe(fx.plan.cells.length);
    expect(r.missingCells).toEqual([]);
    expectSameRun(out, fx.full);
    // checksums.json too: what the unsharded run's lead writes at its end.
    const { store } = await RunStore.open(fx.full);
    expect(await store.writeChecksums(fx.plan.cells, fx.plan.probes)).toEqual([]);
    expect(readFileSync(join(out, 'checksums.json'))).toEqual(readFileSync(join(fx.full, 'checksums.json')));
    const provenance = JSON.parse(readFileSync(join(out, 'merge.json'), 'utf8'));
    expect(provenance.shards.map((s: { index: number }) => s.index)).toEqual([1, 2, 3]);
  });

  test('bench-run/2 shards record the whole plan and their units; merge takes the recorded order, without re-planning', async () => {
    const shardManifests = fx.shards.map((d) => JSON.parse(readFileSync(join(d, 'run.json'), 'utf8')));
    for (const m of shardManifests) {
      expect(m.format).toBe('bench-run/2');
      expect(m.plan.cells).toEqual(fx.plan.cells);
      expect(m.plan.probes).toEqual(fx.plan.probes);
    }
    expect(shardManifests.flatMap((m) => m.shard.units).sort()).toEqual(fx.plan.units.map((u) => u.id).sort());
    // A recorded plan whose unit order the planner would not produce (e.g. a later bench version's): the
    // merged run follows the record. Re-planning could not give this order.
    const reversed = buildFixture({ unitOrder: (units) => units.reverse() });
    expect(reversed.plan.cells).not.toEqual(fx.plan.cells);
    const out = join(reversed.root, 'merged');
    await mergeShards(reversed.shards, { out });
    expectSameRun(out, reversed.full);
    expect(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).cells).toEqual(reversed.plan.cells);
    const { store } = await RunStore.open(reversed.full);
    expect(await store.writeChecksums(reversed.plan.cells, reversed.plan.probes)).toEqual([]);
    expect(readFileSync(join(out, 'checksums.json'))).toEqual(readFileSync(join(reversed.full, 'checksums.json')));
  });

  test('bench-run/2 shards whose units do not partition the plan, or with another plan, are refused naming the unit or field', async () => {
    const other = buildFixture();
    const file = (i: number) => join(other.shards[i], 'run.json');
    const read = (i: number) => JSON.parse(readFileSync(file(i), 'utf8'));
    const original = [0, 1, 2].map((i) => readFileSync(file(i), 'utf8'));
    // Shard 3's first unit moved into shard 2 as well (its cells listed too): a unit in two shards.
    const m2 = read(1);
    const m3 = read(2);
    const unit = m3.shard.units[0] as string;
    const unitCells = other.plan.units.find((u) => u.id === unit)!;
    const order = other.plan.units.map((u) => u.id);
    m2.shard.units = order.filter((id) => id === unit || m2.shard.units.includes(id));
    const part = restrictPlan(other.plan, other.plan.units.filter((u) => m2.shard.units.includes(u.id)));
    m2.cells = part.cells;
    m2.probes = part.probes;
    writeFileSync(file(1), JSON.stringify(m2));
    expect(unitCells.cells.length + unitCells.gradientProbes.length).toBeGreaterThan(0);
    await expect(mergeShards(other.shards, { out: join(other.root, 'o1') })).rejects.toThrow(
      new RegExp(`shard\.units: unit ${JSON.stringify(unit).replace(/[|.]/g, '\\$&')} is in shard 3 and in shard 2`),
    );
    // Shard 2's units dropped (its run.json then lists no cells): a unit in no shard.
    const empty = { ...read(1), cells: [], probes: [], shard: { ...read(1).shard, units: [] } };
    writeFileSync(file(1), JSON.stringify(empty));
    await expect(mergeShards(other.shards, { out: join(other.root, 'o2') })).rejects.toThrow(/unit.* of the plan (is|are) in no shard's shard\.units/);
    // Another plan (a different cost estimate) in one shard: the shards are not one run.
    writeFileSync(file(1), original[1]);
    const m1 = read(0);
    m1.plan.units[0].cost += 1;
    writeFileSync(file(0), JSON.stringify(m1));
    await expect(mergeShards(other.shards, { out: join(other.root, 'o3') })).rejects.toThrow(/run\.json: plan\.units\[0\]\.cost differs/);
    // A shard whose cells are not its units' cells is not a valid bench-run/2 manifest.
    writeFileSync(file(0), original[0]);
    const bad = read(2);
    bad.cells = bad.cells.slice(1);
    writeFileSync(file(2), JSON.stringify(bad));
    await expect(mergeShards(other.shards, { out: join(other.root, 'o4') })).rejects.toThrow(/run\.json: cells: not the shard's units' cells/);
    writeFileSync(file(2), original[2]);
    await mergeShards(other.shards, { out: join(other.root, 'o5') });
  });

  test('the merged sanity checks use run.json\'s class counts, not a lookup of the dataset name', async () => {
    // A dataset bench has no built-in entry for (an npz file): its class count is only in run.json.
    const npz: RunDataset = { name: 'npz', split: 'test', source: 'npz:/data/fmnist.npz', numClasses: 10, labels: 'dataset' };
    const other = buildFixture({ dataset: npz });
    const out = join(other.root, 'merged');
    const r = await mergeShards(other.shards, { out });
    expect(r.notes).toEqual([]);
    expectSameRun(out, other.full);
  });

  test('bench-run/1 shards (each recording its own part) still merge, the order rebuilt by the planner', async () => {
    const other = buildFixture({ format: 'v1-parts' });
    const out = join(other.root, 'merged');
    await mergeShards(other.shards, { out });
    expectSameRun(out, other.full);
    expect(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).format).toBe('bench-run/1');
  });

  test('also bench-run/1 shards that each record the whole plan', async () => {
    const other = buildFixture({ format: 'v1-whole' });
    const out = join(other.root, 'merged');
    await mergeShards(other.shards, { out });
    expectSameRun(out, other.full);
  });

  test('a missing shard is an input error naming its index', async () => {
    const err = await runMerge({ shards: [fx.shards[0], fx.shards[2]], out: join(fx.root, 'x1'), allowMissing: false, quiet: true }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/shard 2 of 3 missing \(given: 1, 3\)/);
    expect(existsSync(join(fx.root, 'x1', 'run.json'))).toBe(false);
  });

  test('a shard given twice is named as such, besides the shard that is then missing', async () => {
    const err = await runMerge({ shards: [fx.shards[0], fx.shards[0], fx.shards[2]], out: join(fx.root, 'x2'), allowMissing: false, quiet: true }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toBe(
      `bench merge: shard 1 of 3 is given twice (${fx.shards[0]}, named twice); shard 2 of 3 missing (given: 1, 3) (allowed: one run directory for each shard 1..3)`,
    );
    expect(existsSync(join(fx.root, 'x2', 'run.json'))).toBe(false);
  });

  test('--out under a regular file: one line naming that file (exit 3), nothing written', async () => {
    const file = join(fx.root, 'afile');
    writeFileSync(file, 'x\n');
    const err = await runMerge({ shards: fx.shards, out: join(file, 'merged'), allowMissing: false, quiet: true }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as Error).message).toBe(`cannot create the merged run directory ${join(file, 'merged')}: ${file} is not a directory`);
  });

  test('shards of different runs are refused naming the field', async () => {
    const other = buildFixture();
    const file = join(other.shards[1], 'run.json');
    const m = JSON.parse(readFileSync(file, 'utf8'));
    m.seed = 8;
    writeFileSync(file, JSON.stringify(m));
    await expect(mergeShards(other.shards, { out: join(other.root, 'out') })).rejects.toThrow(/run\.json: seed differs/);
    m.seed = 7;
    m.shard.count = 4;
    writeFileSync(file, JSON.stringify(m));
    await expect(mergeShards(other.shards, { out: join(other.root, 'out') })).rejects.toThrow(/shard\.count/);
  });

  test('a cell in two shards with different results is refused; with equal results it is taken once', async () => {
    const other = buildFixture();
    const id = (JSON.parse(readFileSync(join(other.shards[0], 'run.json'), 'utf8')).cells as string[])[0];
    const src = join(other.shards[0], 'cells', cellFileName(id));
    const dup = join(other.shards[1], 'cells', cellFileName(id));
    copyFileSync(src, dup);
    const r = await mergeShards(other.shards, { out: join(other.root, 'ok') });
    expect(r.duplicates).toEqual([id]);
    const changed = JSON.parse(readFileSync(src, 'utf8'));
    changed.correctBits = Buffer.alloc(SAMPLES / 8).toString('base64');
    changed.correct = 0;
    writeFileSync(dup, sealedJson(changed));
    await expect(mergeShards(other.shards, { out: join(other.root, 'bad') })).rejects.toThrow(new RegExp(`${id.replace(/[|.]/g, '\\$&')}.*different results`));
  });

  test('a missing cell is refused unless --allow-missing; a cell outside the plan is refused', async () => {
    const other = buildFixture();
    const id = (JSON.parse(readFileSync(join(other.shards[2], 'run.json'), 'utf8')).cells as string[])[0];
    rmSync(join(other.shards[2], 'cells', cellFileName(id)));
    await expect(mergeShards(other.shards, { out: join(other.root, 'a') })).rejects.toThrow(/1 planned cell has no result in any shard/);
    const r = await mergeShards(other.shards, { out: join(other.root, 'b'), allowMissing: true });
    expect(r.missingCells).toEqual([id]);

    const bogus = JSON.parse(readFileSync(join(other.full, 'cells', cellFileName(other.plan.cells[0])), 'utf8'));
    bogus.id = 'cnn-a|pgd|first|0.5';
    writeFileSync(join(other.shards[0], 'cells', cellFileName(bogus.id)), sealedJson(bogus));
    await expect(mergeShards(other.shards, { out: join(other.root, 'c'), allowMissing: true })).rejects.toThrow(/is not in the plan/);
  });

  test('a record failing its checksum, or its shard\'s checksums.json, is refused in one line naming the file', async () => {
    const other = buildFixture();
    const id = (JSON.parse(readFileSync(join(other.shards[1], 'run.json'), 'utf8')).cells as string[])[0];
    const file = join(other.shards[1], 'cells', cellFileName(id));
    const good = readFileSync(file, 'utf8');
    // One flipped result bit, the rest of the record intact: still valid JSON, still a plausible cell.
    const flipped = JSON.parse(good);
    flipped.correctBits = Buffer.from(Buffer.from(flipped.correctBits, 'base64').map((b: number, i: number) => (i === 0 ? b ^ 1 : b))).toString('base64');
    flipped.correct += (Buffer.from(flipped.correctBits, 'base64')[0] & 1) === 1 ? 1 : -1;
    writeFileSync(file, `${JSON.stringify(flipped, null, 2)}\n`);
    const err = (await mergeShards(other.shards, { out: join(other.root, 'm1') }).catch((e: Error) => e)) as Error;
    expect(err).toBeInstanceOf(InputError);
    expect(err.message).toMatch(new RegExp(`^${file.replace(/[|.]/g, '\\$&')}: corrupt record: checksum mismatch`));
    expect(err.message).not.toContain('\n');
    expect(existsSync(join(other.root, 'm1', 'run.json'))).toBe(false);
    // A validly sealed record that is not the one the finished shard listed (replaced afterwards).
    writeFileSync(file, good);
    const { store } = await RunStore.open(other.shards[1]);
    const part = JSON.parse(readFileSync(join(other.shards[1], 'run.json'), 'utf8'));
    expect(await store.writeChecksums(part.cells, part.probes)).toEqual([]);
    writeFileSync(file, sealedJson({ ...JSON.parse(good), completedAt: '2030-01-01T00:00:00.000Z' }));
    await expect(mergeShards(other.shards, { out: join(other.root, 'm2') })).rejects.toThrow(/differs from checksums\.json's/);
    writeFileSync(file, good);
    await mergeShards(other.shards, { out: join(other.root, 'm3') });
  });

  test('a run directory that is not a shard is refused', async () => {
    await expect(mergeShards([fx.full], { out: join(fx.root, 'y') })).rejects.toThrow(/shard: null, not a shard/);
  });
});
