// Messages between scripts/perf.ts and its measuring processes (scripts/perf/child.ts).
import type { GradientPath, OutputKind } from '../../src/models/classifier.js';
import type { KernelProfile } from './profile.js';
import type { WrnCase, WrnConfig } from './wrnModel.js';

export const MARK = '@@perf ';

export type ModelName = 'cnn' | 'cnnf';
export const CHECKPOINT_DIRS: Record<ModelName, string> = { cnn: 'checkpoints/cnn-fmnist', cnnf: 'checkpoints/cnnf-fmnist' };
/**
 * Models a measuring process can time: the committed checkpoints, and `user`, the depthwise-separable
 * TF.js layers-model of scripts/perf/userModel.ts (built, saved and loaded through the tfjs-layers family
 * in the process; its only gradient path is `direct`, and it runs on seeded random 32x32x3 images).
 */
export type PerfModel = ModelName | 'user';

export type Task =
  | { kind: 'matmul'; size: number }
  | { kind: 'forward'; model: ModelName; output: OutputKind; batch: number }
  | { kind: 'pgd'; model: PerfModel; path: GradientPath | 'direct'; batch: number; eps: number }
  | { kind: 'corruption'; names: string[]; severity: number; batch: number }
  | { kind: 'profile'; model: PerfModel; path: GradientPath | 'direct'; batch: number }
  /** The Wide-ResNet CNN-F with random weights (scripts/perf/wrnModel.ts): first pass, full inference or one e2e PGD step. */
  | { kind: 'wrn'; config: WrnConfig; case: WrnCase; batch: number };

export type Request =
  | { op: 'init'; backend: string }
  | { op: 'prepare'; task: Task }
  | { op: 'run'; steps?: number }
  | { op: 'finish' }
  | { op: 'exit' };

export interface InitReply {
  backend: string;
  provider: string;
  tfjsVersion: string;
  wasmSimd: boolean | null;
  wasmThreads: number | null;
  /** Fast paths turned off by BENCH_DISABLE_FAST (src/engine/fastPaths.ts). */
  disabledFastPaths: string[];
}
export interface RunReply {
  seconds: number;
  /**
   * CPU time (user + system) of the measuring process over the call. On a contended machine it is
   * far steadier than wall time (time slices lost to other processes do not count).
   */
  cpuSeconds: number;
  /** Units of work done: image-steps, images, or FLOP (matmul). */
  work: number;
  /** Per-part seconds (corruption names). */
  parts?: Record<string, number>;
  /** Live tensors after the run minus before it. */
  tensorDelta: number;
}
export interface FinishReply {
  maxRssMB: number;
  /** Live tensors after the task's inputs were freed minus before they were made. */
  tensorDelta: number;
  profile?: KernelProfile;
}

