/**
 * Vega-Lite specs rendered from a run's records, saved as <run-dir>/charts/<id>.vl.json, and static SVGs of
 * each rendered headlessly (vega's `renderer: 'none'` + toSVG), saved as <run-dir>/charts/<id>.svg.
 * The data is inlined in every spec so a .vl.json file opens in any Vega-Lite viewer on its own.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { CORRUPTION_FAMILIES } from '../../corruptions/types.js';
import { checkpointNames, corruptionSummary, epsKey, estimate, runThreatModels, worstCase } from '../suite/summary.js';
import type { RunData } from '../rundir/read.js';
import { normSymbol, threatModelOf } from '../../attacks/threatModels.js';
import type { ThreatModel } from '../../attacks/types.js';
import { attackSeries } from './tables.js';
import { attackLabel, checkpointColour } from './format.js';
import { listAttacks } from '../../attacks/registry.js';
import type { SuiteCellResult as CellResult } from '../rundir/records.js';
import { createDirectory } from '../rundir/createDir.js';

export interface Chart {
  id: string;
  title: string;
  /** One sentence under the chart saying how to read it. */
  caption: string;
  spec: TopLevelSpec;
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const WORST = 'worst case';
const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif';

const CONFIG = {
  font: FONT,
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', gridColor: '#eee' },
  legend: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', labelLimit: 280 },
  header: { labelFontSize: 13, titleFontSize: 13 },
  title: { fontSize: 14, anchor: 'start', fontWeight: 'bold' },
} as const;

/** Line legends drawn as solid strokes (a band layer sharing the scale would otherwise fade the symbols). */
const LINE_LEGEND = { orient: 'right', symbolType: 'stroke', symbolStrokeWidth: 3, symbolOpacity: 1, symbolSize: 260 } as const;
const ACCURACY_AXIS = { title: 'accuracy', format: '.0%' } as const;
const ACCURACY_SCALE = { domain: [0, 1] } as const;
/** The ε axis names the norm of the radii on it: a chart shows one threat model. */
function epsAxis(threatModel: ThreatModel) {
  return { title: `ε (${normSymbol(threatModel)} radius, pixel units in [0,1])` } as const;
}

/** Chart ids: L-inf charts keep the plain id; other threat models get a suffix ("headline-l2"). */
function chartId(base: string, threatModel: ThreatModel): string {
  return threatModel === 'linf' ? base : `${base}-${threatModel}`;
}

function checkpointColourScale(run: RunData) {
  const names = checkpointNames(run);
  return { domain: names, range: names.map((n) => checkpointColour(names, n)) };
}

interface EpsPoint {
  checkpoint: string;
  /** attackSeries key of the point's sweep ('' for the worst case). */
  key: string;
  threatModel: ThreatModel;
  series: string;
  attack: string;
  path: string;
  eps: number;
  accuracy: number;
  lo: number;
  hi: number;
  samples: number;
}

/** One point per attack cell of `threatModel` plus its worst-case points, long form. */
function epsPoints(run: RunData, threatModel: ThreatModel): EpsPoint[] {
  const points: EpsPoint[] = [];
  for (const checkpoint of checkpointNames(run)) {
    for (const { key, cells } of attackSeries(run, checkpoint)) {
      if (threatModelOf(cells[0]) !== threatModel) continue;
      const path = cells[0].path ?? 'none';
      const label = attackLabel(cells[0]);
      const series = path === 'none' ? label : `${label} (${path})`;
      // Colour by attack; a transfer attack is one colour whatever its source (the source is in the series name).
      const attack = cells[0].transferFrom ? `transfer (${cells[0].attack})` : (cells[0].attack ?? '?');
      for (const c of cells) {
        const e = estimate(c.correct, c.samples);
        points.push({ checkpoint, key, threatModel, series, attack, path, eps: epsKey(c.eps!), accuracy: e.accuracy, lo: e.ci95[0], hi: e.ci95[1], samples: c.samples });
      }
    }
  }
  for (const w of worstCase(run).filter((x) => x.threatModel === threatModel))
    points.push({ checkpoint: w.checkpoint, key: '', threatModel, series: WORST, attack: WORST, path: 'all', eps: w.eps, accuracy: w.accuracy, lo: w.ci95[0], hi: w.ci95[1], samples: w.samples });
  return points;
}

