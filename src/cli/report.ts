/**
 * `bench report <run-dir> [--reporter html,tables] [--out FILE] [--baseline NAME]`: runs the named reporters
 * on a run directory's records (default: the HTML report and the tables and charts; with --out, the HTML
 * report alone, written there, so the run directory is left as it was) and prints the files they wrote,
 * main one first (the HTML report's path; tables and charts are not listed). A --baseline that is not a
 * checkpoint of the run exits 2 before any reporter writes.
 */
import type { Argv, CommandModule } from 'yargs';
import { readRun } from '../rundir/read.js';
import { parseReporters, REPORT_REPORTERS, REPORTER_NAMES, runReporters, type ReporterOptions } from '../report/reporters/index.js';
import { handler } from './common.js';

export interface ReportArgs {
  runDir: string;
  out?: string;
  baseline?: string;
  reporter?: string;
  summary?: string;
}

export const reportCommand: CommandModule<object, ReportArgs> = {
  command: 'report <run-dir>',
  describe: 'Write tables, charts and a self-contained HTML report for a run directory (or what --reporter names); prints the report path',
  builder: (y: Argv<object>) =>
    y
      .positional('run-dir', { type: 'string', demandOption: true, describe: 'run directory (holds run.json and cells/)' })
      .option('out', {
        type: 'string',
        describe: 'HTML file to write (default <run-dir>/report.html); without --reporter, only the HTML report is written (the run directory is not touched)',
      })
      .option('baseline', {
        type: 'string',
        describe: "checkpoint that mCE is relative to (default: the config's baseline, else the first checkpoint)",
      })
      .option('reporter', {
        type: 'string',
        describe: `comma-separated reporters: ${REPORTER_NAMES.join(', ')} (default ${REPORT_REPORTERS}; html alone with --out)`,
      })
      .option('summary', { type: 'string', describe: 'file the github-summary reporter appends to (default $GITHUB_STEP_SUMMARY)' })
      .example('$0 report reports/adversarial-20250101-120000 --reporter terminal', 'the end-of-run table again')
      .example('$0 report DIR --reporter github-summary --summary summary.md', 'Markdown headline table and verdicts') as unknown as Argv<ReportArgs>,
  handler: handler(async (args: ReportArgs) => {
    const options: ReporterOptions = { baseline: args.baseline, htmlFile: args.out, summaryFile: args.summary };
    const reporters = parseReporters(args.reporter ?? (args.out !== undefined ? 'html' : REPORT_REPORTERS), options);
    const run = await readRun(args.runDir);
    // runReporters checks --baseline against the run's checkpoints before any reporter writes.
    await runReporters(run, reporters, options, {
      onResult: ({ reporter, files }) => {
        if (reporter !== 'tables' && files.length > 0) process.stdout.write(`${files[0]}\n`);
      },
    });
    return 0;
  }),
};
