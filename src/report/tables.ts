/**
 * Result tables rendered from a run's records: accuracy vs epsilon (per checkpoint x attack x path, plus
 * the worst case), corruption accuracy (corruption x severity) and the per-checkpoint summary. One
 * table model, three renderings: CSV (machine-readable, fractions with interval columns), GitHub-flavoured
 * Markdown (for pull requests) and HTML (in the report).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { CORRUPTION_FAMILIES } from '../../corruptions/types.js';
import type { CellResult, SuiteCellResult } from '../rundir/records.js';
import type { RunData } from '../rundir/read.js';
import { checkpointNames, corruptionSummary, epsKey, estimate, runThreatModels, summaryRows, worstCase, MCE_BOOTSTRAP, type CorruptionEntry, type Estimate } from '../suite/summary.js';
import { attackLabel, epsCsv, epsWithNorm, escapeMarkdownCell, fmtEps, pathLabel, pct, ratioWithInterval, withInterval } from './format.js';
import { normSymbol, threatModelOf } from '../../attacks/threatModels.js';
import { cascadeTable } from './cascade.js';
import type { ThreatModel } from '../../attacks/types.js';
import { createDirectory } from '../rundir/createDir.js';

/**
 * What a column holds: `text`; `estimate` (accuracy + 95% interval; three CSV columns); `accuracy`
 * (a fraction without interval); `ratio` (e.g. CE; shown as a percentage); `ratioInterval` (a ratio with
 * its 95% bootstrap interval, e.g. mCE; three CSV columns, an unbounded end written Infinity).
 */
export type ColumnKind = 'text' | 'estimate' | 'accuracy' | 'ratio' | 'ratioInterval';

/** A ratio and its 95% interval (mCE, relative mCE). */
export interface RatioInterval {
  ratio: number;
  ci95: [number, number];
  /** The baseline's own ratio: 1 by definition (interval [1, 1]), shown as "100% (baseline)". */
  baseline?: true;
}

export interface Column {
  header: string;
  /** CSV header (plain ASCII, no spaces) when it differs from the displayed one. */
  csvHeader?: string;
  kind: ColumnKind;
  /** HTML only: a spanning header over consecutive columns of the same group, which then show `sub`. */
  group?: string;
  sub?: string;
}

export type TableValue = string | number | Estimate | RatioInterval | null;

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

/** One column of radii: a threat model and an eps. */
interface EpsColumn {
  threatModel: ThreatModel;
  eps: number;
}

/** The run's (threat model, eps) pairs: L-inf radii ascending, then L2 radii ascending. */
function attackEpsilons(run: RunData): EpsColumn[] {
  return runThreatModels(run.cells).flatMap((threatModel) =>
    [...new Set(run.cells.filter((c) => c.kind === 'attack' && threatModelOf(c) === threatModel).map((c) => epsKey(c.eps!)))]
      .sort((a, b) => a - b)
      .map((eps) => ({ threatModel, eps })),
  );
}

const columnKey = (threatModel: ThreatModel, eps: number) => `${threatModel}|${eps}`;

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

/**
 * The median minimal perturbation of a minimisation attack's series (cells with `minimisation` distances,
 * src/suite/minimisation.ts), over the samples classified correctly clean (distance > 0 or none found), a
 * sample without an adversarial example counting as infinitely far; null for other attacks.
 */
export function medianDistance(cells: readonly CellResult[]): number | null {
  const distances = cells.map((c) => (c as SuiteCellResult).minimisation?.distances).find((d) => d !== undefined);
  if (!distances) return null;
  const attacked = distances.filter((d) => d !== 0).map((d) => d ?? Infinity).sort((a, b) => a - b);
  if (attacked.length === 0) return null;
  const mid = attacked.length >> 1;
  return attacked.length % 2 === 1 ? attacked[mid] : (attacked[mid - 1] + attacked[mid]) / 2;
}

