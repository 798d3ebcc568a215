/** The end-of-run terminal table names the norm of every ε column (issue 13, item 7). */
import { describe, expect, it } from 'vitest';
import { adversarialTable } from '../../src/suite/table.js';
import type { SuiteCellResult } from '../../src/suite/store.js';
import { writeMixedNormRun } from '../report/fixtures.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

describe('adversarialTable', () => {
  it('has L∞ and L2 columns apart, each attack in its own norm\'s columns', () => {
    const { cells } = writeMixedNormRun(join(mkdtempSync(join(tmpdir(), 'bench-table-')), 'run'));
    const lines = adversarialTable(cells as SuiteCellResult[]).split('\n');
    expect(lines[0]).toContain('radius in the attack\'s norm');
    expect(lines[1].split(/\s{2,}/)).toEqual(['checkpoint', 'attack/path (n)', 'clean', 'L∞ 0', 'L∞ 0.1', 'L∞ 1', 'L2 0', 'L2 1', 'L2 3']);
    const l2 = lines.find((l) => l.includes('pgd-l2/first'))!;
    // clean, then L2 0, 1, 3 (15 of 20 at eps 1); nothing under the L-inf columns.
    expect(l2.trim().split(/\s+/).slice(3)).toEqual(['100.0', '100.0', '75.0', '20.0']);
  });
});
