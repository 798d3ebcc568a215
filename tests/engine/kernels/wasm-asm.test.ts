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
});
