import { describe, expect, it } from 'vitest';
import { quantileSorted, resampleCounts } from '../../src/suite/bootstrap.js';
import { computeMce, type MceInput } from '../../src/suite/mce.js';

const bits = (s: string) => Uint8Array.from(s, (c) => (c === '1' ? 1 : 0));

// Six images. Model M and baseline B, clean and two corruptions at one severity each.
const input: MceInput = {
  n: 6,
  baseline: 'B',
  clean: bits('111110'),
  baseClean: bits('111111'),
  corruptions: [
    { corruption: 'noise', severities: [1], model: [bits('110100')], base: [bits('100100')] },
    { corruption: 'blur', severities: [1], model: [bits('111000')], base: [bits('111101')] },
  ],
  missingInBaseline: [],
};

describe('computeMce', () => {
  it('point values are Hendrycks & Dietterich\'s CE and relative CE', () => {
    const r = computeMce(input, { resamples: 200, seed: 0 });
    // noise: E = 3/6, E_base = 4/6 -> CE 0.75; relative (3/6 - 1/6) / (4/6 - 0) = 0.5.
    // blur:  E = 3/6, E_base = 1/6 -> CE 3;    relative (3/6 - 1/6) / (1/6 - 0) = 2.
    expect(r.corruptions.map((c) => [c.ce, c.relativeCe])).toEqual([
      [expect.closeTo(0.75, 12), expect.closeTo(0.5, 12)],
      [expect.closeTo(3, 12), expect.closeTo(2, 12)],
    ]);
    expect(r.mCE).toBeCloseTo(1.875, 12);
    expect(r.relativeMCE).toBeCloseTo(1.25, 12);
  });

  it('the intervals equal a direct computation over the same resampled images', () => {
    const resamples = 300;
    const r = computeMce(input, { resamples, seed: 5 });
    // Directly: expand each resample into the list of drawn images and count errors on it.
    const mce: number[] = [];
    const rel: number[] = [];
    for (let k = 0; k < resamples; k++) {
      const counts = resampleCounts(6, k, 5);
      const drawn = Array.from(counts).flatMap((c, i) => Array<number>(c).fill(i));
      const err = (v: Uint8Array) => drawn.filter((i) => v[i] === 0).length / drawn.length;
      const ces: number[] = [];
      const rels: number[] = [];
      for (const c of input.corruptions) {
        const e = err(c.model[0]);
        const eb = err(c.base[0]);
        ces.push(eb > 0 ? e / eb : Infinity);
        const d = eb - err(input.baseClean!);
        rels.push(d > 0 ? (e - err(input.clean!)) / d : Infinity);
      }
      mce.push((ces[0] + ces[1]) / 2);
      rel.push((rels[0] + rels[1]) / 2);
    }
    mce.sort((a, b) => a - b);
    rel.sort((a, b) => a - b);
    // numpy.percentile(x, [2.5, 97.5]) (linear): position (m - 1) q between order statistics.
    const pct = (xs: number[], q: number) => {
      const h = (xs.length - 1) * q;
      const lo = Math.floor(h);
      if (xs[lo] === Infinity || xs[lo + 1] === Infinity) return Infinity;
      return xs[lo] + (h - lo) * (xs[lo + 1] - xs[lo]);
    };
    expect(r.mCECi95![0]).toBeCloseTo(pct(mce, 0.025), 12);
    expect(r.mCECi95![1]).toBeCloseTo(pct(mce, 0.975), 12);
    expect(r.relativeMCECi95![0]).toBeCloseTo(pct(rel, 0.025), 12);
    // The blur baseline degrades by one image of six: some resamples drop it, so relative mCE is unbounded above.
    expect(r.relativeMCECi95![1]).toBe(Infinity);
    expect(quantileSorted(rel, 0.975)).toBe(Infinity);
    // ...and that is flagged: the baseline's blur degradation interval reaches 0.
    expect(r.corruptions[1].withinNoise).toBe(true);
    expect(r.corruptions[1].baselineDegradation!.ci95[0]).toBeLessThanOrEqual(0);
    expect(r.warnings.join('\n')).toMatch(/^blur: the degradation of the baseline B, 16\.7 points \(95% CI 0\.0 to /);
  });

  it('lists a corruption whose baseline degradation is not positive as left out of relative mCE, with the reason', () => {
    const r = computeMce(
      {
        ...input,
        corruptions: [...input.corruptions, { corruption: 'contrast', severities: [1, 2], model: [bits('110000'), bits('100000')], base: [bits('111111'), bits('111111')] }],
        missingInBaseline: ['fog'],
      },
      { resamples: 100, seed: 0 },
    );
    expect(r.excluded).toEqual([
      { corruption: 'fog', from: 'mCE', reason: 'the baseline B has no cells for it' },
      { corruption: 'fog', from: 'relative mCE', reason: 'the baseline B has no cells for it' },
      { corruption: 'contrast', from: 'mCE', reason: "the baseline B makes no errors on it (CE's denominator is 0)" },
      {
        corruption: 'contrast',
        from: 'relative mCE',
        reason: "the baseline B is no worse on it than clean (its error rises by 0.0 points on average over severities 1,2; relative CE's denominator must be positive)",
      },
    ]);
    // The means are over the other two, as before.
    expect(r.mCE).toBeCloseTo(1.875, 12);
    expect(r.relativeMCE).toBeCloseTo(1.25, 12);
  });
});
