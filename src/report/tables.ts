/**
 * Result tables rendered from a run's records: accuracy vs epsilon (per checkpoint x attack x path, plus
 * the worst case), corruption accuracy (corruption x severity) and the per-checkpoint summary. One
 * table model, three renderings: CSV (machine-readable, fractions with interval columns), GitHub-flavoured
 * Markdown (for pull requests) and HTML (in the report).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { CORRUPTION_FAMILIES } from '../../corruptions/types.js';
import type { CellResult } from '../rundir/records.js';
import { checkpointNames, corruptionSummary, epsKey, estimate, summaryRows, worstCase, type Estimate } from '../suite/summary.js';
import type { RunData } from '../rundir/read.js';
import { attackLabel, escapeMarkdownCell, fmtEps, pathLabel, pct, withInterval } from './format.js';

/**
 * What a column holds: `text`; `estimate` (accuracy + 95% interval; three CSV columns); `accuracy`
 * (a fraction without interval); `ratio` (e.g. mCE; shown as a percentage).
 */
export type ColumnKind = 'text' | 'estimate' | 'accuracy' | 'ratio';

export interface Column {
  header: string;
  /** CSV header (plain ASCII, no spaces) when it differs from the displayed one. */
  csvHeader?: string;
  kind: ColumnKind;
  /** HTML only: a spanning header over consecutive columns of the same group, which then show `sub`. */
  group?: string;
  sub?: string;
}

export type TableValue = string | number | Estimate | null;

export interface TableRow {
  values: TableValue[];
  /** Rendered in bold / highlighted (the worst-case rows). */
  emphasis?: boolean;
}

export interface Table {
  id: string;
  title: string;
  /** One sentence under the title saying how to read it. */
  note: string;
  columns: Column[];
  rows: TableRow[];
}

const FAMILY_ORDER = [...CORRUPTION_FAMILIES] as string[];

function familyRank(family: string): number {
  const i = FAMILY_ORDER.indexOf(family);
  return i < 0 ? FAMILY_ORDER.length : i;
}

function attackEpsilons(run: RunData): number[] {
  return [...new Set(run.cells.filter((c) => c.kind === 'attack').map((c) => epsKey(c.eps!)))].sort((a, b) => a - b);
}

/** Attack series of one checkpoint (attack, path, transfer source) in the run's planned order. */
export function attackSeries(run: RunData, checkpoint: string): { key: string; cells: CellResult[] }[] {
  const series = new Map<string, CellResult[]>();
  for (const c of run.cells) {
    if (c.kind !== 'attack' || c.checkpoint !== checkpoint) continue;
    const key = JSON.stringify([c.attack, c.path ?? 'none', c.transferFrom ?? null]);
    if (!series.has(key)) series.set(key, []);
    series.get(key)!.push(c);
  }
  return [...series].map(([key, cells]) => ({ key, cells }));
}

export function accuracyVsEpsTable(run: RunData): Table {
  const epsilons = attackEpsilons(run);
  const worst = worstCase(run);
  const rows: TableRow[] = [];
  for (const checkpoint of checkpointNames(run)) {
    const series = attackSeries(run, checkpoint);
    if (series.length === 0) continue;
    for (const { cells } of series) {
      const byEps = new Map(cells.map((c) => [epsKey(c.eps!), estimate(c.correct, c.samples)]));
      rows.push({ values: [checkpoint, attackLabel(cells[0]), pathLabel(cells[0]), ...epsilons.map((e) => byEps.get(e) ?? null)] });
    }
    const w = new Map(worst.filter((r) => r.checkpoint === checkpoint).map((r) => [r.eps, r as Estimate]));
    rows.push({ values: [checkpoint, 'worst case', 'all', ...epsilons.map((e) => w.get(e) ?? null)], emphasis: true });
  }
  return {
    id: 'accuracy-vs-eps',
    title: 'Robust accuracy vs ε',
    note:
      'Accuracy (%) with its 95% Wilson interval under each attack and gradient path; ε in pixel units ([0,1]). ' +
      'The worst case counts a sample as robust only if every attack at that ε (and the clean prediction) left it correct.',
    columns: [
      { header: 'checkpoint', kind: 'text' },
      { header: 'attack', kind: 'text' },
      { header: 'path', kind: 'text' },
      ...epsilons.map((e) => ({ header: `ε=${fmtEps(e)}`, csvHeader: `eps=${fmtEps(e)}`, kind: 'estimate' as const })),
    ],
    rows,
  };
}