const EPS_TOOLTIP = [
  { field: 'checkpoint', type: 'nominal' },
  { field: 'series', type: 'nominal', title: 'attack' },
  { field: 'threatModel', type: 'nominal', title: 'norm' },
  { field: 'eps', type: 'quantitative', title: 'ε' },
  { field: 'accuracy', type: 'quantitative', format: '.1%' },
  { field: 'lo', type: 'quantitative', format: '.1%', title: '95% CI low' },
  { field: 'hi', type: 'quantitative', format: '.1%', title: '95% CI high' },
  { field: 'samples', type: 'quantitative' },
];

const STRONGEST = 'strongest single white-box attack';

/**
 * Line style and legend label of each gradient path a cell may record: CNN-F's first/e2e/bpda, `direct`
 * (the exact gradient of a model without feedback, e.g. a TF.js model), `none` (score-based attacks) and
 * `all` (the worst case). Only the paths a run has appear in its charts, so a run without CNN-F models
 * names none of CNN-F's paths.
 */
const PATH_STYLES: Record<string, { dash: number[]; label: string; caption?: string }> = {
  first: { dash: [2, 3], label: 'first pass', caption: 'dotted: first pass' },
  e2e: { dash: [1, 0], label: 'end-to-end', caption: 'solid: end-to-end' },
  bpda: { dash: [7, 3], label: 'BPDA', caption: 'long dashes: BPDA' },
  direct: { dash: [1, 0], label: 'direct' },
  none: { dash: [1, 0], label: 'none (score-based)' },
  all: { dash: [1, 0], label: 'all (worst case)' },
};
/** Dash patterns for paths a model declares that have no style above (in order of appearance). */
const OTHER_DASHES = [[4, 2], [8, 2, 2, 2], [1, 2]];

/** The gradient paths of white-box points (not `none`, not the worst case's `all`). */
function gradientPathsIn(points: EpsPoint[]): string[] {
  return [...new Set(points.map((p) => p.path))].filter((p) => p !== 'none' && p !== 'all');
}

/** "attack and gradient path" when the chart shows more than one gradient path, else "attack". */
function attackWords(points: EpsPoint[]): string {
  return gradientPathsIn(points).length > 1 ? 'attack and gradient path' : 'attack';
}

/** A cell's attack is targeted: as its attack module declares for the recorded params (attacks/types.ts isTargeted). */
function targetedCell(c: CellResult): boolean {
  const params = c.attackParams ?? {};
  const attack = listAttacks().find((a) => a.name === (c.method ?? c.attack));
  return attack ? attack.isTargeted(params) : params.targeted === true;
}

/**
 * Per checkpoint, the series (attackSeries key) of its strongest single white-box attack of one threat
 * model (all threat models when `threatModel` is omitted): among the untargeted gradient sweeps on the
 * checkpoint itself (path not 'none', no transfer source, params not targeted: what the records say the
 * attack is, never its name or position; of a cascade, its first stage only), the one with the lowest mean accuracy over its eps > 0 cells,
 * i.e. the sweep closest to setting the worst case. Ties keep the first.
 */
export function strongestWhiteBoxSeries(run: RunData, threatModel?: ThreatModel): Map<string, string> {
  const out = new Map<string, string>();
  for (const checkpoint of checkpointNames(run)) {
    let best: { key: string; mean: number } | undefined;
    for (const { key, cells } of attackSeries(run, checkpoint)) {
      const c0 = cells[0];
      if (threatModel && threatModelOf(c0) !== threatModel) continue;
      if (!c0.path || c0.path === 'none' || c0.transferFrom || targetedCell(c0)) continue;
      // A cascade's later stages and its worst case combine several attacks; its first stage is one attack.
      const cascade = (c0 as CellResult).cascade;
      if (cascade && cascade.stage !== 1) continue;
      const attacked = cells.filter((c) => (c.eps ?? 0) > 0);
      if (attacked.length === 0) continue;
      const mean = attacked.reduce((s, c) => s + c.correct / Math.max(1, c.samples), 0) / attacked.length;
      if (!best || mean < best.mean) best = { key, mean };
    }
    if (best) out.set(checkpoint, best.key);
  }
  return out;
}

