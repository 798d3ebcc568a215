/**
 * Merges the run directories of `bench run --shard i/n` into one run directory, as if the run had not
 * been sharded: run.json with `shard: null`, every cell and probe file copied byte for byte.
 *
 * Every shard's run.json must describe the same run: identical except `shard`, the fields that say
 * where and when a shard ran (`createdAt`, `machine`: CI shards run on different hosts) and the shard's
 * part of the plan (`cells`, `probes`). So the config, checkpoints, dataset record and, in bench-run/2,
 * the whole plan (`plan`) are the same in every shard.
 * - bench-run/2 (src/rundir/manifest.ts): the shards' `shard.units` must partition `plan.units` (a unit
 *   in two shards, or in none, is refused naming it); the merged order is `plan`'s. A plain union: the
 *   planner is not run.
 * - bench-run/1: when every shard lists the whole plan, that is the merged order; when each lists its own
 *   part, the parts must be disjoint and the order is rebuilt by the planner (planOrder.ts).
 * The merged run.json is the lowest shard's with the whole plan, `shard: null` and the earliest createdAt;
 * merge.json records each shard's host and time. Example images (images/, written by shard 1 only and
 * deterministic) are copied byte for byte. Cells must parse, pass their checksums (their own and the
 * shard's checksums.json, src/rundir/checksums.ts), be in the plan and agree with their correctness bits;
 * a cell found in two shard directories (a retried shard) is taken once when its results agree and
 * refused when they differ. Sanity checks are recomputed over the union (class counts from run.json). The
 * merged run gets the checksums.json an unsharded run's lead writes.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { InputError, inputError } from '../engine/errors.js';
import { writeFileAtomic } from '../rundir/atomic.js';
import { createDirectory } from '../rundir/createDir.js';
import { type ChecksumManifest, missingListed, readChecksums, recordChecksum, sha256Hex, verifiedRecord, verifySanityBytes, writeChecksums } from '../rundir/checksums.js';
import { checkManifest } from '../rundir/manifest.js';
import { cellFileName, CELLS_DIR, IMAGES_DIR, PROBES_DIR, RUN_FILE, SANITY_FILE } from '../rundir/files.js';
import { decodeBits, type ProbeRecord, type RunManifest, type SanityCheck, type SuiteCellResult } from '../rundir/records.js';
import { computeSanityChecks } from '../suite/sanity.js';
import { DATASETS } from '../data/datasets.js';
import { brief, canonicalJson, firstDifference } from './identity.js';
import { rebuildPlanOrder } from './planOrder.js';

export const MERGE_FILE = 'merge.json';

/**
 * run.json fields allowed to differ between shards of one run: where and when each ran, and the shard's
 * own part of the plan (`bench run --shard` records only its cells and probes).
 */
export const PER_SHARD_FIELDS = ['shard', 'createdAt', 'machine', 'cells', 'probes'] as const;

/** Cell fields that describe one execution, not its result: a retried cell may differ in these. */
const EXECUTION_FIELDS = ['timings', 'completedAt'];

export interface MergeOptions {
  out: string;
  /** Write the merged run even when planned cells have no result (a later `bench run --resume` can finish it). */
  allowMissing?: boolean;
}

export interface ShardProvenance {
  index: number;
  count: number;
  dir: string;
  createdAt: string;
  machine: unknown;
  cells: number;
  probes: number;
}

export interface MergeResult {
  out: string;
  shards: ShardProvenance[];
  cells: number;
  probes: number;
  /** Planned cells no shard has (only with allowMissing). */
  missingCells: string[];
  missingProbes: string[];
  /** Cells found in more than one shard directory with equal results. */
  duplicates: string[];
  notes: string[];
}

interface Shard {
  dir: string;
  manifest: RunManifest & { probes?: string[] };
  index: number;
  count: number;
}

interface Record {
  id: string;
  text: string;
  value: { [k: string]: unknown };
  dir: string;
}

