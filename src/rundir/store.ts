/**
 * RunStore: the executor's handle on a run directory (files.ts): creates it with run.json, reads and
 * writes cell and probe records (each sealed with its checksum, checksums.ts) atomically (atomic.ts),
 * writes sanity.json and checksums.json, and removes temp files of dead processes.
 * - The runner (readCell/readProbe) treats a missing, unparsable or wrong-id file, or one whose checksum
 *   does not match, as not done: `--resume` recomputes it (and says which file was corrupt).
 * - `bench report`, `bench compare` and `bench merge` refuse a record that fails its checksum, or that
 *   disagrees with checksums.json, with one line naming the file (exit 2): they never use it.
 *
 * The lead process of a run holds <run-dir>/.lock (lock.ts); helper processes of the same run do not.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { InputError, inputError, StorageError } from '../engine/errors.js';
import { TEMP_NAME, writeFileAtomic, writeProblem } from './atomic.js';
import { openRecord, recordChecksum, sealedJson, sha256Hex, writeChecksums, type ChecksumManifest } from './checksums.js';
import { CELLS_DIR, CHECKSUMS_FILE, cellFileName, PROBES_DIR, RUN_FILE, SANITY_FILE } from './files.js';
import { pidAlive } from './lock.js';
import { checkManifest } from './manifest.js';
import type { ProbeRecord, SanityCheck, SuiteCellResult, SuiteRunManifest } from './records.js';

const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

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
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(await readFile(path, 'utf8'));
    } catch {
      throw new InputError(`${path}: not a bench run manifest (not valid JSON)`);
    }
    const manifest = checkManifest(path, parsed) as SuiteRunManifest;
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