/**
 * The headline of one threat model: each checkpoint's worst-case curve over the attacks of that threat
 * model (solid) and its strongest single white-box attack of that threat model (dashed;
 * strongestWhiteBoxSeries) on one chart, with 95% bands; colour = checkpoint.
 */
export function headlineChart(run: RunData, threatModel: ThreatModel = 'linf'): Chart | null {
  const strongest = strongestWhiteBoxSeries(run, threatModel);
  const points = epsPoints(run, threatModel).filter((p) => p.series === WORST || strongest.get(p.checkpoint) === p.key);
  if (points.length === 0) return null;
  const curves = points.map((p) => ({ ...p, curve: p.series === WORST ? 'worst case (all attacks)' : STRONGEST }));
  const names = checkpointNames(run).filter((n) => curves.some((c) => c.checkpoint === n));
  const norm = normSymbol(threatModel);
  const what = attackWords(epsPoints(run, threatModel));
  const title = names.length > 1 ? `Robust accuracy (${norm}): ${names.join(' vs ')}` : `Robust accuracy (${norm}): ${names[0]}`;
  const colour = { field: 'checkpoint', type: 'nominal', scale: checkpointColourScale(run), legend: { ...LINE_LEGEND, title: 'checkpoint' } };
  const dash = {
    field: 'curve',
    type: 'nominal',
    scale: { domain: ['worst case (all attacks)', STRONGEST], range: [[1, 0], [6, 4]] },
    legend: { ...LINE_LEGEND, title: 'curve', symbolStrokeWidth: 2, symbolStrokeColor: '#333', symbolSize: 400 },
  };
  const spec = {
    $schema: SCHEMA,
    title,
    width: 560,
    height: 320,
    config: CONFIG,
    data: { values: curves },
    encoding: { x: { field: 'eps', type: 'quantitative', axis: epsAxis(threatModel) } },
    layer: [
      {
        mark: { type: 'area', opacity: 0.13 },
        encoding: {
          y: { field: 'lo', type: 'quantitative', scale: ACCURACY_SCALE, axis: ACCURACY_AXIS },
          y2: { field: 'hi' },
          color: colour,
          detail: { field: 'curve', type: 'nominal' },
        },
      },
      // Lines and points are separate layers: a line mark with `point` makes the dash legend draw dots.
      {
        mark: { type: 'line', strokeWidth: 2.5 },
        encoding: { y: { field: 'accuracy', type: 'quantitative', scale: ACCURACY_SCALE, axis: ACCURACY_AXIS }, color: colour, strokeDash: dash },
      },
      {
        mark: { type: 'point', filled: true, size: 40, opacity: 1 },
        encoding: {
          y: { field: 'accuracy', type: 'quantitative', scale: ACCURACY_SCALE, axis: ACCURACY_AXIS },
          color: colour,
          tooltip: EPS_TOOLTIP.concat([{ field: 'curve', type: 'nominal' }]),
        },
      },
    ],
  };
  return {
    id: chartId('headline', threatModel),
    title,
    caption:
      `${norm} radii. Solid: worst case over every ${norm} ${what} (a sample counts only if no such attack fooled it); ` +
      `dashed: the strongest single untargeted white-box ${norm} ${what} of each checkpoint (lowest mean accuracy; ` +
      'its name is in the tooltip). Bands are 95% Wilson intervals.',
    spec: spec as unknown as TopLevelSpec,
  };
}

