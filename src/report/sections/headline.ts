/** Headline: worst case and strongest single attack per checkpoint (charts.ts headlineChart); only when the run has attack results. */
import { chartFigure, headlineOf } from './markup.js';
import type { ReportSection } from './types.js';

export const headlineSection: ReportSection = {
  id: 'headline',
  title: 'Headline',
  applies: ({ charts }) => headlineOf(charts) !== undefined,
  render: ({ charts }) => `<section id="headline"><h2>Headline</h2>${chartFigure(headlineOf(charts)!)}</section>`,
};
