import { tf } from './tf.js';
import { inputError } from './errors.js';
import { registerFastMatMulGradient } from './matmulGradient.js';
import { registerBatchNormGradient, registerCpuFallbacks, registerFusedConvGradient, registerFastConvGradients, registerSharedIdentity, registerWasmConvBackpropKernels, registerWinogradConv } from './kernels/index.js';
import { registerInsNormKernels } from './kernels/ins-norm-kernels.js';
import { registerWindowPoolKernels } from './kernels/window-pool-kernels.js';
import { fastPath } from './fastPaths.js';

export type BackendChoice = 'auto' | 'tensorflow' | 'wasm' | 'cpu';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

export interface BackendInfo {
  /** What the user asked for. */
  requested: BackendChoice;
  /** The tfjs backend name actually running: tensorflow | wasm | cpu. */
  name: string;
  /** Which package provides it, e.g. @tensorflow/tfjs-node-gpu. */
  provider: string;
  tfjsVersion: string;
}

let active: BackendInfo | null = null;

/** Loads a native binding if it is installed; the GPU build is tried first. */
async function tryNative(): Promise<string | null> {
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await import(pkg);
      if (await tf.setBackend('tensorflow')) return pkg;
    } catch {
      // Not installed (the optional dependency failed to download libtensorflow) or not loadable.
    }
  }
  return null;
}

/**
 * Picks the backend once per process. `auto` takes the native binding when it loads, else wasm,
 * else cpu. The choice can also come from the BENCH_BACKEND environment variable.
 */
export async function initBackend(requested?: string): Promise<BackendInfo> {
  const choice = (requested ?? process.env.BENCH_BACKEND ?? 'auto') as BackendChoice;
  if (!BACKEND_CHOICES.includes(choice))
    throw inputError('--backend', `unknown backend ${JSON.stringify(choice)}`, BACKEND_CHOICES.join(', '));
  if (active && (active.requested === choice || active.name === choice)) return active;
  let provider = '';
  if (choice === 'tensorflow' || choice === 'auto') {
    const native = await tryNative();
    if (native) provider = native;
    else if (choice === 'tensorflow')
      throw inputError('--backend tensorflow', 'the native binding (@tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node) is not installed or does not load', 'auto, wasm, cpu');
  }
  if (!provider && (choice === 'wasm' || choice === 'auto')) {
    try {
      if (await tf.setBackend('wasm')) provider = '@tensorflow/tfjs-backend-wasm';
    } catch {
      if (choice === 'wasm') throw inputError('--backend wasm', 'the wasm backend failed to initialise', 'auto, cpu');
    }
  }
  if (!provider) {
    await tf.setBackend('cpu');
    provider = '@tensorflow/tfjs-backend-cpu';
  }
  await tf.ready();
  // Gradients that avoid wasm's slow or missing kernels; the mathematics is unchanged on every backend.
  registerFastConvGradients();
  registerFastMatMulGradient();
  registerBatchNormGradient();
  registerFusedConvGradient();
  if (tf.getBackend() === 'wasm' && fastPath('shared-identity')) registerSharedIdentity();
  // Kernels wasm lacks or runs slowly (each checks its BENCH_DISABLE_FAST switch per call), then, for
  // every kernel still missing on wasm, the cpu backend's kernel behind a copy (warned once per kernel).
  registerWasmConvBackpropKernels();
  // Stride-1 3x3 convolutions with enough channels by Winograd F(2x2,3x3) (fast path winograd-3x3, checked per call).
  if (tf.getBackend() === 'wasm') registerWinogradConv();
  // The Wide-ResNet CNN-F's InsNorm passes (fast path ins-norm-wasm, checked per call by insNorm.ts).
  if (tf.getBackend() === 'wasm') registerInsNormKernels();
  // CNN-F's AdaPool windows (fast path ada-pool-wasm, checked per call by feedbackLayers.ts).
  if (tf.getBackend() === 'wasm') registerWindowPoolKernels();
  registerCpuFallbacks('wasm');
  active = { requested: choice, name: tf.getBackend(), provider, tfjsVersion: tf.version.tfjs };
  return active;
}

export function activeBackend(): BackendInfo | null {
  return active;
}
