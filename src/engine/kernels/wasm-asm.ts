// A minimal WebAssembly binary encoder for small generated kernels that run on the wasm backend's own
// heap (an imported memory), with 128-bit SIMD. Only what the generated kernels use: i32 arithmetic and
// control flow, v128 loads/stores and f32x4 arithmetic. Encoding per the WebAssembly core specification
// 2.0 (sec. 5, "Binary Format") and its fixed-width SIMD proposal (opcodes 0xFD prefix).

/** Value types (spec 5.3.1). */
export const I32 = 0x7f;
export const V128 = 0x7b;

/** Unsigned LEB128 of a non-negative integer below 2^32. */
export function uleb(n: number): number[] {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`uleb: ${n} is not a u32`);
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n = Math.floor(n / 128);
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 of an integer in [-2^31, 2^31). */
export function sleb(n: number): number[] {
  if (!Number.isInteger(n) || n < -0x80000000 || n > 0x7fffffff) throw new Error(`sleb: ${n} is not an i32`);
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    const done = (n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

function bytesOf(s: string): number[] {
  const b = [...new TextEncoder().encode(s)];
  return [...uleb(b.length), ...b];
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

/**
 * The instruction stream of one function body. Locals are numbered parameters first (as in the spec);
 * `local(type)` adds one and returns its index.
 */
export class FunctionBuilder {
  readonly code: number[] = [];
  private readonly extra: number[] = [];

  constructor(readonly params: number[]) {}

  local(type: number): number {
    this.extra.push(type);
    return this.params.length + this.extra.length - 1;
  }

  get(i: number): this { this.code.push(0x20, ...uleb(i)); return this; }
  set(i: number): this { this.code.push(0x21, ...uleb(i)); return this; }
  tee(i: number): this { this.code.push(0x22, ...uleb(i)); return this; }
  i32(n: number): this { this.code.push(0x41, ...sleb(n | 0)); return this; }
  add(): this { this.code.push(0x6a); return this; }
  sub(): this { this.code.push(0x6b); return this; }
  mul(): this { this.code.push(0x6c); return this; }
  /** i32.div_u: unsigned a / b, rounded down. */
  divU(): this { this.code.push(0x6e); return this; }
  /** i32.lt_u: unsigned a < b (a negative index compares as huge, i.e. out of range). */
  ltU(): this { this.code.push(0x49); return this; }
  and(): this { this.code.push(0x71); return this; }
  eqz(): this { this.code.push(0x45); return this; }
  /** select: a if c != 0 else b, for operands a b c on the stack. */
  select(): this { this.code.push(0x1b); return this; }
  /** i32.load (4-byte aligned) at the address on the stack plus `offset`. */
  loadI32(offset = 0): this { this.code.push(0x28, 2, ...uleb(offset)); return this; }
  block(): this { this.code.push(0x02, 0x40); return this; }
  loop(): this { this.code.push(0x03, 0x40); return this; }
  end(): this { this.code.push(0x0b); return this; }
  br(depth: number): this { this.code.push(0x0c, ...uleb(depth)); return this; }
  brIf(depth: number): this { this.code.push(0x0d, ...uleb(depth)); return this; }
  private simd(op: number, ...imm: number[]): this { this.code.push(0xfd, ...uleb(op), ...imm); return this; }
  /** v128.load at the address on the stack plus `offset` (alignment hint 16 bytes). */
  v128Load(offset = 0): this { return this.simd(0x00, 4, ...uleb(offset)); }
  /** v128.store of (address, value) on the stack, at address plus `offset`. */
  v128Store(offset = 0): this { return this.simd(0x0b, 4, ...uleb(offset)); }
  /** v128.const with four float32 lanes equal to `value`. */
  f32x4Const(value: number): this {
    const b = new Uint8Array(16);
    const v = new DataView(b.buffer);
    for (let i = 0; i < 4; i++) v.setFloat32(4 * i, value, true);
    return this.simd(0x0c, ...b);
  }
  /** f32x4.gt: lanes all ones where a > b (false for NaN), else zero. */
  f32x4Gt(): this { return this.simd(0x44); }
  /** f32x4.lt: lanes all ones where a < b (false for NaN), else zero. */
  f32x4Lt(): this { return this.simd(0x43); }
  /** v128.and of the two vectors on the stack. */
  v128And(): this { return this.simd(0x4e); }
  /** v128.andnot: a & ~b for (a, b) on the stack. */
  v128AndNot(): this { return this.simd(0x4f); }
  /** v128.bitselect: (a & c) | (b & ~c) for (a, b, c) on the stack. */
  v128Bitselect(): this { return this.simd(0x52); }
  /** v128.const with all bits set (a lane mask that is true everywhere). */
  v128AllOnes(): this { return this.simd(0x0c, ...new Array<number>(16).fill(0xff)); }
  f32x4Neg(): this { return this.simd(0xe1); }
  f32x4Add(): this { return this.simd(0xe4); }
  f32x4Sub(): this { return this.simd(0xe5); }
  f32x4Mul(): this { return this.simd(0xe6); }
  f32x4Div(): this { return this.simd(0xe7); }

  /**
   * `for (counter = 0; counter < limit; counter += step) body()`, limit a local; runs nothing when
   * limit <= 0 (signed). The counter is a local owned by the caller.
   */
  forLoop(counter: number, limit: number, step: number, body: () => void): this {
    this.i32(0).set(counter);
    this.block();
    // if !(counter < limit) exit (signed compare: i32.lt_s 0x48)
    this.get(counter).get(limit);
    this.code.push(0x48);
    this.eqz().brIf(0);
    this.loop();
    body();
    this.get(counter).i32(step).add().tee(counter).get(limit);
    this.code.push(0x48);
    this.brIf(0);
    this.end().end();
    return this;
  }

  /** The encoded body: locals declaration, code, end. */
  encode(): number[] {
    const groups: number[][] = [];
    for (const t of this.extra) {
      const last = groups[groups.length - 1];
      if (last && last[1] === t) last[0]++;
      else groups.push([1, t]);
    }
    const body = [...uleb(groups.length), ...groups.flatMap(([n, t]) => [...uleb(n), t]), ...this.code, 0x0b];
    return [...uleb(body.length), ...body];
  }
}

/**
 * A module importing one memory as env.memory (no maximum) and exporting the given functions, each
 * returning nothing. Returns the binary.
 */
export function encodeModule(functions: { name: string; fn: FunctionBuilder }[]): Uint8Array<ArrayBuffer> {
  const section = (id: number, content: number[]) => [id, ...uleb(content.length), ...content];
  const types = functions.map(({ fn }) => [0x60, ...uleb(fn.params.length), ...fn.params, 0]);
  const imports = [[...bytesOf('env'), ...bytesOf('memory'), 0x02, 0x00, ...uleb(1)]];
  const funcs = functions.map((_, i) => uleb(i));
  const exports = functions.map(({ name }, i) => [...bytesOf(name), 0x00, ...uleb(i)]);
  const codes = functions.map(({ fn }) => fn.encode());
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...section(2, vec(imports)),
    ...section(3, vec(funcs)),
    ...section(7, vec(exports)),
    ...section(10, vec(codes)),
  ]);
}
