import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/engine/errors.js';
import { corruptionSummary, estimate, summaryRows, worstCase } from '../../src/suite/summary.js';
import { missingCells, readRun, type RunData } from '../../src/rundir/read.js';
import type { CellResult } from '../../src/rundir/records.js';
import { cell, checkpointRef, manifest, MIXED_NORM_SAMPLES, writeMixedNormRun, writeRun } from '../report/fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'bench-summary-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let runCount = 0;

async function run(cells: CellResult[], config: Record<string, unknown> = {}, names = ['A', 'B']): Promise<RunData> {
  const dir = join(root, `run${runCount++}`);
  const samples = cells[0]?.samples ?? 0;
  writeRun(dir, manifest(names.map((n) => checkpointRef(n, 0)), samples, cells.map((c) => c.id), config), cells);
  return readRun(dir);
}

const bits = (s: string) => [...s].map((c) => c === '1');
/** n samples, the first k correct. */
const firstK = (k: number, n = 10) => Array.from({ length: n }, (_, i) => i < k);

describe('worstCase', () => {
  it('is the per-sample AND over every attack cell at that eps (all paths, transfer included) and the clean cell', async () => {
    // 11 samples, so the bitsets cross a byte boundary.
    const r = await run([
      cell({ id: 'A|clean', kind: 'clean', checkpoint: 'A' }, bits('11111101111')),
      cell({ id: 'A|pgd|e2e|0.1', kind: 'attack', checkpoint: 'A', attack: 'pgd', path: 'e2e', eps: 0.1 }, bits('10110101111')),
      cell({ id: 'A|pgd|first|0.1', kind: 'attack', checkpoint: 'A', attack: 'pgd', path: 'first', eps: 0.1 }, bits('11111101110')),
      cell({ id: 'A|square|none|0.1', kind: 'attack', checkpoint: 'A', attack: 'square', path: 'none', eps: 0.1 }, bits('11011101011')),
      // Sample 6 is wrong on clean images but survives the transfer attack: it still is not robust.
      cell({ id: 'A|transfer|B|pgd|e2e|0.1', kind: 'attack', checkpoint: 'A', attack: 'pgd', path: 'e2e', transferFrom: 'B', eps: 0.1 }, bits('11101111101')),
      cell({ id: 'A|pgd|e2e|0.05', kind: 'attack', checkpoint: 'A', attack: 'pgd', path: 'e2e', eps: 0.05 }, bits('11111111100')),
      // B's cells never mix into A's worst case.
      cell({ id: 'B|pgd|e2e|0.1', kind: 'attack', checkpoint: 'B', attack: 'pgd', path: 'e2e', eps: 0.1 }, bits('00000000000')),
    ]);
    const rows = worstCase(r);
    // Hand-computed ANDs: eps 0.1 -> 10000101000 (3 of 11); eps 0.05 -> clean & 11111111100 = 11111101100 (8 of 11).
    expect(rows.map((w) => [w.checkpoint, w.eps, w.correct, w.samples])).toEqual([
      ['A', 0.05, 8, 11],
      ['A', 0.1, 3, 11],
      ['B', 0.1, 0, 11],
    ]);
    expect(rows[1].accuracy).toBeCloseTo(3 / 11, 12);
    expect(rows[1].cellIds).toHaveLength(5);
  });

  it('reports the 95% Wilson interval (values of Newcombe 1998, Table I)', () => {
    // Newcombe, Stat. Med. 17:857 (1998), method 3 (score without continuity correction).
    const cases: [number, number, number, number][] = [
      [81, 263, 0.2553, 0.3662],
      [15, 148, 0.0624, 0.1605],
      [0, 20, 0, 0.1611],
      [1, 29, 0.0061, 0.1718],
    ];
    for (const [k, n, lo, hi] of cases) {
      const e = estimate(k, n);
      expect(e.ci95[0]).toBeCloseTo(lo, 4);
      expect(e.ci95[1]).toBeCloseTo(hi, 4);
    }
  });

  it('ANDs each image over the cells that evaluated it when an attack ran on a prefix subset', async () => {
    // pgd on all 12 images: 0..9 survive. square on the first 6 only: 0..2 survive.
    const r = await run([
      cell({ id: 'A|pgd|e2e|0.1', kind: 'attack', checkpoint: 'A', attack: 'pgd', path: 'e2e', eps: 0.1 }, firstK(10, 12)),
      cell({ id: 'A|square|none|0.1', kind: 'attack', checkpoint: 'A', attack: 'square', path: 'none', eps: 0.1 }, firstK(3, 6)),
    ]);
    const [row] = worstCase(r);
    // Robust: 0, 1, 2 (both attacks) and 6..9 (pgd only; square never saw them) = 7 of 12.
    expect(row.samples).toBe(12);
    expect(row.correct).toBe(7);
  });
});

