/**
 * Reader for the IDX format of LeCun's MNIST distribution, which Fashion-MNIST reuses
 * (http://yann.lecun.com/exdb/mnist/, "FILE FORMATS FOR THE MNIST DATABASE"):
 *
 *   bytes 0-1  0x00 0x00
 *   byte  2    data type (0x08 unsigned byte, 0x09 signed byte, 0x0B short, 0x0C int, 0x0D float, 0x0E double)
 *   byte  3    number of dimensions
 *   then one big-endian uint32 per dimension, then the data, row-major.
 *
 * Files may be gzip-compressed (as distributed) or raw; we detect gzip by its magic 1f 8b
 * (RFC 1952 section 2.3.1) rather than by the file name, so a renamed file still loads.
 * Only unsigned bytes are accepted: it is the type of every image and label file we read, and
 * refusing the rest clearly beats half-supporting them.
 */
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { InputError } from '../engine/errors.js';

export interface IdxArray {
  /** Dimension sizes in file order, e.g. [10000, 28, 28] for images, [10000] for labels. */
  dims: number[];
  /** The payload, row-major, length = product of dims. */
  data: Uint8Array;
}

export interface IdxExpectation {
  /** Required number of dimensions (3 for image files, 1 for label files). */
  ndims?: number;
}

const UNSIGNED_BYTE = 0x08;

const TYPE_NAMES: Record<number, string> = {
  0x08: 'unsigned byte',
  0x09: 'signed byte',
  0x0b: 'short',
  0x0c: 'int',
  0x0d: 'float',
  0x0e: 'double',
};

/** What a caller should have: images are 0x00000803, labels 0x00000801. */
function expectedMagic(expect?: IdxExpectation): string {
  if (expect?.ndims === 3) return '0x00000803 (images)';
  if (expect?.ndims === 1) return '0x00000801 (labels)';
  if (expect?.ndims !== undefined) return `0x000008${hex2(expect.ndims)} (unsigned bytes, ${expect.ndims} dimensions)`;
  return '0x00000803 (images) or 0x00000801 (labels)';
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

function hex8(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}

function fail(where: string, problem: string): InputError {
  return new InputError(`${where}: ${problem}`);
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Inflated IDX files beyond this are refused: Fashion-MNIST's largest file is 47 MB, and without a cap
 * a few kilobytes of hostile gzip could inflate to gigabytes before the header is even read.
 */
export const MAX_IDX_BYTES = 256 * 1024 * 1024;

function gunzip(bytes: Uint8Array, where: string): Uint8Array {
  try {
    return gunzipSync(bytes, { maxOutputLength: MAX_IDX_BYTES });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
      throw fail(where, `inflates to more than ${MAX_IDX_BYTES} bytes, the most an IDX file may hold here (a gzip bomb or not an IDX file)`);
    const reason = err instanceof Error ? err.message : String(err);
    throw fail(where, `corrupted gzip data (${reason}); re-download or re-install the file`);
  }
}

/**
 * Parses an IDX file held in memory (gzip-compressed or raw). `where` names the file in errors.
 * Every malformation is an InputError naming `where` and the problem.
 */
export function parseIdx(buffer: Uint8Array, where: string, expect?: IdxExpectation): IdxArray {
  if (buffer.length === 0) throw fail(where, 'empty file, expected an IDX file (optionally gzip-compressed)');
  const bytes = isGzip(buffer) ? gunzip(buffer, where) : buffer;
  if (bytes.length < 4)
    throw fail(where, `truncated header: ${bytes.length} bytes, an IDX file starts with a 4-byte magic number`);

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  const type = bytes[2];
  const ndims = bytes[3];
  if (bytes[0] !== 0 || bytes[1] !== 0 || type !== UNSIGNED_BYTE) {
    const typeNote =
      bytes[0] === 0 && bytes[1] === 0
        ? ` (data type 0x${hex2(type)}${TYPE_NAMES[type] ? ` = ${TYPE_NAMES[type]}` : ' is unknown'}; only 0x08 unsigned byte is supported)`
        : ' (not an IDX file)';
    throw fail(where, `bad magic number ${hex8(magic)}${typeNote}, expected ${expectedMagic(expect)}`);
  }
  if (ndims === 0) throw fail(where, `bad magic number ${hex8(magic)}: zero dimensions, expected ${expectedMagic(expect)}`);
  if (expect?.ndims !== undefined && ndims !== expect.ndims)
    throw fail(where, `wrong number of dimensions: ${ndims} (magic ${hex8(magic)}), expected ${expect.ndims}, i.e. magic ${expectedMagic(expect)}`);

  const headerSize = 4 + 4 * ndims;
  if (bytes.length < headerSize)
    throw fail(where, `truncated header: ${bytes.length} bytes, ${ndims} dimensions need a ${headerSize}-byte header`);
  const dims: number[] = [];
  for (let d = 0; d < ndims; d++) {
    const size = view.getUint32(4 + 4 * d, false);
    if (size === 0) throw fail(where, `dimension ${d} has size 0, every dimension must be > 0`);
    dims.push(size);
  }

  // Products of uint32s stay exact in a double up to 2^53, far beyond any file we could hold.
  const expected = dims.reduce((a, b) => a * b, 1);
  const actual = bytes.length - headerSize;
  const shape = dims.join(' x ');
  if (actual < expected)
    throw fail(where, `truncated payload: ${actual} bytes after the header, expected ${expected} (${shape})`);
  if (actual > expected)
    throw fail(where, `over-long payload: ${actual} bytes after the header, expected ${expected} (${shape}); ${actual - expected} extra bytes`);

  return { dims, data: new Uint8Array(bytes.buffer, bytes.byteOffset + headerSize, expected) };
}

function readError(path: string, err: unknown): InputError {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT') return fail(path, 'file not found');
  if (code === 'EISDIR') return fail(path, 'is a directory, expected an IDX file');
  return fail(path, `cannot read: ${err instanceof Error ? err.message : String(err)}`);
}

/** Reads and parses an IDX file (gzip or raw). */
export async function readIdx(path: string, expect?: IdxExpectation): Promise<IdxArray> {
  let buffer: Uint8Array;
  try {
    buffer = await readFile(path);
  } catch (err) {
    throw readError(path, err);
  }
  return parseIdx(buffer, path, expect);
}

/** Synchronous variant of readIdx. */
export function readIdxSync(path: string, expect?: IdxExpectation): IdxArray {
  let buffer: Uint8Array;
  try {
    buffer = readFileSync(path);
  } catch (err) {
    throw readError(path, err);
  }
  return parseIdx(buffer, path, expect);
}

/** Encodes an unsigned-byte IDX file (raw, uncompressed). Used to write fixtures and subsets. */
export function encodeIdx(dims: readonly number[], data: Uint8Array): Uint8Array {
  const expected = dims.reduce((a, b) => a * b, 1);
  if (dims.length === 0 || dims.length > 255) throw new RangeError(`encodeIdx: ${dims.length} dimensions, allowed 1..255`);
  if (data.length !== expected) throw new RangeError(`encodeIdx: ${data.length} bytes for dims ${dims.join('x')} (${expected})`);
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  out[2] = UNSIGNED_BYTE;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}
