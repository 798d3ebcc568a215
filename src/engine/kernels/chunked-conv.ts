// Convolutions whose reduction over input channels is split into chunks, each chunk's partial
// convolution computed by the backend's own Conv2D and the partials added pairwise.
//
// Why: the wasm backend's Conv2D (XNNPACK) and the cpu backend's accumulate each output as one
// sequential float32 sum over the kh·kw·Cin terms, so the rounding error grows with the number of input
// channels. PyTorch's float32 convolution (oneDNN, CPU, as the reference CNN-F fixtures were made) does
// not. Against float64, on random ReLU inputs and He-initialised 3x3 weights (16 images, 8x8 maps,
// Cin = Cout; scripts/reference/conv_accumulation.py), torch 1.13's float32 conv2d has relative error
// 1.49e-7, 1.53e-7, 1.53e-7 at Cin = 32, 64, 128; one sequential float32 sum in the backends' order
// (emulated) 2.10e-7, 2.92e-7, 4.03e-7; chunks of 16 channels added pairwise 1.54e-7, 1.57e-7,
// 1.54e-7, i.e. PyTorch's precision at every width (chunks of 8: 1.2e-7, more precise than PyTorch). Through the 37
// convolution layers and two feedback cycles of the paper's WRN-40-2 CNN-F, that difference decides
// AdaReLU units that sit within rounding of zero: on the reference fixture (cnnf_wrn40-2_ind5_cycles2,
// wasm) the per-image relative error of the last first-pass pre-activation went from 3.72e-6 to 2.85e-6
// (PyTorch float32: 2.64e-6, all against the reference run in float64 on this machine), the error of the
// first cycle's feedback signals from 2.3-3.4x PyTorch's to 0.9-1.2x, and the images beyond the README's
// tolerance on logits_last from 7 of 16 to 3 (cpu backend: from 3 to 1).
//
// The chunked computation is exact arithmetic reassociated, so values change only within float32
// rounding; `bench verify` uses it (src/models/verify.ts); other commands keep the single kernel
// (speed). Gradients are unaffected in form: Conv2D's gradients are themselves convolutions
// (./conv2d-gradients.ts, ./conv-backprop-kernels.ts) and go through the same kernel.
import { tf } from '../tf.js';
import type { TensorInfo } from './cpu-fallback.js';
import { composite } from './kernel-scope.js';

/**
 * Input channels per partial convolution that reproduces PyTorch's float32 convolution error (the
 * measurements in this file's header).
 */
export const TORCH_MATCHED_CONV_CHUNK = 16;

interface BackendData {
  /** wasm: dataIdMap; cpu: data (both DataStorage with has()). */
  dataIdMap?: { has(id: object): boolean };
  data?: { has(id: object): boolean };
  disposeData(id: object, force?: boolean): boolean;
}

interface FilterSlices {
  shape: number[];
  chunk: number;
  slices: TensorInfo[];
}

interface Installed {
  original: tf.KernelConfig;
  /** Filter slices by the filter's buffer: the wasm backend caches its XNNPACK operator (and packed weights) by filter buffer, so a model's weights must keep the same slices across calls. */
  slices: Map<object, FilterSlices>;
  backend: BackendData | null;
}

const installed = new Map<string, Installed>();
let chunk: number | null = null;

const alive = (b: BackendData, id: object) => (b.dataIdMap ?? b.data)?.has(id) ?? false;

function freeSlices(b: BackendData, e: FilterSlices): void {
  for (const t of e.slices) b.disposeData(t.dataId);
}

/** The filter's input-channel slices [kh,kw,c,cout], made once per filter buffer; slices of filters since disposed are freed first. */
function filterSlices(inst: Installed, b: BackendData, filter: TensorInfo, size: number, slice: (begin: number[], size: number[]) => TensorInfo): TensorInfo[] {
  for (const [id, e] of inst.slices)
    if (!alive(b, id)) {
      freeSlices(b, e);
      inst.slices.delete(id);
    }
  const hit = inst.slices.get(filter.dataId);
  if (hit && hit.chunk === size && hit.shape.every((d, i) => d === filter.shape[i])) return hit.slices;
  if (hit) freeSlices(b, hit);
  const [kh, kw, cin, cout] = filter.shape;
  const slices: TensorInfo[] = [];
  for (let c0 = 0; c0 < cin; c0 += size) slices.push(slice([0, 0, c0, 0], [kh, kw, Math.min(size, cin - c0), cout]));
  inst.slices.set(filter.dataId, { shape: [...filter.shape], chunk: size, slices });
  return slices;
}

