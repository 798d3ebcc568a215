// Identity and same-dtype Cast on wasm without a copy.
// Why: while a gradient tape records, TensorFlow.js saves every kernel input a gradient needs through
// its Identity kernel, and many gradients cast float32 tensors to float32. The cpu backend answers both
// by sharing the input's buffer (reference counted); the wasm backend of 4.22 copies every time. In one
// CNN-F end-to-end attack step at batch 100 that was 262 Identity and 115 Cast calls, ~7% of the
// step's kernel time (scripts/perf.ts profile). Tensors are immutable, and wasm kernels always write to
// a fresh output, so sharing is safe; wasm's own Reshape kernel shares buffers the same way.
import { tf } from '../tf.js';

interface RefCountingBackend {
  incRef(dataId: object): void;
}
type Info = { dataId: object; shape: number[]; dtype: tf.DataType };

let originals: { identity: tf.KernelConfig; cast: tf.KernelConfig } | null = null;

function share(x: Info, backend: unknown): Info {
  (backend as RefCountingBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** Replaces wasm's copying Identity and Cast (same dtype only) kernels. Idempotent; no-op without wasm. */
export function registerSharedIdentity(): void {
  if (originals) return;
  const identity = tf.getKernel('Identity', 'wasm');
  const cast = tf.getKernel('Cast', 'wasm');
  if (!identity || !cast) return;
  originals = { identity, cast };
  const { identity: id0, cast: cast0 } = originals;
  tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({
    ...id0,
    kernelFunc: (args) => {
      const x = args.inputs.x as unknown as Info;
      return x.dtype === 'string' ? id0.kernelFunc(args) : share(x, args.backend);
    },
  });
  tf.unregisterKernel('Cast', 'wasm');
  tf.registerKernel({
    ...cast0,
    kernelFunc: (args) => {
      const x = args.inputs.x as unknown as Info;
      const dtype = (args.attrs as { dtype?: tf.DataType } | undefined)?.dtype;
      return dtype === x.dtype && dtype !== 'string' ? share(x, args.backend) : cast0.kernelFunc(args);
    },
  });
}

/** Puts wasm's own kernels back (benchmarks). Idempotent. */
export function unregisterSharedIdentity(): void {
  if (!originals) return;
  tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel(originals.identity);
  tf.unregisterKernel('Cast', 'wasm');
  tf.registerKernel(originals.cast);
  originals = null;
}

export function sharedIdentityRegistered(): boolean {
  return originals !== null;
}
