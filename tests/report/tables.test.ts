import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, describe, expect, it } from 'vitest';
import { corruptionSummary, worstCase } from '../../src/suite/summary.js';
import { mceSummary } from '../../src/suite/table.js';
import { readRun } from '../../src/rundir/read.js';
import { accuracyVsEpsTable, buildTables, corruptionTable, summaryTable, toCsv, toMarkdown, writeTables } from '../../src/report/tables.js';
import { FIXTURE_CORRUPTIONS, FIXTURE_EPS, writeMceEdgeRun, writeMixedNormRun, writeSyntheticRun } from './fixtures.js';
import { cellsTable } from '../../src/report/tables.js';

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
    // Every ε column names its norm (all of the fixture's attacks are L-inf).
    expect(t.columns.slice(3).map((c) => c.header)).toEqual(['norm', ...FIXTURE_EPS.map((e) => `L∞ ε=${e}`)]);
    // 9 attack series + worst case, per checkpoint.
    expect(t.rows).toHaveLength(2 * 10);
    const worst = t.rows.filter((r) => r.emphasis);
    expect(worst.map((r) => r.values[0])).toEqual(['cnn-fmnist', hostile]);
    const expected = worstCase(run).filter((w) => w.checkpoint === 'cnn-fmnist');
    expect(worst[0].values[3]).toBe('L∞');
    expect(worst[0].values.slice(4).map((v) => (v as { correct: number }).correct)).toEqual(expected.map((w) => w.correct));
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
    expect(rows[0].slice(0, 7)).toEqual(['checkpoint', 'attack', 'path', 'norm', 'linf_eps=0', 'linf_eps=0 ci_low', 'linf_eps=0 ci_high']);
    expect(rows).toHaveLength(1 + t.rows.length);
    const pgd = fixture.cells.find((c) => c.checkpoint === hostile && c.attack === 'pgd' && c.path === 'e2e' && !c.transferFrom && c.eps === 0.1)!;
    const row = rows.find((r) => r[0] === hostile && r[1] === 'pgd' && r[2] === 'e2e')!;
    const col = rows[0].indexOf('linf_eps=0.1');
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
      'note',
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

