/**
 * The named reporters and how a command line picks them: `--reporter html,terminal`. The CLI runs them
 * on a run's records after the executor returns (src/cli/run.ts, src/cli/report.ts).
 */
import { inputError } from '../../engine/errors.js';
import type { RunData } from '../../rundir/read.js';
import { baselineName } from '../../suite/summary.js';
import { githubSummaryReporter } from './githubSummary.js';
import { htmlReporter } from './html.js';
import { tablesReporter } from './tables.js';
import { terminalReporter } from './terminal.js';
import type { Reporter, ReporterOptions } from './types.js';

export type { Reporter, ReporterOptions } from './types.js';

export const REPORTERS: readonly Reporter[] = [terminalReporter, htmlReporter, tablesReporter, githubSummaryReporter];
export const REPORTER_NAMES: readonly string[] = REPORTERS.map((r) => r.name);

/** `bench run`'s default: the terminal table, the HTML page and the tables and charts. */
export const RUN_REPORTERS = 'terminal,html,tables';
/** `bench report`'s default: the HTML page and the tables and charts. */
export const REPORT_REPORTERS = 'html,tables';

/**
 * The reporters a comma-separated list names, in its order, each once; checks each one's options.
 * Throws an InputError naming `flag` for an unknown or empty name, or options a reporter cannot use.
 */
export function parseReporters(list: string, options: ReporterOptions, flag = '--reporter'): Reporter[] {
  const names = list.split(',').map((s) => s.trim());
  const out: Reporter[] = [];
  for (const name of names) {
    const r = REPORTERS.find((x) => x.name === name);
    if (!r) throw inputError(flag, `unknown reporter ${JSON.stringify(name)}`, REPORTER_NAMES.join(', '));
    if (!out.includes(r)) out.push(r);
  }
  for (const r of out) r.check?.(options);
  return out;
}

/**
 * Checks what the reporters will read from the run before any of them writes: `options.baseline`, when
 * given, must be one of the run's checkpoints. Throws an InputError (`--baseline`, naming the checkpoints).
 */
export function checkReporterOptions(run: RunData, options: ReporterOptions): void {
  if (options.baseline !== undefined) baselineName(run, options.baseline);
}

export interface ReporterOutcome {
  reporter: string;
  /** Files written, main one first. */
  files: string[];
  /** Set when `keepGoing` caught the reporter's error. */
  error?: Error;
}

/**
 * Runs the reporters in order on one run's records, calling `onResult` after each. With `keepGoing`
 * (after `bench run`: the cells are written and a report must not lose them) a reporter's error is
 * recorded in its outcome and the next reporter runs; without it the error is thrown. Options are checked
 * first (checkReporterOptions): a bad one throws before any reporter writes, `keepGoing` or not.
 */
export async function runReporters(
  run: RunData,
  reporters: readonly Reporter[],
  options: ReporterOptions,
  control: { keepGoing?: boolean; onResult?: (r: ReporterOutcome) => void } = {},
): Promise<ReporterOutcome[]> {
  checkReporterOptions(run, options);
  const out: ReporterOutcome[] = [];
  for (const r of reporters) {
    let result: ReporterOutcome;
    try {
      result = { reporter: r.name, files: await r.write(run, options) };
    } catch (err) {
      if (!control.keepGoing) throw err;
      result = { reporter: r.name, files: [], error: err as Error };
    }
    out.push(result);
    control.onResult?.(result);
  }
  return out;
}
