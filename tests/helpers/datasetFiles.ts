/**
 * Writers for small dataset files, built from the formats' published descriptions and independent of
 * src/datasets (IDX: LeCun's MNIST page; CIFAR: the "binary version" on Krizhevsky's CIFAR page; NPY:
 * numpy.lib.format; zip: PKWARE APPNOTE local headers + central directory + end record).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateRawSync, crc32 } from 'node:zlib';
import { mulberry32 } from './mulberry32.js';

/** IDX bytes: 0x00 0x00, type byte, ndims byte, big-endian uint32 dims, payload. */
export function idxBytes(dims: number[], payload: ArrayLike<number>, type = 0x08): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = type;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(Array.from(payload))]);
}

/** CIFAR binary records: label byte(s) then 3072 bytes, R plane, G plane, B plane (each 32x32 row-major). */
export function cifarRecords(labels: number[][], pixel: (n: number, ch: number, y: number, x: number) => number): Buffer {
  const size = labels[0].length + 3072;
  const out = Buffer.alloc(labels.length * size);
  labels.forEach((ls, n) => {
    ls.forEach((l, k) => (out[n * size + k] = l));
    for (let ch = 0; ch < 3; ch++)
      for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) out[n * size + ls.length + ch * 1024 + y * 32 + x] = pixel(n, ch, y, x);
  });
  return out;
}

/** An .npy (version 1.0) file: magic, version, u16 header length, dict literal padded to 64 bytes, data. */
export function npyBytes(descr: string, shape: number[], data: Uint8Array, opts: { fortran?: boolean; version?: 1 | 2 } = {}): Buffer {
  const version = opts.version ?? 1;
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': ${opts.fortran ? 'True' : 'False'}, 'shape': ${shapeText}, }`;
  const prefix = version === 1 ? 10 : 12;
  const total = Math.ceil((prefix + header.length + 1) / 64) * 64;
  header = header.padEnd(total - prefix - 1, ' ') + '\n';
  const head = Buffer.alloc(prefix);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]).copy(head);
  if (version === 1) head.writeUInt16LE(header.length, 8);
  else head.writeUInt32LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

/** A zip archive of the given entries, stored (method 0) or deflated (method 8). */
export function zipBytes(entries: { name: string; data: Uint8Array }[], deflate = false): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const body = deflate ? deflateRawSync(e.data) : Buffer.from(e.data);
    const crc = crc32(e.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(deflate ? 8 : 0, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(e.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(deflate ? 8 : 0, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(e.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    centrals.push(central, name);
    offset += 30 + name.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

/** Little-endian bytes of typed values. */
export const f32 = (values: number[]) => new Uint8Array(new Float32Array(values).buffer);
export const i64 = (values: number[]) => new Uint8Array(new BigInt64Array(values.map(BigInt)).buffer);
export const u8 = (values: number[]) => Uint8Array.from(values);
/** numpy '<U{width}': UCS-4 little-endian code points, NUL-padded. */
export function ucs4(values: string[], width: number): Uint8Array {
  const out = new Uint8Array(values.length * width * 4);
  const view = new DataView(out.buffer);
  values.forEach((s, i) => [...s].forEach((ch, k) => view.setUint32((i * width + k) * 4, ch.codePointAt(0)!, true)));
  return out;
}

import { expect } from 'vitest';
import { InputError } from '../../src/engine/errors.js';

/** Runs `fn`, requires a one-line InputError whose message matches every pattern; returns the message. */
export async function expectInputError(fn: () => unknown, ...patterns: (RegExp | string)[]): Promise<string> {
  let caught: unknown;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected an InputError').toBeInstanceOf(InputError);
  const message = (caught as Error).message;
  expect(message).not.toContain('\n');
  for (const p of patterns) typeof p === 'string' ? expect(message).toContain(p) : expect(message).toMatch(p);
  return message;
}

/** A CIFAR-10 binary directory of random images and labels: data_batch_1..5.bin with `perFile` records each, test_batch.bin with `test`. */
export function tinyCifarDir(dir: string, perFile: number, test: number, seed = 15): string {
  mkdirSync(dir, { recursive: true });
  const rand = mulberry32(seed);
  const labels = (n: number) => Array.from({ length: n }, () => [Math.floor(rand() * 10)]);
  for (let i = 1; i <= 5; i++) writeFileSync(join(dir, `data_batch_${i}.bin`), cifarRecords(labels(perFile), () => Math.floor(rand() * 256)));
  writeFileSync(join(dir, 'test_batch.bin'), cifarRecords(labels(test), () => Math.floor(rand() * 256)));
  return dir;
}

