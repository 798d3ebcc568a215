/**
 * The plug-in shape of the HTML report: a section says when it applies to a run and renders its own
 * markup; sections/index.ts lists them in page order and html.ts assembles the page from that list.
 */
import type { SummaryRow } from '../../suite/summary.js';
import type { RunData } from '../../rundir/read.js';
import type { Chart } from '../charts.js';
import type { Table } from '../tables.js';

export interface ReportImage {
  name: string;
  /** data: URI of the PNG. */
  dataUri: string;
  width: number;
  height: number;
  /** From the sidecar images/<name>.json when there is one (plain text; escaped when rendered). */
  group?: 'adversarial' | 'corruption';
  title?: string;
  caption?: string;
  /** Headers of the grid's columns and rows, and optionally a label per tile (row-major). */
  grid?: { columns: string[]; rows: string[]; tiles?: { text: string; marked?: boolean }[][] };
}

/** Everything a section may draw on: the run's records and what the report derived from them once. */
export interface ReportContext {
  run: RunData;
  /** Checkpoint names in the run's order (colours follow it). */
  names: string[];
  /** summaryRows(run, baseline): one row per checkpoint. */
  rows: SummaryRow[];
  tables: Table[];
  charts: Chart[];
  images: ReportImage[];
  /** Baseline checkpoint of mCE (as the tables used). */
  baseline?: string;
}

export interface ReportSection {
  /** The element id (`<section id>`), also the navigation anchor. */
  id: string;
  /** Heading and navigation label. */
  title: string;
  /**
   * `top`: drawn under the page header, before the sections, and not listed in the navigation
   * (the verdicts and the notices); `body` (default): a `<section>` listed in the navigation.
   */
  placement?: 'top' | 'body';
  /** Whether the run has anything for this section; a section that does not apply is left out, with its navigation link. */
  applies(report: ReportContext): boolean;
  /** HTML markup; every string from a config, a checkpoint or a file name escaped. Called only when `applies`. */
  render(report: ReportContext): string;
}
