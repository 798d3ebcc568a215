/** Verdicts (top of the page): one line per checkpoint with its clean, worst-case and corruption numbers and sanity status. */
import { BASELINE_RATIO, epsWithNorm, escapeHtml, pct, pctOrInfinity } from '../format.js';
import { signedPoints, verdicts } from '../verdicts.js';
import { swatch } from './markup.js';
import type { ReportSection } from './types.js';

export const verdictsSection: ReportSection = {
  id: 'verdicts',
  title: 'Verdicts',
  placement: 'top',
  applies: () => true,
  render({ run, rows, names }) {
    const items = verdicts(run, rows).map((v) => {
      const parts: string[] = [];
      if (v.clean !== null) parts.push(`clean <b>${pct(v.clean)}%</b>`);
      for (const w of v.worst) {
        let s = `worst-case robust <b>${pct(w.accuracy)}%</b> at ${escapeHtml(epsWithNorm(w.threatModel, w.eps))}`;
        if (w.vsReference) s += ` (${signedPoints(w.vsReference.points)} points vs ${escapeHtml(w.vsReference.reference)})`;
        parts.push(s);
      }
      const c = v.corruption;
      if (c) {
        let s = `corruptions <b>${pct(c.mean)}%</b> mean`;
        if (c.mCE !== null)
          s += c.baseline ? `, mCE ${BASELINE_RATIO}` : `, mCE ${pct(c.mCE)}%${c.mCECi95 ? ` (95% CI ${pctOrInfinity(c.mCECi95[0])}–${pctOrInfinity(c.mCECi95[1])}%)` : ''}`;
        if (c.notes > 0) s += ` <span class="badge warn">${c.notes} mCE note${c.notes > 1 ? 's' : ''}</span>`;
        parts.push(s);
      }
      if (v.sanity.warns > 0) parts.push(`<span class="badge warn">${v.sanity.warns} sanity warning${v.sanity.warns > 1 ? 's' : ''}</span>`);
      else if (v.sanity.checked) parts.push('<span class="badge pass">sanity checks pass</span>');
      return `<li>${swatch(names, v.checkpoint)}<span class="ckpt">${escapeHtml(v.checkpoint)}</span> <span class="verdict">${parts.join(' · ') || 'no results yet'}</span></li>`;
    });
    return `<ul class="verdicts">${items.join('')}</ul>`;
  },
};
