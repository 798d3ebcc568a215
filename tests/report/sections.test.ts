import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeReport } from '../../src/report/index.js';
import { REPORT_SECTIONS } from '../../src/report/sections/index.js';
import { buildCharts } from '../../src/report/charts.js';
import { readRun } from '../../src/rundir/read.js';
import { writeDirectModelRun, writeMceEdgeRun, writeSyntheticRun } from './fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'bench-sections-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The page without the inlined vega libraries (their minified source is not the report's text); the chart specs stay. */
function withoutLibraries(html: string): string {
  return html.replace(/<script>[\s\S]*?<\/script>/gi, '<script></script>');
}

const navLinks = (html: string) => [.../<nav>([\s\S]*?)<\/nav>/.exec(html)![1].matchAll(/href="#([^"]+)"/g)].map((m) => m[1]);
const sectionIds = (html: string) => [...html.matchAll(/<section id="([^"]+)">/g)].map((m) => m[1]);

describe('report sections', () => {
  it('the registry has one section per id, top sections first', () => {
    const ids = REPORT_SECTIONS.map((s) => s.id);
    expect(new Set(ids).size).toBe(ids.length);
    const firstBody = REPORT_SECTIONS.findIndex((s) => s.placement !== 'top');
    expect(REPORT_SECTIONS.slice(firstBody).every((s) => s.placement !== 'top')).toBe(true);
  });

  it('an adversarial run: every body section applies, in registry order, and the navigation links exactly them', async () => {
    const dir = join(root, 'adv');
    writeSyntheticRun(dir, { samples: 60, images: true });
    const html = readFileSync(await writeReport(dir), 'utf8');
    const expected = ['headline', 'sanity', 'summary', 'charts', 'tables', 'images', 'models', 'metadata'];
    expect(sectionIds(html)).toEqual(expected);
    expect(navLinks(html)).toEqual(expected);
    // The top sections: verdicts, then the sanity banner (the fixture has one warning).
    expect(html.indexOf('<ul class="verdicts">')).toBeLessThan(html.indexOf('1 sanity check warns'));
    expect(html.indexOf('1 sanity check warns')).toBeLessThan(html.indexOf('<section id="headline">'));
  });

  it('a corruption run: no headline and no sanity section (nothing to check), and no link to either', async () => {
    const dir = join(root, 'corr');
    writeMceEdgeRun(dir);
    const html = readFileSync(await writeReport(dir), 'utf8');
    expect(sectionIds(html)).toEqual(['summary', 'charts', 'tables', 'models', 'metadata']);
    expect(navLinks(html)).toEqual(sectionIds(html));
    expect(html).not.toContain('gradient-masking sanity checks');
  });

  it('plan notes from run.json get their own section', async () => {
    const dir = join(root, 'notes');
    writeSyntheticRun(dir, { samples: 40 });
    const { writeFileSync } = await import('node:fs');
    const run = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
    writeFileSync(join(dir, 'run.json'), JSON.stringify({ ...run, notes: ['cnn-fmnist: e2e and bpda are copies of first <b>'] }));
    const html = readFileSync(await writeReport(dir), 'utf8');
    expect(html).toContain('<section id="plan-notes"><h2>Plan notes</h2><ul class="notes"><li>cnn-fmnist: e2e and bpda are copies of first &lt;b&gt;</li></ul></section>');
    expect(navLinks(html)).toContain('plan-notes');
  });
});

describe('report of a model that is not CNN-F (a TF.js layers-model, gradient path `direct`)', () => {
  const dir = join(root, 'direct');
  writeDirectModelRun(dir);
  const report = writeReport(dir);

  it('uses no CNN-F vocabulary: no cycles, e2e, BPDA or feedback anywhere in the page or the chart specs', async () => {
    const page = withoutLibraries(readFileSync(await report, 'utf8'));
    for (const word of [/cycles/i, /\be2e\b/i, /end-to-end/i, /bpda/i, /feedback/i, /first pass/i]) expect(page).not.toMatch(word);
    for (const file of ['accuracy-vs-eps', 'headline']) {
      const spec = readFileSync(join(dir, 'charts', `${file}.vl.json`), 'utf8');
      for (const word of [/\be2e\b/i, /bpda/i, /first pass/i, /end-to-end/i]) expect(spec).not.toMatch(word);
    }
  });

  it('draws the direct path as its own line style and says which gradient path each model declares', async () => {
    const page = readFileSync(await report, 'utf8');
    const run = await readRun(dir);
    const chart = buildCharts(run).find((c) => c.id === 'accuracy-vs-eps')!;
    // Every path in the data has a dash pattern: `direct` (fgsm, pgd), `none` (square) and `all` (worst case).
    const scale = (chart.spec as any).spec.layer.find((l: any) => l.encoding?.strokeDash).encoding.strokeDash.scale;
    expect(scale.domain).toEqual(['direct', 'none', 'all']);
    expect(scale.range.every((r: unknown) => Array.isArray(r))).toBe(true);
    expect(page).toContain('<th class="text">gradient paths</th>');
    expect(page).toContain('<td class="text">direct</td>');
  });
});
