import { describe, expect, test } from 'vitest';
import { binomialHalfCdf, mcnemarExact, normalCdf, signFlipTest } from '../../src/compare/pairedTests.js';
import { mcnemarClosedForm, mulberry32, signFlipClosedForm } from './fixtures.js';

const close = (a: number, b: number, rel = 1e-9) => expect(Math.abs(a - b)).toBeLessThanOrEqual(rel * Math.max(Math.abs(b), 1e-300));

describe('exact McNemar test', () => {
  test.each([
    [40, 5],
    [5, 40],
    [10, 7],
    [0, 6],
    [3, 3],
    [1, 0],
    [600, 520],
    [250, 180],
  ])('b=%i c=%i: p equals 2 * sum_k<=min C(n,k) / 2^n computed in integers', (b, c) => {
    close(mcnemarExact(b, c).pValue, mcnemarClosedForm(b, c));
  });

  test('no discordant pairs: p = 1; equal counts: p = 1 (clipped)', () => {
    expect(mcnemarExact(0, 0).pValue).toBe(1);
    expect(mcnemarExact(12, 12).pValue).toBe(1);
  });

  test('textbook values: b + c = 6 all one way gives p = 2/64; 10 vs 7 is not significant', () => {
    expect(mcnemarExact(6, 0).pValue).toBeCloseTo(2 / 64, 15);
    expect(mcnemarExact(10, 7).pValue).toBeGreaterThan(0.5);
  });

  test('binomial tail is symmetric and sums to 1 across the middle', () => {
    for (const n of [1, 7, 20, 1001]) {
      const k = Math.floor(n / 3);
      close(binomialHalfCdf(n, k) + binomialHalfCdf(n, n - k - 1), 1, 1e-12);
    }
    // Large n without underflow: P(X <= 4800) for X ~ Bin(10000, 1/2) is about Phi(-4.0) ~ 3.2e-5.
    const p = binomialHalfCdf(10000, 4800);
    expect(p).toBeGreaterThan(2e-5);
    expect(p).toBeLessThan(5e-5);
  });
});

describe('exact sign-flip test', () => {
  test('with differences in {-1, 0, 1} it is exactly McNemar', () => {
    const d = [...Array(40).fill(-1), ...Array(5).fill(1), ...Array(955).fill(0)];
    const r = signFlipTest(d);
    expect([r.worse, r.better, r.total, r.method]).toEqual([40, 5, -35, 'exact']);
    close(r.pValue, mcnemarClosedForm(40, 5));
  });

  test('matches a count of sign patterns (BigInt generating polynomial) on integer differences', () => {
    const rand = mulberry32(11);
    for (let trial = 0; trial < 5; trial++) {
      const d = Array.from({ length: 60 }, () => Math.round((rand() - 0.6) * 6));
      close(signFlipTest(d).pValue, signFlipClosedForm(d), 1e-9);
    }
  });

  test('brute force over every sign pattern of a small vector', () => {
    const d = [2, -1, 3, 1, -2, 1, 0, 2, -3];
    const mags = d.filter((x) => x !== 0).map(Math.abs);
    const t = Math.abs(d.reduce((a, b) => a + b, 0));
    let extreme = 0;
    for (let mask = 0; mask < 2 ** mags.length; mask++) {
      const s = mags.reduce((acc, m, i) => acc + ((mask >> i) & 1 ? m : -m), 0);
      if (Math.abs(s) >= t) extreme++;
    }
    close(signFlipTest(d).pValue, Math.min(1, extreme / 2 ** mags.length));
  });

  test('normal CDF: Phi(1.96) = 0.975 to 1e-6', () => {
    expect(normalCdf(1.959963984540054)).toBeCloseTo(0.975, 6);
    expect(normalCdf(-1.959963984540054)).toBeCloseTo(0.025, 6);
  });
});
