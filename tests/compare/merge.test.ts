/**
 * `bench merge` on synthetic shard directories: the shards are cut from one planned run with the
 * runner's own sharding (planner.shardUnits / restrictPlan), their records written as the runner writes
 * them; merging them must give back the unsharded run.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { InputError } from '../../src/engine/errors.js';
import { validateConfig, type AdversarialConfig } from '../../src/suite/config.js';
import { planAdversarial, restrictPlan, shardUnits, type ModelInfo, type Plan, type PlannedCell } from '../../src/suite/planner.js';
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

/** One planned adversarial run (a CNN and a CNN-F; FGSM and PGD on three paths; sanity probes), and its 3 shards. */
function buildFixture(fullPlanInShards = false): Fixture {
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
  const plan = planAdversarial({ config, targets, sources: new Map(), samples: SAMPLES });

  const cells = new Map<string, SuiteCellResult>();
  const probes = new Map<string, ProbeRecord>();
  let seed = 100;
  for (const u of plan.units) {
    for (const c of u.cells) (u.kind === 'probe-attack' ? probes : cells).set(c.id, record(c, seed++));
    for (const g of u.gradientProbes) {
      const rec: GradientProbeResult = { format: 'bench-gradient-probe/1', id: g.id, checkpoint: g.checkpoint, path: g.path, output: 'last', samples: g.samples, zero: 0, nonFinite: 0, completedAt: '2025-01-02T03:05:00.000Z' };
      probes.set(g.id, rec);
    }
  }
  const ordered = <T>(ids: string[], m: Map<string, T>) => ids.map((id) => m.get(id)!);
  const sanityOf = (cellIds: string[], probeIds: string[]) =>
    computeSanityChecks({ checkpoints: refs.map((r) => ({ name: r.name, numClasses: 10 })), cells: ordered(cellIds, cells), probes: ordered(probeIds, probes) });

  const base: SuiteRunManifest = { ...manifest(refs, SAMPLES, plan.cells, config as unknown as Record<string, unknown>), probes: plan.probes, notes: plan.notes };
  const full = writeDir(join(root, 'full'), base, ordered(plan.cells, cells), ordered(plan.probes, probes), sanityOf(plan.cells, plan.probes));
  writeImages(full);

  const shards: string[] = [];
  for (let index = 1; index <= SHARDS; index++) {
    const part = restrictPlan(plan, shardUnits(plan.units, { index, count: SHARDS }));
    const m: SuiteRunManifest = {
      ...base,
      cells: fullPlanInShards ? plan.cells : part.cells,
      probes: fullPlanInShards ? plan.probes : part.probes,
      shard: { index, count: SHARDS },
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

  test('merging the 3 shards (each recording its own part of the plan) gives the unsharded run, byte for byte', async () => {
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

  test('also when every shard records the whole plan', async () => {
    const other = buildFixture(true);
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
