import { describe, expect, it } from 'vitest';
import { pairedBootstrap, quantileSorted, resampleCounts } from '../../src/suite/bootstrap.js';

describe('paired bootstrap', () => {
  it('type-7 quantiles as numpy.percentile computes them', () => {
    // numpy.percentile([1, 2, 4, 8, 16], [2.5, 50, 97.5]) = [1.1, 4.0, 15.2] (positions 0.1, 2, 3.9)
    const sorted = [1, 2, 4, 8, 16];
    expect(quantileSorted(sorted, 0.025)).toBeCloseTo(1.1, 12);
    expect(quantileSorted(sorted, 0.5)).toBe(4);
    expect(quantileSorted(sorted, 0.975)).toBeCloseTo(15.2, 12);
    expect(quantileSorted([1, 2, Infinity], 0.975)).toBe(Infinity);
  });

  it('each resample draws n images with replacement, reproducibly for a seed', () => {
    const a = resampleCounts(50, 3, 7);
    expect(a.reduce((s, c) => s + c, 0)).toBe(50);
    expect(Array.from(resampleCounts(50, 3, 7))).toEqual(Array.from(a));
    expect(Array.from(resampleCounts(50, 4, 7))).not.toEqual(Array.from(a));
    expect(Array.from(resampleCounts(50, 3, 8))).not.toEqual(Array.from(a));
  });

  it('is deterministic for a seed and its interval contains the point estimate', () => {
    const v = Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? 0 : 1));
    const meanOf = (w: Uint32Array) => v.reduce((s, x, i) => s + w[i] * x, 0) / v.length;
    const point = v.reduce((s, x) => s + x, 0) / v.length;
    const [ci] = pairedBootstrap(v.length, (w) => [meanOf(w)], { resamples: 500, seed: 1 });
    expect(pairedBootstrap(v.length, (w) => [meanOf(w)], { resamples: 500, seed: 1 })[0]).toEqual(ci);
    expect(pairedBootstrap(v.length, (w) => [meanOf(w)], { resamples: 500, seed: 2 })[0]).not.toEqual(ci);
    expect(ci[0]).toBeLessThan(point);
    expect(ci[1]).toBeGreaterThan(point);
    // The bootstrap standard error of a proportion is sqrt(p(1-p)/n): the interval is about +-1.96 of it.
    const se = Math.sqrt((point * (1 - point)) / v.length);
    expect(ci[1] - ci[0]).toBeGreaterThan(2 * 1.6 * se);
    expect(ci[1] - ci[0]).toBeLessThan(2 * 2.4 * se);
  });
});
