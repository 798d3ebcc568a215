/**
 * Reads a run directory (files.ts) as `bench report` and `bench compare` see it: run.json (either
 * format, manifest.ts), every cell checked against its checksum and the run's checksums.json
 * (checksums.ts), and sanity.json.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError, inputError } from '../engine/errors.js';
import { missingListed, readChecksums, verifiedRecord, verifySanityBytes } from './checksums.js';
import { CELLS_DIR, RUN_FILE, SANITY_FILE } from './files.js';
import { checkManifest } from './manifest.js';
import type { CellResult, RunManifest, SanityCheck } from './records.js';

export interface RunData {
  dir: string;
  manifest: RunManifest;
  /** Completed cells, in the manifest's planned order (cells the manifest does not list come last). */
  cells: CellResult[];
  /** Empty when the run wrote no sanity.json (e.g. a corruption-only run). */
  sanity: SanityCheck[];
}


async function readJson(file: string, what: string, onText?: (text: string) => void): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw inputError(file, `no ${what} here`, `a run directory written by \`bench run\``);
    throw inputError(file, `cannot read ${what} (${code ?? String(err)})`);
  }
  onText?.(text);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw inputError(file, `${what} is not valid JSON (${(err as Error).message.replace(/\s+/g, ' ')})`);
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}


function checkCell(file: string, v: unknown): CellResult {
  if (!isObject(v)) throw inputError(file, 'cell result is not a JSON object');
  if (v.format !== 'bench-cell/1') throw inputError(file, `format: ${JSON.stringify(v.format)} is not a cell result`, '"bench-cell/1"');
  if (typeof v.id !== 'string') throw inputError(file, 'id: missing');
  if (v.kind !== 'clean' && v.kind !== 'attack' && v.kind !== 'corruption')
    throw inputError(file, `kind: ${JSON.stringify(v.kind)} is not a cell kind`, 'clean, attack, corruption');
  if (typeof v.checkpoint !== 'string') throw inputError(file, 'checkpoint: missing');
  if (!Number.isInteger(v.samples) || (v.samples as number) < 0) throw inputError(file, 'samples: not a count');
  if (!Number.isInteger(v.correct)) throw inputError(file, 'correct: not a count');
  if (typeof v.correctBits !== 'string') throw inputError(file, 'correctBits: missing');
  if (v.kind === 'attack' && typeof v.eps !== 'number') throw inputError(file, 'eps: an attack cell needs a number');
  if (v.kind === 'corruption' && (typeof v.corruption !== 'string' || typeof v.severity !== 'number'))
    throw inputError(file, 'corruption/severity: a corruption cell needs both');
  return v as unknown as CellResult;
}

/**
 * Reads a run directory; an InputError names the file that is missing or corrupt. Every cell is checked
 * against its checksum and, when the run has finished (checksums.json), against the run's list: a corrupt
 * record is refused, never used (checksums.ts).
 */
export async function readRun(dir: string): Promise<RunData> {
  if (!(await exists(dir))) throw inputError(dir, 'no such run directory');
  const manifest = checkManifest(join(dir, RUN_FILE), await readJson(join(dir, RUN_FILE), 'run manifest (run.json)'));
  const listed = await readChecksums(dir);
  let names: string[] = [];
  try {
    // Dot-files are the runner's temporary files (written, fsynced, then renamed into place).
    names = (await readdir(join(dir, CELLS_DIR))).filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw inputError(join(dir, CELLS_DIR), `cannot list cells (${String(err)})`);
  }
  const cells: CellResult[] = [];
  for (const name of names) {
    const file = join(dir, CELLS_DIR, name);
    cells.push(checkCell(file, verifiedRecord(file, await readJson(file, 'cell result'), listed, 'cells')));
  }
  const gone = missingListed(dir, listed, 'cells', new Set(cells.map((c) => c.id)));
  if (gone) throw new InputError(gone);
  const order = new Map(manifest.cells.map((id, i) => [id, i]));
  cells.sort((a, b) => (order.get(a.id) ?? Infinity) - (order.get(b.id) ?? Infinity));

  // sanity.json is optional: a corruption-only run computes none.
  const sanityFile = join(dir, SANITY_FILE);
  let sanity: SanityCheck[] = [];
  if (await exists(sanityFile)) {
    const v = await readJson(sanityFile, 'sanity checks', (text) => verifySanityBytes(sanityFile, text, listed));
    if (!Array.isArray(v) || !v.every((x) => isObject(x) && typeof x.name === 'string' && typeof x.status === 'string'))
      throw inputError(sanityFile, 'sanity checks are not an array of {checkpoint, name, status, detail, numbers}');
    sanity = v as SanityCheck[];
  }
  return { dir, manifest, cells, sanity };
}

/** Planned cell ids without a result file: a run still going, interrupted, or one shard of several. */
export function missingCells(run: RunData): string[] {
  const done = new Set(run.cells.map((c) => c.id));
  return run.manifest.cells.filter((id) => !done.has(id));
}
