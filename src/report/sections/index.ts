/**
 * The HTML report's sections in page order. A new section is one file exporting a ReportSection
 * (types.ts) and one line here; html.ts draws every section that applies to the run, and its navigation
 * lists only those.
 */
import { chartsSection } from './charts.js';
import { headlineSection } from './headline.js';
import { imagesSection } from './images.js';
import { metadataSection } from './metadata.js';
import { modelsSection } from './models.js';
import { noticesSection } from './notices.js';
import { planNotesSection } from './planNotes.js';
import { sanitySection } from './sanity.js';
import { summarySection } from './summary.js';
import { tablesSection } from './tables.js';
import type { ReportSection } from './types.js';
import { verdictsSection } from './verdicts.js';

export type { ReportContext, ReportImage, ReportSection } from './types.js';

export const REPORT_SECTIONS: readonly ReportSection[] = [
  verdictsSection,
  noticesSection,
  headlineSection,
  sanitySection,
  summarySection,
  chartsSection,
  tablesSection,
  imagesSection,
  modelsSection,
  planNotesSection,
  metadataSection,
];
