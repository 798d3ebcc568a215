/**
 * `terminal`: what `bench run` prints when it finishes: the compact result table (robust accuracy by ε,
 * or accuracy by corruption and severity), mCE with its intervals for a corruption run, the plan's
 * notes, the sanity checks (warnings first) and the run directory.
 */
import { formatSanity } from '../../suite/sanity.js';
import type { SuiteCellResult } from '../../rundir/records.js';
import { corruptionSummary } from '../../suite/summary.js';
import { type RunData } from '../../rundir/read.js';
import { adversarialTable, corruptionTable, mceSummary } from '../../suite/table.js';
import type { Reporter } from './types.js';
import { cascadeText } from '../cascade.js';

/**
 * The terminal text of a run (ends with a newline); mCE is against `baseline` (default: the config's
 * `baseline`, else the first checkpoint). Throws an InputError for a baseline that is not a checkpoint of the run.
 */
export function terminalText(run: RunData, baseline?: string): string {
  const cells = run.cells as SuiteCellResult[];
  const suite = run.manifest.suite;
  let text = `\n${suite === 'adversarial' ? adversarialTable(cells) : corruptionTable(cells)}\n`;
  if (suite === 'corruption' && cells.some((c) => c.kind === 'corruption')) {
    const mce = mceSummary(corruptionSummary({ ...run, sanity: [] }, baseline));
    if (mce) text += `\n${mce}\n`;
  }
  const cascades = cascadeText(run);
  if (cascades) text += `\n${cascades}\n`;
  const notes = (run.manifest as { notes?: unknown }).notes;
  if (Array.isArray(notes) && notes.length > 0) text += `${notes.map((n) => `note: ${String(n)}`).join('\n')}\n`;
  if (run.sanity.length > 0) text += `\n${formatSanity(run.sanity)}\n`;
  return `${text}\nrun directory: ${run.dir}\n`;
}

export const terminalReporter: Reporter = {
  name: 'terminal',
  describe: 'the result table, mCE, plan notes and sanity checks as text on stdout',
  async write(run, options) {
    (options.print ?? ((s: string) => void process.stdout.write(s)))(terminalText(run, options.baseline));
    return [];
  },
};
