/**
 * `writeReport`: renders everything a run directory's records support — tables (CSV, Markdown), Vega-Lite
 * charts with static SVGs, and the self-contained HTML report — beside the run.
 */
import { readdir, readFile, mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { readRun } from '../suite/summary.js';
import { buildCharts, writeCharts } from './charts.js';
import { renderHtml, type ReportImage, type ReportScripts } from './html.js';
import { buildTables, writeTables } from './tables.js';

export { renderHtml } from './html.js';
export { buildCharts, renderSvg, writeCharts } from './charts.js';
export { buildTables, toCsv, toMarkdown, writeTables } from './tables.js';

const require = createRequire(import.meta.url);

/** The minified browser builds, found next to each package's entry point in node_modules. */
async function readScripts(): Promise<ReportScripts> {
  const build = (pkg: string, file: string) => readFile(join(dirname(require.resolve(pkg)), file), 'utf8');
  const [vega, vegaLite, vegaEmbed] = await Promise.all([
    build('vega', 'vega.min.js'),
    build('vega-lite', 'vega-lite.min.js'),
    build('vega-embed', 'vega-embed.min.js'),
  ]);
  return { vega, vegaLite, vegaEmbed };
}

/** <run-dir>/images/*.png as data: URIs (the runner or `bench preview` may add them); none when absent. */
async function readImages(runDir: string): Promise<ReportImage[]> {
  const dir = join(runDir, 'images');
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.toLowerCase().endsWith('.png')).sort();
  } catch {
    return [];
  }
  return Promise.all(
    names.map(async (name) => {
      const bytes = await readFile(join(dir, name));
      // PNG IHDR: width and height are the big-endian words at bytes 16 and 20.
      const ok = bytes.length >= 24 && bytes.toString('latin1', 12, 16) === 'IHDR';
      return {
        name,
        dataUri: `data:image/png;base64,${bytes.toString('base64')}`,
        width: ok ? bytes.readUInt32BE(16) : 0,
        height: ok ? bytes.readUInt32BE(20) : 0,
      };
    }),
  );
}

export interface ReportOptions {
  /** Baseline checkpoint of mCE (default: the config's `baseline`, else the first checkpoint). */
  baseline?: string;
}

/**
 * Writes <run-dir>/tables/*, <run-dir>/charts/* and the HTML report (default <run-dir>/report.html);
 * returns the report's absolute path. Throws InputError for a missing or corrupt run directory.
 */
export async function writeReport(runDir: string, out?: string, options: ReportOptions = {}): Promise<string> {
  const run = await readRun(runDir);
  const tables = buildTables(run, options.baseline);
  const charts = buildCharts(run);
  await writeTables(runDir, tables);
  await writeCharts(runDir, charts);
  const html = renderHtml({ run, tables, charts, images: await readImages(runDir), scripts: await readScripts(), baseline: options.baseline });
  const path = resolve(out ?? join(runDir, 'report.html'));
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, html);
  return path;
}
