// The parts of TensorFlow.js's wasm backend that our generated kernels (wasm-asm.ts) rely on: its heap,
// exported as a WebAssembly.Memory, and each tensor's byte offset in it. A generated module imports that
// memory (env.memory), so it reads and writes the backend's tensors in place; it is compiled once per
// process and instantiated once per heap.
import { tf } from '../tf.js';
import type { TensorInfo } from './cpu-fallback.js';

/** The members of the wasm backend (tfjs-backend-wasm 4.x) the generated kernels use. */
export interface WasmHeapBackend {
  dataIdMap: { get(id: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  wasm: { asm?: { memory?: WebAssembly.Memory } };
}

/** The backend's heap; throws when this build of the wasm backend does not export it. */
export function heapMemory(b: WasmHeapBackend): WebAssembly.Memory {
  const memory = b.wasm.asm?.memory;
  if (!(memory instanceof WebAssembly.Memory)) throw new Error('wasm backend exposes no heap memory');
  return memory;
}

/** Byte offset of tensor `t`'s data in the heap (0 for an absent optional input). */
export function heapAddress(b: WasmHeapBackend, t: TensorInfo | undefined): number {
  return t ? b.dataIdMap.get(t.dataId).memoryOffset : 0;
}

/** Whether generated kernels can run now: the active backend is wasm and exports its heap. */
export function heapKernelsRun(): boolean {
  return tf.getBackend() === 'wasm' && (tf.backend() as unknown as WasmHeapBackend).wasm.asm?.memory instanceof WebAssembly.Memory;
}

/**
 * The exports of the module `encode()` returns, instantiated on a heap: compiled on first use,
 * instantiated once per memory (a new backend instance has a new heap).
 */
export function heapInstances<K>(encode: () => Uint8Array<ArrayBuffer>): (memory: WebAssembly.Memory) => K {
  let module: WebAssembly.Module | null = null;
  const instances = new WeakMap<WebAssembly.Memory, K>();
  return (memory) => {
    let k = instances.get(memory);
    if (!k) {
      module ??= new WebAssembly.Module(encode());
      k = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as K;
      instances.set(memory, k);
    }
    return k;
  };
}
