// Kernels the wasm backend lacks, run on the cpu backend.
// Why: TensorFlow.js 4.22's wasm backend registers 157 kernels, its cpu backend 172; a user's model (or
// its gradient) that needs one of the missing ones (Conv2DBackpropFilter, UnsortedSegmentSum for the
// gradient of a gather, Einsum, ...) throws "Kernel 'X' not registered for backend 'wasm'". Each
// fallback kernel copies its inputs from the wasm heap to the cpu backend, runs the cpu kernel with the
// same attributes, copies the outputs back and frees the cpu copies. It is correct but slow (two copies
// and a plain-JavaScript kernel), so the first call of each kernel prints one warning on stderr, and
// `cpuFallbacksRun()` lists the kernels that took this path (perf's kernel profile, tests).
import { tf } from '../tf.js';

/** What a kernel receives and returns: a tensor's handle on its backend, without the Tensor wrapper. */
export interface TensorInfo {
  dataId: object;
  shape: number[];
  dtype: tf.DataType;
}

interface DataBackend {
  readSync(dataId: object): unknown;
  write(values: unknown, shape: number[], dtype: tf.DataType): object;
  disposeData(dataId: object, force?: boolean): boolean;
}

/**
 * Kernels never given a fallback: their inputs or outputs are complex64 (the wasm backend cannot hold
 * complex tensors), or they draw on a canvas.
 */
export const NO_FALLBACK: ReadonlySet<string> = new Set(['Complex', 'ComplexAbs', 'FFT', 'IFFT', 'Real', 'Imag', 'Draw']);

const ran = new Map<string, number>();
let registered: string[] | null = null;
let warn: (line: string) => void = (line) => void process.stderr.write(`${line}\n`);

/** Where the once-per-kernel warning goes (default: a line on stderr). Returns the previous writer. */
export function setCpuFallbackWarning(writer: (line: string) => void): (line: string) => void {
  const previous = warn;
  warn = writer;
  return previous;
}

/** Copies `values` into an array of the layout the backends store for `dtype` (float32, int32, bool as bytes). */
function asStored(values: unknown, dtype: tf.DataType): unknown {
  if (dtype === 'string') return values;
  const want = dtype === 'int32' ? Int32Array : dtype === 'bool' ? Uint8Array : Float32Array;
  if (values instanceof want) return values;
  if (values instanceof ArrayBuffer) return new want(values);
  return want.from(values as ArrayLike<number>);
}

function cpuBackend(): DataBackend {
  const cpu = tf.findBackend('cpu') as unknown as DataBackend | null;
  if (!cpu) throw new Error('cpu fallback: the cpu backend is not available');
  return cpu;
}

/**
 * Runs kernel `kernelName` of the cpu backend on tensors of another backend (`args.backend`, normally
 * wasm): inputs are copied to the cpu backend, attributes passed unchanged, outputs copied back as new
 * tensors of `args.backend`. Throws for complex64 tensors. Warns once per kernel name (see
 * setCpuFallbackWarning) and counts the call for cpuFallbacksRun().
 */
export function runOnCpu(kernelName: string, args: { inputs: Record<string, TensorInfo | undefined> | TensorInfo[]; backend: unknown; attrs?: unknown }): TensorInfo | TensorInfo[] {
  const kernel = tf.getKernel(kernelName, 'cpu');
  if (!kernel) throw new Error(`cpu fallback: the cpu backend has no kernel ${kernelName}`);
  const target = args.backend as DataBackend;
  const cpu = cpuBackend();
  const owned: object[] = [];
  try {
    const toCpu = (t: TensorInfo, name: string): TensorInfo => {
      if (t.dtype === 'complex64') throw new Error(`cpu fallback for ${kernelName}: complex64 input ${name} is not supported`);
      const dataId = cpu.write(asStored(target.readSync(t.dataId), t.dtype), t.shape, t.dtype);
      owned.push(dataId);
      return { dataId, shape: t.shape, dtype: t.dtype };
    };
    // Variadic kernels (Einsum, Concat, AddN, ...) take an array of inputs, the others a named map.
    const cpuInputs = Array.isArray(args.inputs)
      ? (args.inputs as TensorInfo[]).map((t, i) => toCpu(t, String(i)))
      : Object.fromEntries(Object.entries(args.inputs).filter(([, t]) => t != null).map(([name, t]) => [name, toCpu(t!, name)]));
    const result = kernel.kernelFunc({ inputs: cpuInputs, backend: cpu, attrs: args.attrs } as unknown as Parameters<typeof kernel.kernelFunc>[0]) as unknown as TensorInfo | TensorInfo[];
    const outputs = Array.isArray(result) ? result : [result];
    for (const o of outputs) owned.push(o.dataId);
    const copied = outputs.map((o) => {
      if (o.dtype === 'complex64') throw new Error(`cpu fallback for ${kernelName}: complex64 output is not supported`);
      return { dataId: target.write(asStored(cpu.readSync(o.dataId), o.dtype), o.shape, o.dtype), shape: o.shape, dtype: o.dtype };
    });
    if (!ran.has(kernelName)) warn(`warning: kernel ${kernelName} has no wasm implementation; running it on the cpu backend (slow)`);
    ran.set(kernelName, (ran.get(kernelName) ?? 0) + 1);
    return Array.isArray(result) ? copied : copied[0];
  } finally {
    // A cpu kernel may return one of its inputs' buffers: free every buffer once.
    for (const id of new Set(owned)) cpu.disposeData(id, true);
  }
}

/**
 * For every kernel the cpu backend registers and `backendName` (default wasm) does not, registers a
 * kernel on `backendName` that runs the cpu one through runOnCpu (NO_FALLBACK excepted). Call after the
 * backend's own and our kernels are registered. Idempotent; returns the kernel names it registered.
 */
export function registerCpuFallbacks(backendName = 'wasm'): string[] {
  if (registered) return [...registered];
  const have = new Set(tf.getKernelsForBackend(backendName).map((k) => k.kernelName));
  registered = [];
  for (const { kernelName } of tf.getKernelsForBackend('cpu')) {
    if (have.has(kernelName) || NO_FALLBACK.has(kernelName)) continue;
    tf.registerKernel({ kernelName, backendName, kernelFunc: (args) => runOnCpu(kernelName, args as never) as never });
    registered.push(kernelName);
  }
  return [...registered];
}

/** The kernels registered by registerCpuFallbacks (empty before it ran). */
export function cpuFallbackKernels(): string[] {
  return registered ? [...registered] : [];
}

/** Kernels that ran on the cpu backend through runOnCpu since the start (or the last reset), with call counts. */
export function cpuFallbacksRun(): { kernel: string; calls: number }[] {
  return [...ran].map(([kernel, calls]) => ({ kernel, calls })).sort((a, b) => a.kernel.localeCompare(b.kernel));
}

/** Forgets which fallbacks ran, so the next call of each warns again (tests, per-measurement profiles). */
export function resetCpuFallbacksRun(): void {
  ran.clear();
}
