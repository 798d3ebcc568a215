/**
 * The run directory: run.json (written first), cells/<cellFile>.json (one CellResult per cell),
 * probes/<cellFile>.json (sanity probes: CellResult for probe attacks, GradientProbeResult for gradient
 * checks), sanity.json and, once the run has finished, checksums.json. Every file is written atomically
 * (temp file, fsync, rename, fsync of the directory), so a crash leaves either the old file or the new
 * one, never half of one.
 *
 * Checksums. Cells are written concurrently by several processes (--workers), so no shared file is
 * updated per cell. Instead every cell and probe record carries its own checksum: the field `sha256`,
 * the hex sha256 of the record's canonical JSON without that field (keys sorted at every level, no
 * whitespace: recordChecksum). A reader parses the file, recomputes the hash and compares. When the lead
 * process has finished the run (and after `bench merge`) it writes checksums.json, the run's manifest of
 * checksums: {format: "bench-checksums/1", cells: {id: sha256}, probes: {id: sha256}, sanity: sha256 of
 * sanity.json's bytes}, in plan order. A resume deletes it before it writes anything and rewrites it at
 * the end, so a listed checksum is always the one of the file on disk.
 * - The runner (readCell/readProbe) treats a missing, unparsable or wrong-id file, or one whose checksum
 *   does not match, as not done: `--resume` recomputes it (and says which file was corrupt).
 * - `bench report`, `bench compare` and `bench merge` refuse a record that fails its checksum, or that
 *   disagrees with checksums.json, with one line naming the file (exit 2): they never use it.
 *
 * The lead process of a run holds <run-dir>/.lock (lock.ts); helper processes of the same run do not.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { InputError, inputError, StorageError } from '../engine/errors.js';
import { pidAlive } from './lock.js';
import { cellFileName, type CellResult, type RunManifest, type SanityCheck } from './records.js';

export const RUN_FILE = 'run.json';
export const CELLS_DIR = 'cells';
export const PROBES_DIR = 'probes';
export const SANITY_FILE = 'sanity.json';
/** Example panels of the run (PNG + JSON sidecar pairs, src/suite/images.ts), shown by the HTML report. */
export const IMAGES_DIR = 'images';
export const CHECKSUMS_FILE = 'checksums.json';
/** The field of a cell or probe record holding its checksum (see the header). */
export const CHECKSUM_FIELD = 'sha256';

/**
 * Optional fields this runner adds to the record formats of records.ts (readers that do not know them
 * can ignore them).
 */
export interface SuiteCellResult extends CellResult {
  /** The id of the cell whose numbers these are (a feedforward model answers every gradient path alike). */
  copyOf?: string;
  /** The attack's registry name when `attack` holds a config label that differs from it (e.g. pgd40). */
  method?: string;
  /** Images actually attacked: the others were already misclassified clean or broken at a smaller eps. */
  attacked?: number;
  /**
   * Evaluated images whose logits held a NaN or an infinity: clean cells on the clean images, corruption
   * cells on the corrupted ones, attack cells on the attacked images' final examples. Such an image has
   * no prediction and counts as misclassified (src/models/decision.ts); the logits-finite sanity check
   * reports it.
   */
  nonFiniteLogits?: number;
  /**
   * Probes that continue a main sweep (the more-steps probe): the main cell `id` and its result on the
   * probe's images, the starting point this probe's attack had to improve on.
   */
  reference?: { id: string; samples: number; correct: number };
  /**
   * Sanity-probe cells: which probe this is and the label of the config's attack entry it ran (chosen by
   * src/suite/probeAttack.ts), so a reader sees which sweep the gradient-masking checks tested.
   */
  probe?: { kind: 'large-eps' | 'more-steps'; of: string };
}

export interface SuiteRunManifest extends RunManifest {
  /** Sanity-probe ids (files under probes/), in execution order. */
  probes?: string[];
  /** Plan notes, e.g. which cells are copies and why. */
  notes?: string[];
}

