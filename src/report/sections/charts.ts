/** Charts: every chart but the headline (accuracy vs ε per norm, corruption heatmap, severity by family). */
import { chartFigure, headlineOf } from './markup.js';
import type { ReportContext, ReportSection } from './types.js';

const others = ({ charts }: ReportContext) => charts.filter((c) => c !== headlineOf(charts));

export const chartsSection: ReportSection = {
  id: 'charts',
  title: 'Charts',
  applies: (report) => others(report).length > 0,
  render: (report) => `<section id="charts"><h2>Charts</h2>${others(report).map(chartFigure).join('')}</section>`,
};
