import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { InputError } from '../../src/engine/errors.js';
import { parseIdx, readIdx, readIdxSync } from '../../src/data/idx.js';

/**
 * Builds IDX bytes by hand from the format description (LeCun, "FILE FORMATS FOR THE MNIST DATABASE"):
 * 0x00 0x00, type byte, ndims byte, big-endian uint32 dims, payload. Independent of src/data/idx.ts.
 */
function idxBytes(type: number, dims: number[], payload: number[] | Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = type;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(payload)]);
}

const pixels = Array.from({ length: 2 * 3 * 4 }, (_, i) => (i * 37) % 256);

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'idx-test-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

/** Runs `fn`, requires an InputError whose single-line message names `where` and matches `pattern`. */
async function expectInputError(fn: () => unknown, where: string, pattern: RegExp): Promise<string> {
  let caught: unknown;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(InputError);
  const message = (caught as Error).message;
  expect(message.startsWith(`${where}: `)).toBe(true);
  expect(message).not.toContain('\n');
  expect(message).toMatch(pattern);
  return message;
}

describe('IDX reader: well-formed files', () => {
  it('reads a raw 3-d unsigned-byte file: dims and row-major payload', async () => {
    const path = write('ok-raw', idxBytes(0x08, [2, 3, 4], pixels));
    const idx = await readIdx(path);
    expect(idx.dims).toEqual([2, 3, 4]);
    expect(Array.from(idx.data)).toEqual(pixels);
  });

  it('reads the same file gzip-compressed, detected by content not by name', async () => {
    const path = write('ok-gzip-without-gz-suffix', gzipSync(idxBytes(0x08, [2, 3, 4], pixels)));
    const idx = readIdxSync(path, { ndims: 3 });
    expect(idx.dims).toEqual([2, 3, 4]);
    expect(Array.from(idx.data)).toEqual(pixels);
  });

  it('reads a 1-d label file', () => {
    const idx = parseIdx(idxBytes(0x08, [5], [9, 2, 1, 1, 6]), 'labels', { ndims: 1 });
    expect(idx.dims).toEqual([5]);
    expect(Array.from(idx.data)).toEqual([9, 2, 1, 1, 6]);
  });
});

describe('IDX reader: malformed files are InputErrors naming the file', () => {
  it('bad magic number (signed-byte type 0x09)', async () => {
    const path = write('bad-type.gz', gzipSync(idxBytes(0x09, [2, 3, 4], pixels)));
    const msg = await expectInputError(() => readIdx(path), path, /bad magic number 0x00000903/);
    expect(msg).toMatch(/expected 0x00000803 \(images\) or 0x00000801 \(labels\)/);
  });

  it('bad magic number (not an IDX file at all)', async () => {
    const path = write('png-ish', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0]));
    await expectInputError(() => readIdx(path, { ndims: 3 }), path, /bad magic number 0x89504e47.*expected 0x00000803 \(images\)/);
  });

  it('wrong number of dimensions (a label file where images are expected)', async () => {
    const path = write('labels-as-images', idxBytes(0x08, [24], pixels));
    await expectInputError(() => readIdx(path, { ndims: 3 }), path, /wrong number of dimensions: 1.*expected 3/);
  });

  it('zero dimensions and a zero-sized dimension', async () => {
    await expectInputError(() => parseIdx(idxBytes(0x08, [], []), 'zero-d'), 'zero-d', /zero dimensions/);
    await expectInputError(() => parseIdx(idxBytes(0x08, [0, 28, 28], []), 'empty-dim'), 'empty-dim', /dimension 0 has size 0/);
  });

  it('truncated payload', async () => {
    const path = write('truncated.gz', gzipSync(idxBytes(0x08, [2, 3, 4], pixels.slice(0, 20))));
    await expectInputError(() => readIdx(path), path, /truncated payload: 20 bytes.*expected 24 \(2 x 3 x 4\)/);
  });

  it('truncated header', async () => {
    const full = idxBytes(0x08, [2, 3, 4], pixels);
    await expectInputError(() => parseIdx(full.subarray(0, 10), 'short'), 'short', /truncated header/);
  });

  it('over-long payload', async () => {
    const path = write('overlong', idxBytes(0x08, [2, 3, 4], [...pixels, 1, 2, 3]));
    await expectInputError(() => readIdx(path), path, /over-long payload: 27 bytes.*expected 24/);
  });

  it('corrupted gzip: flipped bytes in the deflate stream and a cut-off stream', async () => {
    const gz = gzipSync(idxBytes(0x08, [2, 3, 4], pixels));
    const flipped = Buffer.from(gz);
    for (let i = 12; i < flipped.length - 8; i++) flipped[i] ^= 0xa5;
    const p1 = write('flipped.gz', flipped);
    await expectInputError(() => readIdx(p1), p1, /corrupted gzip/);
    const p2 = write('cut.gz', gz.subarray(0, gz.length - 10));
    await expectInputError(() => readIdx(p2), p2, /corrupted gzip/);
  });

  it('empty file', async () => {
    const path = write('empty', new Uint8Array(0));
    await expectInputError(() => readIdx(path), path, /empty file/);
  });

  it('missing file', async () => {
    const path = join(dir, 'does-not-exist.gz');
    await expectInputError(() => readIdx(path), path, /file not found/);
    await expectInputError(() => readIdxSync(path), path, /file not found/);
  });
});
