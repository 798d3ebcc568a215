import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { headlineChart } from '../../src/report/charts.js';
import { readRun } from '../../src/suite/summary.js';
import type { CellResult } from '../../src/suite/records.js';
import { cell, checkpointRef, manifest, writeRun } from './fixtures.js';

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