describe('worstCase over threat models (issue 13, item 7)', () => {
  it('combines only attacks of one threat model: L-inf eps 1 and L2 eps 1 are separate rows', async () => {
    const dir = join(root, 'mixed-norms');
    writeMixedNormRun(dir);
    const rows = worstCase(await readRun(dir));
    expect(rows.map((r) => `${r.threatModel} ${r.eps}`)).toEqual(['linf 0', 'linf 0.1', 'linf 1', 'l2 0', 'l2 1', 'l2 3']);
    const at1 = rows.filter((r) => r.eps === 1);
    // L-inf at 1 breaks every image; L2 at 1 leaves the first 15: mixing them would give 0 for both.
    expect(at1.map((r) => [r.threatModel, r.correct, r.samples])).toEqual([
      ['linf', 0, MIXED_NORM_SAMPLES],
      ['l2', 15, MIXED_NORM_SAMPLES],
    ]);
    expect(at1[1].cellIds).toEqual(['cnn-fmnist|pgd-l2|first|1', 'cnn-fmnist|clean']);
    const summary = summaryRows(await readRun(dir))[0];
    expect(summary.robust.map((x) => `${x.threatModel} ${x.eps} ${x.estimate.correct}`)).toContain('l2 3 4');
  });
});

describe('corruptionSummary', () => {
  // Accuracies (n = 10) chosen so every error is a multiple of 0.1 and the CE sums are easy by hand.
  const table: Record<string, { clean: number; c1: number[]; c2: number[] }> = {
    A: { clean: 9, c1: [8, 6, 4], c2: [7, 5, 5] },
    B: { clean: 9.5, c1: [9, 7, 6], c2: [6, 5, 3] },
  };
  function cells(): CellResult[] {
    const out: CellResult[] = [];
    for (const [name, t] of Object.entries(table)) {
      // Clean accuracy 0.95 needs 20 samples; use 20 everywhere (accuracies doubled in counts).
      out.push(cell({ id: `${name}|clean`, kind: 'clean', checkpoint: name }, firstK(t.clean * 2, 20)));
      for (const c of ['c1', 'c2'] as const)
        t[c].forEach((acc, i) =>
          out.push(
            cell(
              { id: `${name}|corruption|${c}|${i + 1}`, kind: 'corruption', checkpoint: name, corruption: c, family: c === 'c1' ? 'noise' : 'blur', severity: i + 1 },
              firstK(acc * 2, 20),
            ),
          ),
        );
    }
    return out;
  }

  it('computes CE, mCE, relative CE and relative mCE as Hendrycks & Dietterich (2019) define them', async () => {
    const r = await run(cells());
    const [a, b] = corruptionSummary(r);
    expect(a.baseline).toBe('A');
    // The baseline is 100% of itself.
    expect(a.mCE).toBeCloseTo(1, 12);
    expect(a.relativeMCE).toBeCloseTo(1, 12);
    // B, c1: errors .1,.3,.4 (sum .8) vs A's .2,.4,.6 (sum 1.2) -> CE 2/3.
    //        relative: (.8 - 3*.05) / (1.2 - 3*.1) = .65/.9.
    // B, c2: errors .4,.5,.7 (sum 1.6) vs .3,.5,.5 (sum 1.3) -> CE 16/13; relative (1.6-.15)/(1.3-.3) = 1.45.
    const ce = Object.fromEntries(b.corruptions.map((c) => [c.corruption, c]));
    expect(ce.c1.ce).toBeCloseTo(2 / 3, 10);
    expect(ce.c1.relativeCe).toBeCloseTo(0.65 / 0.9, 10);
    expect(ce.c2.ce).toBeCloseTo(16 / 13, 10);
    expect(ce.c2.relativeCe).toBeCloseTo(1.45, 10);
    expect(b.mCE).toBeCloseTo((2 / 3 + 16 / 13) / 2, 10); // 0.948718
    expect(b.relativeMCE).toBeCloseTo((0.65 / 0.9 + 1.45) / 2, 10); // 1.086111
    // Mean corruption accuracy over all corruptions and severities.
    expect(b.meanAccuracy).toBeCloseTo((0.9 + 0.7 + 0.6 + 0.6 + 0.5 + 0.3) / 6, 10);
    expect(a.meanAccuracy).toBeCloseTo(3.5 / 6, 10);
  });

  it('takes the baseline from the argument, else the config, else the first checkpoint', async () => {
    const fromConfig = corruptionSummary(await run(cells(), { baseline: 'B' }));
    expect(fromConfig.map((s) => s.baseline)).toEqual(['B', 'B']);
    // A against B: c1 1.2/.8 = 1.5, c2 1.3/1.6 = .8125.
    expect(fromConfig[0].mCE).toBeCloseTo((1.5 + 0.8125) / 2, 10);
    const r = await run(cells(), { baseline: 'B' });
    expect(corruptionSummary(r, 'A')[1].mCE).toBeCloseTo((2 / 3 + 16 / 13) / 2, 10);
    expect(() => corruptionSummary(r, 'nope')).toThrow(/--baseline: no checkpoint "nope"/);
  });
});

