/**
 * Paired significance tests for two classifiers evaluated on the same images.
 *
 * - McNemar's exact test (McNemar 1947; the exact conditional form recommended by Dietterich 1998,
 *   "Approximate statistical tests for comparing supervised classification learning algorithms"): only the
 *   discordant samples carry information; under H0 each is equally likely to favour either model, so
 *   with b = baseline right & candidate wrong, c = the reverse, min(b, c) ~ Bin(b + c, 1/2) and
 *   p = min(1, 2 P(X <= min(b, c))), p = 1 when b + c = 0.
 * - The exact paired sign-flip (permutation) test of Fisher (1935) and Pitman (1937) for integer
 *   per-sample differences d_i: under H0 (the two models' per-sample scores are exchangeable) each d_i is
 *   equally likely to be +|d_i| or -|d_i|. With d_i in {-1, 0, 1} it is exactly McNemar's test, so the
 *   per-cell and the mean-over-cells gates use one rule.
 */

/** log C(n, k) for 0 <= k <= n, by the multiplicative recurrence (exact enough: relative error ~ k * 2^-52). */
function logBinomialCoefficients(n: number): Float64Array {
  const out = new Float64Array(n + 1);
  for (let k = 1; k <= n; k++) out[k] = out[k - 1] + Math.log(n - k + 1) - Math.log(k);
  return out;
}

/** P(X <= k) for X ~ Bin(n, 1/2), computed in log space so large n neither underflows nor overflows. */
export function binomialHalfCdf(n: number, k: number): number {
  if (!Number.isInteger(n) || n < 0) throw new Error(`binomialHalfCdf: n = ${n} is not a count`);
  if (k < 0) return 0;
  if (k >= n) return 1;
  k = Math.floor(k);
  // By symmetry P(X <= k) = 1 - P(X <= n - k - 1); sum the short tail, where the terms grow towards k.
  if (k > n / 2) return 1 - binomialHalfCdf(n, n - k - 1);
  const logC = logBinomialCoefficients(n);
  let scaled = 0;
  for (let j = 0; j <= k; j++) scaled += Math.exp(logC[j] - logC[k]);
  return Math.exp(logC[k] - n * Math.LN2 + Math.log(scaled));
}

export interface McNemarResult {
  /** Baseline correct, candidate wrong. */
  b: number;
  /** Baseline wrong, candidate correct. */
  c: number;
  pValue: number;
}

/** Exact two-sided McNemar test from the discordant counts. */
export function mcnemarExact(b: number, c: number): McNemarResult {
  const n = b + c;
  const pValue = n === 0 ? 1 : Math.min(1, 2 * binomialHalfCdf(n, Math.min(b, c)));
  return { b, c, pValue };
}

/** Counts the discordant pairs of two per-sample correctness vectors of the same length. */
export function discordantCounts(baseline: readonly boolean[], candidate: readonly boolean[]): { b: number; c: number } {
  if (baseline.length !== candidate.length) throw new Error(`discordantCounts: ${baseline.length} vs ${candidate.length} samples`);
  let b = 0;
  let c = 0;
  for (let i = 0; i < baseline.length; i++) {
    if (baseline[i] && !candidate[i]) b++;
    else if (!baseline[i] && candidate[i]) c++;
  }
  return { b, c };
}

export interface SignFlipResult {
  /** Samples where the candidate scores lower (d_i < 0). */
  worse: number;
  /** Samples where the candidate scores higher (d_i > 0). */
  better: number;
  /** Sum of the differences (candidate - baseline). */
  total: number;
  pValue: number;
  /** 'exact' by convolution; 'normal' (continuity-corrected) when the exact distribution is too large to tabulate. */
  method: 'exact' | 'normal';
}

/** Tabulating the exact distribution costs about (sum |d_i|) x (nonzero samples) multiply-adds; beyond this, use the normal approximation. */
export const EXACT_WORK_LIMIT = 3e8;

/** Standard normal lower tail (Abramowitz & Stegun 7.1.26 via erfc; absolute error < 1.5e-7, ample for a gate at alpha ~ 0.05). */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erfc = poly * Math.exp(-x * x);
  return z >= 0 ? 1 - erfc / 2 : erfc / 2;
}

/**
 * Exact two-sided paired sign-flip test on integer differences d_i = candidate_i - baseline_i:
 * p = min(1, 2 P(S <= -|T|)) with T = sum d_i and S = sum s_i |d_i|, s_i uniform on {-1, +1}. The
 * distribution of S is symmetric, so this equals P(|S| >= |T|) for T != 0, the form McNemar's test takes.
 */
export function signFlipTest(differences: readonly number[]): SignFlipResult {
  let worse = 0;
  let better = 0;
  let total = 0;
  const countByMagnitude = new Map<number, number>();
  for (const d of differences) {
    if (!Number.isInteger(d)) throw new Error(`signFlipTest: difference ${d} is not an integer`);
    total += d;
    if (d === 0) continue;
    if (d < 0) worse++;
    else better++;
    const m = Math.abs(d);
    countByMagnitude.set(m, (countByMagnitude.get(m) ?? 0) + 1);
  }
  const nonzero = worse + better;
  if (nonzero === 0) return { worse, better, total, pValue: 1, method: 'exact' };
  // S = 2P - M, where P = sum of the magnitudes given a + sign and M = sum of all magnitudes.
  let maxSum = 0;
  for (const [m, count] of countByMagnitude) maxSum += m * count;
  const threshold = (maxSum - Math.abs(total)) / 2; // S <= -|T|  <=>  P <= threshold (an integer: T and M have equal parity)

  if (maxSum * nonzero > EXACT_WORK_LIMIT) {
    let variance = 0;
    for (const [m, count] of countByMagnitude) variance += m * m * count;
    // S moves on a lattice of step 2: continuity correction of 1.
    const z = (-Math.abs(total) + 1) / Math.sqrt(variance);
    return { worse, better, total, pValue: Math.min(1, 2 * normalCdf(z)), method: 'normal' };
  }

  // Distribution of P: the convolution over magnitudes m of m * Bin(count_m, 1/2).
  let dist = new Float64Array(1);
  dist[0] = 1;
  let size = 0; // largest P so far
  for (const [m, count] of countByMagnitude) {
    const logC = logBinomialCoefficients(count);
    const pmf = Array.from({ length: count + 1 }, (_, j) => Math.exp(logC[j] - count * Math.LN2));
    const next = new Float64Array(size + m * count + 1);
    for (let p = 0; p <= size; p++) {
      const w = dist[p];
      if (w === 0) continue;
      for (let j = 0; j <= count; j++) next[p + m * j] += w * pmf[j];
    }
    dist = next;
    size += m * count;
  }
  let tail = 0;
  for (let p = 0; p <= threshold; p++) tail += dist[p];
  return { worse, better, total, pValue: Math.min(1, 2 * tail), method: 'exact' };
}