function medianDistanceText(cells: readonly CellResult[]): string | null {
  const m = medianDistance(cells);
  return m === null ? null : Number.isFinite(m) ? String(Number(m.toPrecision(4))) : '∞';
}

export function accuracyVsEpsTable(run: RunData): Table {
  const epsilons = attackEpsilons(run);
  // A column for the minimisation attacks' median minimal perturbation, when the run has one.
  const minimising = run.cells.some((c) => (c as SuiteCellResult).minimisation !== undefined);
  const worst = worstCase(run);
  const rows: TableRow[] = [];
  for (const checkpoint of checkpointNames(run)) {
    const series = attackSeries(run, checkpoint);
    if (series.length === 0) continue;
    for (const { cells } of series) {
      const byEps = new Map(cells.map((c) => [columnKey(threatModelOf(c), epsKey(c.eps!)), estimate(c.correct, c.samples)]));
      rows.push({
        values: [
          checkpoint,
          attackLabel(cells[0]),
          pathLabel(cells[0]),
          normSymbol(threatModelOf(cells[0])),
          ...epsilons.map((e) => byEps.get(columnKey(e.threatModel, e.eps)) ?? null),
          ...(minimising ? [medianDistanceText(cells)] : []),
        ],
      });
    }
    // One worst case per threat model: it combines only attacks measured in that norm.
    for (const threatModel of runThreatModels(run.cells)) {
      const w = new Map(worst.filter((r) => r.checkpoint === checkpoint && r.threatModel === threatModel).map((r) => [columnKey(r.threatModel, r.eps), r as Estimate]));
      if (w.size === 0) continue;
      rows.push({
        values: [checkpoint, 'worst case', 'all', normSymbol(threatModel), ...epsilons.map((e) => w.get(columnKey(e.threatModel, e.eps)) ?? null), ...(minimising ? [null] : [])],
        emphasis: true,
      });
    }
  }
  const norms = runThreatModels(run.cells).map(normSymbol).join(' and ');
  return {
    id: 'accuracy-vs-eps',
    title: 'Robust accuracy vs ε',
    note:
      `Accuracy (%) with its 95% Wilson interval under each attack and gradient path; ε is the radius in the ${norms} norm, in [0,1] pixel units. ` +
      'The worst case counts a sample as robust only if every attack of that norm at that ε (and the clean prediction) left it correct.' +
      (minimising
        ? ' A minimisation attack (e.g. fmn) ran once per row and its cells follow from each sample\'s smallest perturbation found; median min ‖δ‖ is its median over the samples classified correctly clean (∞ when fewer than half were broken).'
        : ''),
    columns: [
      { header: 'checkpoint', kind: 'text' },
      { header: 'attack', kind: 'text' },
      { header: 'path', kind: 'text' },
      { header: 'norm', kind: 'text' },
      ...epsilons.map((e) => ({ header: epsWithNorm(e.threatModel, e.eps), csvHeader: epsCsv(e.threatModel, e.eps), kind: 'estimate' as const })),
      ...(minimising ? [{ header: 'median min ‖δ‖', csvHeader: 'median_min_distance', kind: 'text' as const }] : []),
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
        values: [s.checkpoint, e.corruption, e.family, ...severities.map((sev) => e.bySeverity.get(sev) ?? null), e.meanAccuracy, e.ce, e.relativeCe, corruptionNote(e)],
      });
  }
  const base = summaries[0]?.baseline ?? '';
  return {
    id: 'corruption-accuracy',
    title: 'Corruption accuracy by severity',
    note:
      `Accuracy (%) with its 95% Wilson interval per corruption and severity 1-5; CE and relative CE against ${base} ` +
      '(Hendrycks & Dietterich 2019: summed errors over severities, divided by the baseline\'s; 100% = as the baseline). ' +
      'The note says when a corruption is left out of mCE or relative mCE and why, and when the baseline\'s degradation under it ' +
      '(95% paired-bootstrap interval reaching 0) is within sampling noise, which makes its relative CE unstable.',
    columns: [
      { header: 'checkpoint', kind: 'text' },
      { header: 'corruption', kind: 'text' },
      { header: 'family', kind: 'text' },
      ...severities.map((s) => ({ header: `severity ${s}`, csvHeader: `severity=${s}`, kind: 'estimate' as const })),
      { header: 'mean', csvHeader: 'mean_accuracy', kind: 'accuracy' },
      { header: 'CE', csvHeader: 'ce', kind: 'ratio' },
      { header: 'relative CE', csvHeader: 'relative_ce', kind: 'ratio' },
      { header: 'note', csvHeader: 'mce_note', kind: 'text' },
    ],
    rows,
  };
}

