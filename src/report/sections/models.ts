/**
 * Models: one row per evaluated model (name, family, input, output, path, weights hash). CNN-F's
 * architecture columns (cycles, ind) only when a CNN-F checkpoint is in the run; the gradient paths a
 * model declares (run.json checkpoints[].gradientPaths) only when some model recorded them.
 */
import { escapeHtml } from '../format.js';
import { swatch } from './markup.js';
import type { ReportSection } from './types.js';

export const modelsSection: ReportSection = {
  id: 'models',
  title: 'Models',
  applies: ({ run }) => run.manifest.checkpoints.length > 0,
  render({ run, names }) {
    const list = run.manifest.checkpoints;
    const cnnf = list.some((c) => c.cycles !== undefined && c.ind !== undefined);
    const paths = list.some((c) => c.gradientPaths !== undefined);
    const rows = list
      .map(
        (c) =>
          `<tr><td class="text">${swatch(names, c.name)}${escapeHtml(c.name)}</td><td class="text">${escapeHtml(c.family)}</td>` +
          (cnnf ? `<td class="num">${escapeHtml(c.ind !== undefined ? c.cycles : '—')}</td><td class="num">${escapeHtml(c.ind ?? '—')}</td>` : '') +
          `<td class="text">${escapeHtml(c.inputShape ? c.inputShape.join('×') : '28×28×1')}</td>` +
          `<td class="text">${escapeHtml(c.output)}${c.scores === 'log-probabilities' ? ' (log-probabilities of a softmax head)' : ''}</td>` +
          (paths ? `<td class="text">${escapeHtml(c.gradientPaths ? c.gradientPaths.join(', ') : '—')}</td>` : '') +
          `<td class="text"><code>${escapeHtml(c.dir)}</code></td>` +
          `<td class="text"><code title="${escapeHtml(c.weightsSha256)}">${escapeHtml(String(c.weightsSha256).slice(0, 12))}…</code></td></tr>`,
      )
      .join('');
    return (
      `<section id="models"><h2>Models</h2><div class="table-wrap"><table class="results"><thead><tr><th class="text">name</th><th class="text">family</th>` +
      (cnnf ? `<th class="num">cycles</th><th class="num">ind</th>` : '') +
      `<th class="text">input</th><th class="text">output</th>` +
      (paths ? `<th class="text">gradient paths</th>` : '') +
      `<th class="text">path</th><th class="text">weights sha256</th></tr></thead><tbody>${rows}</tbody></table></div></section>`
    );
  },
};