const isObject = (v: unknown): v is { [k: string]: unknown } => typeof v === 'object' && v !== null && !Array.isArray(v);

async function readText(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw inputError(file, code === 'ENOENT' ? `no ${what} here` : `cannot read the ${what} (${code ?? String(err)})`, 'a shard run directory written by `bench run --shard i/n`');
  }
}

function parse(file: string, text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw inputError(file, `${what} is not valid JSON (${(err as Error).message})`);
  }
}

async function readShard(dir: string): Promise<Shard> {
  const file = join(dir, RUN_FILE);
  const m = checkManifest(file, parse(file, await readText(file, 'run manifest (run.json)'), 'run manifest'));
  const s = m.shard as unknown;
  if (!isObject(s)) throw inputError(file, `shard: ${brief(s)}, not a shard of a run`, 'run directories written by `bench run --shard i/n`');
  const index = s.index;
  const count = s.count;
  if (!Number.isInteger(count) || (count as number) < 1 || !Number.isInteger(index) || (index as number) < 1 || (index as number) > (count as number))
    throw inputError(file, `shard: ${brief(s)} is not a shard index i of n`, '{"index": i, "count": n} with 1 <= i <= n');
  return { dir, manifest: m as Shard['manifest'], index: index as number, count: count as number };
}

function withoutPerShardFields(m: RunManifest): { [k: string]: unknown } {
  const out: { [k: string]: unknown } = { ...m };
  for (const k of PER_SHARD_FIELDS) delete out[k];
  return out;
}

/** Checks a cell or probe record; returns the parsed value. */
function checkRecord(file: string, value: unknown, plan: Set<string> | null, kind: 'cell' | 'probe'): { [k: string]: unknown } {
  if (!isObject(value)) throw inputError(file, `not a ${kind} record (a JSON object)`);
  const formats = kind === 'cell' ? ['bench-cell/1'] : ['bench-cell/1', 'bench-gradient-probe/1'];
  if (!formats.includes(value.format as string)) throw inputError(file, `format: ${brief(value.format)}`, formats.join(', '));
  if (typeof value.id !== 'string') throw inputError(file, 'id: missing');
  if (plan && !plan.has(value.id)) throw inputError(file, `${kind} ${JSON.stringify(value.id)} is not in the plan (run.json ${kind === 'cell' ? 'cells' : 'probes'})`, 'shards of the same run');
  if (value.format === 'bench-cell/1') {
    if (typeof value.correctBits !== 'string' || !Number.isInteger(value.samples) || !Number.isInteger(value.correct))
      throw inputError(file, 'samples, correct and correctBits: missing or malformed', 'a cell written by `bench run`');
    const set = decodeBits(value.correctBits, value.samples as number).filter(Boolean).length;
    if (set !== value.correct) throw inputError(file, `correct is ${value.correct} but correctBits has ${set} samples set`, 'a cell written by `bench run`');
  }
  return value;
}

async function listJson(dir: string): Promise<string[]> {
  try {
    // Temp files of an interrupted atomic write start with a dot; they are not records.
    return (await readdir(dir)).filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw inputError(dir, `cannot list (${String(err)})`);
  }
}

const resultOf = (v: { [k: string]: unknown }) => {
  const out = { ...v };
  for (const k of EXECUTION_FIELDS) delete out[k];
  return canonicalJson(out);
};

