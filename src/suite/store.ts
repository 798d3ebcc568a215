/**
 * The run directory: run.json (written first), cells/<cellFile>.json (one CellResult per cell),
 * probes/<cellFile>.json (sanity probes: CellResult for probe attacks, GradientProbeResult for gradient
 * checks) and sanity.json. Every file is written atomically (temp file, fsync, rename, fsync of the
 * directory), so a crash leaves either the old file or the new one, never half of one; `--resume`
 * treats a file that is missing, unparsable or has another id as not done.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { InputError, inputError } from '../engine/errors.js';
import { cellFileName, type CellResult, type RunManifest, type SanityCheck } from './records.js';

export const RUN_FILE = 'run.json';
export const CELLS_DIR = 'cells';
export const PROBES_DIR = 'probes';
export const SANITY_FILE = 'sanity.json';

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
   * Probes that continue a main sweep (the more-steps probe): the main cell `id` and its result on the
   * probe's images, the starting point this probe's attack had to improve on.
   */
  reference?: { id: string; samples: number; correct: number };
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

/** Writes `text` to `path` atomically: temp file in the same directory, fsync, rename, fsync the directory. */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const temp = join(dir, `.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx');
  try {
    await handle.writeFile(text);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(temp, { force: true });
    throw err;
  }
  await handle.close();
  try {
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  try {
    const d = await open(dir, 'r');
    await d.sync().catch(() => undefined);
    await d.close();
  } catch {
    // Some filesystems cannot open or sync a directory; the rename is still atomic.
  }
}

const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;

async function readJson(path: string): Promise<unknown | null> {
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch {
    return null;
  }
}

export class RunStore {
  private constructor(readonly dir: string) {}

  /** Creates the run directory and writes run.json; refuses a directory that already holds a run. */
  static async create(dir: string, manifest: SuiteRunManifest): Promise<RunStore> {
    if (existsSync(join(dir, RUN_FILE)))
      throw inputError('--out', `${dir} already holds a run (${RUN_FILE})`, `a new directory, or --resume ${dir} to finish it`);
    await mkdir(join(dir, CELLS_DIR), { recursive: true });
    await writeFileAtomic(join(dir, RUN_FILE), json(manifest));
    return new RunStore(dir);
  }

  /** Opens an existing run directory for --resume. */
  static async open(dir: string): Promise<{ store: RunStore; manifest: SuiteRunManifest }> {
    const path = join(dir, RUN_FILE);
    if (!existsSync(path)) throw inputError('--resume', `${dir} holds no ${RUN_FILE}`, 'a run directory written by `bench run`');
    const manifest = (await readJson(path)) as SuiteRunManifest | null;
    if (!manifest || manifest.format !== 'bench-run/1')
      throw new InputError(`${path}: not a bench run manifest (format must be "bench-run/1")`);
    return { store: new RunStore(dir), manifest };
  }

  cellPath(id: string): string {
    return join(this.dir, CELLS_DIR, cellFileName(id));
  }

  probePath(id: string): string {
    return join(this.dir, PROBES_DIR, cellFileName(id));
  }

  /** The stored cell `id`, or null when missing, unparsable or written for another id. */
  async readCell(id: string): Promise<SuiteCellResult | null> {
    const cell = (await readJson(this.cellPath(id))) as SuiteCellResult | null;
    return cell && cell.format === 'bench-cell/1' && cell.id === id && typeof cell.correctBits === 'string' ? cell : null;
  }

  async writeCell(cell: SuiteCellResult): Promise<void> {
    await writeFileAtomic(this.cellPath(cell.id), json(cell));
  }

  async readProbe(id: string): Promise<ProbeRecord | null> {
    const rec = (await readJson(this.probePath(id))) as ProbeRecord | null;
    return rec && (rec.format === 'bench-cell/1' || rec.format === 'bench-gradient-probe/1') && rec.id === id ? rec : null;
  }

  async writeProbe(rec: ProbeRecord): Promise<void> {
    await writeFileAtomic(this.probePath(rec.id), json(rec));
  }

  async writeSanity(checks: SanityCheck[]): Promise<void> {
    await writeFileAtomic(join(this.dir, SANITY_FILE), json(checks));
  }
}
