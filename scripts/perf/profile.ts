// Where the time of one attack step goes, by kernel: tf.profile around one lossAndGrad call (the work
// of one PGD step) and around the forward evaluation alone, so backward = step - forward per kernel.
// On wasm, kernelTimeMs is the wall time of each synchronous kernel call.
import { tf, type Tensor1D, type Tensor4D } from '../../src/engine/tf.js';
import type { Classifier, GradientPath } from '../../src/models/classifier.js';
import { cpuFallbacksRun, resetCpuFallbacksRun } from '../../src/engine/kernels/index.js';

export interface KernelRow {
  name: string;
  /** ms in one loss-and-gradient call (forward + backward). */
  ms: number;
  calls: number;
  /** ms of the same kernel in the forward evaluation alone. */
  forwardMs: number;
  forwardCalls: number;
  /** Share of the step's summed kernel time. */
  share: number;
  /**
   * Not a backend kernel but a custom-gradient op (tf.customGrad, named after the enclosing scope, e.g.
   * "forward"): its time includes the kernels it ran, which are listed themselves, so it is left out of
   * the sums and shares.
   */
  wrapper: boolean;
}

export interface ShapeRow {
  name: string;
  inputShapes: number[][];
  ms: number;
  calls: number;
}

export interface KernelProfile {
  path: GradientPath | 'direct';
  batch: number;
  /** Wall time of one lossAndGrad call without profiling (best of 3). */
  wallMs: number;
  /** Wall time of the profiled call and the sum of its kernel times. */
  profiledWallMs: number;
  kernelMs: number;
  forwardKernelMs: number;
  kernels: KernelRow[];
  /** The most expensive (kernel, input shapes) pairs. */
  topShapes: ShapeRow[];
  /**
   * Kernels that ran on the cpu backend behind a copy (src/engine/kernels/cpu-fallback.ts: wasm has no
   * kernel for them) during the warm-up, timed and profiled calls, with call counts. Empty is the goal.
   */
  cpuFallbacks: { kernel: string; calls: number }[];
}

interface RawKernel {
  name: string;
  kernelTimeMs: number | { error: string } | Promise<number | { error: string }>;
  inputShapes: number[][];
}

async function kernelTimes(f: () => tf.Tensor | tf.Tensor[]): Promise<{ wallMs: number; kernels: { name: string; ms: number; inputShapes: number[][] }[] }> {
  const t0 = performance.now();
  let wallMs = 0;
  const info = await tf.profile(() => {
    const out = f();
    for (const t of Array.isArray(out) ? out : [out]) t.dataSync();
    wallMs = performance.now() - t0;
    return out;
  });
  tf.dispose(info.result as tf.Tensor[]);
  const kernels: { name: string; ms: number; inputShapes: number[][] }[] = [];
  for (const k of info.kernels as unknown as RawKernel[]) {
    const t = await k.kernelTimeMs;
    kernels.push({ name: k.name, ms: typeof t === 'number' ? t : 0, inputShapes: k.inputShapes });
  }
  return { wallMs, kernels };
}

export async function profileKernels(classifier: Classifier, x: Tensor4D, y: Tensor1D, path: GradientPath | 'direct'): Promise<KernelProfile> {
  const step = () => {
    const { loss, grad } = classifier.lossAndGrad(x, y, { path });
    return [loss, grad];
  };
  const forward = () => (path === 'first' ? classifier.logits(x, 'first') : classifier.logits(x));
  // Warm-up, then the unprofiled wall time.
  resetCpuFallbacksRun();
  tf.dispose(step());
  let wallMs = Infinity;
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    const out = step();
    out.forEach((t) => t.dataSync());
    wallMs = Math.min(wallMs, performance.now() - t0);
    tf.dispose(out);
  }
  const stepProfile = await kernelTimes(step);
  const forwardProfile = await kernelTimes(forward);

  const byName = new Map<string, KernelRow>();
  const row = (name: string) => {
    let r = byName.get(name);
    if (!r) byName.set(name, (r = { name, ms: 0, calls: 0, forwardMs: 0, forwardCalls: 0, share: 0, wrapper: tf.getKernel(name, tf.getBackend()) === undefined }));
    return r;
  };
  const byShape = new Map<string, ShapeRow>();
  for (const k of stepProfile.kernels) {
    const r = row(k.name);
    r.ms += k.ms;
    r.calls++;
    const key = `${k.name} ${JSON.stringify(k.inputShapes)}`;
    const s = byShape.get(key) ?? { name: k.name, inputShapes: k.inputShapes, ms: 0, calls: 0 };
    s.ms += k.ms;
    s.calls++;
    byShape.set(key, s);
  }
  for (const k of forwardProfile.kernels) {
    const r = row(k.name);
    r.forwardMs += k.ms;
    r.forwardCalls++;
  }
  const isKernel = (name: string) => !byName.get(name)!.wrapper;
  const kernelMs = stepProfile.kernels.filter((k) => isKernel(k.name)).reduce((s, k) => s + k.ms, 0);
  const kernels = [...byName.values()].sort((a, b) => Number(a.wrapper) - Number(b.wrapper) || b.ms - a.ms);
  for (const k of kernels) k.share = kernelMs > 0 && !k.wrapper ? k.ms / kernelMs : 0;
  return {
    path,
    batch: x.shape[0],
    wallMs,
    profiledWallMs: stepProfile.wallMs,
    kernelMs,
    forwardKernelMs: forwardProfile.kernels.filter((k) => isKernel(k.name)).reduce((s, k) => s + k.ms, 0),
    kernels,
    topShapes: [...byShape.values()].filter((k) => isKernel(k.name)).sort((a, b) => b.ms - a.ms).slice(0, 15),
    cpuFallbacks: cpuFallbacksRun(),
  };
}