/** Accuracy vs ε of one threat model, one panel per checkpoint: colour = attack, dash = gradient path (PATH_STYLES), the worst case thick and black. */
export function accuracyVsEpsChart(run: RunData, threatModel: ThreatModel = 'linf'): Chart | null {
  const points = epsPoints(run, threatModel);
  const norm = normSymbol(threatModel);
  if (points.length === 0) return null;
  const attacks = [...new Set(points.filter((p) => p.series !== WORST).map((p) => p.attack))];
  const palette = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#b279a2', '#eeca3b', '#ff9da6', '#9d755d', '#bab0ac'];
  const colour = {
    field: 'attack',
    type: 'nominal',
    scale: { domain: [...attacks, WORST], range: [...attacks.map((_, i) => palette[i % palette.length]), '#111111'] },
    legend: { ...LINE_LEGEND, title: 'attack' },
  };
  const present = [...new Set(points.map((x) => x.path))];
  const known = Object.keys(PATH_STYLES);
  // Known paths in their fixed order (the worst case's `all` last), then any other path a model declares.
  const paths = [...known.filter((p) => p !== 'all' && present.includes(p)), ...present.filter((p) => !known.includes(p)), ...(present.includes('all') ? ['all'] : [])];
  const others = present.filter((p) => !known.includes(p));
  const dashOf = (p: string) => PATH_STYLES[p]?.dash ?? OTHER_DASHES[others.indexOf(p) % OTHER_DASHES.length];
  const labels = paths.filter((p) => PATH_STYLES[p] && PATH_STYLES[p].label !== p).map((p) => `${p}: ${JSON.stringify(PATH_STYLES[p].label).replace(/"/g, "'")}`);
  const dash = { field: 'path', type: 'nominal', scale: { domain: paths, range: paths.map(dashOf) }, legend: { ...LINE_LEGEND, title: 'gradient path',
      ...(labels.length > 0 ? { labelExpr: `{${labels.join(', ')}}[datum.label] || datum.label` } : {}),
      symbolStrokeWidth: 2, symbolStrokeColor: '#333', symbolSize: 400 } };
  const what = attackWords(points);
  const styles = paths.map((p) => PATH_STYLES[p]?.caption).filter((c): c is string => c !== undefined);
  const y = { field: 'accuracy', type: 'quantitative', scale: ACCURACY_SCALE, axis: ACCURACY_AXIS };
  const spec = {
    $schema: SCHEMA,
    title: `Accuracy vs ${norm} ε by ${what}`,
    config: CONFIG,
    data: { values: points },
    facet: { column: { field: 'checkpoint', type: 'nominal', title: null, sort: checkpointNames(run) } },
    spec: {
      width: 340,
      height: 260,
      encoding: { x: { field: 'eps', type: 'quantitative', axis: epsAxis(threatModel) } },
      layer: [
        {
          transform: [{ filter: `datum.series !== '${WORST}'` }],
          mark: { type: 'area', opacity: 0.06 },
          encoding: {
            y: { field: 'lo', type: 'quantitative', scale: ACCURACY_SCALE, axis: ACCURACY_AXIS },
            y2: { field: 'hi' },
            color: colour,
            detail: { field: 'series', type: 'nominal' },
          },
        },
        {
          transform: [{ filter: `datum.series === '${WORST}'` }],
          mark: { type: 'area', opacity: 0.14 },
          encoding: { y: { field: 'lo', type: 'quantitative', scale: ACCURACY_SCALE, axis: ACCURACY_AXIS }, y2: { field: 'hi' }, color: colour },
        },
        {
          transform: [{ filter: `datum.series !== '${WORST}'` }],
          mark: { type: 'line', strokeWidth: 1.6 },
          encoding: { y, color: colour, strokeDash: dash, detail: { field: 'series', type: 'nominal' } },
        },
        {
          transform: [{ filter: `datum.series !== '${WORST}'` }],
          mark: { type: 'point', filled: true, size: 16, opacity: 1 },
          encoding: { y, color: colour, tooltip: EPS_TOOLTIP },
        },
        {
          transform: [{ filter: `datum.series === '${WORST}'` }],
          mark: { type: 'line', strokeWidth: 3.5, point: { size: 40, filled: true } },
          encoding: { y, color: colour, tooltip: EPS_TOOLTIP },
        },
      ],
    },
  };
  return {
    id: chartId('accuracy-vs-eps', threatModel),
    title: `Accuracy vs ${norm} ε by ${what}`,
    caption:
      `${norm} attacks and radii. ` +
      `One line per ${what}${styles.length > 0 ? ` (${styles.join(', ')})` : ''}; the thick black line is the ` +
      `worst case over all of them (${norm} attacks only), with its 95% Wilson band (the faint bands are the single attacks' intervals).`,
    spec: spec as unknown as TopLevelSpec,
  };
}