export function corruptionTable(run: RunData, baseline?: string): Table {
  const summaries = corruptionSummary(run, baseline);
  const severities = [...new Set(run.cells.filter((c) => c.kind === 'corruption').map((c) => c.severity!))].sort((a, b) => a - b);
  const rows: TableRow[] = [];
  for (const s of summaries) {
    const entries = [...s.corruptions].sort((a, b) => familyRank(a.family) - familyRank(b.family));
    for (const e of entries)
      rows.push({
        values: [s.checkpoint, e.corruption, e.family, ...severities.map((sev) => e.bySeverity.get(sev) ?? null), e.meanAccuracy, e.ce, e.relativeCe],
      });
  }
  const base = summaries[0]?.baseline ?? '';
  return {
    id: 'corruption-accuracy',
    title: 'Corruption accuracy by severity',
    note:
      `Accuracy (%) with its 95% Wilson interval per corruption and severity 1-5; CE and relative CE against ${base} ` +
      '(Hendrycks & Dietterich 2019: summed errors over severities, divided by the baseline\'s; 100% = as the baseline).',
    columns: [
      { header: 'checkpoint', kind: 'text' },
      { header: 'corruption', kind: 'text' },
      { header: 'family', kind: 'text' },
      ...severities.map((s) => ({ header: `severity ${s}`, csvHeader: `severity=${s}`, kind: 'estimate' as const })),
      { header: 'mean', csvHeader: 'mean_accuracy', kind: 'accuracy' },
      { header: 'CE', csvHeader: 'ce', kind: 'ratio' },
      { header: 'relative CE', csvHeader: 'relative_ce', kind: 'ratio' },
    ],
    rows,
  };
}

export function summaryTable(run: RunData, baseline?: string): Table {
  const rows = summaryRows(run, baseline);
  const epsilons = attackEpsilons(run).filter((e) => e > 0);
  const hasCorruption = rows.some((r) => r.meanCorruptionAccuracy !== null);
  const columns: Column[] = [
    { header: 'checkpoint', kind: 'text' },
    { header: 'clean', csvHeader: 'clean_accuracy', kind: 'estimate' },
    ...epsilons.map((e) => ({
      header: `worst case ε=${fmtEps(e)}`,
      csvHeader: `worst_case_eps=${fmtEps(e)}`,
      kind: 'estimate' as const,
      group: 'worst-case robust accuracy',
      sub: `ε=${fmtEps(e)}`,
    })),
  ];
  if (hasCorruption)
    columns.push(
      { header: 'mean corruption accuracy', csvHeader: 'mean_corruption_accuracy', kind: 'accuracy', group: 'corruptions', sub: 'mean accuracy' },
      { header: 'mCE', csvHeader: 'mce', kind: 'ratio', group: 'corruptions', sub: 'mCE' },
      { header: 'relative mCE', csvHeader: 'relative_mce', kind: 'ratio', group: 'corruptions', sub: 'relative mCE' },
    );
  const base = rows.find((r) => r.baseline)?.baseline;
  return {
    id: 'summary',
    title: 'Summary',
    note:
      'Clean accuracy and worst-case robust accuracy (%) with 95% Wilson intervals' +
      (hasCorruption ? `; mean accuracy over all corruptions and severities; mCE and relative mCE against ${base} (100% = as the baseline).` : '.'),
    columns,
    rows: rows.map((r) => {
      const robust = new Map(r.robust.map((x) => [x.eps, x.estimate]));
      const values: TableValue[] = [r.checkpoint, r.clean, ...epsilons.map((e) => robust.get(e) ?? null)];
      if (hasCorruption) values.push(r.meanCorruptionAccuracy, r.mCE, r.relativeMCE);
      return { values };
    }),
  };
}

