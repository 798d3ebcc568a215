/** Compact end-of-run tables for the terminal (the report renders the full ones). */
import type { SuiteCellResult } from '../rundir/records.js';
import { mceNotes, type CorruptionSummary } from './summary.js';
import { normSymbol, THREAT_MODELS, threatModelOf } from '../../attacks/threatModels.js';

const pct = (v: number | undefined) => (v === undefined ? '-' : (100 * v).toFixed(1));

function render(rows: string[][]): string {
  const widths = rows[0].map((_, j) => Math.max(...rows.map((r) => (r[j] ?? '').length)));
  return rows.map((r) => r.map((v, j) => (j < 2 ? v.padEnd(widths[j]) : v.padStart(widths[j]))).join('  ').trimEnd()).join('\n');
}

/**
 * checkpoint x attack/path rows, (norm, eps) columns, robust accuracy in %; "=" marks copied cells. Each
 * column names its norm ("L∞ 0.03", "L2 1.5"): an attack has values only in its own threat model's columns.
 */
export function adversarialTable(cells: SuiteCellResult[]): string {
  const attacks = cells.filter((c) => c.kind === 'attack');
  const eps = THREAT_MODELS.flatMap((t) =>
    [...new Set(attacks.filter((c) => threatModelOf(c) === t).map((c) => c.eps ?? 0))].sort((a, b) => a - b).map((e) => ({ t, e })),
  );
  const header = ['checkpoint', 'attack/path (n)', 'clean', ...eps.map(({ t, e }) => `${normSymbol(t)} ${e}`)];
  const rows: string[][] = [header];
  const checkpoints = [...new Set(cells.map((c) => c.checkpoint))];
  for (const ck of checkpoints) {
    const clean = cells.find((c) => c.checkpoint === ck && c.kind === 'clean');
    const groups = new Map<string, SuiteCellResult[]>();
    for (const c of attacks.filter((c) => c.checkpoint === ck)) {
      const key = `${c.attack}/${c.path} (${c.samples})`;
      groups.set(key, [...(groups.get(key) ?? []), c]);
    }
    if (groups.size === 0) rows.push([ck, '-', pct(clean?.accuracy), ...eps.map(() => '')]);
    for (const [key, list] of groups) {
      const copy = list.some((c) => c.copyOf) ? '=' : '';
      rows.push([ck, `${key}${copy}`, pct(clean?.accuracy), ...eps.map(({ t, e }) => (threatModelOf(list[0]) === t ? pct(list.find((c) => c.eps === e)?.accuracy) : ''))]);
    }
  }
  const note = attacks.some((c) => c.copyOf) ? '\n= copies of the first path (the model has no feedback, every gradient path is the same)' : '';
  return `Robust accuracy (%) by ε, the radius in the attack's norm ([0,1] pixel units)\n${render(rows)}${note}`;
}

/** corruption rows (per checkpoint), severity columns and their mean, accuracy in %. */
export function corruptionTable(cells: SuiteCellResult[]): string {
  const corr = cells.filter((c) => c.kind === 'corruption');
  const severities = [...new Set(corr.map((c) => c.severity ?? 0))].sort((a, b) => a - b);
  const rows: string[][] = [['checkpoint', 'corruption', ...severities.map((s) => `s${s}`), 'mean']];
  for (const ck of [...new Set(cells.map((c) => c.checkpoint))]) {
    const clean = cells.find((c) => c.checkpoint === ck && c.kind === 'clean');
    rows.push([ck, 'clean', ...severities.map(() => ''), pct(clean?.accuracy)]);
    const names = [...new Set(corr.filter((c) => c.checkpoint === ck).map((c) => c.corruption!))];
    for (const name of names) {
      const list = corr.filter((c) => c.checkpoint === ck && c.corruption === name);
      const mean = list.reduce((s, c) => s + c.accuracy, 0) / list.length;
      rows.push([ck, name, ...severities.map((s) => pct(list.find((c) => c.severity === s)?.accuracy)), pct(mean)]);
    }
  }
  return `Accuracy under corruption (%)\n${render(rows)}`;
}

const ratioText = (r: number) => (r === Infinity ? '∞' : `${(100 * r).toFixed(1)}%`);
const interval = (ci: [number, number] | null) => (ci ? ` (95% CI ${ratioText(ci[0])}-${ratioText(ci[1])})` : '');

/**
 * mCE and relative mCE per checkpoint with their 95% paired-bootstrap intervals, then every corruption a
 * mean leaves out (and why) and every relative CE within noise (summary.ts corruptionSummary).
 */
export function mceSummary(summaries: CorruptionSummary[]): string {
  if (summaries.length === 0) return '';
  const s0 = summaries[0];
  const lines = [
    `mCE and relative mCE against ${s0.baseline} (Hendrycks & Dietterich 2019; 95% paired bootstrap over ${s0.bootstrap.samples} images, ${s0.bootstrap.resamples} resamples)`,
  ];
  for (const s of summaries) {
    // The baseline's own means are 100% by definition: no interval to print.
    const value = (r: number, ci: [number, number] | null) => (s.checkpoint === s.baseline ? '100% (baseline)' : `${ratioText(r)}${interval(ci)}`);
    const mce = s.mCE === null ? 'mCE -' : `mCE ${value(s.mCE, s.mCECi95)}`;
    const rel = s.relativeMCE === null ? 'relative mCE -' : `relative mCE ${value(s.relativeMCE, s.relativeMCECi95)}`;
    lines.push(`  ${s.checkpoint}: ${mce}, ${rel}`);
    for (const note of mceNotes(s)) lines.push(`    ${note}`);
  }
  return lines.join('\n');
}