interface CorruptionPoint {
  checkpoint: string;
  corruption: string;
  family: string;
  severity: number;
  accuracy: number;
  lo: number;
  hi: number;
  order: number;
}

function corruptionPoints(run: RunData): CorruptionPoint[] {
  const familyRank = (f: string) => {
    const i = (CORRUPTION_FAMILIES as readonly string[]).indexOf(f);
    return i < 0 ? CORRUPTION_FAMILIES.length : i;
  };
  const points: CorruptionPoint[] = [];
  for (const s of corruptionSummary(run)) {
    const entries = [...s.corruptions].sort((a, b) => familyRank(a.family) - familyRank(b.family));
    entries.forEach((e, order) => {
      for (const [severity, est] of e.bySeverity)
        points.push({ checkpoint: s.checkpoint, corruption: e.corruption, family: e.family, severity, accuracy: est.accuracy, lo: est.ci95[0], hi: est.ci95[1], order });
    });
  }
  return points;
}

/** Heatmap corruption x severity, one panel per checkpoint, accuracy written in each cell. */
export function corruptionHeatmapChart(run: RunData): Chart | null {
  const points = corruptionPoints(run);
  if (points.length === 0) return null;
  const corruptionOrder = [...new Map(points.map((p) => [p.corruption, p.order])).entries()].sort((a, b) => a[1] - b[1]).map(([c]) => c);
  const spec = {
    $schema: SCHEMA,
    title: 'Corruption accuracy by severity',
    config: CONFIG,
    data: { values: points },
    facet: { column: { field: 'checkpoint', type: 'nominal', title: null, sort: checkpointNames(run) } },
    spec: {
      width: { step: 44 },
      height: { step: 24 },
      encoding: {
        x: { field: 'severity', type: 'ordinal', axis: { title: 'severity', labelAngle: 0 } },
        y: { field: 'corruption', type: 'nominal', sort: corruptionOrder, axis: { title: null } },
      },
      layer: [
        {
          mark: { type: 'rect' },
          encoding: {
            color: { field: 'accuracy', type: 'quantitative', scale: { scheme: 'viridis', domain: [0, 1] }, legend: { title: 'accuracy', format: '.0%' } },
            tooltip: [
              { field: 'checkpoint', type: 'nominal' },
              { field: 'corruption', type: 'nominal' },
              { field: 'family', type: 'nominal' },
              { field: 'severity', type: 'ordinal' },
              { field: 'accuracy', type: 'quantitative', format: '.1%' },
              { field: 'lo', type: 'quantitative', format: '.1%', title: '95% CI low' },
              { field: 'hi', type: 'quantitative', format: '.1%', title: '95% CI high' },
            ],
          },
        },
        {
          mark: { type: 'text', fontSize: 10 },
          encoding: {
            text: { field: 'accuracy', type: 'quantitative', format: '.0%' },
            color: { condition: { test: 'datum.accuracy < 0.55', value: 'white' }, value: 'black' },
          },
        },
      ],
    },
  };
  return {
    id: 'corruption-heatmap',
    title: 'Corruption accuracy by severity',
    caption: 'Accuracy per corruption (rows, grouped by family) and severity 1-5 (columns); one panel per checkpoint.',
    spec: spec as unknown as TopLevelSpec,
  };
}

