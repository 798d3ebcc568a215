/**
 * Helpers every source format shares: reading a file with one-line errors, its SHA-256, checking a
 * directory, the offset/limit slice, and building the dataset + record pair.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InputError, inputError } from '../engine/errors.js';
import type { DatasetFile, DatasetRecord, ImageDataset, Split } from './types.js';

/** SHA-256 of `bytes` as lower-case hex (FIPS 180-4, node:crypto). */
export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Reads a whole file; a missing or unreadable file is an InputError naming it. */
export function readInputFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException)?.code;
    if (code === 'ENOENT') throw new InputError(`${path}: file not found, expected ${what}`);
    if (code === 'EISDIR') throw new InputError(`${path}: is a directory, expected ${what}`);
    throw new InputError(`${path}: cannot read (${err instanceof Error ? err.message : String(err)})`);
  }
}

/** The record entry of a file read. */
export function fileEntry(path: string, bytes: Uint8Array): DatasetFile {
  return { path, bytes: bytes.length, sha256: sha256Hex(bytes) };
}

/** Refuses a path that is missing or not a directory; `spec` names the dataset as the user wrote it. */
export function requireDirectory(dir: string, spec: string): void {
  if (!existsSync(dir)) throw new InputError(`${dir}: directory not found (dataset ${spec})`);
  if (!statSync(dir).isDirectory()) throw new InputError(`${dir}: not a directory (dataset ${spec} takes a directory)`);
}

/** The .gz file if present, else the uncompressed one, else null. */
export function findMaybeGzipped(dir: string, name: string): string | null {
  for (const candidate of [`${name}.gz`, name]) {
    const path = join(dir, candidate);
    if (existsSync(path) && statSync(path).isFile()) return path;
  }
  return null;
}

/** Which rows to load. */
export interface SliceOptions {
  /** Index of the first image (default 0). */
  offset?: number;
  /** At most this many images from `offset` (default: to the end). */
  limit?: number;
}

/** Checks --limit / --offset values (one line each, naming the flag). */
export function checkSliceOptions(opts: SliceOptions): void {
  if (opts.limit !== undefined && (!Number.isInteger(opts.limit) || opts.limit < 1))
    throw inputError('--limit', `${opts.limit} is not an integer >= 1`);
  if (opts.offset !== undefined && (!Number.isInteger(opts.offset) || opts.offset < 0))
    throw inputError('--offset', `${opts.offset} is not an integer >= 0`);
}

/** The rows [offset, offset + count) of a split of `total` images; refuses an offset past the end. */
export function sliceOf(total: number, opts: SliceOptions, split: Split): { offset: number; count: number } {
  checkSliceOptions(opts);
  const offset = opts.offset ?? 0;
  if (offset >= total) throw inputError('--offset', `${offset} is past the end of the ${split} split (${total} images)`, `0..${total - 1}`);
  return { offset, count: Math.min(opts.limit ?? total, total - offset) };
}

/**
 * The one-line notice when a slice holds fewer images than `limit` asked for (the split ends first), or
 * null: e.g. `--limit 5 asks for 5 images, but the test split has only 1 from offset 9999 (10000 images):
 * the run uses 1`. `where` names the flag or config field that set the limit.
 */
export function shortSliceNotice(limit: number | undefined, data: { count: number; offset: number; total: number; record: { split: string } }, where: string): string | null {
  if (limit === undefined || data.count >= limit) return null;
  const images = (n: number) => `${n} image${n === 1 ? '' : 's'}`;
  return `${where} asks for ${images(limit)}, but the ${data.record.split} split has only ${data.count} from offset ${data.offset} (${images(data.total)}): the run uses ${data.count}`;
}

/** 8-bit pixels to [0,1] floats (byte / 255, rounded to float32 as the Fashion-MNIST loader always did). */
export function bytesToUnit(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i] / 255;
  return out;
}

/** Everything a format knows once it has read its files; `makeDataset` derives the rest. */
export interface DatasetParts {
  name: string;
  source: string;
  split: Split;
  files: DatasetFile[];
  images: Float32Array;
  labels: Int32Array | null;
  count: number;
  height: number;
  width: number;
  channels: number;
  classNames: readonly string[];
  imagesPath: string;
  labelsPath: string;
  offset: number;
  total: number;
  notes?: string[];
}

/** Builds the ImageDataset and its DatasetRecord from what a format read. Unlabelled rows get -1. */
export function makeDataset(p: DatasetParts): ImageDataset {
  const labelled = p.labels !== null;
  const labels = p.labels ?? new Int32Array(p.count).fill(-1);
  const record: DatasetRecord = {
    name: p.name,
    source: p.source,
    split: p.split,
    files: p.files,
    shape: [p.count, p.height, p.width, p.channels],
    total: p.total,
    offset: p.offset,
    numClasses: p.classNames.length,
    classNames: [...p.classNames],
    labelled,
    ...(p.notes && p.notes.length > 0 ? { notes: p.notes } : {}),
  };
  return {
    images: p.images,
    labels,
    count: p.count,
    height: p.height,
    width: p.width,
    channels: p.channels,
    classNames: p.classNames,
    source: p.imagesPath,
    labelsSource: p.labelsPath,
    offset: p.offset,
    total: p.total,
    labelled,
    record,
  };
}

/** Refuses the first label outside 0..numClasses-1, naming the file, index and range. */
export function checkLabels(labels: ArrayLike<number>, numClasses: number, where: string, what = 'label'): void {
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (!(l >= 0 && l < numClasses))
      throw new InputError(`${where}: ${what} ${l} at index ${i} is out of range (allowed: 0..${numClasses - 1})`);
  }
}
