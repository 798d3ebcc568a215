import { inputError } from '../engine/errors.js';

/** A host tensor as both readers (torch .pt, safetensors) return it; `dtype` (when given) must be floating point. */
export interface HostTensor {
  shape: readonly number[];
  data: Float32Array | Int32Array | Uint8Array;
  dtype?: string;
}

const FLOAT_DTYPES = new Set(['float32', 'float64', 'float16', 'bfloat16', 'F32', 'F64', 'F16', 'BF16']);

const fmt = (shape: readonly number[]) => `[${shape.join(', ')}]`;

/**
 * Reads the tensors of a reference state_dict by name, checking shapes and dtypes, and at the end that
 * every tensor was used. Errors are one InputError line naming `where` and, through `archNote`, the
 * architecture the names were expected from.
 */
export class StateDictReader {
  private readonly tensors: Map<string, HostTensor>;
  private readonly used = new Set<string>();

  constructor(
    input: ReadonlyMap<string, HostTensor>,
    private readonly where: string,
    private readonly archNote: string,
  ) {
    // nn.DataParallel prefixes every key with "module.".
    this.tensors = [...input.keys()].every((k) => k.startsWith('module.'))
      ? new Map([...input].map(([k, v]) => [k.slice('module.'.length), v]))
      : new Map(input);
  }

  has(key: string): boolean {
    return this.tensors.has(key);
  }

  /** The float32 data of `key`, whose shape must be one of `shapes` (the first is named in errors). */
  get(key: string, shapes: number[][]): Float32Array {
    const t = this.tensors.get(key);
    if (!t) throw inputError(this.where, `missing tensor "${key}" (the architecture has ${this.archNote}; does it match the checkpoint?)`);
    if (!shapes.some((s) => s.length === t.shape.length && s.every((n, i) => n === t.shape[i])))
      throw inputError(this.where, `tensor "${key}" has shape ${fmt(t.shape)}, expected ${fmt(shapes[0])} (architecture with ${this.archNote})`);
    if ((t.dtype !== undefined && !FLOAT_DTYPES.has(t.dtype)) || !(t.data instanceof Float32Array))
      throw inputError(this.where, `tensor "${key}" has dtype ${t.dtype ?? t.data.constructor.name}, expected floating point`);
    this.used.add(key);
    return t.data;
  }

  /** Checks an optional tied copy: element i of `key` must equal original[map(i)]. */
  checkTied(key: string, of: string, shape: number[], original: Float32Array, map: (i: number) => number = (i) => i): void {
    if (!this.tensors.has(key)) return;
    const copy = this.get(key, [shape]);
    for (let i = 0; i < copy.length; i++) {
      const expected = original[map(i)];
      if (copy[i] !== expected && !(Number.isNaN(copy[i]) && Number.isNaN(expected)))
        throw inputError(this.where, `tensor "${key}" should be a tied copy of "${of}" but differs at flat index ${i}`);
    }
  }

  /** Throws if some tensor of the state_dict was never read. */
  finish(): void {
    const unused = [...this.tensors.keys()].filter((key) => !this.used.has(key));
    if (unused.length > 0)
      throw inputError(
        this.where,
        `unexpected tensors ${unused.slice(0, 5).map((u) => `"${u}"`).join(', ')}${unused.length > 5 ? ` and ${unused.length - 5} more` : ''} ` +
          `(the architecture has ${this.archNote}; does it match the checkpoint?)`,
      );
  }
}

/** PyTorch's OIHW convolution weight [O, I, kh, kw] to TensorFlow's HWIO [kh, kw, I, O]. */
export function oihwToHwio(oihw: Float32Array, O: number, I: number, kh: number, kw: number): Float32Array {
  const hwio = new Float32Array(oihw.length);
  for (let o = 0; o < O; o++)
    for (let i = 0; i < I; i++)
      for (let h = 0; h < kh; h++)
        for (let w = 0; w < kw; w++) hwio[((h * kw + w) * I + i) * O + o] = oihw[((o * I + i) * kh + h) * kw + w];
  return hwio;
}
