import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/engine/errors.js';
import { encodeSafetensors, parseSafetensors, readSafetensors } from '../../src/models/safetensors.js';

const FIXTURES = join(import.meta.dirname, '../fixtures/cnnf-reference');

/** A safetensors file built by hand: u64 LE header length, JSON header, data. */
function handmade(header: unknown, data: Uint8Array, declaredLength?: bigint): Uint8Array {
  const json = Buffer.from(JSON.stringify(header));
  const out = Buffer.alloc(8 + json.length + data.length);
  out.writeBigUInt64LE(declaredLength ?? BigInt(json.length), 0);
  json.copy(out, 8);
  Buffer.from(data).copy(out, 8 + json.length);
  return new Uint8Array(out);
}

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return (err as Error).message;
  }
  throw new Error('expected an InputError');
}

describe('reading', () => {
  it('decodes F32, F64, I32, I64, U8 and metadata from a hand-built file', () => {
    const data = Buffer.alloc(8 + 16 + 8 + 16 + 3);
    data.writeFloatLE(1.5, 0);
    data.writeFloatLE(-0.25, 4);
    data.writeDoubleLE(3.25, 8);
    data.writeDoubleLE(-1e-3, 16);
    data.writeInt32LE(-5, 24);
    data.writeInt32LE(2147483647, 28);
    data.writeBigInt64LE(-7n, 32);
    data.writeBigInt64LE(42n, 40);
    data.set([0, 128, 255], 48);
    const file = handmade(
      {
        __metadata__: { producer: 'hand' },
        a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
        b: { dtype: 'F64', shape: [2, 1], data_offsets: [8, 24] },
        c: { dtype: 'I32', shape: [2], data_offsets: [24, 32] },
        d: { dtype: 'I64', shape: [2], data_offsets: [32, 48] },
        e: { dtype: 'U8', shape: [3], data_offsets: [48, 51] },
      },
      data,
    );
    const { tensors, metadata } = parseSafetensors(file, 'hand.safetensors');
    expect(metadata).toEqual({ producer: 'hand' });
    expect([...tensors.keys()]).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(tensors.get('a')!.data).toEqual(Float32Array.from([1.5, -0.25]));
    expect(tensors.get('b')!.data).toEqual(Float32Array.from([3.25, -1e-3]));
    expect(tensors.get('b')!.shape).toEqual([2, 1]);
    expect(tensors.get('c')!.data).toEqual(Int32Array.from([-5, 2147483647]));
    expect(tensors.get('d')!.data).toEqual(Int32Array.from([-7, 42]));
    expect(tensors.get('e')!.data).toEqual(Uint8Array.from([0, 128, 255]));
  });

  it('reads the reference cases: labels and normalised pixels agree with the raw uint8 pixels', async () => {
    const { tensors } = await readSafetensors(join(FIXTURES, 'cnn_feedforward/cases.safetensors'));
    // The first 16 Fashion-MNIST test labels (t10k-labels-idx1-ubyte).
    expect([...tensors.get('y')!.data]).toEqual([9, 2, 1, 1, 6, 1, 4, 6, 5, 7, 4, 5, 7, 3, 4, 1]);
    const x = tensors.get('x')!.data as Float32Array;
    const raw = tensors.get('x_uint8')!.data as Uint8Array;
    expect(x.length).toBe(raw.length);
    for (let i = 0; i < x.length; i++) expect(Math.abs(x[i] - (raw[i] / 255 - 0.5) / 0.5)).toBeLessThan(1e-6);
  });
});

