/**
 * The cascade log (src/report/cascade.ts): AutoAttack's per-stage lines (samples broken by each attack,
 * robust accuracy after it) from the records alone, as a table (tables reporter, HTML) and terminal text.
 */
import { describe, expect, it } from 'vitest';
import type { RunData } from '../../src/rundir/read.js';
import type { SuiteCellResult } from '../../src/rundir/records.js';
import { cascadeTable, cascadeText } from '../../src/report/cascade.js';
import { buildTables, toMarkdown } from '../../src/report/tables.js';
import { terminalText } from '../../src/report/reporters/terminal.js';
import { strongestWhiteBoxSeries } from '../../src/report/charts.js';
import { cell, checkpointRef, manifest } from './fixtures.js';

// 8 samples, 7 correct clean; stage 1 breaks 3, stage 2 breaks 1, stage 3 none.
const clean = [true, true, true, true, true, true, true, false];
const after = [
  [true, false, false, true, false, true, true, false],
  [true, false, false, true, false, false, true, false],
  [true, false, false, true, false, false, true, false],
];
const stages = ['apgd-ce', 'apgd-t', 'square'];

function run(): RunData {
  const cells: SuiteCellResult[] = [cell({ id: 'm|clean', kind: 'clean', checkpoint: 'm' }, clean)];
  after.forEach((bits, k) => {
    const previous = k === 0 ? clean : after[k - 1];
    cells.push({
      ...cell({ id: `m|aa/${stages[k]}|e2e|0.03`, kind: 'attack', checkpoint: 'm', attack: `aa/${stages[k]}`, path: 'e2e', eps: 0.03, threatModel: 'linf' }, bits),
      method: stages[k],
      attacked: previous.filter(Boolean).length,
      cascade: { label: 'aa', stages, stage: k + 1, broken: previous.filter(Boolean).length - bits.filter(Boolean).length },
    });
  });
  cells.push({
    ...cell({ id: 'm|aa|e2e|0.03', kind: 'attack', checkpoint: 'm', attack: 'aa', path: 'e2e', eps: 0.03, threatModel: 'linf' }, after[2]),
    cascade: { label: 'aa', stages, brokenBy: [-1, 1, 1, -1, 1, 2, -1, 0] },
  });
  return { dir: '/tmp/x', manifest: manifest([checkpointRef('m', 1)], 8, cells.map((c) => c.id)), cells, sanity: [] };
}

describe('cascade log', () => {
  it('a row per stage with the samples it broke and the robust accuracy after it, then the result', () => {
    const table = cascadeTable(run())!;
    const rows = table.rows.map((r) => [r.values[5], r.values[6], (r.values[7] as { correct: number }).correct]);
    expect(rows).toEqual([
      ['clean', '', 7],
      ['apgd-ce', '3', 4],
      ['apgd-t', '1', 3],
      ['square', '0', 3],
      ['robust (all stages)', '', 3],
    ]);
    expect(table.rows[4].emphasis).toBe(true);
    expect(buildTables(run()).map((t) => t.id)).toContain('cascade');
    expect(toMarkdown(table)).toContain('| m | aa | e2e | L∞ | 0.03 | apgd-t | 1 | 37.5 (13.7-69.4) |');
    expect(cascadeTable({ ...run(), cells: run().cells.filter((c) => !(c as SuiteCellResult).cascade) })).toBeNull();
  });

  it('terminal text: AutoAttack\'s lines', () => {
    const text = cascadeText(run());
    expect(text).toContain('m aa (path e2e, L∞ ε=0.03)');
    expect(text).toContain('  clean accuracy: 87.5% (95% CI 52.9-97.8%)');
    expect(text).toContain('  apgd-ce: 3 of 7 broken; robust accuracy after apgd-ce: 50.0%');
    expect(text).toContain('  apgd-t: 1 of 4 broken; robust accuracy after apgd-t: 37.5%');
    expect(text).toContain('  robust accuracy: 37.5%');
    expect(terminalText(run())).toContain(text);
  });

  it('the headline\'s strongest single attack is never a combination: of a cascade only its first stage counts', () => {
    expect(JSON.parse(strongestWhiteBoxSeries(run()).get('m')!)[0]).toBe('aa/apgd-ce');
  });
});