/** Every completed cell, one row each (the long form, for spreadsheets and scripts). */
export function cellsTable(run: RunData): Table {
  const text = (v: unknown) => (v === undefined || v === null ? '' : String(v));
  return {
    id: 'cells',
    title: 'All cells',
    note: 'One row per evaluated cell.',
    columns: [
      { header: 'id', kind: 'text' },
      { header: 'kind', kind: 'text' },
      { header: 'checkpoint', kind: 'text' },
      { header: 'attack', kind: 'text' },
      { header: 'path', kind: 'text' },
      { header: 'transfer from', csvHeader: 'transfer_from', kind: 'text' },
      { header: 'ε', csvHeader: 'eps', kind: 'text' },
      { header: 'corruption', kind: 'text' },
      { header: 'severity', kind: 'text' },
      { header: 'accuracy', kind: 'estimate' },
      { header: 'seconds', kind: 'text' },
    ],
    rows: run.cells.map((c) => ({
      values: [
        c.id,
        c.kind,
        c.checkpoint,
        text(c.attack),
        text(c.path),
        text(c.transferFrom),
        c.eps === undefined ? '' : fmtEps(c.eps),
        text(c.corruption),
        text(c.severity),
        estimate(c.correct, c.samples),
        c.timings.seconds.toFixed(2),
      ],
    })),
  };
}

/** The tables a run has data for. */
export function buildTables(run: RunData, baseline?: string): Table[] {
  const tables = [summaryTable(run, baseline)];
  if (run.cells.some((c) => c.kind === 'attack')) tables.push(accuracyVsEpsTable(run));
  if (run.cells.some((c) => c.kind === 'corruption')) tables.push(corruptionTable(run, baseline));
  tables.push(cellsTable(run));
  return tables;
}

function isEstimate(v: TableValue): v is Estimate {
  return typeof v === 'object' && v !== null;
}

/** A cell as displayed (Markdown, HTML): percentages with one decimal, "—" for no data. */
export function displayValue(v: TableValue, kind: ColumnKind): string {
  if (v === null) return '—';
  if (isEstimate(v)) return withInterval(v);
  if (typeof v === 'number') return kind === 'text' ? String(v) : `${pct(v)}`;
  return v;
}

const round = (x: number) => Number(x.toFixed(6));

export function toCsv(table: Table): string {
  const header = table.columns.flatMap((c) => {
    const h = c.csvHeader ?? c.header;
    return c.kind === 'estimate' ? [h, `${h} ci_low`, `${h} ci_high`] : [h];
  });
  const rows = table.rows.map((r) =>
    r.values.flatMap((v, i): (string | number)[] => {
      if (table.columns[i].kind === 'estimate') return isEstimate(v) ? [round(v.accuracy), round(v.ci95[0]), round(v.ci95[1])] : ['', '', ''];
      if (v === null) return [''];
      if (typeof v === 'number') return [round(v)];
      return [v as string];
    }),
  );
  return stringify([header, ...rows]);
}

export function toMarkdown(table: Table, headingLevel = 3): string {
  const cells = (values: string[]) => `| ${values.map(escapeMarkdownCell).join(' | ')} |`;
  const align = table.columns.map((c) => (c.kind === 'text' ? ':---' : '---:'));
  const lines = [
    `${'#'.repeat(headingLevel)} ${escapeMarkdownCell(table.title)}`,
    '',
    escapeMarkdownCell(table.note),
    '',
    cells(table.columns.map((c) => c.header)),
    `| ${align.join(' | ')} |`,
    ...table.rows.map((r) => {
      const shown = r.values.map((v, i) => displayValue(v, table.columns[i].kind));
      return `| ${shown.map((s) => (r.emphasis && s !== '—' ? `**${escapeMarkdownCell(s)}**` : escapeMarkdownCell(s))).join(' | ')} |`;
    }),
  ];
  return `${lines.join('\n')}\n`;
}

/** Writes <run-dir>/tables/<id>.csv and .md for every table, plus tables/all.md with all of them; returns the paths. */
export async function writeTables(runDir: string, tables: Table[]): Promise<string[]> {
  const dir = join(runDir, 'tables');
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const t of tables) {
    for (const [ext, text] of [
      ['csv', toCsv(t)],
      ['md', toMarkdown(t)],
    ] as const) {
      const file = join(dir, `${t.id}.${ext}`);
      await writeFile(file, text);
      written.push(file);
    }
  }
  const all = join(dir, 'all.md');
  await writeFile(all, tables.filter((t) => t.id !== 'cells').map((t) => toMarkdown(t)).join('\n'));
  written.push(all);
  return written;
}
