import { describe, expect, it } from 'vitest';
import { npyReader, npyStrings, parseNpy } from '../../src/datasets/npy.js';
import { expectInputError, f32, npyBytes, ucs4 } from '../helpers/datasetFiles.js';

function withHeader(header: string, data: Uint8Array, version = 1): Buffer {
  const prefix = version === 1 ? 10 : 12;
  const head = Buffer.alloc(prefix);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]).copy(head);
  const text = Buffer.from(header + '\n', version === 3 ? 'utf8' : 'latin1');
  if (version === 1) head.writeUInt16LE(text.length, 8);
  else head.writeUInt32LE(text.length, 8);
  return Buffer.concat([head, text, data]);
}

describe('.npy parser', () => {
  it('reads dtype, shape, order and data of versions 1, 2 and 3', () => {
    for (const version of [1, 2, 3]) {
      const a = parseNpy(withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1), }", f32([0.5, -2]), version), 'a.npy');
      expect(a).toMatchObject({ descr: '<f4', kind: 'f', itemSize: 4, byteOrder: '<', shape: [2, 1], fortranOrder: false });
      const get = npyReader(a, 'a.npy');
      expect([get(0), get(1)]).toEqual([0.5, -2]);
    }
    // Scalars have shape (); '=' is native (little-endian here); double quotes and no trailing comma.
    const s = parseNpy(withHeader('{"descr": "=i4", "shape": (), "fortran_order": True}', Uint8Array.from([7, 0, 0, 0])), 's.npy');
    expect(s).toMatchObject({ shape: [], byteOrder: '<', fortranOrder: true });
    expect(npyReader(s, 's.npy')(0)).toBe(7);
  });

  it('reads unicode and bytes string arrays', () => {
    const u = parseNpy(npyBytes('<U4', [2], ucs4(['ab', '\u00e9t\u00e9!'], 4)), 'u.npy');
    expect(npyStrings(u, 'u.npy')).toEqual(['ab', '\u00e9t\u00e9!']);
    const b = parseNpy(npyBytes('|S3', [2], Uint8Array.from([0x63, 0x61, 0x74, 0x6f, 0x78, 0])), 'b.npy');
    expect(npyStrings(b, 'b.npy')).toEqual(['cat', 'ox']);
  });

  it('refuses malformed files in one line naming the file', async () => {
    await expectInputError(() => parseNpy(Buffer.from('\x93NUMPX\x01\x00'), 'x.npy'), 'x.npy: bad magic number');
    await expectInputError(() => parseNpy(withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f32([1]), 1).subarray(0, 9), 'x.npy'), 'x.npy: bad magic number');
    const v4 = withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", f32([1]));
    v4[6] = 4;
    await expectInputError(() => parseNpy(v4, 'x.npy'), 'unsupported .npy version 4.0 (allowed: 1.0, 2.0, 3.0)');
    await expectInputError(() => parseNpy(withHeader("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", f32([1])), 'x.npy'), 'structured dtypes are not');
    await expectInputError(() => parseNpy(withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", f32([1, 2])), 'x.npy'), 'x.npy: truncated data: 8 bytes, shape (3) of <f4 needs 12');
    await expectInputError(() => parseNpy(withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", f32([1, 2])), 'x.npy'), 'over-long data: 8 bytes');
    await expectInputError(() => parseNpy(withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), __import__('os')}", f32([1])), 'x.npy'), 'x.npy: bad header');
    await expectInputError(() => parseNpy(withHeader("{'descr': 'O', 'fortran_order': False, 'shape': (1,), }", f32([1])), 'x.npy'), "dtype 'O' is not supported");
    await expectInputError(() => parseNpy(withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", f32([1])), 'x.npy'), 'shape is [-1], expected a tuple of non-negative integers');
    const big = parseNpy(withHeader("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", f32([1])), 'x.npy');
    await expectInputError(() => npyReader(big, 'x.npy'), "big-endian dtype '>f4' is not supported");
  });
});
