/**
 * Charts name the norm of ε on every axis and never draw L-inf and L2 radii on one axis (issue 13, item 7).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readRun } from '../../src/suite/summary.js';
import { buildCharts } from '../../src/report/charts.js';
import { writeMixedNormRun, writeSyntheticRun } from './fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'bench-charts-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Spec {
  title: string;
  data: { values: { threatModel: string; series: string; eps: number; accuracy: number }[] };
  encoding?: { x: { axis: { title: string } } };
  spec?: { encoding: { x: { axis: { title: string } } } };
}
const axisTitle = (s: Spec) => (s.encoding ?? s.spec!.encoding).x.axis.title;

describe('ε charts per threat model', () => {
  it('an L-inf run: the axis says L∞', async () => {
    const dir = join(root, 'linf');
    writeSyntheticRun(dir);
    const charts = buildCharts(await readRun(dir));
    for (const id of ['headline', 'accuracy-vs-eps']) {
      const spec = charts.find((c) => c.id === id)!.spec as unknown as Spec;
      expect(axisTitle(spec)).toBe('ε (L∞ radius, pixel units in [0,1])');
      expect(spec.title).toContain('L∞');
    }
  });

  it('a run mixing L-inf and L2 attacks gets one chart per norm, each with its own axis title and only its own points', async () => {
    const dir = join(root, 'mixed');
    writeMixedNormRun(dir);
    const charts = buildCharts(await readRun(dir));
    expect(charts.map((c) => c.id)).toEqual(['headline', 'headline-l2', 'accuracy-vs-eps', 'accuracy-vs-eps-l2']);
    for (const c of charts) {
      const spec = c.spec as unknown as Spec;
      const norm = c.id.endsWith('-l2') ? 'l2' : 'linf';
      expect(axisTitle(spec)).toBe(`ε (${norm === 'l2' ? 'L2' : 'L∞'} radius, pixel units in [0,1])`);
      expect(new Set(spec.data.values.map((p) => p.threatModel))).toEqual(new Set([norm]));
      expect(c.caption).toContain(norm === 'l2' ? 'L2' : 'L∞');
    }
    // The L2 worst case at eps 1 is L2's own (15 of 20), not the AND with the L-inf attack at "1" (0).
    const l2 = charts.find((c) => c.id === 'accuracy-vs-eps-l2')!.spec as unknown as Spec;
    expect(l2.data.values.find((p) => p.series === 'worst case' && p.eps === 1)!.accuracy).toBe(0.75);
  });
});
