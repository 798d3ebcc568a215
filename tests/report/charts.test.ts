/**
 * The headline chart plots each checkpoint's strongest untargeted white-box sweep (issue 13, item 4);
 * charts name the norm of ε on every axis and never draw L-inf and L2 radii on one axis (issue 13, item 7).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildCharts, headlineChart } from '../../src/report/charts.js';
import { readRun } from '../../src/rundir/read.js';
import type { CellResult } from '../../src/rundir/records.js';
import { cell, checkpointRef, manifest, writeMixedNormRun, writeRun, writeSyntheticRun } from './fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'bench-charts-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('headline chart', () => {
  it('plots the strongest untargeted white-box sweep, not the one labelled pgd on path e2e', async () => {
    const n = 20;
    const firstK = (k: number) => Array.from({ length: n }, (_, i) => i < k);
    const m = 'cnnf';
    const sweep = (label: string, path: string, ks: number[], params: Record<string, unknown>, extra: Partial<CellResult> = {}) =>
      [0, 0.05, 0.1].map((eps, i) =>
        cell({ id: `${m}|${label}|${path}|${eps}`, kind: 'attack', checkpoint: m, attack: label, path: path as CellResult['path'], eps, attackParams: params, ...extra }, firstK(ks[i])),
      );
    const cells = [
      cell({ id: `${m}|clean`, kind: 'clean', checkpoint: m }, firstK(18)),
      // "pgd" here is a targeted PGD: weak, and not what the headline should show.
      ...sweep('pgd', 'e2e', [18, 15, 12], { steps: 20, targeted: true }),
      ...sweep('pgd-untargeted', 'bpda', [18, 6, 1], { steps: 20, targeted: false }, { method: 'pgd' }),
      ...sweep('pgd-untargeted', 'e2e', [18, 8, 2], { steps: 20, targeted: false }, { method: 'pgd' }),
      // Score-based and transfer attacks are not white-box sweeps of the checkpoint, however strong.
      ...sweep('square', 'none', [18, 0, 0], { queries: 100 }),
      ...sweep('pgd', 'first', [18, 0, 0], { steps: 20 }, { transferFrom: 'cnn' }),
    ];
    const dir = join(root, 'run');
    writeRun(dir, manifest([checkpointRef(m, 1)], n, cells.map((c) => c.id)), cells);
    const chart = headlineChart(await readRun(dir))!;
    const values = (chart.spec as unknown as { data: { values: { curve: string; series: string; eps: number; accuracy: number }[] } }).data.values;
    const dashed = values.filter((v) => v.curve !== 'worst case (all attacks)');
    expect(new Set(dashed.map((v) => v.series))).toEqual(new Set(['pgd-untargeted (bpda)']));
    expect(dashed.map((v) => [v.eps, v.accuracy])).toEqual([
      [0, 0.9],
      [0.05, 0.3],
      [0.1, 0.05],
    ]);
  });
});

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
    // Each norm's headline dashes that norm's strongest untargeted white-box sweep (both sweeps use path first).
    for (const [id, series] of [['headline', 'pgd (first)'], ['headline-l2', 'pgd-l2 (first)']]) {
      const values = (charts.find((c) => c.id === id)!.spec as unknown as { data: { values: { curve: string; series: string }[] } }).data.values;
      expect(new Set(values.filter((v) => v.curve !== 'worst case (all attacks)').map((v) => v.series))).toEqual(new Set([series]));
    }
    // The L2 worst case at eps 1 is L2's own (15 of 20), not the AND with the L-inf attack at "1" (0).
    const l2 = charts.find((c) => c.id === 'accuracy-vs-eps-l2')!.spec as unknown as Spec;
    expect(l2.data.values.find((p) => p.series === 'worst case' && p.eps === 1)!.accuracy).toBe(0.75);
  });
});
