/** Summary: the per-checkpoint summary table (tables.ts `summary`), headed by its own title. */
import { tableHtml } from './markup.js';
import type { ReportSection } from './types.js';

export const summarySection: ReportSection = {
  id: 'summary',
  title: 'Summary',
  applies: ({ tables }) => tables.some((t) => t.id === 'summary'),
  render: ({ tables, names }) => `<section id="summary">${tableHtml(tables.find((t) => t.id === 'summary')!, names, 'h2')}</section>`,
};
