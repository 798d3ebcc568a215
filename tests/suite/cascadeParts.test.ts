/**
 * The stored parts of a split cascade (src/suite/cascadeParts.ts) answering a probe that continues the
 * cascade on its first n samples (partsAnswering): found by the unit's id and the part ranges, answered
 * per row from the part holding it, and refused (undefined: the caller recomputes) when a part is missing or
 * the cascade does not split. The whole-run behaviour (same cells and probes as one process) is in
 * cascade.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodeBits } from '../../src/rundir/records.js';
import { partsAnswering, writePart, type CascadePartFile } from '../../src/suite/cascadeParts.js';
import { cascadeUnitId, type PlannedCell } from '../../src/suite/planner.js';
import type { RunContext } from '../../src/suite/context.js';

let dir: string;
const previous = process.env.BENCH_CASCADE_PART_SAMPLES;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bench-parts-'));
  process.env.BENCH_CASCADE_PART_SAMPLES = '4';
});
afterAll(() => {
  if (previous === undefined) delete process.env.BENCH_CASCADE_PART_SAMPLES;
  else process.env.BENCH_CASCADE_PART_SAMPLES = previous;
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => rmSync(join(dir, 'parts'), { recursive: true, force: true }));

/** A stage cell of cascade `ens` on path e2e over `samples` images (only what the parts' lookup reads). */
const stageCell = (id: string, samples: number) =>
  ({ id, kind: 'attack', checkpoint: 'm', samples, cascade: { label: 'ens', stage: 1, stages: ['pgd'], chain: 'e2e' } }) as unknown as PlannedCell;
const unit = cascadeUnitId('m', 'ens', 'e2e');
const part = (lo: number, hi: number, rows: number[], correct: boolean[]): CascadePartFile => ({
  format: 'bench-cascade-part/1',
  unit,
  samples: [lo, hi],
  stages: { s1: { rows, correctBits: encodeBits(correct), gradientEvaluations: rows.length * 10, seconds: 1 } },
});
const ctx = undefined as unknown as RunContext; // the answers come from the files, never from a model

describe('partsAnswering', () => {
  it('answers the first n samples from the parts holding them (the last part ends at the cascade\'s sample count)', async () => {
    // 10 samples in parts of 4: [0,4), [4,8), [8,10); a probe on 6 samples needs the first two.
    await writePart(dir, part(0, 4, [0, 2, 3], [true, false, true]));
    await writePart(dir, part(4, 8, [4, 5, 7], [false, true, true]));
    const exec = await partsAnswering(dir, [stageCell('s1', 10)], 6);
    expect(exec).toBeDefined();
    const out = await exec!.attack(ctx, stageCell('s1', 10), [0, 3, 5], () => {});
    expect(out.correct).toEqual([true, true, true]);
    const out2 = await exec!.attack(ctx, stageCell('s1', 10), [2, 4], () => {});
    expect(out2.correct).toEqual([false, false]);
    // A probe on all 10 samples also needs [8,10), whose file names the cascade's last sample.
    expect(await partsAnswering(dir, [stageCell('s1', 10)], 10)).toBeUndefined();
    await writePart(dir, part(8, 10, [9], [false]));
    const all = await partsAnswering(dir, [stageCell('s1', 10)], 10);
    expect((await all!.attack(ctx, stageCell('s1', 10), [9, 7], () => {})).correct).toEqual([false, true]);
  });

  it('is undefined while a part holding some of the n samples is not stored, and for a cascade that does not split', async () => {
    await writePart(dir, part(0, 4, [0, 1], [true, true]));
    expect(await partsAnswering(dir, [stageCell('s1', 10)], 6)).toBeUndefined();
    // n within the first part: that part suffices.
    expect(await partsAnswering(dir, [stageCell('s1', 10)], 4)).toBeDefined();
    // 4 samples make one part: such a cascade runs whole, and no part file is looked for.
    expect(await partsAnswering(dir, [stageCell('s1', 4)], 4)).toBeUndefined();
  });

  it('a row the part did not record is an internal error, not a silent answer', async () => {
    await writePart(dir, part(0, 4, [0, 2], [true, true]));
    const exec = await partsAnswering(dir, [stageCell('s1', 10)], 4);
    await expect(exec!.attack(ctx, stageCell('s1', 10), [1], () => {})).rejects.toThrow(/no cascade part recorded sample 1/);
  });
});
