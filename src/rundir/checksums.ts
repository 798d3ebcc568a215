/**
 * Record checksums. Cells are written concurrently by several processes (--workers), so no shared file is
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
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { InputError, inputError } from '../engine/errors.js';
import { writeFileAtomic } from './atomic.js';
import { CHECKSUMS_FILE, cellFileName } from './files.js';

/** The field of a cell or probe record holding its checksum (see the header). */
export const CHECKSUM_FIELD = 'sha256';

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
