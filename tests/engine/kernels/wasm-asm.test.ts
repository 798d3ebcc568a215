// The minimal WebAssembly encoder (src/engine/kernels/wasm-asm.ts): LEB128 against the examples of the
// DWARF/WebAssembly specifications, and a generated SIMD function that validates and computes on an
// imported memory.
import { describe, expect, it } from 'vitest';
import { encodeModule, FunctionBuilder, I32, sleb, uleb, V128 } from '../../../src/engine/kernels/wasm-asm.js';

describe('wasm encoder', () => {
  it('encodes LEB128 as the specifications do', () => {
    // DWARF 4, sec. 7.6 (figures 22-23) and the WebAssembly spec's example 624485 = e5 8e 26.
    expect(uleb(2)).toEqual([2]);
    expect(uleb(127)).toEqual([127]);
    expect(uleb(128)).toEqual([0x80, 1]);
    expect(uleb(12857)).toEqual([0xb9, 0x64]);
    expect(uleb(624485)).toEqual([0xe5, 0x8e, 0x26]);
    expect(uleb(0xffffffff)).toEqual([0xff, 0xff, 0xff, 0xff, 0x0f]);
    expect(sleb(2)).toEqual([2]);
    expect(sleb(-2)).toEqual([0x7e]);
    expect(sleb(127)).toEqual([0xff, 0]);
    expect(sleb(-127)).toEqual([0x81, 0x7f]);
    expect(sleb(-128)).toEqual([0x80, 0x7f]);
    expect(sleb(-123456)).toEqual([0xc0, 0xbb, 0x78]);
    expect(() => uleb(-1)).toThrow();
    expect(() => sleb(2 ** 31)).toThrow();
  });

  it('builds a module whose SIMD loop computes on the imported memory', () => {
    // axpb(src, dst, n): dst[i..i+3] = 3 * src[i..i+3] - src[i..i+3] * 0.5 + src, for i < n step 4 (floats).
    const f = new FunctionBuilder([I32, I32, I32]);
    const [src, dst, n] = [0, 1, 2];
    const i = f.local(I32), bytes = f.local(I32), v = f.local(V128);
    f.get(n).i32(4).mul().set(bytes);
    f.forLoop(i, bytes, 16, () => {
      f.get(src).get(i).add().v128Load().set(v);
      f.get(dst).get(i).add();
      f.get(v).f32x4Const(3).f32x4Mul().get(v).f32x4Const(0.5).f32x4Mul().f32x4Sub().get(v).f32x4Add();
      f.v128Store();
    });
    const bin = encodeModule([{ name: 'axpb', fn: f }]);
    expect(WebAssembly.validate(bin)).toBe(true);
    const memory = new WebAssembly.Memory({ initial: 1 });
    const run = new WebAssembly.Instance(new WebAssembly.Module(bin), { env: { memory } }).exports.axpb as (a: number, b: number, n: number) => void;
    const heap = new Float32Array(memory.buffer);
    const x = Float32Array.from({ length: 12 }, (_, k) => k - 5.25);
    heap.set(x, 4);
    heap.fill(-7, 64, 80);
    run(16, 256, 12);
    expect([...heap.subarray(64, 76)]).toEqual([...x].map((t) => Math.fround(Math.fround(Math.fround(3 * t) - Math.fround(0.5 * t)) + t)));
    expect([...heap.subarray(76, 80)]).toEqual([-7, -7, -7, -7]); // nothing written past n
    run(16, 256, 0); // an empty loop runs nothing
    expect(heap[64]).toBe(Math.fround(Math.fround(Math.fround(3 * x[0]) - Math.fround(0.5 * x[0])) + x[0]));
  });

  it('compares and selects lanes as the SIMD specification defines (gt, lt, and, andnot, bitselect, all ones), divides i32 unsigned', () => {
    // lanes(a, b, out, n): out[0..4) = a > b ? a : b; out[4..8) = (a < b) & 1.0; out[8..12) = !(a > b) & 1.0;
    // then 2.5 into out[12..) for n / 2 bytes (unsigned), one vector at a time.
    const f = new FunctionBuilder([I32, I32, I32, I32]);
    const [a, b, out, n] = [0, 1, 2, 3];
    const va = f.local(V128), vb = f.local(V128), g = f.local(V128), half = f.local(I32), i = f.local(I32);
    f.get(a).v128Load().set(va);
    f.get(b).v128Load().set(vb);
    f.get(va).get(vb).f32x4Gt().set(g);
    f.get(out).get(va).get(vb).get(g).v128Bitselect().v128Store();
    f.get(out).get(va).get(vb).f32x4Lt().f32x4Const(1).v128And().v128Store(16);
    f.get(out).v128AllOnes().get(g).v128AndNot().f32x4Const(1).v128And().v128Store(32);
    f.get(n).i32(2).divU().set(half);
    f.forLoop(i, half, 16, () => {
      f.get(out).get(i).add().f32x4Const(2.5).v128Store(48);
    });
    const bin = encodeModule([{ name: 'lanes', fn: f }]);
    expect(WebAssembly.validate(bin)).toBe(true);
    const memory = new WebAssembly.Memory({ initial: 1 });
    const run = new WebAssembly.Instance(new WebAssembly.Module(bin), { env: { memory } }).exports.lanes as (a: number, b: number, out: number, n: number) => void;
    const heap = new Float32Array(memory.buffer);
    heap.set([1, -0, NaN, 3], 0);
    heap.set([2, 0, 1, 3], 4);
    heap.fill(-7, 64, 84);
    run(0, 16, 256, 32);
    const got = [...heap.subarray(64, 84)];
    // a > b picks a only where strictly greater (NaN compares false; -0 > 0 is false: b's +0 is kept).
    expect(got.slice(0, 4).map((v) => (Object.is(v, -0) ? '-0' : String(v)))).toEqual(['2', '0', '1', '3']);
    expect(got.slice(4, 8)).toEqual([1, 0, 0, 0]);
    expect(got.slice(8, 12)).toEqual([1, 1, 1, 1]);
    expect(got.slice(12, 20)).toEqual([2.5, 2.5, 2.5, 2.5, -7, -7, -7, -7]); // 32 / 2 = 16 bytes: one vector
    // Unsigned: -8 is 2^32 - 8, half of it ~2 GiB of stores, which trap past the 64 KiB memory (div_s would
    // give -4 and store nothing).
    expect(() => run(0, 16, 256, -8)).toThrow(WebAssembly.RuntimeError);
  });
});

