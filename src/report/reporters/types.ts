/**
 * A named reporter renders a run directory's records one way (HTML page, tables and charts, terminal text,
 * GitHub step summary). The CLI picks them (`--reporter`); the executor never calls one.
 */
import type { RunData } from '../../rundir/read.js';

export interface ReporterOptions {
  /** Where the terminal reporter's text goes (default process.stdout). */
  print?: (text: string) => void;
  /** Baseline checkpoint of mCE (default: the config's `baseline`, else the first checkpoint). */
  baseline?: string;
  /** html: the file to write (default <run-dir>/report.html). */
  htmlFile?: string;
  /** github-summary: the Markdown file to append to (default: the file named by $GITHUB_STEP_SUMMARY). */
  summaryFile?: string;
  /** Environment variables read (GITHUB_STEP_SUMMARY); default process.env. */
  env?: Record<string, string | undefined>;
}

export interface Reporter {
  /** The name `--reporter` takes. */
  name: string;
  /** One line for `--help`. */
  describe: string;
  /** Throws an InputError (exit 2) when the options cannot work, so a run refuses before it computes anything. */
  check?(options: ReporterOptions): void;
  /** Renders `run`; returns the files written, main one first (none for the terminal reporter). */
  write(run: RunData, options: ReporterOptions): Promise<string[]>;
}
