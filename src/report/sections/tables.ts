/** Tables: the detail tables (accuracy vs ε, worst case, corruptions, ...) and, folded, every cell. */
import { tableHtml } from './markup.js';
import type { ReportContext, ReportSection } from './types.js';

const detail = ({ tables }: ReportContext) => tables.filter((t) => t.id !== 'summary' && t.id !== 'cells');

export const tablesSection: ReportSection = {
  id: 'tables',
  title: 'Tables',
  applies: (report) => report.tables.some((t) => t.id !== 'summary'),
  render(report) {
    const cells = report.tables.find((t) => t.id === 'cells');
    return (
      `<section id="tables"><h2>Tables</h2>${detail(report).map((t) => tableHtml(t, report.names)).join('')}` +
      (cells ? `<details><summary>All ${cells.rows.length} cells</summary>${tableHtml(cells, report.names)}</details>` : '') +
      '<p class="muted">CSV and Markdown versions are in the run directory under tables/.</p></section>'
    );
  },
};
