import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeReport } from '../../src/report/index.js';
import { escapeHtml, jsonForScript } from '../../src/report/format.js';
import { cell, checkpointRef, manifest, writeImages, writeMceEdgeRun, writeMixedNormRun, writeRun, writeSyntheticRun } from './fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'bench-html-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const HOSTILE = '<img src=x onerror=alert(1)>';
const BREAKOUT = '</script><script>alert(2)</script>';

/** The page without the contents of its <script> elements (what the HTML parser treats as markup). */
function markupOnly(html: string): string {
  return html.replace(/<script\b[^>]*>[\s\S]*?<\/script>/gi, '<script></script>');
}

describe('HTML report', () => {
  const dir = join(root, 'run');
  writeSyntheticRun(dir, { cnnf: HOSTILE, config: { name: `fixture ${BREAKOUT}`, note: BREAKOUT } });
  const report = writeReport(dir);

  it('is written to <run-dir>/report.html with tables and charts beside the run', async () => {
    expect(await report).toBe(join(dir, 'report.html'));
    for (const id of ['headline', 'accuracy-vs-eps', 'corruption-heatmap', 'corruption-severity']) {
      const spec = JSON.parse(readFileSync(join(dir, 'charts', `${id}.vl.json`), 'utf8'));
      expect(spec.$schema).toMatch(/vega-lite/);
      const svg = readFileSync(join(dir, 'charts', `${id}.svg`), 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg).toMatch(/class="mark-(line|rect)/);
      expect(svg).not.toContain('<img');
    }
    expect(existsSync(join(dir, 'tables', 'summary.md'))).toBe(true);
  });

  it('shows a hostile checkpoint name and config as text, and nothing can close a <script> early', async () => {
    const html = readFileSync(await report, 'utf8');
    const markup = markupOnly(html);
    expect(markup).not.toContain('<img src=x');
    expect(markup).toContain(escapeHtml(HOSTILE));
    // Exactly our five script elements: the specs, vega, vega-lite, vega-embed, the bootstrap.
    expect(html.match(/<script\b/gi)).toHaveLength(5);
    expect(html.match(/<\/script>/gi)).toHaveLength(5);
    const specs = html.match(/<script type="application\/json" id="chart-specs">([\s\S]*?)<\/script>/)![1];
    expect(specs).not.toMatch(/<\/?script/i);
    expect(JSON.stringify(JSON.parse(specs))).toContain(HOSTILE);
  });

  it('is self-contained: no external script, stylesheet, image or frame', async () => {
    const markup = markupOnly(readFileSync(await report, 'utf8'));
    expect(markup).not.toMatch(/<(script|img|iframe|link)\b[^>]*\b(src|href)\s*=\s*"(?!data:|#)/i);
    expect(markup).not.toMatch(/url\(/i);
  });

  it('has the sections a reader looks for, and the sanity panel counts warnings', async () => {
    const html = readFileSync(await report, 'utf8');
    for (const id of ['headline', 'sanity', 'summary', 'charts', 'tables', 'metadata']) expect(html).toContain(`<section id="${id}">`);
    expect(html).toContain('<span class="badge warn">1 warn</span>');
    expect(html).toContain('1 sanity check warns');
    // No images under the run: no image panel.
    expect(html).not.toContain('<section id="images">');
  });

  it('embeds images/*.png as data: URIs when they exist', async () => {
    const withImages = join(root, 'images');
    writeSyntheticRun(withImages);
    writeImages(withImages);
    const html = readFileSync(await writeReport(withImages, join(root, 'elsewhere', 'out.html')), 'utf8');
    expect(html).toContain('<section id="images">');
    expect(html.match(/<img src="data:image\/png;base64,/g)).toHaveLength(2);
    expect(html).toContain('Clean vs adversarial examples');
    expect(html).toContain('Corruption previews');
  });

  it('shows an image\'s sidecar (images/<name>.json): its group, title, caption and tile labels, escaped; a malformed one is ignored', async () => {
    const withSidecars = join(root, 'sidecars');
    writeSyntheticRun(withSidecars);
    writeImages(withSidecars);
    const sidecar = {
      format: 'bench-image/1',
      // Named like an adversarial panel, grouped by its sidecar.
      group: 'corruption',
      title: `title ${HOSTILE}`,
      caption: `caption ${BREAKOUT} & more`,
      columns: ['clean', `ε=0.1 ${HOSTILE}`],
      rows: [`#0 ${HOSTILE}`],
      tiles: [[{ text: 'Coat' }, { text: `Shirt ${HOSTILE}`, marked: true }]],
    };
    writeFileSync(join(withSidecars, 'images', 'adversarial-cnnf-fmnist-pgd-e2e.json'), JSON.stringify(sidecar));
    writeFileSync(join(withSidecars, 'images', 'corruption-fog.json'), '{"title": 3, "tiles": "no"');
    const html = readFileSync(await writeReport(withSidecars), 'utf8');
    const markup = markupOnly(html);
    expect(markup).not.toContain('<img src=x');
    expect(markup).not.toContain(BREAKOUT);
    const section = html.slice(html.indexOf('<section id="images">'), html.indexOf('<section id="metadata">'));
    // Both images are corruption previews now (one by its sidecar, one by its name).
    expect(section).not.toContain('Clean vs adversarial examples');
    expect(section.match(/<figure>/g)).toHaveLength(2);
    expect(section).toContain(`<b>${escapeHtml(sidecar.title)}</b> ${escapeHtml(sidecar.caption)}`);
    expect(section).toContain(`<th>${escapeHtml(sidecar.rows[0])}</th><td>Coat</td><td class="marked">${escapeHtml(`Shirt ${HOSTILE}`)}</td>`);
    expect(section).toContain(`<th>${escapeHtml(sidecar.columns[1])}</th>`);
    expect(section).toContain(`alt="${escapeHtml(sidecar.title)}"`);
    // The malformed sidecar: the image is still shown, captioned by its file name.
    expect(section).toContain('<figcaption><p class="caption"><span class="muted">(images/corruption-fog.png)</span></p></figcaption>');
  });

  it('renders a partial run (clean cells only, one planned cell missing) with a notice and no charts', async () => {
    const partial = join(root, 'partial');
    const cells = [cell({ id: 'a|clean', kind: 'clean', checkpoint: 'a' }, [true, true, false, true])];
    writeRun(partial, manifest([checkpointRef('a', 0)], 4, ['a|clean', 'a|pgd|e2e|0.1']), cells);
    const html = readFileSync(await writeReport(partial), 'utf8');
    expect(html).toContain('<b>Partial run:</b> 1 of 2 planned cells');
    expect(html).toContain('clean <b>75.0%</b>');
    expect(html).not.toContain('class="chart"');
    expect(html).toContain('recorded no gradient-masking sanity checks');
  });

  it("names a shard by its 1-based index, as `bench run --shard 1/2` gave it", async () => {
    const dir = join(root, 'shard');
    const cells = [cell({ id: 'a|clean', kind: 'clean', checkpoint: 'a' }, [true, true, false, true])];
    writeRun(dir, { ...manifest([checkpointRef('a', 0)], 4, ['a|clean', 'a|pgd|e2e|0.1']), shard: { index: 1, count: 2 } }, cells);
    const html = readFileSync(await writeReport(dir), 'utf8');
    expect(html).toContain('(shard 1 of 2)');
    expect(html).toMatch(/<dt>shard<\/dt><dd>1 of 2<\/dd>/);
    expect(html).not.toContain('2 of 2');
  });

  it("names the machine's vector extensions when the run recorded them (timings differ between machines)", async () => {
    const cells = [cell({ id: 'a|clean', kind: 'clean', checkpoint: 'a' }, [true, true, false, true])];
    const base = manifest([checkpointRef('a', 0)], 4, ['a|clean']);
    const withFlags = join(root, 'machine-flags');
    writeRun(withFlags, { ...base, machine: { ...base.machine, vectorExtensions: ['avx', 'avx2', 'fma'] } }, cells);
    expect(readFileSync(await writeReport(withFlags), 'utf8')).toContain('2 × Test CPU @ 2.0GHz (avx avx2 fma), 8 GiB');
    // Runs recorded before the field existed read as they did.
    const older = join(root, 'machine-older');
    writeRun(older, base, cells);
    expect(readFileSync(await writeReport(older), 'utf8')).toContain('2 × Test CPU @ 2.0GHz, 8 GiB');
  });

  it('jsonForScript output parses back to the same value', () => {
    const value = { a: BREAKOUT, b: '<!-- & \u2028 \u2029 >', c: [1, 2.5, null] };
    const text = jsonForScript(value);
    expect(text).not.toMatch(/[<>&\u2028\u2029]/);
    expect(JSON.parse(text)).toEqual(value);
  });
});

describe('HTML report of a corruption run whose baseline is not degraded by one corruption', () => {
  it('lists the corruption left out of relative mCE with the reason, the noise warning and the mCE intervals', async () => {
    const dir = join(root, 'mce-edge');
    writeMceEdgeRun(dir);
    const html = readFileSync(await writeReport(dir), 'utf8');
    const banner = /<div class="banner warn" id="mce-notes">([\s\S]*?)<\/div>/.exec(html)?.[1] ?? '';
    expect(banner).toContain(
      'left out of relative mCE: contrast (the baseline base-net is no worse on it than clean (its error rises by 0.0 points on average over severities 1,2,3; relative CE&#39;s denominator must be positive))',
    );
    expect(banner).toContain('within noise: fog: the degradation of the baseline base-net, 0.8 points');
    // The summary table shows relative mCE with its (unbounded) interval, the corruption table its notes.
    expect(html).toMatch(/<span class="acc">1020\.0<\/span> <span class="ci">\d+\.\d–∞<\/span>/);
    expect(html).toContain('left out of relative mCE: the baseline base-net is no worse on it than clean');
  });
});

describe('HTML report of a run mixing L-inf and L2 attacks (issue 13, item 7)', () => {
  it('states each worst case with its norm and draws one chart per norm', async () => {
    const dir = join(root, 'mixed-norms');
    writeMixedNormRun(dir);
    const html = readFileSync(await writeReport(dir), 'utf8');
    const verdict = /<ul class="verdicts">[\s\S]*?<\/ul>/.exec(html)![0];
    expect(verdict).toContain('worst-case robust <b>0.0%</b> at L∞ ε=1');
    expect(verdict).toContain('worst-case robust <b>20.0%</b> at L2 ε=3');
    for (const id of ['headline', 'headline-l2', 'accuracy-vs-eps', 'accuracy-vs-eps-l2']) expect(existsSync(join(dir, 'charts', `${id}.svg`))).toBe(true);
    expect(readFileSync(join(dir, 'charts', 'headline-l2.svg'), 'utf8')).toContain('L2 radius');
  });
});
