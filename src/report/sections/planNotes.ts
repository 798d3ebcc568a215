/** Plan notes: the planner's notes recorded in run.json (`notes: string[]`, e.g. which cells are copies and why); only when there are some. */
import type { RunData } from '../../rundir/read.js';
import { escapeHtml } from '../format.js';
import type { ReportSection } from './types.js';

function notesOf(run: RunData): unknown[] {
  const notes = (run.manifest as { notes?: unknown }).notes;
  return Array.isArray(notes) ? notes : [];
}

export const planNotesSection: ReportSection = {
  id: 'plan-notes',
  title: 'Plan notes',
  applies: ({ run }) => notesOf(run).length > 0,
  render: ({ run }) => `<section id="plan-notes"><h2>Plan notes</h2><ul class="notes">${notesOf(run).map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul></section>`,
};