async function collect(shards: Shard[], sub: string, plan: Set<string> | null, kind: 'cell' | 'probe', duplicates: string[]): Promise<Map<string, Record>> {
  const found = new Map<string, Record>();
  for (const shard of shards) {
    const dir = join(shard.dir, sub);
    // Every record must pass its own checksum and, in a finished shard, the shard's checksums.json.
    const listed = await readChecksums(shard.dir);
    const seen = new Set<string>();
    for (const name of await listJson(dir)) {
      const file = join(dir, name);
      const text = await readText(file, kind);
      const value = checkRecord(file, verifiedRecord(file, parse(file, text, kind), listed, sub as 'cells' | 'probes'), plan, kind);
      const id = value.id as string;
      seen.add(id);
      const earlier = found.get(id);
      if (earlier) {
        if (resultOf(earlier.value) !== resultOf(value)) {
          const d = firstDifference(earlier.value, value, '');
          throw inputError(
            file,
            `${kind} ${JSON.stringify(id)} is also in ${earlier.dir} with different results (${d?.path}: ${brief(d?.a, 30)} vs ${brief(d?.b, 30)})`,
            'one result per cell: drop the stale shard directory',
          );
        }
        duplicates.push(id);
        continue;
      }
      found.set(id, { id, text, value, dir: shard.dir });
    }
    const gone = missingListed(shard.dir, listed, sub as 'cells' | 'probes', seen);
    if (gone) throw new InputError(gone);
  }
  return found;
}

/**
 * Sanity checks of the shards, one per (checkpoint, name). A shard that lacked the probes for a check
 * reports it as 'skip'; a shard that had them reports pass or warn, and that one is kept.
 */
export function mergeSanity(perShard: SanityCheck[][]): { checks: SanityCheck[]; conflicts: string[] } {
  const byKey = new Map<string, SanityCheck>();
  const conflicts: string[] = [];
  for (const checks of perShard)
    for (const check of checks) {
      const key = `${check.checkpoint}\u0000${check.name}`;
      const earlier = byKey.get(key);
      if (!earlier || (earlier.status === 'skip' && check.status !== 'skip')) byKey.set(key, check);
      else if (check.status !== 'skip' && canonicalJson(earlier) !== canonicalJson(check)) conflicts.push(`${check.checkpoint} ${check.name}`);
    }
  return { checks: [...byKey.values()], conflicts };
}

const sameList = (a: readonly string[] | undefined, b: readonly string[] | undefined) =>
  (a === undefined) === (b === undefined) && (a ?? []).length === (b ?? []).length && (a ?? []).every((x, i) => x === b![i]);

/**
 * bench-run/2: the recorded plan, once the shards' units are checked to partition it (every shard
 * records the same `plan`: the run.json comparison in mergeShards made sure).
 */
function recordedPlan(shards: Shard[]): { cells: string[]; probes: string[] } {
  const plan = shards[0].manifest.plan!;
  const owner = new Map<string, Shard>();
  for (const s of shards) {
    const units = s.manifest.shard!.units ?? [];
    const twin = shards.find((t) => t.index === s.index);
    if (twin && twin !== s && !sameList(twin.manifest.shard!.units, units))
      throw inputError(join(s.dir, RUN_FILE), `shard.units: shard ${s.index} is also ${twin.dir}, with other units`, 'one sharding of one run');
    for (const id of units) {
      const other = owner.get(id);
      if (other && other.index !== s.index)
        throw inputError(join(s.dir, RUN_FILE), `shard.units: unit ${JSON.stringify(id)} is in shard ${s.index} and in shard ${other.index} (${other.dir})`, 'shards of one sharding, which partition plan.units');
      owner.set(id, s);
    }
  }
  const orphans = plan.units.filter((u) => !owner.has(u.id));
  if (orphans.length > 0)
    throw inputError(
      'bench merge',
      `${orphans.length} unit${orphans.length > 1 ? 's' : ''} of the plan ${orphans.length > 1 ? 'are' : 'is'} in no shard's shard.units (${orphans.slice(0, 3).map((u) => JSON.stringify(u.id)).join(', ')}${orphans.length > 3 ? ', …' : ''})`,
      'shards of one sharding, which partition plan.units',
    );
  return { cells: plan.cells, probes: plan.probes };
}