describe('summaryRows', () => {
  it('gathers clean, worst case per eps, mean corruption accuracy and mCE per checkpoint', async () => {
    const r = await run([
      cell({ id: 'A|clean', kind: 'clean', checkpoint: 'A' }, firstK(9)),
      cell({ id: 'A|pgd|e2e|0.1', kind: 'attack', checkpoint: 'A', attack: 'pgd', path: 'e2e', eps: 0.1 }, firstK(4)),
      cell({ id: 'A|corruption|fog|1', kind: 'corruption', checkpoint: 'A', corruption: 'fog', family: 'weather', severity: 1 }, firstK(7)),
      cell({ id: 'B|clean', kind: 'clean', checkpoint: 'B' }, firstK(8)),
    ]);
    const rows = summaryRows(r);
    expect(rows.map((x) => x.checkpoint)).toEqual(['A', 'B']);
    expect(rows[0].clean?.accuracy).toBeCloseTo(0.9);
    expect(rows[0].robust.map((x) => [x.eps, x.estimate.correct])).toEqual([[0.1, 4]]);
    expect(rows[0].meanCorruptionAccuracy).toBeCloseTo(0.7);
    expect(rows[0].mCE).toBeCloseTo(1);
    expect(rows[1]).toMatchObject({ checkpoint: 'B', robust: [], meanCorruptionAccuracy: null, mCE: null });
  });
});

describe('readRun', () => {
  it('names the missing or corrupt file', async () => {
    await expect(readRun(join(root, 'absent'))).rejects.toThrow(/absent: no such run directory/);
    const dir = join(root, 'corrupt');
    writeRun(dir, manifest([checkpointRef('A', 0)], 10, ['A|clean']), [cell({ id: 'A|clean', kind: 'clean', checkpoint: 'A' }, firstK(9))]);
    writeFileSync(join(dir, 'cells', 'A_clean.json'), '{"format": "bench-cell/1", "id": ');
    await expect(readRun(dir)).rejects.toThrow(/cells\/A_clean\.json: cell result is not valid JSON/);
    writeFileSync(join(dir, 'cells', 'A_clean.json'), JSON.stringify({ format: 'something-else' }));
    await expect(readRun(dir)).rejects.toThrow(InputError);
    writeFileSync(join(dir, 'run.json'), '[]');
    await expect(readRun(dir)).rejects.toThrow(/run\.json: run manifest is not a JSON object/);
    const noManifest = join(root, 'empty');
    writeRun(noManifest, manifest([], 0, []), []);
    rmSync(join(noManifest, 'run.json'));
    await expect(readRun(noManifest)).rejects.toThrow(/empty\/run\.json: no run manifest/);
  });

  it('reads cells in the planned order and reports the missing ones', async () => {
    const dir = join(root, 'partial');
    const cs = [cell({ id: 'A|clean', kind: 'clean', checkpoint: 'A' }, firstK(9)), cell({ id: 'B|clean', kind: 'clean', checkpoint: 'B' }, firstK(8))];
    writeRun(dir, manifest([checkpointRef('A', 0), checkpointRef('B', 0)], 10, ['B|clean', 'X|clean', 'A|clean']), cs);
    const r = await readRun(dir);
    expect(r.cells.map((c) => c.id)).toEqual(['B|clean', 'A|clean']);
    expect(missingCells(r)).toEqual(['X|clean']);
    expect(r.sanity).toEqual([]);
  });
});
