/**
 * Notices (top of the page, under the verdicts): mCE notes, a partial run, softmax heads, model-made
 * labels and sanity warnings; each banner only when the run has what it warns about.
 */
import { type SummaryRow } from '../../suite/summary.js';
import { missingCells, type RunData } from '../../rundir/read.js';
import { escapeHtml } from '../format.js';
import type { ReportContext, ReportSection } from './types.js';

/** Each banner's markup, in page order; empty when nothing needs saying. */
function banners(run: RunData, rows: SummaryRow[]): string[] {
  const out: string[] = [];
  // Every corruption the mCE means leave out, and why, and where relative CE is within noise.
  const notes = rows.filter((r) => r.mceNotes.length > 0);
  if (notes.length > 0)
    out.push(
      `<div class="banner warn" id="mce-notes"><b>mCE and relative mCE:</b><ul>` +
        notes.map((r) => `<li><b>${escapeHtml(r.checkpoint)}</b>: ${r.mceNotes.map((n) => escapeHtml(n)).join('<br>')}</li>`).join('') +
        '</ul></div>',
    );
  const missing = missingCells(run);
  if (missing.length > 0)
    out.push(
      `<div class="banner info"><b>Partial run:</b> ${run.manifest.cells.length - missing.length} of ${run.manifest.cells.length} planned cells have results` +
        `${run.manifest.shard ? ` (shard ${run.manifest.shard.index} of ${run.manifest.shard.count})` : ''}; numbers below cover the completed cells only.</div>`,
    );
  const softmax = run.manifest.checkpoints.filter((c) => c.scores === 'log-probabilities').map((c) => c.name);
  if (softmax.length > 0)
    out.push(
      `<div class="banner info"><b>Softmax head${softmax.length > 1 ? 's' : ''}:</b> ${escapeHtml(softmax.join(', '))} ${softmax.length > 1 ? 'end' : 'ends'} in a softmax; ` +
        'attacks work on log-probabilities. A saturated softmax is a known cause of vanishing gradients, so gradient attacks may overestimate robustness.</div>',
    );
  if (run.manifest.dataset.labels === 'model')
    out.push(
      `<div class="banner info"><b>Labels are the models' own clean predictions</b> (<code>--labels model</code>): clean accuracy is 100% by construction, ` +
        'and robust accuracy measures how stable each prediction is under the perturbation.</div>',
    );
  const warns = run.sanity.filter((c) => c.status === 'warn');
  if (warns.length > 0)
    out.push(
      `<div class="banner warn"><b>${warns.length} sanity check${warns.length > 1 ? 's' : ''} warn${warns.length > 1 ? '' : 's'}:</b> ` +
        `robust accuracy may be overestimated (possible gradient masking). <a href="#sanity">See the sanity checks.</a></div>`,
    );
  return out;
}

export const noticesSection: ReportSection = {
  id: 'notices',
  title: 'Notices',
  placement: 'top',
  applies: ({ run, rows }: ReportContext) => banners(run, rows).length > 0,
  render: ({ run, rows }: ReportContext) => banners(run, rows).join('\n'),
};
