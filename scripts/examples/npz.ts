/**
 * A minimal .npz writer for the example datasets: a zip archive (PKWARE APPNOTE: local file headers,
 * central directory, end record; entries stored, method 0) of .npy version 1.0 files (numpy.lib.format:
 * magic "\x93NUMPY", version, little-endian u16 header length, a Python dict literal padded with spaces
 * to a multiple of 64 bytes and ending in "\n", then the C-order data), as `np.savez` writes.
 */
import { crc32 } from 'node:zlib';

/** One array: numpy dtype string (`|u1`, `<i8`, `<f4`, `<U12`), shape, and its little-endian C-order bytes. */
export interface NpyArray {
  descr: string;
  shape: number[];
  data: Uint8Array;
}

/** The bytes of an .npy (version 1.0) file holding `a`. */
export function npyFile(a: NpyArray): Buffer {
  const shape = a.shape.length === 1 ? `(${a.shape[0]},)` : `(${a.shape.join(', ')})`;
  const dict = `{'descr': '${a.descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
  const header = dict.padEnd(total - 10 - 1, ' ') + '\n';
  const head = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0, 0]);
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength)]);
}

/** The bytes of an .npz archive with one `<name>.npy` entry per array (stored, uncompressed). */
export function npzFile(arrays: Record<string, NpyArray>): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [key, array] of Object.entries(arrays)) {
    const name = Buffer.from(`${key}.npy`, 'utf8');
    const body = npyFile(array);
    if (body.length >= 2 ** 32) throw new Error(`npz: array ${key} is too large for a zip without Zip64`);
    const crc = crc32(body);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(body.length, 22);
    local.writeUInt16LE(name.length, 26);
    const entry = Buffer.alloc(46);
    entry.writeUInt32LE(0x02014b50, 0);
    entry.writeUInt16LE(20, 4); // version made by
    entry.writeUInt16LE(20, 6); // version needed
    entry.writeUInt32LE(crc, 16);
    entry.writeUInt32LE(body.length, 20);
    entry.writeUInt32LE(body.length, 24);
    entry.writeUInt16LE(name.length, 28);
    entry.writeUInt32LE(offset, 42);
    parts.push(local, name, body);
    central.push(entry, name);
    offset += local.length + name.length + body.length;
  }
  const directory = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(central.length / 2, 8);
  end.writeUInt16LE(central.length / 2, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, directory, end]);
}

/** Little-endian int64 bytes of integer values. */
export const int64Bytes = (values: ArrayLike<number>) => new Uint8Array(BigInt64Array.from(Array.from(values), (v) => BigInt(v)).buffer);

/** numpy `<U{width}` bytes (UCS-4 little-endian code points, NUL-padded) of strings, and the width used. */
export function unicodeArray(values: readonly string[]): NpyArray {
  const width = Math.max(1, ...values.map((s) => [...s].length));
  const data = new Uint8Array(values.length * width * 4);
  const view = new DataView(data.buffer);
  values.forEach((s, i) => [...s].forEach((ch, k) => view.setUint32((i * width + k) * 4, ch.codePointAt(0)!, true)));
  return { descr: `<U${width}`, shape: [values.length], data };
}
