import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, describe, expect, it } from 'vitest';
import { worstCase } from '../../src/suite/summary.js';
import { readRun } from '../../src/rundir/read.js';
import { accuracyVsEpsTable, buildTables, corruptionTable, summaryTable, toCsv, toMarkdown, writeTables } from '../../src/report/tables.js';
import { FIXTURE_CORRUPTIONS, FIXTURE_EPS, writeSyntheticRun } from './fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'bench-tables-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Wilson score interval written out independently of src/ (Wilson 1927; z = 1.96). */
function wilson(k: number, n: number): [number, number] {
  const z = 1.959963984540054;
  const p = k / n;
  const centre = p + (z * z) / (2 * n);
  const spread = z * Math.sqrt((p * (1 - p) + (z * z) / (4 * n)) / n);
  const d = 1 + (z * z) / n;
  return [(centre - spread) / d, (centre + spread) / d];
}
const pct = (x: number) => (100 * x).toFixed(1);

describe('tables', () => {
  const hostile = 'cnnf|fmnist, "quoted" <img src=x onerror=alert(1)>';
  const dir = join(root, 'run');
  const fixture = writeSyntheticRun(dir, { cnnf: hostile });

  it('accuracy vs eps: a row per checkpoint x attack x path, eps columns, and an emphasised worst-case row', async () => {
    const run = await readRun(dir);
    const t = accuracyVsEpsTable(run);
    expect(t.columns.slice(3).map((c) => c.header)).toEqual(FIXTURE_EPS.map((e) => `ε=${e}`));
    // 9 attack series + worst case, per checkpoint.
    expect(t.rows).toHaveLength(2 * 10);
    const worst = t.rows.filter((r) => r.emphasis);
    expect(worst.map((r) => r.values[0])).toEqual(['cnn-fmnist', hostile]);
    const expected = worstCase(run).filter((w) => w.checkpoint === 'cnn-fmnist');
    expect(worst[0].values.slice(3).map((v) => (v as { correct: number }).correct)).toEqual(expected.map((w) => w.correct));
    expect(t.rows.map((r) => `${r.values[1]}/${r.values[2]}`).slice(0, 10)).toEqual([
      'fgsm/first',
      'fgsm/e2e',
      'fgsm/bpda',
      'pgd/first',
      'pgd/e2e',
      'pgd/bpda',
      'apgd-ce/e2e',
      'square/—',
      `pgd ← ${hostile}/e2e`,
      'worst case/all',
    ]);
  });

  it('CSV parses back to the same numbers, including a name with a comma, quotes and a pipe', async () => {
    const run = await readRun(dir);
    const t = accuracyVsEpsTable(run);
    const rows: string[][] = parse(toCsv(t));
    expect(rows[0].slice(0, 6)).toEqual(['checkpoint', 'attack', 'path', 'eps=0', 'eps=0 ci_low', 'eps=0 ci_high']);
    expect(rows).toHaveLength(1 + t.rows.length);
    const pgd = fixture.cells.find((c) => c.checkpoint === hostile && c.attack === 'pgd' && c.path === 'e2e' && !c.transferFrom && c.eps === 0.1)!;
    const row = rows.find((r) => r[0] === hostile && r[1] === 'pgd' && r[2] === 'e2e')!;
    const col = rows[0].indexOf('eps=0.1');
    expect(Number(row[col])).toBeCloseTo(pgd.correct / pgd.samples, 6);
    const [lo, hi] = wilson(pgd.correct, pgd.samples);
    expect(Number(row[col + 1])).toBeCloseTo(lo, 6);
    expect(Number(row[col + 2])).toBeCloseTo(hi, 6);
  });

  it('Markdown shows accuracy with its 95% interval and escapes pipes and HTML', async () => {
    const run = await readRun(dir);
    const md = toMarkdown(summaryTable(run));
    const clean = fixture.cells.find((c) => c.id === 'cnn-fmnist|clean')!;
    const [lo, hi] = wilson(clean.correct, clean.samples);
    expect(md).toContain(`| cnn-fmnist | ${pct(clean.correct / clean.samples)} (${pct(lo)}-${pct(hi)}) |`);
    expect(md).toContain('cnnf\\|fmnist, "quoted" &lt;img src=x onerror=alert(1)&gt;');
    expect(md).not.toContain('<img');
    // Every table row has as many cells as the header (escaped pipes do not split cells).
    const lines = md.split('\n').filter((l) => l.startsWith('|'));
    const count = (l: string) => l.replace(/\\\|/g, '').split('|').length;
    expect(new Set(lines.map(count)).size).toBe(1);
  });

  it('corruption table: a row per checkpoint x corruption, severities 1-5, mean, CE', async () => {
    const run = await readRun(dir);
    const t = corruptionTable(run);
    expect(t.columns.map((c) => c.header)).toEqual([
      'checkpoint',
      'corruption',
      'family',
      'severity 1',
      'severity 2',
      'severity 3',
      'severity 4',
      'severity 5',
      'mean',
      'CE',
      'relative CE',
    ]);
    expect(t.rows).toHaveLength(2 * FIXTURE_CORRUPTIONS.length);
    // Family order of Hendrycks & Dietterich: noise, blur, weather, digital.
    expect(t.rows.slice(0, 4).map((r) => r.values[2])).toEqual(['noise', 'blur', 'weather', 'digital']);
    // The baseline (first checkpoint) has CE 1 on every corruption.
    expect(t.rows.slice(0, 4).map((r) => r.values[9])).toEqual([1, 1, 1, 1]);
  });

  it('writes tables/*.csv and *.md beside the run', async () => {
    const run = await readRun(dir);
    const files = await writeTables(dir, buildTables(run));
    for (const id of ['summary', 'accuracy-vs-eps', 'corruption-accuracy', 'cells'])
      for (const ext of ['csv', 'md']) expect(files).toContain(join(dir, 'tables', `${id}.${ext}`));
    const cells: string[][] = parse(readFileSync(join(dir, 'tables', 'cells.csv'), 'utf8'));
    expect(cells).toHaveLength(1 + fixture.cells.length);
    expect(readFileSync(join(dir, 'tables', 'all.md'), 'utf8')).toContain('### Robust accuracy vs ε');
  });
});