/** A corruption row's note: why it is left out of mCE / relative mCE, or that relative CE is within noise. */
function corruptionNote(e: CorruptionEntry): string {
  const notes: string[] = [];
  if (e.ceExcluded && e.ceExcluded === e.relativeCeExcluded) notes.push(`left out of mCE and relative mCE: ${e.ceExcluded}`);
  else {
    if (e.ceExcluded) notes.push(`left out of mCE: ${e.ceExcluded}`);
    if (e.relativeCeExcluded) notes.push(`left out of relative mCE: ${e.relativeCeExcluded}`);
  }
  if (e.withinNoise && e.baselineDegradation) {
    const d = e.baselineDegradation;
    notes.push(`relative CE within noise: the baseline's degradation is ${pct(d.value)} points (95% CI ${pct(d.ci95[0])} to ${pct(d.ci95[1])})`);
  }
  return notes.join('; ');
}

const ratioCell = (ratio: number | null, ci: [number, number] | null, baseline: boolean): TableValue =>
  ratio === null ? null : ci ? { ratio, ci95: ci, ...(baseline ? { baseline: true as const } : {}) } : ratio;

export function summaryTable(run: RunData, baseline?: string): Table {
  const rows = summaryRows(run, baseline);
  const epsilons = attackEpsilons(run).filter((e) => e.eps > 0);
  const hasCorruption = rows.some((r) => r.meanCorruptionAccuracy !== null);
  const columns: Column[] = [
    { header: 'checkpoint', kind: 'text' },
    { header: 'clean', csvHeader: 'clean_accuracy', kind: 'estimate' },
    ...epsilons.map((e) => ({
      header: `worst case ${epsWithNorm(e.threatModel, e.eps)}`,
      csvHeader: `worst_case_${epsCsv(e.threatModel, e.eps)}`,
      kind: 'estimate' as const,
      group: `worst-case robust accuracy (${normSymbol(e.threatModel)})`,
      sub: `ε=${fmtEps(e.eps)}`,
    })),
  ];
  if (hasCorruption)
    columns.push(
      { header: 'mean corruption accuracy', csvHeader: 'mean_corruption_accuracy', kind: 'accuracy', group: 'corruptions', sub: 'mean accuracy' },
      { header: 'mCE', csvHeader: 'mce', kind: 'ratioInterval', group: 'corruptions', sub: 'mCE' },
      { header: 'relative mCE', csvHeader: 'relative_mce', kind: 'ratioInterval', group: 'corruptions', sub: 'relative mCE' },
      { header: 'mCE notes', csvHeader: 'mce_notes', kind: 'text', group: 'corruptions', sub: 'left out / within noise' },
    );
  const base = rows.find((r) => r.baseline)?.baseline;
  return {
    id: 'summary',
    title: 'Summary',
    note:
      'Clean accuracy and worst-case robust accuracy (%) with 95% Wilson intervals' +
      (hasCorruption
        ? `; mean accuracy over all corruptions and severities; mCE and relative mCE against ${base} (Hendrycks & Dietterich 2019; ` +
          '100% = as the baseline) with 95% paired-bootstrap percentile intervals (the same resampled images for the checkpoint, ' +
          `the baseline and both clean cells; ${MCE_BOOTSTRAP.resamples} resamples, seed ${MCE_BOOTSTRAP.seed}; ∞ = unbounded). ` +
          'The notes list every corruption a mean leaves out, and why, and where the baseline\'s degradation is within noise.'
        : '.'),
    columns,
    rows: rows.map((r) => {
      const robust = new Map(r.robust.map((x) => [columnKey(x.threatModel, x.eps), x.estimate]));
      const values: TableValue[] = [r.checkpoint, r.clean, ...epsilons.map((e) => robust.get(columnKey(e.threatModel, e.eps)) ?? null)];
      if (hasCorruption) values.push(r.meanCorruptionAccuracy, ratioCell(r.mCE, r.mCECi95, r.baseline === r.checkpoint), ratioCell(r.relativeMCE, r.relativeMCECi95, r.baseline === r.checkpoint), r.mceNotes.join('; '));
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
    note: 'One row per evaluated cell; ε is the radius in the norm of its threat model (linf or l2), in [0,1] pixel units.',
    columns: [
      { header: 'id', kind: 'text' },
      { header: 'kind', kind: 'text' },
      { header: 'checkpoint', kind: 'text' },
      { header: 'attack', kind: 'text' },
      { header: 'path', kind: 'text' },
      { header: 'transfer from', csvHeader: 'transfer_from', kind: 'text' },
      { header: 'norm', csvHeader: 'threat_model', kind: 'text' },
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
        c.kind === 'attack' ? threatModelOf(c) : '',
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
  const cascade = cascadeTable(run);
  if (cascade) tables.push(cascade);
  if (run.cells.some((c) => c.kind === 'corruption')) tables.push(corruptionTable(run, baseline));
  tables.push(cellsTable(run));
  return tables;
}

export function isEstimate(v: TableValue): v is Estimate {
  return typeof v === 'object' && v !== null && 'accuracy' in v;
}

export function isRatioInterval(v: TableValue): v is RatioInterval {
  return typeof v === 'object' && v !== null && 'ratio' in v;
}

/** A cell as displayed (Markdown, HTML): percentages with one decimal, "—" for no data. */
export function displayValue(v: TableValue, kind: ColumnKind): string {
  if (v === null) return '—';
  if (isEstimate(v)) return withInterval(v);
  if (isRatioInterval(v)) return ratioWithInterval(v);
  if (typeof v === 'number') return kind === 'text' ? String(v) : `${pct(v)}`;
  return v;
}

const round = (x: number) => Number(x.toFixed(6));

export function toCsv(table: Table): string {
  const header = table.columns.flatMap((c) => {
    const h = c.csvHeader ?? c.header;
    return c.kind === 'estimate' || c.kind === 'ratioInterval' ? [h, `${h} ci_low`, `${h} ci_high`] : [h];
  });
  const rows = table.rows.map((r) =>
    r.values.flatMap((v, i): (string | number)[] => {
      if (table.columns[i].kind === 'estimate') return isEstimate(v) ? [round(v.accuracy), round(v.ci95[0]), round(v.ci95[1])] : ['', '', ''];
      if (table.columns[i].kind === 'ratioInterval') return isRatioInterval(v) ? [round(v.ratio), round(v.ci95[0]), round(v.ci95[1])] : ['', '', ''];
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
      // An empty cell stays empty: "****" is not bold nothing but four literal asterisks.
      return `| ${shown.map((s) => (r.emphasis && s !== '—' && s.trim() !== '' ? `**${escapeMarkdownCell(s)}**` : escapeMarkdownCell(s))).join(' | ')} |`;
    }),
  ];
  return `${lines.join('\n')}\n`;
}

/** Writes <run-dir>/tables/<id>.csv and .md for every table, plus tables/all.md with all of them; returns the paths. */
export async function writeTables(runDir: string, tables: Table[]): Promise<string[]> {
  const dir = join(runDir, 'tables');
  await createDirectory(dir, 'the tables folder');
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