describe('mCE intervals, corruptions left out and noise warnings in the tables', () => {
  const dir = join(root, 'mce-edge');
  writeMceEdgeRun(dir);
  const contrastReason = "the baseline base-net is no worse on it than clean (its error rises by 0.0 points on average over severities 1,2,3; relative CE's denominator must be positive)";

  it('the corruption table notes contrast as left out of relative mCE with the reason, and fog as within noise (CSV and Markdown)', async () => {
    const table = corruptionTable(await readRun(dir));
    const rows = parse(toCsv(table), { columns: true }) as Record<string, string>[];
    const note = (checkpoint: string, corruption: string) => rows.find((r) => r.checkpoint === checkpoint && r.corruption === corruption)!.mce_note;
    expect(note('other-net', 'contrast')).toBe(`left out of relative mCE: ${contrastReason}`);
    expect(note('other-net', 'fog')).toMatch(/^relative CE within noise: the baseline's degradation is 0\.8 points \(95% CI 0\.0 to /);
    expect(note('other-net', 'gaussian_noise')).toBe('');
    const md = toMarkdown(table);
    expect(md).toContain(`left out of relative mCE: ${contrastReason}`);
  });

  it('the summary gives mCE and relative mCE with 95% bootstrap intervals and lists every corruption left out (CSV and Markdown)', async () => {
    const run = await readRun(dir);
    const table = summaryTable(run);
    const [, other] = parse(toCsv(table), { columns: true }) as Record<string, string>[];
    // CE (contrast in): noise (14+20+26)/(10+14+18) = 60/42, fog 37/13, contrast 38/12; relative CE (contrast out):
    // noise (60 - 3*6)/(42 - 3*4) = 42/30, fog (37 - 18)/(13 - 12) = 19.
    expect(Number(other.mce)).toBeCloseTo(Number(((60 / 42 + 37 / 13 + 38 / 12) / 3).toFixed(6)), 6);
    expect(Number(other.relative_mce)).toBeCloseTo(Number(((42 / 30 + 19) / 2).toFixed(6)), 6);
    expect(Number(other['mce ci_low'])).toBeLessThan(Number(other.mce));
    expect(Number(other['mce ci_high'])).toBeGreaterThan(Number(other.mce));
    // Fog's baseline degradation is one image: resamples without it leave the ratio unbounded.
    expect(other['relative_mce ci_high']).toBe('Infinity');
    expect(other.mce_notes).toContain(`left out of relative mCE: contrast (${contrastReason})`);
    expect(other.mce_notes).toContain("within noise: fog: the degradation of the baseline base-net, 0.8 points");
    const md = toMarkdown(table);
    expect(md).toContain(`left out of relative mCE: contrast (${contrastReason})`);
    expect(md).toMatch(/\| 1020\.0 \(\d+\.\d-∞\) \|/); // (1.4 + 19) / 2 = 10.2
  });

  it('the baseline against itself: mCE and relative mCE are 100% by definition, "100% (baseline)", no interval to ∞ nor noise flags', async () => {
    const run = await readRun(dir);
    const table = summaryTable(run);
    const [base] = parse(toCsv(table), { columns: true }) as Record<string, string>[];
    expect(base.checkpoint).toBe('base-net');
    for (const col of ['mce', 'relative_mce']) expect([base[col], base[`${col} ci_low`], base[`${col} ci_high`]]).toEqual(['1', '1', '1']);
    expect(base.mce_notes).not.toContain('within noise');
    const row = toMarkdown(table).split('\n').find((l) => l.startsWith('| base-net'))!;
    expect(row).toContain('| 100% (baseline) | 100% (baseline) |');
    expect(row).not.toContain('∞');
    expect(mceSummary(corruptionSummary(run))).toContain('  base-net: mCE 100% (baseline), relative mCE 100% (baseline)\n');
    // Against another baseline, base-net is an ordinary checkpoint again.
    const [other] = parse(toCsv(summaryTable(run, 'other-net')), { columns: true }) as Record<string, string>[];
    expect(Number(other.mce)).toBeLessThan(1);
  });
});

describe('Markdown', () => {
  it('an emphasised row leaves an empty cell empty (no literal "****")', () => {
    const md = toMarkdown({
      id: 't',
      title: 'T',
      note: 'n',
      columns: [
        { header: 'a', kind: 'text' },
        { header: 'b', kind: 'text' },
      ],
      rows: [{ values: ['x', ''], emphasis: true }],
    });
    expect(md.split('\n')[6]).toBe('| **x** |  |');
  });

});

describe('tables name the norm of every ε (issue 13, item 7)', () => {
  const dir = join(root, 'mixed-norms');
  writeMixedNormRun(dir);

  it('accuracy vs ε: L∞ and L2 columns apart, one worst-case row per norm', async () => {
    const t = accuracyVsEpsTable(await readRun(dir));
    expect(t.columns.slice(3).map((c) => c.header)).toEqual(['norm', 'L∞ ε=0', 'L∞ ε=0.1', 'L∞ ε=1', 'L2 ε=0', 'L2 ε=1', 'L2 ε=3']);
    expect(t.columns.slice(4).map((c) => c.csvHeader)).toEqual(['linf_eps=0', 'linf_eps=0.1', 'linf_eps=1', 'l2_eps=0', 'l2_eps=1', 'l2_eps=3']);
    const worst = t.rows.filter((r) => r.emphasis).map((r) => r.values.slice(3).map((v) => (v === null || typeof v === 'string' ? v : (v as { correct: number }).correct)));
    // L-inf worst case: nothing in the L2 columns, and the reverse; L2 at 1 keeps 15 of 20.
    expect(worst).toEqual([
      ['L∞', 20, 12, 0, null, null, null],
      ['L2', null, null, null, 20, 15, 4],
    ]);
    expect(t.note).toContain('L∞ and L2 norm');
  });

  it('summary and cells tables', async () => {
    const run = await readRun(dir);
    expect(summaryTable(run).columns.slice(2).map((c) => c.header)).toEqual([
      'worst case L∞ ε=0.1',
      'worst case L∞ ε=1',
      'worst case L2 ε=1',
      'worst case L2 ε=3',
    ]);
    expect(toMarkdown(summaryTable(run))).toContain('worst case L2 ε=1');
    const cells = cellsTable(run);
    const norm = cells.columns.findIndex((c) => c.header === 'norm');
    expect(cells.rows.map((r) => r.values[norm])).toEqual(['', 'linf', 'linf', 'linf', 'l2', 'l2', 'l2']);
  });
});