/** The whole plan's cells and probes in order: recorded (bench-run/2), as every shard lists it, or rebuilt from the shards' parts (bench-run/1). */
function wholePlan(shards: Shard[]): { cells: string[]; probes: string[] | null } {
  const first = shards[0];
  if (first.manifest.format !== 'bench-run/1') return recordedPlan(shards);
  if (shards.every((s) => sameList(s.manifest.cells, first.manifest.cells) && sameList(s.manifest.probes, first.manifest.probes)))
    return { cells: first.manifest.cells, probes: first.manifest.probes ?? null };
  const owner = new Map<string, Shard>();
  const cells = new Set<string>();
  const probes = new Set<string>();
  for (const s of shards) {
    const twin = shards.find((t) => t.index === s.index);
    if (twin && twin !== s && !(sameList(twin.manifest.cells, s.manifest.cells) && sameList(twin.manifest.probes, s.manifest.probes)))
      throw inputError(join(s.dir, RUN_FILE), `cells: shard ${s.index} is also ${twin.dir}, with another list of cells`, 'one sharding of one run');
    for (const [id, into] of [...s.manifest.cells.map((id) => [id, cells] as const), ...(s.manifest.probes ?? []).map((id) => [id, probes] as const)]) {
      const other = owner.get(id);
      if (other && other.index !== s.index)
        throw inputError(join(s.dir, RUN_FILE), `${JSON.stringify(id)} is planned in shard ${s.index} and in shard ${other.index} (${other.dir})`, 'shards of one sharding, which partition the plan');
      owner.set(id, s);
      into.add(id);
    }
  }
  const order = rebuildPlanOrder(first.manifest, first.dir, cells, probes);
  return { cells: order.cells, probes: first.manifest.probes === undefined ? null : order.probes };
}

/**
 * The class count of each checkpoint, as the runner's sanity checks used it: the model's declared count
 * (run.json `checkpoints[].numClasses`), else the dataset's (`dataset.numClasses`), else, for bench-run/1
 * runs that recorded neither (made before issue 14), the built-in dataset of that name; null when unknown.
 */
export function classCounts(manifest: RunManifest): number[] | null {
  const name = manifest.dataset?.name;
  const builtIn =
    manifest.format === 'bench-run/1' && Object.prototype.hasOwnProperty.call(DATASETS, name) ? DATASETS[name].classNames.length : undefined;
  const fromDataset = typeof manifest.dataset?.numClasses === 'number' && manifest.dataset.numClasses > 0 ? manifest.dataset.numClasses : builtIn;
  const counts = manifest.checkpoints.map((c) => c.numClasses ?? fromDataset);
  return counts.every((n): n is number => typeof n === 'number') ? counts : null;
}

/**
 * images/*.png and *.json of the shards (only shard 1 writes them; they are deterministic, so they are the
 * unsharded run's), by file name in name order; a name in two shards with different bytes keeps the
 * lowest shard's, with a note.
 */
async function collectImages(shards: Shard[], notes: string[]): Promise<[string, { bytes: Buffer; dir: string }][]> {
  const found = new Map<string, { bytes: Buffer; dir: string }>();
  for (const shard of shards) {
    const dir = join(shard.dir, IMAGES_DIR);
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => /\.(png|json)$/.test(n) && !n.startsWith('.')).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw inputError(dir, `cannot list (${String(err)})`);
    }
    for (const name of names) {
      const bytes = await readFile(join(dir, name));
      const earlier = found.get(name);
      if (!earlier) found.set(name, { bytes, dir: shard.dir });
      else if (!earlier.bytes.equals(bytes)) notes.push(`images/${name} differs between ${earlier.dir} and ${shard.dir}; ${earlier.dir}'s is kept`);
    }
  }
  return [...found].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