/** Mean accuracy over a family's corruptions vs severity (0 = clean), one panel per family, colour = checkpoint. */
export function severityByFamilyChart(run: RunData): Chart | null {
  const points = corruptionPoints(run);
  if (points.length === 0) return null;
  const groups = new Map<string, { checkpoint: string; family: string; severity: number; sum: number; n: number }>();
  for (const p of points) {
    const key = JSON.stringify([p.checkpoint, p.family, p.severity]);
    const g = groups.get(key) ?? { checkpoint: p.checkpoint, family: p.family, severity: p.severity, sum: 0, n: 0 };
    g.sum += p.accuracy;
    g.n += 1;
    groups.set(key, g);
  }
  const rows = [...groups.values()].map((g) => ({ checkpoint: g.checkpoint, family: g.family, severity: g.severity, accuracy: g.sum / g.n, corruptions: g.n }));
  const families = [...new Set(rows.map((r) => r.family))];
  for (const s of corruptionSummary(run))
    if (s.clean) for (const family of families) rows.push({ checkpoint: s.checkpoint, family, severity: 0, accuracy: s.clean.accuracy, corruptions: 0 });
  const familyOrder = [...CORRUPTION_FAMILIES, ...families.filter((f) => !(CORRUPTION_FAMILIES as readonly string[]).includes(f))].filter((f) =>
    families.includes(f),
  );
  const spec = {
    $schema: SCHEMA,
    title: 'Accuracy vs corruption severity, by family',
    config: CONFIG,
    data: { values: rows },
    facet: { column: { field: 'family', type: 'nominal', title: null, sort: familyOrder } },
    spec: {
      width: 190,
      height: 200,
      mark: { type: 'line', strokeWidth: 2.2, point: { filled: true, size: 36 } },
      encoding: {
        x: { field: 'severity', type: 'quantitative', scale: { domain: [0, 5] }, axis: { title: 'severity (0 = clean)', tickMinStep: 1, format: 'd' } },
        y: { field: 'accuracy', type: 'quantitative', scale: ACCURACY_SCALE, axis: ACCURACY_AXIS },
        color: { field: 'checkpoint', type: 'nominal', scale: checkpointColourScale(run), legend: { ...LINE_LEGEND, title: 'checkpoint' } },
        tooltip: [
          { field: 'checkpoint', type: 'nominal' },
          { field: 'family', type: 'nominal' },
          { field: 'severity', type: 'quantitative' },
          { field: 'accuracy', type: 'quantitative', format: '.1%', title: 'mean accuracy' },
          { field: 'corruptions', type: 'quantitative', title: 'corruptions averaged' },
        ],
      },
    },
  };
  return {
    id: 'corruption-severity',
    title: 'Accuracy vs corruption severity, by family',
    caption: "Mean accuracy over each family's corruptions at each severity; severity 0 is the clean accuracy.",
    spec: spec as unknown as TopLevelSpec,
  };
}

/** The charts a run has data for, headline first; the ε charts once per threat model (L-inf first), never mixing norms on one axis. */
export function buildCharts(run: RunData): Chart[] {
  const models = runThreatModels(run.cells);
  return [
    ...models.map((t) => headlineChart(run, t)),
    ...models.map((t) => accuracyVsEpsChart(run, t)),
    corruptionHeatmapChart(run),
    severityByFamilyChart(run),
  ].filter((c): c is Chart => c !== null);
}

/** Renders a Vega-Lite spec to an SVG string without a browser or canvas. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Writes <run-dir>/charts/<id>.vl.json and <id>.svg for every chart; returns the paths. */
export async function writeCharts(runDir: string, charts: Chart[]): Promise<string[]> {
  const dir = join(runDir, 'charts');
  await createDirectory(dir, 'the charts folder');
  const written: string[] = [];
  for (const c of charts) {
    const specFile = join(dir, `${c.id}.vl.json`);
    await writeFile(specFile, `${JSON.stringify(c.spec, null, 2)}\n`);
    const svgFile = join(dir, `${c.id}.svg`);
    await writeFile(svgFile, await renderSvg(c.spec));
    written.push(specFile, svgFile);
  }
  return written;
}
