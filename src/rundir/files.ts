/**
 * The layout of a run directory (the format report/, compare/ and merge read; the executor in suite/
 * writes it through store.ts):
 *
 *   <run-dir>/run.json              RunManifest (records.ts), written first
 *   <run-dir>/cells/<cellFile>      one CellResult per cell
 *   <run-dir>/probes/<cellFile>     sanity probes: CellResult for probe attacks, GradientProbeResult for gradient checks
 *   <run-dir>/sanity.json           SanityCheck[]
 *   <run-dir>/images/               example panels (PNG + JSON sidecar pairs, src/suite/images.ts)
 *   <run-dir>/checksums.json        the finished run's record checksums (checksums.ts)
 *   <run-dir>/.lock                 the lead process's lock (lock.ts)
 *
 * <cellFile> is cellFileName(id). Every file is written atomically (atomic.ts).
 */
import { inputError } from '../engine/errors.js';

export const RUN_FILE = 'run.json';
export const CELLS_DIR = 'cells';
export const PROBES_DIR = 'probes';
export const SANITY_FILE = 'sanity.json';
/** Example panels of the run (PNG + JSON sidecar pairs, src/suite/images.ts), shown by the HTML report. */
export const IMAGES_DIR = 'images';
export const CHECKSUMS_FILE = 'checksums.json';

/**
 * A file name for a cell id: safe characters only (every run of other characters, "/" and NUL included,
 * becomes "_"), never a path, and never a dot-file (readers skip those as temp files).
 */
export function cellFileName(id: string): string {
  const safe = id.replace(/[^A-Za-z0-9._=-]+/g, '_');
  return `${safe.startsWith('.') ? '_' : ''}${safe}.json`;
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
