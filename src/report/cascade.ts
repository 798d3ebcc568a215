/**
 * The cascade's log (src/suite/cascade.ts), as AutoAttack prints it (fra31/auto-attack autoattack.py: the
 * initial accuracy, then per attack the samples it perturbed successfully and the robust accuracy after it):
 * one table with, per checkpoint, cascade, gradient path and ε, the clean row, one row per stage (samples it
 * broke, robust accuracy after it) and the final robust accuracy; and the same as terminal text.
 */
import type { RunData } from '../rundir/read.js';
import type { SuiteCellResult } from '../rundir/records.js';
import { checkpointNames, epsKey, estimate, type Estimate } from '../suite/summary.js';
import { fmtEps, pathLabel, pct } from './format.js';
import { normSymbol, threatModelOf } from '../../attacks/threatModels.js';
import type { Table, TableRow } from './tables.js';

/** One cascade run: a checkpoint, a cascade label, a chain (gradient path) and an eps, with its stage and worst-case cells. */
export interface CascadeRun {
  checkpoint: string;
  label: string;
  chain: string;
  eps: number;
  clean?: SuiteCellResult;
  /** Stage cells in stage order (a missing one, e.g. in another shard, is absent). */
  stages: SuiteCellResult[];
  worst?: SuiteCellResult;
}

/** The run's cascades in plan order, grouped per (checkpoint, cascade, chain, eps). */
export function cascadeRuns(run: RunData): CascadeRun[] {
  const cells = (run.cells as SuiteCellResult[]).filter((c) => c.kind === 'attack' && c.cascade);
  const out: CascadeRun[] = [];
  for (const checkpoint of checkpointNames(run)) {
    const clean = (run.cells as SuiteCellResult[]).find((c) => c.checkpoint === checkpoint && c.kind === 'clean');
    for (const c of cells.filter((c) => c.checkpoint === checkpoint)) {
      const key = (r: CascadeRun) => r.label === c.cascade!.label && r.chain === c.path && r.eps === epsKey(c.eps!);
      let r = out.find((r) => r.checkpoint === checkpoint && key(r));
      if (!r) {
        r = { checkpoint, label: c.cascade!.label, chain: c.path ?? 'none', eps: epsKey(c.eps!), ...(clean ? { clean } : {}), stages: [] };
        out.push(r);
      }
      if (c.cascade!.stage === undefined) r.worst = c;
      else r.stages.push(c);
    }
  }
  for (const r of out) r.stages.sort((a, b) => a.cascade!.stage! - b.cascade!.stage!);
  return out;
}

const stageName = (c: SuiteCellResult) => c.cascade!.stages[c.cascade!.stage! - 1];

/** The cascade table (null when the run has no cascade cells). */
export function cascadeTable(run: RunData): Table | null {
  const runs = cascadeRuns(run);
  if (runs.length === 0) return null;
  const rows: TableRow[] = [];
  for (const r of runs) {
    const first = r.stages[0] ?? r.worst!;
    const head = [r.checkpoint, r.label, pathLabel({ path: r.chain }), normSymbol(threatModelOf(first)), fmtEps(r.eps)];
    if (r.clean) rows.push({ values: [...head, 'clean', '', estimate(r.clean.correct, r.clean.samples), ''] });
    for (const s of r.stages) rows.push({ values: [...head, stageName(s), String(s.cascade!.broken ?? ''), estimate(s.correct, s.samples), s.timings.seconds.toFixed(1)] });
    if (r.worst) rows.push({ values: [...head, 'robust (all stages)', '', estimate(r.worst.correct, r.worst.samples), r.worst.timings.seconds.toFixed(1)], emphasis: true });
  }
  return {
    id: 'cascade',
    title: 'Cascade: robust accuracy after each stage',
    note:
      'Each stage attacks only the samples every earlier stage left correct (AutoAttack); "broken" counts the samples that stage broke, ' +
      'the accuracy is the robust accuracy after it, with its 95% Wilson interval; the last row is the cascade\'s result.',
    columns: [
      { header: 'checkpoint', kind: 'text' },
      { header: 'cascade', kind: 'text' },
      { header: 'path', kind: 'text' },
      { header: 'norm', kind: 'text' },
      { header: 'ε', csvHeader: 'eps', kind: 'text' },
      { header: 'stage', kind: 'text' },
      { header: 'broken', kind: 'text' },
      { header: 'robust accuracy', csvHeader: 'robust_accuracy', kind: 'estimate' },
      { header: 'seconds', kind: 'text' },
    ],
    rows,
  };
}

const accuracy = (e: Estimate) => `${pct(e.accuracy)}% (95% CI ${pct(e.ci95[0])}-${pct(e.ci95[1])}%)`;

/** The cascade log as terminal text, AutoAttack's lines per run ('' without cascades). */
export function cascadeText(run: RunData): string {
  const lines: string[] = [];
  for (const r of cascadeRuns(run)) {
    const first = r.stages[0] ?? r.worst!;
    lines.push(`${r.checkpoint} ${r.label} (${r.chain === 'none' ? 'no gradient path' : `path ${r.chain}`}, ${normSymbol(threatModelOf(first))} ε=${fmtEps(r.eps)})`);
    if (r.clean) lines.push(`  clean accuracy: ${accuracy(estimate(r.clean.correct, r.clean.samples))}`);
    for (const s of r.stages)
      // AutoAttack's "x out of y successfully perturbed": y = correct before the stage (some broken by it at a smaller ε).
      lines.push(
        `  ${stageName(s)}: ${s.cascade!.broken ?? '?'} of ${s.cascade!.broken === undefined ? '?' : s.correct + s.cascade!.broken} broken; ` +
          `robust accuracy after ${stageName(s)}: ${accuracy(estimate(s.correct, s.samples))} (${s.timings.seconds.toFixed(1)} s)`,
      );
    if (r.worst) lines.push(`  robust accuracy: ${accuracy(estimate(r.worst.correct, r.worst.samples))}`);
  }
  return lines.length === 0 ? '' : `Cascades (each stage attacks only the samples the earlier ones left correct)\n${lines.join('\n')}`;
}
