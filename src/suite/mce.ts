/**
 * Corruption error (CE), relative CE and their means over corruptions (mCE, relative mCE) as Hendrycks &
 * Dietterich define them (ICLR 2019, "Benchmarking Neural Network Robustness to Common Corruptions and
 * Perturbations", Sec. 3), from per-sample correctness, with paired-bootstrap intervals (bootstrap.ts):
 *   CE_c          = sum_s E(c,s) / sum_s E_base(c,s)
 *   relative CE_c = sum_s (E(c,s) - E_clean) / sum_s (E_base(c,s) - E_base_clean)
 *   mCE = mean_c CE_c, relative mCE = mean_c relative CE_c,
 * E the error rate (1 - accuracy), the sums over the severities both checkpoints have.
 *
 * A corruption enters a mean only where its ratio is defined on the evaluated images: its denominator is
 * positive. Every corruption left out is listed with the reason. Relative CE divides by the baseline's
 * degradation, which can be a few images on a small sample: the baseline's mean degradation
 * D_c = mean_s E_base(c,s) - E_base_clean gets its own 95% bootstrap interval, and a corruption whose
 * interval reaches 0 or below (low end <= 0: the baseline is not measurably hurt by it) is flagged as
 * "within noise" (its relative CE, and so the relative mCE, is unstable). A resample in which a kept
 * corruption's denominator is not positive makes that resample's mean +Infinity: the interval then reports
 * an unbounded upper end rather than hiding it.
 */
import { pairedBootstrap, type BootstrapOptions } from './bootstrap.js';

/** Per-sample correctness (1 = correct) of one cell on the run's first n images. */
export type Bits = Uint8Array;

export interface CorruptionBits {
  corruption: string;
  /** Severities evaluated on both the model and the baseline, ascending. */
  severities: number[];
  model: Bits[];
  base: Bits[];
}

export interface MceInput {
  /** Images every cell below covers (the first n of the run's samples). */
  n: number;
  baseline: string;
  clean: Bits | null;
  baseClean: Bits | null;
  corruptions: CorruptionBits[];
  /** Corruptions the model has and the baseline has no cell for at all. */
  missingInBaseline: string[];
}

export interface Excluded {
  corruption: string;
  /** The mean it is left out of. */
  from: 'mCE' | 'relative mCE';
  reason: string;
}

export interface CorruptionCe {
  corruption: string;
  ce: number | null;
  relativeCe: number | null;
  /** The baseline's mean degradation D_c (error points over its clean error, a fraction) and its 95% interval. */
  baselineDegradation: { value: number; ci95: [number, number] } | null;
  /** True when the degradation's interval reaches 0 (relative CE within noise); false for excluded corruptions. */
  withinNoise: boolean;
}