describe('writing', () => {
  it('round-trips F32, I32 and U8 with an 8-byte aligned data section', () => {
    const bytes = encodeSafetensors(
      [
        ['w', { shape: [2, 2], data: Float32Array.from([1, -2, 3.5, Number.MIN_VALUE]) }],
        ['i', { shape: [3], data: Int32Array.from([-1, 0, 7]) }],
        ['u', { shape: [1], data: Uint8Array.from([9]) }],
      ],
      { note: 'x' },
    );
    const view = Buffer.from(bytes);
    const n = Number(view.readBigUInt64LE(0));
    expect((8 + n) % 8).toBe(0);
    const header = JSON.parse(view.subarray(8, 8 + n).toString());
    expect(header.w).toEqual({ dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] });
    expect(header.i).toEqual({ dtype: 'I32', shape: [3], data_offsets: [16, 28] });
    expect(header.__metadata__).toEqual({ note: 'x' });
    expect(view.readFloatLE(8 + n + 8)).toBe(3.5);
    const back = parseSafetensors(bytes, 'rt.safetensors');
    expect(back.tensors.get('w')!.data).toEqual(Float32Array.from([1, -2, 3.5, Number.MIN_VALUE]));
    expect(back.tensors.get('i')!.data).toEqual(Int32Array.from([-1, 0, 7]));
    expect(back.tensors.get('u')!.data).toEqual(Uint8Array.from([9]));
  });
});

describe('validation', () => {
  const ok = { t: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };

  it('refuses an oversized header before parsing it', async () => {
    expect(errorOf(() => parseSafetensors(handmade(ok, new Uint8Array(8), 1n << 40n), 'big.safetensors'))).toMatch(
      /^big\.safetensors: oversized header/,
    );
    // Declared longer than the file (e.g. a truncated file).
    expect(errorOf(() => parseSafetensors(handmade(ok, new Uint8Array(8), 5000n), 'short.safetensors'))).toMatch(/short\.safetensors: oversized header/);
    // Through the file reader too.
    const dir = await mkdtemp(join(tmpdir(), 'bench-st-'));
    try {
      await writeFile(join(dir, 'x.safetensors'), handmade(ok, new Uint8Array(8), 200n * 1024n * 1024n));
      await expect(readSafetensors(join(dir, 'x.safetensors'))).rejects.toThrow(/x\.safetensors: oversized header/);
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it('names file and tensor for an unknown dtype', () => {
    const msg = errorOf(() => parseSafetensors(handmade({ q: { dtype: 'Q7', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)), 'f.safetensors'));
    expect(msg).toBe('f.safetensors: tensor "q": unknown dtype "Q7" (allowed: F32, F64, F16, BF16, I64, I32, U8, BOOL)');
  });

  it('checks offsets, sizes and overlaps', () => {
    expect(errorOf(() => parseSafetensors(handmade(ok, new Uint8Array(4)), 'cut.safetensors'))).toMatch(
      /cut\.safetensors: tensor "t": data_offsets \[0, 8\] run past the data section \(4 bytes\)/,
    );
    expect(errorOf(() => parseSafetensors(handmade({ t: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)), 's.safetensors'))).toMatch(
      /tensor "t": holds 8 bytes, but shape \[3\] of F32 needs 12/,
    );
    const overlapping = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } };
    expect(errorOf(() => parseSafetensors(handmade(overlapping, new Uint8Array(8)), 'o.safetensors'))).toMatch(/tensor "b": data_offsets overlap those of tensor "a"/);
    expect(errorOf(() => parseSafetensors(handmade({ t: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, new Uint8Array(8)), 'r.safetensors'))).toMatch(/data_offsets must be/);
  });

  it('rejects broken headers and out-of-range I64', () => {
    const garbage = Buffer.alloc(20);
    garbage.writeBigUInt64LE(4n, 0);
    garbage.write('{{{{', 8);
    expect(errorOf(() => parseSafetensors(new Uint8Array(garbage), 'j.safetensors'))).toMatch(/j\.safetensors: header is not valid JSON/);
    expect(errorOf(() => parseSafetensors(new Uint8Array(3), 'tiny.safetensors'))).toMatch(/too short/);
    const big = Buffer.alloc(8);
    big.writeBigInt64LE(1n << 40n);
    expect(errorOf(() => parseSafetensors(handmade({ n: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, big), 'i.safetensors'))).toMatch(
      /i\.safetensors: tensor "n": I64 value 1099511627776 at index 0 does not fit in int32/,
    );
  });
});
