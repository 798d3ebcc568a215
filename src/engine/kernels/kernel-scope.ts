// Composes a kernel out of other kernels of the same backend, as TensorFlow.js's own kernels do: each
// step calls a registered kernel function directly on TensorInfos (no Tensor objects, no tape, no
// engine bookkeeping), and every intermediate buffer is released when the composite kernel returns.
import { tf } from '../tf.js';
import type { TensorInfo } from './cpu-fallback.js';

interface RefCountedBackend {
  disposeData(dataId: object, force?: boolean): boolean;
}

export class KernelScope {
  private readonly intermediates: TensorInfo[] = [];

  constructor(readonly backend: unknown, readonly backendName: string) {}

  /** Runs kernel `name` of this backend; its output is freed at close() unless returned by keep(). */
  run(name: string, inputs: Record<string, TensorInfo>, attrs: object = {}): TensorInfo {
    const kernel = tf.getKernel(name, this.backendName);
    if (!kernel) throw new Error(`kernel ${name} is not registered for backend ${this.backendName}`);
    const out = kernel.kernelFunc({ inputs, backend: this.backend, attrs } as unknown as Parameters<typeof kernel.kernelFunc>[0]) as unknown as TensorInfo;
    this.intermediates.push(out);
    return out;
  }

  /** Frees `t` at close() unless returned by keep() (an output made outside run()). */
  track(t: TensorInfo): TensorInfo {
    this.intermediates.push(t);
    return t;
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run('Transpose', { x }, { perm });
  }

  /**
   * Pads (positive) or crops (negative) each axis by [before, after]: one Pad for the positive parts,
   * then one Slice for the negative ones. Returns x itself when every amount is 0.
   */
  padOrCrop(x: TensorInfo, amounts: [number, number][]): TensorInfo {
    let out = x;
    if (amounts.some(([a, b]) => a > 0 || b > 0))
      out = this.run('PadV2', { x: out }, { paddings: amounts.map(([a, b]) => [Math.max(0, a), Math.max(0, b)]), constantValue: 0 });
    if (amounts.some(([a, b]) => a < 0 || b < 0)) {
      const begin = amounts.map(([a]) => Math.max(0, -a));
      const size = out.shape.map((d, i) => d - begin[i] - Math.max(0, -amounts[i][1]));
      out = this.run('Slice', { x: out }, { begin, size });
    }
    return out;
  }

  /**
   * Inserts s-1 zeros after every element along axes 1 and 2 of an NHWC tensor (the "dilated" output
   * gradient of a strided convolution): [N,H,W,C] -> [N,H*sh,W*sw,C], element (h,w) at (h*sh, w*sw).
   */
  zeroInsert(x: TensorInfo, sh: number, sw: number): TensorInfo {
    if (sh === 1 && sw === 1) return x;
    const [n, h, w, c] = x.shape;
    const six = this.reshape(x, [n, h, 1, w, 1, c]);
    const padded = this.run('PadV2', { x: six }, { paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]], constantValue: 0 });
    return this.reshape(padded, [n, h * sh, w * sw, c]);
  }

  /** Frees the intermediate `t` now (it must not be used afterwards): keeps a long composite's peak memory down. */
  release(t: TensorInfo): void {
    const i = this.intermediates.lastIndexOf(t);
    if (i < 0) return;
    this.intermediates.splice(i, 1);
    (this.backend as RefCountedBackend).disposeData(t.dataId);
  }

  /** Marks `out` as the composite kernel's result: it is not freed by close(). */
  keep(out: TensorInfo): TensorInfo {
    const i = this.intermediates.lastIndexOf(out);
    if (i >= 0) this.intermediates.splice(i, 1);
    return out;
  }

  /** Frees every intermediate not kept (by reference count: reshapes share their input's buffer). */
  close(): void {
    const b = this.backend as RefCountedBackend;
    for (const t of this.intermediates) b.disposeData(t.dataId);
    this.intermediates.length = 0;
  }
}

/** Runs `body` in a KernelScope and returns its kept result, freeing the rest even when it throws. */
export function composite(backend: unknown, backendName: string, body: (s: KernelScope) => TensorInfo): TensorInfo {
  const scope = new KernelScope(backend, backendName);
  try {
    return scope.keep(body(scope));
  } finally {
    scope.close();
  }
}