/** Fraction of samples whose input gradient is all zero or not finite, on one path. */
export interface GradientProbeResult {
  format: 'bench-gradient-probe/1';
  id: string;
  checkpoint: string;
  path: string;
  output: string;
  samples: number;
  /** Samples whose gradient is exactly zero everywhere. */
  zero: number;
  /** Samples with a NaN or infinite gradient entry. */
  nonFinite: number;
  completedAt: string;
}

export type ProbeRecord = SuiteCellResult | GradientProbeResult;

/** Why a write failed, in words, for the one-line message. */
function writeProblem(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  const words: Record<string, string> = {
    ENOSPC: 'no space left on device',
    EDQUOT: 'disk quota exceeded',
    EROFS: 'read-only file system',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EIO: 'input/output error',
    ENAMETOOLONG: 'file name too long',
    ENOTDIR: 'a parent is not a directory',
  };
  if (code && words[code]) return `${words[code]} (${code})`;
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}

/**
 * Test hook (fault injection): with BENCH_TEST_FAIL_WRITES_AFTER=N in the environment, the atomic writes of
 * this process after the first N fail as on a full disk (ENOSPC, after the temp file is created, so the
 * cleanup path runs too). Unset in normal use.
 */
let atomicWrites = 0;
function injectedFault(): NodeJS.ErrnoException | null {
  const after = process.env.BENCH_TEST_FAIL_WRITES_AFTER;
  if (after === undefined || after === '' || ++atomicWrites <= Number(after)) return null;
  return Object.assign(new Error('ENOSPC: no space left on device, write (injected by BENCH_TEST_FAIL_WRITES_AFTER)'), { code: 'ENOSPC' });
}

/**
 * Writes `text` (or bytes) to `path` atomically: temp file in the same directory, fsync, rename, fsync the
 * directory. Any failure removes the temp file, leaves `path` as it was, and is a StorageError naming
 * `path` and the reason (e.g. "no space left on device (ENOSPC)").
 */
export async function writeFileAtomic(path: string, text: string | Uint8Array): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await mkdir(dir, { recursive: true });
    const handle = await open(temp, 'wx');
    try {
      const fault = injectedFault();
      if (fault) throw fault;
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw new StorageError(`cannot write ${path}: ${writeProblem(err)}`);
  }
  try {
    const d = await open(dir, 'r');
    await d.sync().catch(() => undefined);
    await d.close();
  } catch {
    // Some filesystems cannot open or sync a directory; the rename is still atomic.
  }
}

/** Longest file name most filesystems accept, in bytes. */
const NAME_MAX = 255;

/**
 * Refuses (InputError naming `where`) record ids whose file names (cellFileName) would clash or be too
 * long: ids carry checkpoint names and attack labels from config text, and two cells sharing one file
 * would overwrite each other. cellFileName itself never yields a path (no separator, no leading dot).
 */
export function checkFileNames(ids: readonly string[], where: string): void {
  const byName = new Map<string, string>();
  for (const id of ids) {
    const name = cellFileName(id);
    if (Buffer.byteLength(name) > NAME_MAX)
      throw inputError(where, `the record id ${JSON.stringify(id.slice(0, 40))}… makes a file name of ${Buffer.byteLength(name)} bytes`, `checkpoint names (model.json) and attack labels short enough for ${NAME_MAX}-byte file names`);
    const other = byName.get(name);
    if (other !== undefined && other !== id)
      throw inputError(
        where,
        `records ${JSON.stringify(other)} and ${JSON.stringify(id)} would share the file ${name}`,
        'checkpoint names (model.json) and attack labels that differ in letters, digits or . _ = - (other characters become _)',
      );
    byName.set(name, id);
  }
}

/** Temp files of writeFileAtomic: `.<pid>.<hex>.tmp`. */
const TEMP_NAME = /^\.(\d+)\.[0-9a-f]+\.tmp$/;

