import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { corruptionSummary } from '../../src/suite/summary.js';
import { readRun } from '../../src/rundir/read.js';
import { adversarialTable, mceSummary } from '../../src/suite/table.js';
import type { SuiteCellResult } from '../../src/rundir/records.js';
import { writeMceEdgeRun, writeMixedNormRun } from '../report/fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'bench-table-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('terminal mCE summary', () => {
  it('gives mCE and relative mCE with intervals and lists the corruption left out and the one within noise', async () => {
    const dir = join(root, 'run');
    writeMceEdgeRun(dir);
    const text = mceSummary(corruptionSummary(await readRun(dir)));
    const lines = text.split('\n');
    expect(lines[0]).toBe('mCE and relative mCE against base-net (Hendrycks & Dietterich 2019; 95% paired bootstrap over 40 images, 1000 resamples)');
    // The baseline is 100% of itself by definition, in every resample (one where fog leaves it undegraded is 0/0
    // against itself, not an unbounded ratio): no interval, and no within-noise flag of its own.
    expect(lines).toContain('  base-net: mCE 100% (baseline), relative mCE 100% (baseline)');
    // CE: noise 60/42, fog 37/13, contrast 38/12, mean 2.4805; relative CE (contrast left out): (1.4 + 19) / 2 = 10.2.
    const other = lines.findIndex((l) => l.startsWith('  other-net: '));
    expect(lines[other]).toMatch(/^ {2}other-net: mCE 248\.0% \(95% CI \d+\.\d%-\d+\.\d%\), relative mCE 1020\.0% \(95% CI \d+\.\d%-∞\)$/);
    expect(lines.slice(other + 1)).toEqual([
      "    left out of relative mCE: contrast (the baseline base-net is no worse on it than clean (its error rises by 0.0 points on average over severities 1,2,3; relative CE's denominator must be positive))",
      expect.stringMatching(/^ {4}within noise: fog: the degradation of the baseline base-net, 0\.8 points \(95% CI 0\.0 to 2\.5\), is within sampling noise, so its relative CE \(1900\.0%\) is unstable$/),
    ]);
  });
});

/** The end-of-run terminal table names the norm of every ε column (issue 13, item 7). */
describe('adversarialTable', () => {
  it('has L∞ and L2 columns apart, each attack in its own norm\'s columns', () => {
    const { cells } = writeMixedNormRun(join(root, 'mixed'));
    const lines = adversarialTable(cells as SuiteCellResult[]).split('\n');
    expect(lines[0]).toContain('radius in the attack\'s norm');
    expect(lines[1].split(/\s{2,}/)).toEqual(['checkpoint', 'attack/path (n)', 'clean', 'L∞ 0', 'L∞ 0.1', 'L∞ 1', 'L2 0', 'L2 1', 'L2 3']);
    const l2 = lines.find((l) => l.includes('pgd-l2/first'))!;
    // clean, then L2 0, 1, 3 (15 of 20 at eps 1); nothing under the L-inf columns.
    expect(l2.trim().split(/\s+/).slice(3)).toEqual(['100.0', '100.0', '75.0', '20.0']);
  });
});
