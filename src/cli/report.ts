/**
 * `bench report <run-dir> [--out FILE]`: renders tables (CSV, Markdown), charts (Vega-Lite + SVG) and the
 * self-contained HTML report from a run directory's records, and prints the report's path.
 */
import type { Argv, CommandModule } from 'yargs';
import { writeReport } from '../report/index.js';
import { handler } from './common.js';

export interface ReportArgs {
  runDir: string;
  out?: string;
  baseline?: string;
}

export const reportCommand: CommandModule<object, ReportArgs> = {
  command: 'report <run-dir>',
  describe: 'Write tables, charts and a self-contained HTML report for a run directory; prints the report path',
  builder: (y: Argv<object>) =>
    y
      .positional('run-dir', { type: 'string', demandOption: true, describe: 'run directory (holds run.json and cells/)' })
      .option('out', { type: 'string', describe: 'HTML file to write (default <run-dir>/report.html)' })
      .option('baseline', {
        type: 'string',
        describe: "checkpoint that mCE is relative to (default: the config's baseline, else the first checkpoint)",
      }) as unknown as Argv<ReportArgs>,
  handler: handler(async (args: ReportArgs) => {
    const path = await writeReport(args.runDir, args.out, { baseline: args.baseline });
    process.stdout.write(`${path}\n`);
    return 0;
  }),
};
