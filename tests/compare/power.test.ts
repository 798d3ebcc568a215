/**
 * What a gate can detect: the smallest number of one-way changed samples the exact McNemar test needs,
 * the smallest detectable drop on n samples and whether a row is conclusive for --max-drop, each checked
 * against a brute-force enumeration of every outcome with the closed-form p-value (integer arithmetic).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { detectability, minDiscordant, samplesNeeded } from '../../src/compare/power.js';
import { mcnemarClosedForm } from './fixtures.js';

/** Every outcome (b, c) on n samples, the drop 100 (b - c) / n and its exact p-value. */
function outcomes(n: number): { drop: number; p: number; b: number; c: number }[] {
  const out = [];
  for (let b = 0; b <= n; b++) for (let c = 0; b + c <= n; c++) out.push({ b, c, drop: (100 * (b - c)) / n, p: mcnemarClosedForm(b, c) });
  return out;
}

describe('minDiscordant', () => {
  test.each([
    [0.05, 6],
    [0.01, 8],
    [0.1, 5],
    [0.001, 11],
  ])('alpha %f: the first k with 2 sum C(k, 0) / 2^k < alpha is %i', (alpha, k) => {
    expect(minDiscordant(alpha)).toBe(k);
    expect(mcnemarClosedForm(k, 0)).toBeLessThan(alpha);
    expect(mcnemarClosedForm(k - 1, 0)).toBeGreaterThanOrEqual(alpha);
  });
});

describe('detectability against every outcome', () => {
  test.each([
    [5, 1, 0.05],
    [10, 20, 0.05],
    [20, 20, 0.05],
    [50, 1, 0.05],
    [50, 10, 0.05],
    [60, 8, 0.05],
    [40, 15, 0.01],
    [100, 5, 0.05],
    [100, 4.9, 0.05],
  ])('n = %i, --max-drop %f, alpha %f', (n, maxDrop, alpha) => {
    const all = outcomes(n);
    const significant = all.filter((o) => o.p < alpha && o.drop > 0);
    const detectable = significant.length === 0 ? null : Math.min(...significant.map((o) => o.drop));
    // The smallest drop the gate must catch, and whether any outcome of that drop fails it.
    const gated = all.filter((o) => o.drop > maxDrop + 1e-9);
    const smallest = Math.min(...gated.map((o) => o.drop));
    const conclusive = gated.some((o) => Math.abs(o.drop - smallest) < 1e-9 && o.p < alpha);
    const d = detectability(n, n, maxDrop, alpha);
    expect(d.conclusive).toBe(conclusive);
    if (detectable === null) expect(d.detectableDrop).toBeNull();
    else expect(d.detectableDrop).toBeCloseTo(detectable, 9);
  });

  test('the cases of issue 13: 5 images detect nothing; 100 images cannot gate a drop beyond 1 point, but can beyond 5', () => {
    expect(detectability(5, 5, 1, 0.05)).toEqual({ detectableDrop: null, conclusive: false });
    expect(detectability(100, 100, 1, 0.05)).toEqual({ detectableDrop: 6, conclusive: false });
    expect(detectability(100, 100, 5, 0.05).conclusive).toBe(true);
    expect(detectability(1000, 1000, 1, 0.05).conclusive).toBe(true);
  });

  test('mean corruption rows: a drop spread over fewer than 6 images is never significant, however many cells', () => {
    // 5 images x 6 cells: 30 sample-cells, but at most 5 images can change, so p >= 2 / 2^5.
    expect(detectability(5, 30, 1, 0.05).conclusive).toBe(false);
    expect(detectability(200, 200 * 6, 1, 0.05).conclusive).toBe(true);
  });

  test('images needed for a drop: the smallest n at which the brute force finds the row conclusive', () => {
    for (const [drop, alpha] of [
      [10, 0.05],
      [20, 0.05],
      [25, 0.01],
    ] as const) {
      const needed = samplesNeeded(drop, alpha)!;
      const brute = (n: number) => {
        const gated = outcomes(n).filter((o) => o.drop > drop + 1e-9);
        const smallest = Math.min(...gated.map((o) => o.drop));
        return gated.some((o) => Math.abs(o.drop - smallest) < 1e-9 && o.p < alpha);
      };
      expect(brute(needed)).toBe(true);
      expect(brute(needed - 1)).toBe(false);
    }
    expect(samplesNeeded(0, 0.05)).toBeNull();
  });
});

describe('README: images a drop needs', () => {
  test('the table matches samplesNeeded', () => {
    const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
    const start = readme.indexOf('| drop to detect |');
    expect(start).toBeGreaterThan(0);
    const lines = readme.slice(start).split('\n');
    const alphas = lines[0].split('|').slice(2, -1).map((h) => Number(/alpha ([0-9.]+)/.exec(h)![1]));
    expect(alphas).toEqual([0.05, 0.01]);
    const end = lines.findIndex((l) => !l.startsWith('|'));
    const rows = lines.slice(2, end);
    expect(rows.map((r) => Number(/^\| more than ([0-9.]+) point/.exec(r)![1]))).toEqual([1, 2, 5, 10]);
    for (const row of rows) {
      const cells = row.split('|').slice(1, -1).map((c) => c.trim());
      const drop = Number(/more than ([0-9.]+)/.exec(cells[0])![1]);
      alphas.forEach((alpha, j) => expect(Number(cells[j + 1].replace(/,/g, '')), `${drop} points at alpha ${alpha}`).toBe(samplesNeeded(drop, alpha)));
    }
  });
});
