/**
 * The paired (case-resampling) bootstrap of Efron & Tibshirani (1993, An Introduction to the Bootstrap,
 * ch. 6 and 13) over evaluated images. Paired: one resample draws n image indices with replacement and
 * every statistic of that resample reads the SAME indices from every model and every cell (clean and
 * corrupted, model and baseline), so the correlation between them, which makes ratios such as mCE far
 * tighter than independent intervals would, is kept. The interval is the percentile interval (the 2.5th
 * and 97.5th percentiles of the resampled statistic).
 */
import { SampleStream } from '../engine/rng.js';

export interface BootstrapOptions {
  /** Number of resamples (default 2000). */
  resamples?: number;
  /** Seed of the index draws: the same seed, n and resamples give the same intervals. */
  seed?: number;
}

export const DEFAULT_RESAMPLES = 2000;
export const DEFAULT_BOOTSTRAP_SEED = 0;

/**
 * The multiplicity of each of n images in resample `r` (how many times it was drawn; the counts sum to
 * n). Draw k of resample r is floor(u * n) for the k-th uniform of the stream (seed, "bootstrap", r):
 * a pure function of (seed, r, n), so any resample can be reproduced on its own.
 */
export function resampleCounts(n: number, r: number, seed = DEFAULT_BOOTSTRAP_SEED): Uint32Array {
  const counts = new Uint32Array(n);
  const stream = new SampleStream(seed, 'bootstrap', r);
  for (let k = 0; k < n; k++) counts[Math.min(n - 1, Math.floor(stream.next() * n))]++;
  return counts;
}

/**
 * The q-quantile (q in [0,1]) of ascending `sorted` values by linear interpolation between order
 * statistics (Hyndman & Fan 1996 type 7, numpy.percentile's default). +Infinity entries sort last; a
 * quantile that touches one is +Infinity.
 */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const m = sorted.length;
  if (m === 0) return NaN;
  const h = (m - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(m - 1, lo + 1);
  const a = sorted[lo];
  const b = sorted[hi];
  if (a === Infinity || b === Infinity) return h === lo ? a : Infinity;
  return a + (h - lo) * (b - a);
}

/**
 * 95% percentile intervals of several statistics of one paired bootstrap: `statistics(counts)` returns
 * every statistic's value on the resample whose image multiplicities are `counts` (length n); NaN counts
 * as +Infinity (an unbounded ratio). Returns one [low, high] per statistic.
 */
export function pairedBootstrap(n: number, statistics: (counts: Uint32Array) => number[], options: BootstrapOptions = {}): [number, number][] {
  const resamples = options.resamples ?? DEFAULT_RESAMPLES;
  const seed = options.seed ?? DEFAULT_BOOTSTRAP_SEED;
  let values: Float64Array[] | null = null;
  for (let r = 0; r < resamples; r++) {
    const stats = statistics(resampleCounts(n, r, seed));
    values ??= stats.map(() => new Float64Array(resamples));
    stats.forEach((v, j) => (values![j][r] = Number.isNaN(v) ? Infinity : v));
  }
  return (values ?? []).map((v) => {
    v.sort();
    return [quantileSorted(v, 0.025), quantileSorted(v, 0.975)];
  });
}