const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The JSON the checksum is taken over: object keys sorted at every level, undefined members left out, no
 * whitespace. Deliberately its own function (not compare/identity.ts's): stored checksums depend on it,
 * so it must never change.
 */
function checksumJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(checksumJson).join(',')}]`;
  if (isObject(v))
    return `{${Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${checksumJson(v[k])}`)
      .join(',')}}`;
  return JSON.stringify(v) ?? 'null';
}

/** The checksum of a cell or probe record: hex sha256 of its canonical JSON without the `sha256` field. */
export function recordChecksum(record: object): string {
  const body: Record<string, unknown> = { ...(record as Record<string, unknown>) };
  delete body[CHECKSUM_FIELD];
  return createHash('sha256').update(checksumJson(body)).digest('hex');
}

/** The file text of a record: its JSON (2-space indent) with its checksum added as the last field. */
export function sealedJson(record: object): string {
  const body: Record<string, unknown> = { ...(record as Record<string, unknown>) };
  delete body[CHECKSUM_FIELD];
  return json({ ...body, [CHECKSUM_FIELD]: recordChecksum(body) });
}

export type Opened = { record: Record<string, unknown>; sha256: string; problem?: undefined } | { problem: string };

/** Checks a parsed record's embedded checksum; returns the record without the field, or the problem in words. */
export function openRecord(value: unknown): Opened {
  if (!isObject(value)) return { problem: 'not a JSON object' };
  const stored = value[CHECKSUM_FIELD];
  if (typeof stored !== 'string') return { problem: `no ${CHECKSUM_FIELD} field (every record \`bench run\` writes carries its checksum)` };
  const actual = recordChecksum(value);
  if (actual !== stored) return { problem: `checksum mismatch (the ${CHECKSUM_FIELD} field says ${stored.slice(0, 12)}…, the record hashes to ${actual.slice(0, 12)}…)` };
  const record = { ...value };
  delete record[CHECKSUM_FIELD];
  return { record, sha256: stored };
}

/** checksums.json: the manifest of a finished run's record checksums (see the header). */
export interface ChecksumManifest {
  format: 'bench-checksums/1';
  cells: Record<string, string>;
  probes: Record<string, string>;
  /** sha256 of sanity.json's bytes, when the run has one. */
  sanity?: string;
}

/** Hex sha256 of a file's bytes (sanity.json in checksums.json). */
export const sha256Hex = (bytes: string | Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** The run's checksums.json, or null when it has none (a run still going, interrupted, or older). */
export async function readChecksums(runDir: string): Promise<ChecksumManifest | null> {
  const file = join(runDir, CHECKSUMS_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw inputError(file, `cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    v = null;
  }
  const isMap = (m: unknown) => isObject(m) && Object.values(m).every((x) => typeof x === 'string');
  if (!isObject(v) || v.format !== 'bench-checksums/1' || !isMap(v.cells) || !isMap(v.probes) || (v.sanity !== undefined && typeof v.sanity !== 'string'))
    throw inputError(file, 'corrupt: not a checksum manifest', `{"format": "bench-checksums/1", "cells": {id: sha256}, "probes": {id: sha256}}; \`bench run --resume ${runDir}\` rewrites it`);
  return v as unknown as ChecksumManifest;
}

/**
 * A record as `bench report`/`compare`/`merge` read it: the parsed value of `file` checked against its
 * own checksum and against `listed` (its entry in checksums.json, when the run has one). Returns the
 * record without the checksum field; throws an InputError (one line, exit 2) naming the file otherwise.
 */
export function verifiedRecord(file: string, value: unknown, listed: ChecksumManifest | null, kind: 'cells' | 'probes'): Record<string, unknown> {
  const runDir = dirname(dirname(file));
  const opened = openRecord(value);
  if (opened.problem !== undefined)
    throw new InputError(`${file}: corrupt record: ${opened.problem}; not used (\`bench run --resume ${runDir}\` recomputes it)`);
  if (listed) {
    const id = opened.record.id;
    const want = typeof id === 'string' && Object.prototype.hasOwnProperty.call(listed[kind], id) ? listed[kind][id] : undefined;
    if (want === undefined)
      throw new InputError(`${file}: not listed in ${join(runDir, CHECKSUMS_FILE)} (a file added after the run finished); not used`);
    if (want !== opened.sha256)
      throw new InputError(`${file}: checksum ${opened.sha256.slice(0, 12)}… differs from ${CHECKSUMS_FILE}'s ${want.slice(0, 12)}… (the file was replaced after the run finished); not used`);
  }
  return opened.record;
}

/** Listed records whose file is missing, as `file: listed in checksums.json but missing` (the first one), or null. */
export function missingListed(runDir: string, listed: ChecksumManifest | null, kind: 'cells' | 'probes', found: ReadonlySet<string>): string | null {
  if (!listed) return null;
  const gone = Object.keys(listed[kind]).filter((id) => !found.has(id));
  if (gone.length === 0) return null;
  return `${join(runDir, kind, cellFileName(gone[0]))}: listed in ${CHECKSUMS_FILE} but missing${gone.length > 1 ? ` (and ${gone.length - 1} more)` : ''}; \`bench run --resume ${runDir}\` recomputes it`;
}

/** Checks sanity.json's bytes against checksums.json (when listed); throws an InputError naming the file otherwise. */
export function verifySanityBytes(file: string, bytes: string, listed: ChecksumManifest | null): void {
  if (listed?.sanity !== undefined && sha256Hex(bytes) !== listed.sanity)
    throw new InputError(`${file}: corrupt: its sha256 differs from ${CHECKSUMS_FILE}'s; not used (\`bench run --resume ${dirname(file)}\` rewrites it)`);
}

/** Writes checksums.json for records already on disk (readers verify against it). */
export async function writeChecksums(runDir: string, manifest: ChecksumManifest): Promise<void> {
  await writeFileAtomic(join(runDir, CHECKSUMS_FILE), json(manifest));
}

export class RunStore {
  /** Called once per corrupt file the runner finds (it recomputes it); set by the runner. */
  warn: (line: string) => void = () => undefined;
  private readonly warned = new Set<string>();
  private constructor(readonly dir: string) {}

  /** Creates the run directory and writes run.json; refuses a directory that already holds a run. */
  static async create(dir: string, manifest: SuiteRunManifest): Promise<RunStore> {
    if (existsSync(join(dir, RUN_FILE)))
      throw inputError('--out', `${dir} already holds a run (${RUN_FILE})`, `a new directory, or --resume ${dir} to finish it`);
    await writeFileAtomic(join(dir, RUN_FILE), json(manifest));
    try {
      await mkdir(join(dir, CELLS_DIR), { recursive: true });
    } catch (err) {
      throw new StorageError(`cannot create ${join(dir, CELLS_DIR)}: ${writeProblem(err)}`);
    }
    return new RunStore(dir);
  }

  /** Opens an existing run directory for --resume. */
  static async open(dir: string): Promise<{ store: RunStore; manifest: SuiteRunManifest }> {
    const path = join(dir, RUN_FILE);
    if (!existsSync(path)) throw inputError('--resume', `${dir} holds no ${RUN_FILE}`, 'a run directory written by `bench run`');
    let manifest: SuiteRunManifest | null = null;
    try {
      manifest = JSON.parse(await readFile(path, 'utf8')) as SuiteRunManifest | null;
    } catch {
      manifest = null;
    }
    if (!isObject(manifest) || manifest.format !== 'bench-run/1')
      throw new InputError(`${path}: not a bench run manifest (format must be "bench-run/1")`);
    return { store: new RunStore(dir), manifest };
  }

  cellPath(id: string): string {
    return join(this.dir, CELLS_DIR, cellFileName(id));
  }

  probePath(id: string): string {
    return join(this.dir, PROBES_DIR, cellFileName(id));
  }

  /**
   * The record in `path` when it is whole and valid: null when missing (silently) or when unparsable,
   * failing its checksum or not `accept`ed (written for another id or format): then `warn` says so once.
   */
  private async readRecord<T>(path: string, accept: (r: Record<string, unknown>) => boolean): Promise<T | null> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      return this.corrupt(path, `cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return this.corrupt(path, 'not valid JSON (a torn or damaged file)');
    }
    const opened = openRecord(value);
    if (opened.problem !== undefined) return this.corrupt(path, opened.problem);
    if (!accept(opened.record)) return this.corrupt(path, 'holds another record (id or format)');
    return opened.record as T;
  }

  private corrupt(path: string, problem: string): null {
    if (!this.warned.has(path)) {
      this.warned.add(path);
      this.warn(`warning: ${path}: ${problem}; recomputing it`);
    }
    return null;
  }

  /** The stored cell `id`, or null when missing, unparsable, failing its checksum or written for another id. */
  async readCell(id: string): Promise<SuiteCellResult | null> {
    return this.readRecord<SuiteCellResult>(this.cellPath(id), (c) => c.format === 'bench-cell/1' && c.id === id && typeof c.correctBits === 'string');
  }

  async writeCell(cell: SuiteCellResult): Promise<void> {
    await writeFileAtomic(this.cellPath(cell.id), sealedJson(cell));
  }

  async readProbe(id: string): Promise<ProbeRecord | null> {
    return this.readRecord<ProbeRecord>(this.probePath(id), (r) => (r.format === 'bench-cell/1' || r.format === 'bench-gradient-probe/1') && r.id === id);
  }

  async writeProbe(rec: ProbeRecord): Promise<void> {
    await writeFileAtomic(this.probePath(rec.id), sealedJson(rec));
  }

  async writeSanity(checks: SanityCheck[]): Promise<void> {
    await writeFileAtomic(join(this.dir, SANITY_FILE), json(checks));
  }

  /** Deletes checksums.json (a resume is about to change records); it is rewritten when the run finishes. */
  async clearChecksums(): Promise<void> {
    await rm(join(this.dir, CHECKSUMS_FILE), { force: true });
  }

  /**
   * Writes checksums.json from the records on disk: every valid cell of `cellIds` and probe of `probeIds`,
   * in that order, and sanity.json's bytes when there is one. Returns the ids left out (missing or corrupt).
   */
  async writeChecksums(cellIds: readonly string[], probeIds: readonly string[]): Promise<string[]> {
    const manifest: ChecksumManifest = { format: 'bench-checksums/1', cells: {}, probes: {} };
    const left: string[] = [];
    for (const [ids, into, read] of [
      [cellIds, manifest.cells, (id: string) => this.readCell(id)],
      [probeIds, manifest.probes, (id: string) => this.readProbe(id)],
    ] as const)
      for (const id of ids) {
        const rec = await read(id);
        if (rec) into[id] = recordChecksum(rec);
        else left.push(id);
      }
    try {
      manifest.sanity = sha256Hex(await readFile(join(this.dir, SANITY_FILE)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    await writeChecksums(this.dir, manifest);
    return left;
  }

  /**
   * Removes temp files (`.<pid>.<hex>.tmp`) left by processes that died mid-write (a kill, a crash); those
   * of live processes (a helper still writing) are kept. Called by the lead process, which holds the lock.
   */
  async removeStaleTemps(): Promise<number> {
    let removed = 0;
    for (const sub of ['', CELLS_DIR, PROBES_DIR]) {
      let names: string[];
      try {
        names = await readdir(join(this.dir, sub));
      } catch {
        continue;
      }
      for (const name of names) {
        const m = TEMP_NAME.exec(basename(name));
        if (!m || pidAlive(Number(m[1]))) continue;
        await rm(join(this.dir, sub, name), { force: true });
        removed++;
      }
    }
    return removed;
  }
}