export async function mergeShards(dirs: readonly string[], options: MergeOptions): Promise<MergeResult> {
  if (dirs.length === 0) throw inputError('bench merge', 'no shard directories given', 'the run directories of `bench run --shard i/n`, i = 1..n');
  const shards: Shard[] = [];
  for (const dir of dirs) shards.push(await readShard(dir));
  shards.sort((a, b) => a.index - b.index);
  const first = shards[0];
  for (const s of shards) {
    if (s.count !== first.count)
      throw inputError(join(s.dir, RUN_FILE), `shard.count: this is shard ${s.index}/${s.count} but ${first.dir} is ${first.index}/${first.count}`, 'shards of one sharding');
    const d = firstDifference(withoutPerShardFields(first.manifest), withoutPerShardFields(s.manifest), '');
    if (d)
      throw inputError(
        join(s.dir, RUN_FILE),
        `${d.path} differs from ${join(first.dir, RUN_FILE)} (${brief(d.b, 40)} vs ${brief(d.a, 40)})`,
        `shards of one run: run.json identical except ${PER_SHARD_FIELDS.join(', ')}`,
      );
  }
  const given = new Set(shards.map((s) => s.index));
  const missing = Array.from({ length: first.count }, (_, i) => i + 1).filter((i) => !given.has(i));
  // The same shard twice (one directory named twice, or two copies): say so, rather than only "shard 2 missing".
  const twice = shards.filter((s, i) => i > 0 && shards[i - 1].index === s.index);
  const problems: string[] = twice.map((s) => {
    const earlier = shards.find((t) => t.index === s.index)!;
    return `shard ${s.index} of ${first.count} is given twice (${resolve(earlier.dir) === resolve(s.dir) ? `${s.dir}, named twice` : `${earlier.dir} and ${s.dir}`})`;
  });
  if (missing.length > 0) problems.push(`shard${missing.length > 1 ? 's' : ''} ${missing.join(', ')} of ${first.count} missing (given: ${[...given].sort((a, b) => a - b).join(', ')})`);
  if (problems.length > 0) throw new InputError(`bench merge: ${problems.join('; ')} (allowed: one run directory for each shard 1..${first.count})`);

  const out = options.out;
  if (shards.some((s) => resolve(s.dir) === resolve(out))) throw inputError('--out', `${out} is one of the shard directories`, 'a new directory');
  if (await exists(join(out, RUN_FILE))) throw inputError('--out', `${out} already holds a run (${RUN_FILE})`, 'a new directory');

  const { cells: plan, probes: probePlan } = wholePlan(shards);
  const duplicates: string[] = [];
  const cells = await collect(shards, CELLS_DIR, new Set(plan), 'cell', duplicates);
  const probes = await collect(shards, PROBES_DIR, probePlan ? new Set(probePlan) : null, 'probe', duplicates);

  const missingCells = plan.filter((id) => !cells.has(id));
  if (missingCells.length > 0 && !options.allowMissing)
    throw inputError(
      'bench merge',
      `${missingCells.length} planned cell${missingCells.length > 1 ? 's have' : ' has'} no result in any shard (${missingCells.slice(0, 3).map((id) => JSON.stringify(id)).join(', ')}${missingCells.length > 3 ? ', …' : ''})`,
      'complete shards (`bench run --resume <shard-dir>` finishes one), or --allow-missing',
    );
  const missingProbes = probePlan ? probePlan.filter((id) => !probes.has(id)) : [];

  const notes: string[] = [];
  const sanityPerShard: SanityCheck[][] = [];
  for (const s of shards) {
    const file = join(s.dir, SANITY_FILE);
    if (!(await exists(file))) continue;
    const text = await readText(file, 'sanity checks');
    verifySanityBytes(file, text, await readChecksums(s.dir));
    const v = parse(file, text, 'sanity checks');
    if (!Array.isArray(v)) throw inputError(file, 'not an array of sanity checks');
    sanityPerShard.push(v as SanityCheck[]);
  }
  // The checks are computed from the records (sanity.ts), so the merged run's are those of an unsharded
  // run: recompute them over all cells and probes. Only an unknown class count (classCounts) falls back
  // to picking each check from the shard that had its probes.
  let sanity: SanityCheck[] = [];
  if (sanityPerShard.length > 0) {
    const counts = classCounts(first.manifest);
    if (counts) {
      sanity = computeSanityChecks({
        checkpoints: first.manifest.checkpoints.map((c, i) => ({
          name: c.name,
          numClasses: counts[i],
          ...(c.scores ? { scores: c.scores } : {}),
          ...(c.logProbabilities ? { logProbabilities: c.logProbabilities } : {}),
        })),
        cells: plan.flatMap((id) => (cells.has(id) ? [cells.get(id)!.value as unknown as SuiteCellResult] : [])),
        probes: (probePlan ?? [...probes.keys()]).flatMap((id) => (probes.has(id) ? [probes.get(id)!.value as unknown as ProbeRecord] : [])),
      });
    } else {
      const picked = mergeSanity(sanityPerShard);
      sanity = picked.checks;
      if (picked.conflicts.length > 0) notes.push(`shards disagree on sanity checks ${picked.conflicts.join('; ')}; the lowest shard's is kept`);
    }
  }
  if (missingProbes.length > 0) notes.push(`${missingProbes.length} planned sanity probes have no result`);

  // Records first, run.json last: a directory without run.json is never mistaken for a finished merge.
  // Made level by level (createDir.ts): a file on the path, a read-only file system or /proc is one line, not a hang.
  await createDirectory(out, 'the merged run directory');
  for (const id of plan) {
    const rec = cells.get(id);
    if (rec) await writeFileAtomic(join(out, CELLS_DIR, cellFileName(id)), rec.text);
  }
  for (const id of probePlan ?? [...probes.keys()]) {
    const rec = probes.get(id);
    if (rec) await writeFileAtomic(join(out, PROBES_DIR, cellFileName(id)), rec.text);
  }
  const checksums: ChecksumManifest = { format: 'bench-checksums/1', cells: {}, probes: {} };
  for (const id of plan) if (cells.has(id)) checksums.cells[id] = recordChecksum(cells.get(id)!.value);
  for (const id of probePlan ?? [...probes.keys()]) if (probes.has(id)) checksums.probes[id] = recordChecksum(probes.get(id)!.value);
  if (sanityPerShard.length > 0) {
    const text = `${JSON.stringify(sanity, null, 2)}\n`;
    await writeFileAtomic(join(out, SANITY_FILE), text);
    checksums.sanity = sha256Hex(text);
  }
  // The merged run's checksum manifest, as the unsharded run's lead writes it (src/rundir/checksums.ts).
  await writeChecksums(out, checksums);
  for (const [name, image] of await collectImages(shards, notes)) await writeFileAtomic(join(out, IMAGES_DIR, name), image.bytes);

  const provenance: ShardProvenance[] = [];
  for (const s of shards)
    provenance.push({
      index: s.index,
      count: s.count,
      dir: s.dir,
      createdAt: s.manifest.createdAt,
      machine: s.manifest.machine,
      cells: [...cells.values()].filter((r) => r.dir === s.dir).length,
      probes: [...probes.values()].filter((r) => r.dir === s.dir).length,
    });
  await writeFileAtomic(join(out, MERGE_FILE), `${JSON.stringify({ format: 'bench-merge/1', shards: provenance, duplicates, missingCells, notes }, null, 2)}\n`);
  const createdAt = shards.map((s) => s.manifest.createdAt).sort()[0];
  const merged: RunManifest & { probes?: string[] } = { ...first.manifest, cells: plan, shard: null, createdAt };
  if (probePlan) merged.probes = probePlan;
  await writeFileAtomic(join(out, RUN_FILE), `${JSON.stringify(merged, null, 2)}\n`);

  return { out, shards: provenance, cells: cells.size, probes: probes.size, missingCells, missingProbes, duplicates, notes };
}
