/**
 * What a gate can detect on the sample it has.
 *
 * A row of `bench compare` fails when the candidate is lower by more than `maxDrop` points AND the exact
 * paired test (McNemar; the sign-flip test for the mean corruption accuracy, which is McNemar when every
 * per-sample difference is -1, 0 or +1) gives p < alpha. The p-value depends on the discordant samples
 * only, and for a given drop it is smallest when every changed sample goes one way: k samples, all
 * favouring the baseline, give p = 2 P(X <= 0) = 2^(1-k), X ~ Bin(k, 1/2) (computed here with the test
 * itself, `mcnemarExact(k, 0)`). So no outcome of fewer than K = min{k : p(k, 0) < alpha} changed
 * samples can ever fail the gate (K = 6 at alpha 0.05: p = 2/64; five give 2/32 = 0.0625).
 *
 * On n samples the smallest detectable drop is therefore 100 K / n points. The gate must catch every
 * drop of more than maxDrop points; drops come in steps of one sample, so the smallest of them is
 * T = floor(n maxDrop / 100) + 1 samples (within the 1e-9 tolerance gateFails uses). The row is
 * CONCLUSIVE when even that drop can reach p < alpha (T >= K); otherwise drops between maxDrop and the
 * detectable drop would pass unseen, and the row is INCONCLUSIVE. (Equivalently: maxDrop >= 100 (K-1)/n,
 * i.e. maxDrop is at least the largest undetectable drop.)
 *
 * For the mean corruption accuracy a drop is counted in sample-cells (n images x m cells: one point is
 * n m / 100 of them), but the sign-flip test's smallest p for a total of T sample-cells is reached by
 * spreading it over min(T, n) images with d_i = -1, giving 2^(1 - min(T, n)): the row is conclusive
 * when min(T, n) >= K.
 */
import { mcnemarExact } from './pairedTests.js';

/** The tolerance of gateFails: a drop of exactly maxDrop points does not fail through rounding. */
export const DROP_TOLERANCE = 1e-9;

/**
 * K: the fewest changed samples, all favouring the baseline, for which the exact McNemar test gives
 * p < alpha. alpha in (0, 1]; at alpha 1 K is 2 (p(1, 0) = 1 is not < 1).
 */
export function minDiscordant(alpha: number): number {
  if (!(alpha > 0 && alpha <= 1)) throw new Error(`minDiscordant: alpha = ${alpha} is not in (0, 1]`);
  let k = 1;
  while (!(mcnemarExact(k, 0).pValue < alpha)) k++;
  return k;
}

/** T: the fewest outcome units (samples, or sample-cells) whose loss is a drop of more than maxDrop points out of `units`. */
export function smallestGatedDrop(units: number, maxDrop: number): number {
  let t = Math.max(0, Math.floor((units * maxDrop) / 100));
  while (t > 0 && (100 * (t - 1)) / units > maxDrop + DROP_TOLERANCE) t--;
  while ((100 * t) / units <= maxDrop + DROP_TOLERANCE) t++;
  return t;
}

export interface Detectability {
  /**
   * Smallest drop (accuracy points) that can reach p < alpha on this row: 100 K / units, or null when
   * no outcome can (fewer than K samples).
   */
  detectableDrop: number | null;
  /** Every drop beyond maxDrop can reach p < alpha in its most favourable outcome (see the module comment). */
  conclusive: boolean;
}

/**
 * Detectability of a drop beyond `maxDrop` points at level `alpha` on a row of `samples` images whose
 * accuracy is counted over `units` outcomes (units = samples for a cell or worst-case row; samples x
 * cells for the mean corruption accuracy).
 */
export function detectability(samples: number, units: number, maxDrop: number, alpha: number): Detectability {
  const k = minDiscordant(alpha);
  const detectableDrop = samples >= k && units > 0 ? (100 * k) / units : null;
  const t = smallestGatedDrop(units, maxDrop);
  // No outcome loses more than maxDrop points (maxDrop = 100): nothing to detect.
  if (t > units) return { detectableDrop, conclusive: true };
  return { detectableDrop, conclusive: Math.min(t, samples) >= k };
}

/**
 * The fewest images n for which a cell row of n images is conclusive for `maxDrop` at `alpha` (the
 * smallest n with floor(n maxDrop / 100) + 1 >= K, found with `detectability` itself); null when no n
 * is (maxDrop 0: a one-sample drop never reaches p < alpha).
 */
export function samplesNeeded(maxDrop: number, alpha: number): number | null {
  const k = minDiscordant(alpha);
  if (!(maxDrop > 0)) return null;
  if (maxDrop >= 100) return k;
  // Start below the closed form and step up, so the answer is the one the gate itself computes.
  let n = Math.max(1, Math.floor((100 * (k - 1)) / maxDrop) - 2);
  while (!detectability(n, n, maxDrop, alpha).conclusive) n++;
  return n;
}

/**
 * The smallest --max-drop (points) that makes a row conclusive at alpha: 100 (K - 1) / units, i.e. the
 * drop of K - 1 outcome units is allowed and K units are detectable; null when no --max-drop below 100
 * does (fewer than K images).
 */
export function conclusiveMaxDrop(samples: number, units: number, alpha: number): number | null {
  const k = minDiscordant(alpha);
  return samples >= k && units > 0 ? (100 * (k - 1)) / units : null;
}
