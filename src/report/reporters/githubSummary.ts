/**
 * `github-summary`: GitHub-flavoured Markdown for a workflow's job summary: the run's headline table (the
 * summary table: clean, worst case per ε, corruptions, mCE) and one verdict per checkpoint, with the
 * partial-run and sanity warnings. Appended (as GitHub Actions expects: steps share the file) to the file
 * `--summary FILE` names, else to the one $GITHUB_STEP_SUMMARY names.
 */
import { appendFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { inputError } from '../../engine/errors.js';
import { summaryRows } from '../../suite/summary.js';
import { missingCells, type RunData } from '../../rundir/read.js';
import { BASELINE_RATIO, epsWithNorm, escapeMarkdownCell, pct, pctOrInfinity } from '../format.js';
import { toMarkdown } from '../tables.js';
import { signedPoints, verdicts } from '../verdicts.js';
import { derived } from './derived.js';
import type { Reporter, ReporterOptions } from './types.js';
import { createDirectory } from '../../rundir/createDir.js';

/** Text safe in Markdown prose: no HTML, no table break, no emphasis or link syntax. */
function md(text: string): string {
  return escapeMarkdownCell(text).replace(/([*_`[\]])/g, '\\$1');
}

/** The step summary's Markdown for a run (baseline: mCE's, as the tables use it). */
export function githubSummaryMarkdown(run: RunData, baseline?: string): string {
  const m = run.manifest;
  const name = typeof m.config.name === 'string' && m.config.name ? m.config.name : basename(run.dir);
  const lines = [
    `## Robustness: ${md(name)}`,
    '',
    `${md(m.suite)} suite · ${md(m.dataset.name)} ${md(m.dataset.split)} · ${m.sampleIndices.length} images · seed ${m.seed} · run directory \`${run.dir.replace(/`/g, "'")}\``,
    '',
  ];
  const missing = missingCells(run);
  if (missing.length > 0) lines.push(`> **Partial run:** ${m.cells.length - missing.length} of ${m.cells.length} planned cells have results.`, '');
  const summary = derived(run, baseline).tables.find((t) => t.id === 'summary');
  if (summary) lines.push(toMarkdown(summary, 3));
  lines.push('### Verdicts', '');
  for (const v of verdicts(run, summaryRows(run, baseline))) {
    const parts: string[] = [];
    if (v.clean !== null) parts.push(`clean **${pct(v.clean)}%**`);
    for (const w of v.worst)
      parts.push(
        `worst-case robust **${pct(w.accuracy)}%** at ${md(epsWithNorm(w.threatModel, w.eps))}` +
          (w.vsReference ? ` (${signedPoints(w.vsReference.points)} points vs ${md(w.vsReference.reference)})` : ''),
      );
    const c = v.corruption;
    if (c)
      parts.push(
        `corruptions **${pct(c.mean)}%** mean` +
          (c.mCE === null ? '' : c.baseline ? `, mCE ${BASELINE_RATIO}` : `, mCE ${pct(c.mCE)}%${c.mCECi95 ? ` (95% CI ${pctOrInfinity(c.mCECi95[0])}–${pctOrInfinity(c.mCECi95[1])}%)` : ''}`) +
          (c.notes > 0 ? ` (${c.notes} mCE note${c.notes > 1 ? 's' : ''})` : ''),
      );
    if (v.sanity.warns > 0) parts.push(`:warning: ${v.sanity.warns} sanity warning${v.sanity.warns > 1 ? 's' : ''}`);
    else if (v.sanity.checked) parts.push('sanity checks pass');
    lines.push(`- **${md(v.checkpoint)}**: ${parts.join(' · ') || 'no results yet'}`);
  }
  const warns = run.sanity.filter((s) => s.status === 'warn');
  if (warns.length > 0) {
    lines.push('', `> [!WARNING]`, `> ${warns.length} sanity check${warns.length > 1 ? 's' : ''} warn${warns.length > 1 ? '' : 's'}: robust accuracy may be overestimated (possible gradient masking).`);
    for (const w of warns) lines.push(`> - ${md(w.checkpoint)} \`${w.name.replace(/`/g, "'")}\`: ${md(w.detail)}`);
  }
  return `${lines.join('\n')}\n`;
}

function summaryFileOf(options: ReporterOptions): string {
  const file = options.summaryFile ?? (options.env ?? process.env).GITHUB_STEP_SUMMARY;
  if (!file)
    throw inputError('--reporter github-summary', 'no file to write the summary to', '--summary FILE, or the GITHUB_STEP_SUMMARY environment variable (set by GitHub Actions)');
  return resolve(file);
}

export const githubSummaryReporter: Reporter = {
  name: 'github-summary',
  describe: 'Markdown headline table and verdicts appended to $GITHUB_STEP_SUMMARY (or --summary FILE)',
  check(options) {
    summaryFileOf(options);
  },
  async write(run, options) {
    const file = summaryFileOf(options);
    await createDirectory(dirname(file), 'the summary folder');
    await appendFile(file, githubSummaryMarkdown(run, options.baseline));
    return [file];
  },
};
