/**
 * Number formatting, labels and escaping shared by tables, charts and the HTML page, so the same
 * quantity reads the same everywhere.
 */
import type { CellResult } from '../rundir/records.js';
import type { Estimate } from '../suite/summary.js';
import { normSymbol } from '../../attacks/threatModels.js';
import type { ThreatModel } from '../../attacks/types.js';

/** Accuracy as a percentage with one decimal: 0.8734 -> "87.3". */
export function pct(x: number): string {
  return (100 * x).toFixed(1);
}

/** "87.3 (85.1-89.2)": accuracy and its 95% interval, in percent. */
export function withInterval(e: Estimate): string {
  return `${pct(e.accuracy)} (${pct(e.ci95[0])}-${pct(e.ci95[1])})`;
}

/** A ratio in percent, "∞" when unbounded: Infinity -> "∞", 0.95 -> "95.0". */
/** How the baseline's own mCE and relative mCE read (1 by definition, no interval to speak of). */
export const BASELINE_RATIO = '100% (baseline)';

export function pctOrInfinity(x: number): string {
  return x === Infinity ? '∞' : pct(x);
}

/**
 * "95.0 (90.1-99.8)": a ratio (e.g. mCE) and its 95% interval, in percent ("∞" for an unbounded end);
 * "100% (baseline)" for the baseline's own ratio, 1 by definition.
 */
export function ratioWithInterval(r: { ratio: number; ci95: [number, number]; baseline?: boolean }): string {
  if (r.baseline) return BASELINE_RATIO;
  return `${pct(r.ratio)} (${pctOrInfinity(r.ci95[0])}-${pctOrInfinity(r.ci95[1])})`;
}

/** Epsilon as written in a config: 0.03 -> "0.03" (no float noise). */
export function fmtEps(eps: number): string {
  return String(Number(eps.toPrecision(6)));
}

/** An epsilon with its norm, as table headers and captions write it: "L∞ ε=0.03", "L2 ε=1.5". */
export function epsWithNorm(threatModel: ThreatModel, eps: number): string {
  return `${normSymbol(threatModel)} ε=${fmtEps(eps)}`;
}

/** The same in plain ASCII for CSV headers: "linf_eps=0.03", "l2_eps=1.5". */
export function epsCsv(threatModel: ThreatModel, eps: number): string {
  return `${threatModel}_eps=${fmtEps(eps)}`;
}

/** Label of an attack cell's series, e.g. "pgd", or "pgd ← cnn-fmnist" for a transfer attack. */
export function attackLabel(cell: Pick<CellResult, 'attack' | 'transferFrom'>): string {
  const attack = cell.attack ?? '?';
  return cell.transferFrom ? `${attack} ← ${cell.transferFrom}` : attack;
}

/** Gradient path of an attack cell, "—" for score-based attacks. */
export function pathLabel(cell: Pick<CellResult, 'path'>): string {
  return !cell.path || cell.path === 'none' ? '—' : cell.path;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text for HTML element content or a quoted attribute value. */
export function escapeHtml(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

/**
 * JSON for a <script> element: `<`, `>` and `&` become \u escapes so no `</script>` or `<!--` can end
 * or confuse the element, and U+2028/U+2029 are escaped for old JS parsers. JSON.parse reads it back unchanged.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** A GitHub-flavoured Markdown table cell: pipes and newlines would break the row; HTML would render. */
export function escapeMarkdownCell(text: string): string {
  return text
    .replace(/\\/g, '\\\\')
    .replace(/\|/g, '\\|')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\r?\n/g, ' ');
}

/**
 * Colours per checkpoint (Tableau 10, colour-blind-safer order), assigned in the run's checkpoint order so
 * a checkpoint keeps its colour on every chart and in the page.
 */
export const CHECKPOINT_COLOURS = [
  '#4c78a8',
  '#f58518',
  '#54a24b',
  '#e45756',
  '#72b7b2',
  '#b279a2',
  '#eeca3b',
  '#ff9da6',
  '#9d755d',
  '#bab0ac',
];

export function checkpointColour(names: readonly string[], name: string): string {
  const i = names.indexOf(name);
  return CHECKPOINT_COLOURS[(i < 0 ? 0 : i) % CHECKPOINT_COLOURS.length];
}
