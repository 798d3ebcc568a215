/**
 * Sanity checks against gradient masking (Carlini et al. 2019, recorded in sanity.json): counts and one
 * row per check, warnings first. Applies to adversarial runs (which say so when they recorded none) and
 * to any run with recorded checks; a corruption run has nothing to check.
 */
import type { SanityCheck } from '../../rundir/records.js';
import { escapeHtml } from '../format.js';
import { swatch } from './markup.js';
import type { ReportContext, ReportSection } from './types.js';

function numbers(n: Record<string, number>): string {
  const entries = Object.entries(n ?? {});
  if (entries.length === 0) return '';
  return entries.map(([k, v]) => `<code>${escapeHtml(k)}=${escapeHtml(Number.isFinite(v) ? Number(v.toPrecision(4)) : v)}</code>`).join(' ');
}

function panel({ run, names }: ReportContext): string {
  if (run.sanity.length === 0)
    return '<p class="muted">This run recorded no gradient-masking sanity checks (no sanity.json): treat robust accuracy with care.</p>';
  const count = (s: SanityCheck['status']) => run.sanity.filter((c) => c.status === s).length;
  const rank = { warn: 0, pass: 1, skip: 2 } as const;
  const sorted = [...run.sanity].sort((a, b) => names.indexOf(a.checkpoint) - names.indexOf(b.checkpoint) || (rank[a.status] ?? 3) - (rank[b.status] ?? 3));
  const rows = sorted.map(
    (c) =>
      `<tr class="${c.status === 'warn' ? 'row-warn' : ''}"><td><span class="badge ${escapeHtml(c.status)}">${escapeHtml(c.status)}</span></td>` +
      `<td>${swatch(names, c.checkpoint)}${escapeHtml(c.checkpoint)}</td><td><code>${escapeHtml(c.name)}</code></td>` +
      `<td>${escapeHtml(c.detail)}</td><td class="nums">${numbers(c.numbers)}</td></tr>`,
  );
  return (
    `<p class="sanity-counts"><span class="badge pass">${count('pass')} pass</span> <span class="badge warn">${count('warn')} warn</span> ` +
    `<span class="badge skip">${count('skip')} skipped</span> <span class="muted">Checks against gradient masking (Carlini et al. 2019): ` +
    'a warning means an attack may be too weak for this model, so its robust accuracy is an upper bound at best.</span></p>' +
    `<div class="table-wrap"><table class="sanity"><thead><tr><th>status</th><th>checkpoint</th><th>check</th><th>finding</th><th>numbers</th></tr></thead>` +
    `<tbody>${rows.join('')}</tbody></table></div>`
  );
}

export const sanitySection: ReportSection = {
  id: 'sanity',
  title: 'Sanity checks',
  applies: ({ run }) => run.sanity.length > 0 || run.manifest.suite === 'adversarial',
  render(report) {
    const hasWarn = report.run.sanity.some((c) => c.status === 'warn');
    return `<section id="sanity"><h2>Sanity checks</h2><div id="sanity-panel" class="${hasWarn ? 'has-warn' : ''}">${panel(report)}</div></section>`;
  },
};
