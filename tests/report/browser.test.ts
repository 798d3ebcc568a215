/**
 * Opens the generated report in headless Chromium: every chart renders marks, the page makes no network
 * request besides loading itself, logs no console error, and a full-page screenshot is kept for a human.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { writeReport } from '../../src/report/index.js';
import { writeSyntheticRun } from './fixtures.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../artifacts', import.meta.url));
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`browser test skipped: no Chromium at ${CHROMIUM} (install the distribution's chromium package to run it)`);

describe.skipIf(!hasChromium)('report in headless Chromium', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-report-browser-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('renders every chart with marks, requests nothing but itself, logs no error', async () => {
    const { chromium } = await import('playwright-core');
    writeSyntheticRun(dir, { images: true, cnnf: 'cnnf-fmnist <img src=x onerror=alert(1)>' });
    const reportPath = await writeReport(dir);
    const url = pathToFileURL(reportPath).href;

    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
      const requests: string[] = [];
      const errors: string[] = [];
      const dialogs: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(String(e)));
      page.on('dialog', (d) => {
        dialogs.push(d.message());
        void d.dismiss();
      });

      await page.goto(url, { waitUntil: 'load' });
      await page.waitForSelector('body[data-charts]', { timeout: 60_000 });
      expect(await page.getAttribute('body', 'data-charts')).toBe('rendered');

      const charts = await page.$$eval('.chart', (els) =>
        els.map((el) => ({
          id: el.id,
          svg: el.querySelectorAll('svg').length + el.querySelectorAll('canvas').length,
          marks: el.querySelectorAll('.mark-line path, .mark-symbol path, .mark-rect path, .mark-area path, .mark-text text').length,
        })),
      );
      expect(charts.map((c) => c.id).sort()).toEqual(['chart-accuracy-vs-eps', 'chart-corruption-heatmap', 'chart-corruption-severity', 'chart-headline']);
      for (const c of charts) {
        expect(c.svg, c.id).toBeGreaterThan(0);
        expect(c.marks, c.id).toBeGreaterThan(0);
      }

      // The hostile checkpoint name is text, never an element.
      expect(dialogs).toEqual([]);
      expect(await page.$$eval('img[src="x"]', (els) => els.length)).toBe(0);
      expect(await page.textContent('.verdicts')).toContain('<img src=x onerror=alert(1)>');

      // Image panels embed the PNGs as data: URIs.
      expect(await page.$$eval('#images img', (els) => els.map((e) => (e as HTMLImageElement).src.slice(0, 22)))).toEqual([
        'data:image/png;base64,',
        'data:image/png;base64,',
      ]);

      expect(requests.filter((r) => r !== url && !r.startsWith('data:'))).toEqual([]);
      expect(errors).toEqual([]);

      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, 'report.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  });
});