interface Conv2DArgs {
  inputs: { x: TensorInfo; filter: TensorInfo };
  backend: unknown;
  attrs: { dataFormat?: string };
}

/** Wraps the Conv2D kernel of `backendName`: with a chunk size set and more input channels than it, chunked; else the original. */
function install(backendName: string): void {
  // Only the backends whose sum order was measured (and whose buffer tables alive() reads).
  if (installed.has(backendName) || (backendName !== 'wasm' && backendName !== 'cpu')) return;
  const original = tf.getKernel('Conv2D', backendName);
  if (!original) return;
  const inst: Installed = { original, slices: new Map(), backend: null };
  installed.set(backendName, inst);
  tf.unregisterKernel('Conv2D', backendName);
  tf.registerKernel({
    kernelName: 'Conv2D',
    backendName,
    setupFunc: original.setupFunc,
    kernelFunc: (raw) => {
      const args = raw as unknown as Conv2DArgs;
      const { x, filter } = args.inputs;
      const size = chunk;
      const nhwc = args.attrs.dataFormat === undefined || args.attrs.dataFormat === 'NHWC';
      if (size === null || !nhwc || x.shape[3] <= size) return original.kernelFunc(raw);
      const b = args.backend as BackendData;
      inst.backend = b;
      const run = (inputs: Record<string, TensorInfo>, attrs: object, k: tf.KernelConfig) =>
        k.kernelFunc({ inputs, backend: args.backend, attrs } as unknown as Parameters<tf.KernelFunc>[0]) as unknown as TensorInfo;
      const sliceKernel = tf.getKernel('Slice', backendName)!;
      return composite(args.backend, backendName, (s) => {
        const [n, h, w, cin] = x.shape;
        const fs = filterSlices(inst, b, filter, size, (begin, sz) => run({ x: filter }, { begin, size: sz }, sliceKernel));
        let parts: TensorInfo[] = [];
        for (let c0 = 0, g = 0; c0 < cin; c0 += size, g++) {
          const xs = s.run('Slice', { x }, { begin: [0, 0, 0, c0], size: [n, h, w, Math.min(size, cin - c0)] });
          parts.push(s.track(run({ x: xs, filter: fs[g] }, args.attrs, original)));
        }
        // Pairwise: ((p0 + p1) + (p2 + p3)) + ..., an odd last partial carried up a level.
        while (parts.length > 1) {
          const next: TensorInfo[] = [];
          for (let i = 0; i + 1 < parts.length; i += 2) next.push(s.run('Add', { a: parts[i], b: parts[i + 1] }));
          if (parts.length % 2) next.push(parts[parts.length - 1]);
          parts = next;
        }
        return parts[0];
      });
    },
  });
}

/**
 * Sets how Conv2D accumulates over input channels on the active backend if it is wasm or cpu (others,
 * e.g. the native binding, keep their own kernel): `channels` per
 * partial convolution, partials added pairwise (TORCH_MATCHED_CONV_CHUNK reproduces PyTorch's float32
 * precision), or null for the backend's single sequential sum. NHWC inputs [N,H,W,Cin] with Cin at most
 * `channels` run the original kernel unchanged. Returns the previous setting (to restore it).
 * Throws on a chunk size that is not a positive integer.
 */
export function setConvChannelChunk(channels: number | null): number | null {
  if (channels !== null && !(Number.isInteger(channels) && channels > 0)) throw new Error(`conv channel chunk must be a positive integer, got ${channels}`);
  const previous = chunk;
  chunk = channels;
  if (channels !== null) install(tf.getBackend());
  return previous;
}

/** The current chunk size (null: the backend's own accumulation). */
export function convChannelChunk(): number | null {
  return chunk;
}

/** Frees the cached filter slices (of every backend the wrapper was installed on). */
export function releaseConvChannelSlices(): void {
  for (const inst of installed.values()) {
    if (inst.backend) for (const e of inst.slices.values()) freeSlices(inst.backend, e);
    inst.slices.clear();
  }
}
