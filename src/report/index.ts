/**
 * The report of a run directory: the HTML page (sections/ plug-ins), tables and charts, terminal text and
 * the GitHub step summary, each a named reporter (reporters/) the CLI picks with `--reporter`.
 */
import { readRun } from '../rundir/read.js';
import { htmlReporter } from './reporters/html.js';
import { tablesReporter } from './reporters/tables.js';

export { renderHtml } from './html.js';
export { buildCharts, renderSvg, writeCharts } from './charts.js';
export { buildTables, toCsv, toMarkdown, writeTables } from './tables.js';
export { sidecarFields } from './reporters/html.js';
export { parseReporters, REPORTERS, REPORTER_NAMES, runReporters, type Reporter, type ReporterOptions } from './reporters/index.js';
export { REPORT_SECTIONS, type ReportSection, type ReportContext } from './sections/index.js';

export interface ReportOptions {
  /** Baseline checkpoint of mCE (default: the config's `baseline`, else the first checkpoint). */
  baseline?: string;
}

/**
 * The `tables` and `html` reporters on a run directory: writes <run-dir>/tables/*, <run-dir>/charts/* and
 * the HTML report (default <run-dir>/report.html); returns the report's absolute path. Throws InputError
 * for a missing or corrupt run directory.
 */
export async function writeReport(runDir: string, out?: string, options: ReportOptions = {}): Promise<string> {
  const run = await readRun(runDir);
  await tablesReporter.write(run, { baseline: options.baseline });
  const [path] = await htmlReporter.write(run, { baseline: options.baseline, htmlFile: out });
  return path;
}
