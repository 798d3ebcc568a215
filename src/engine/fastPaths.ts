// Switches for the performance work of docs/performance.md. Every fast path is on by default and
// computes the same numbers as the plain TensorFlow.js formulation; BENCH_DISABLE_FAST (a comma-separated
// list of names, or "all") turns some off so that `npm run perf` can measure each one's before/after
// with one build, e.g. BENCH_DISABLE_FAST=shared-identity npm run perf -- --only pgd.
export const FAST_PATHS = [
  'shared-identity', 'dense', 'masked-grad', 'max-pool', 'ins-norm', 'bpda-first-pass', 'conv-backprop', 'depthwise-backprop',
  'constant-kernels', 'subpixel-transpose', 'spatial-sum-pool', 'winograd-3x3', 'winograd-wasm', 'ins-norm-wasm',
  'ins-norm-mean-wasm', 'ada-pool-wasm', 'batch-norm-grad', 'fused-conv-grad',
] as const;
export type FastPath = (typeof FAST_PATHS)[number];

let disabled: Set<string> | null = null;

function disabledSet(): Set<string> {
  if (disabled === null) disabled = new Set((process.env.BENCH_DISABLE_FAST ?? '').split(',').map((s) => s.trim()).filter(Boolean));
  return disabled;
}

/** True unless BENCH_DISABLE_FAST names this fast path (or "all"). */
export function fastPath(name: FastPath): boolean {
  const d = disabledSet();
  return !d.has('all') && !d.has(name);
}

/** The fast paths turned off in this process (recorded with benchmark results). */
export function disabledFastPaths(): string[] {
  const d = disabledSet();
  return d.has('all') ? [...FAST_PATHS] : FAST_PATHS.filter((n) => d.has(n));
}

/**
 * Overrides BENCH_DISABLE_FAST for this process (tests comparing a fast path with the plain formulation;
 * null goes back to the environment). Kernel registrations (shared-identity) are not redone.
 */
export function setDisabledFastPaths(names: readonly string[] | null): void {
  disabled = names === null ? null : new Set(names);
}