export interface MceResult {
  corruptions: CorruptionCe[];
  mCE: number | null;
  relativeMCE: number | null;
  /** 95% paired-bootstrap percentile intervals; null with the mean. */
  mCECi95: [number, number] | null;
  relativeMCECi95: [number, number] | null;
  excluded: Excluded[];
  /** One sentence per corruption whose relative CE is within noise. */
  warnings: string[];
  bootstrap: { resamples: number; seed: number; samples: number };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const mean = (xs: number[]) => (xs.length === 0 ? null : sum(xs) / xs.length);
const points = (f: number) => `${(100 * f).toFixed(1)}`;

/** Weighted error rate of a cell: 1 - sum_i w_i v_i / n (w = resample multiplicities, all 1 for the data). */
function errorRate(v: Bits, w: Uint32Array | null, n: number): number {
  let k = 0;
  if (w) for (let i = 0; i < n; i++) k += w[i] * v[i];
  else for (let i = 0; i < n; i++) k += v[i];
  return 1 - k / n;
}

interface Terms {
  ceNum: number;
  ceDen: number;
  relNum: number | null;
  relDen: number | null;
  /** Mean baseline degradation over the severities. */
  degradation: number | null;
}

function terms(c: CorruptionBits, input: MceInput, w: Uint32Array | null): Terms {
  const n = input.n;
  const err = c.model.map((v) => errorRate(v, w, n));
  const baseErr = c.base.map((v) => errorRate(v, w, n));
  const eClean = input.clean ? errorRate(input.clean, w, n) : null;
  const eBaseClean = input.baseClean ? errorRate(input.baseClean, w, n) : null;
  const relNum = eClean === null ? null : sum(err.map((e) => e - eClean));
  const relDen = eBaseClean === null ? null : sum(baseErr.map((e) => e - eBaseClean));
  return { ceNum: sum(err), ceDen: sum(baseErr), relNum, relDen, degradation: relDen === null ? null : relDen / c.severities.length };
}

const ratio = (num: number, den: number) => (den > 0 ? num / den : Infinity);

/** CE, relative CE, their means with 95% paired-bootstrap intervals, exclusions and noise warnings. */
export function computeMce(input: MceInput, options: BootstrapOptions & { resamples: number; seed: number }): MceResult {
  const excluded: Excluded[] = [];
  for (const name of input.missingInBaseline) {
    const reason = `the baseline ${input.baseline} has no cells for it`;
    excluded.push({ corruption: name, from: 'mCE', reason }, { corruption: name, from: 'relative mCE', reason });
  }
  const point = input.corruptions.map((c) => terms(c, input, null));
  const ceKept: number[] = [];
  const relKept: number[] = [];
  const corruptions: CorruptionCe[] = input.corruptions.map((c, j) => {
    const t = point[j];
    let ce: number | null = null;
    let relativeCe: number | null = null;
    if (c.severities.length === 0) {
      const reason = `no severity was evaluated on both this checkpoint and the baseline ${input.baseline}`;
      excluded.push({ corruption: c.corruption, from: 'mCE', reason }, { corruption: c.corruption, from: 'relative mCE', reason });
      return { corruption: c.corruption, ce, relativeCe, baselineDegradation: null, withinNoise: false };
    }
    if (t.ceDen > 0) {
      ce = t.ceNum / t.ceDen;
      ceKept.push(j);
    } else excluded.push({ corruption: c.corruption, from: 'mCE', reason: `the baseline ${input.baseline} makes no errors on it (CE's denominator is 0)` });
    if (t.relNum === null || t.relDen === null)
      excluded.push({ corruption: c.corruption, from: 'relative mCE', reason: `no clean cell for ${t.relNum === null ? 'this checkpoint' : `the baseline ${input.baseline}`}` });
    else if (t.relDen > 0) {
      relativeCe = t.relNum / t.relDen;
      relKept.push(j);
    } else
      excluded.push({
        corruption: c.corruption,
        from: 'relative mCE',
        reason:
          `the baseline ${input.baseline} is no worse on it than clean (its error rises by ${points(t.degradation!)} points on average over ` +
          `severities ${c.severities.join(',')}; relative CE's denominator must be positive)`,
      });
    return { corruption: c.corruption, ce, relativeCe, baselineDegradation: null, withinNoise: false };
  });

  // One paired bootstrap for every statistic: mCE, relative mCE, and each corruption's baseline degradation.
  const withDegradation = input.corruptions.map((_, j) => j).filter((j) => point[j].degradation !== null);
  const intervals =
    input.n > 0
      ? pairedBootstrap(
          input.n,
          (w) => {
            const t = input.corruptions.map((c) => terms(c, input, w));
            return [
              ceKept.length ? sum(ceKept.map((j) => ratio(t[j].ceNum, t[j].ceDen))) / ceKept.length : 0,
              relKept.length ? sum(relKept.map((j) => ratio(t[j].relNum!, t[j].relDen!))) / relKept.length : 0,
              ...withDegradation.map((j) => t[j].degradation!),
            ];
          },
          options,
        )
      : [];
  const warnings: string[] = [];
  withDegradation.forEach((j, k) => {
    const ci = intervals[2 + k];
    const entry = corruptions[j];
    entry.baselineDegradation = { value: point[j].degradation!, ci95: ci };
    entry.withinNoise = entry.relativeCe !== null && ci[0] <= 0;
    if (entry.withinNoise)
      warnings.push(
        `${entry.corruption}: the degradation of the baseline ${input.baseline}, ${points(point[j].degradation!)} points ` +
          `(95% CI ${points(ci[0])} to ${points(ci[1])}), is within sampling noise, so its relative CE (${points(entry.relativeCe!)}%) is unstable`,
      );
  });
  const mCE = mean(ceKept.map((j) => corruptions[j].ce!));
  const relativeMCE = mean(relKept.map((j) => corruptions[j].relativeCe!));
  return {
    corruptions,
    mCE,
    relativeMCE,
    mCECi95: mCE === null || intervals.length === 0 ? null : intervals[0],
    relativeMCECi95: relativeMCE === null || intervals.length === 0 ? null : intervals[1],
    excluded,
    warnings,
    bootstrap: { resamples: options.resamples, seed: options.seed, samples: input.n },
  };
}
