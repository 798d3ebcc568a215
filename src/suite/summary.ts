/**
 * Derived results of a run directory: everything here is computed from the records (run.json,
 * cells/*.json, sanity.json; read by src/rundir/read.ts) alone, so tables, charts, reports and
 * comparisons agree with each other and can be re-rendered at any time.
 */
import { join } from 'node:path';
import { inputError } from '../engine/errors.js';
import { RUN_FILE } from '../rundir/files.js';
import type { RunData } from '../rundir/read.js';
import { decodeBits, wilsonInterval } from '../rundir/records.js';

/** An accuracy with its 95% Wilson interval. */
export interface Estimate {
  accuracy: number;
  ci95: [number, number];
  correct: number;
  samples: number;
}

/** Checkpoint names in the manifest's order, then any that only cells mention. */
export function checkpointNames(run: RunData): string[] {
  const names = run.manifest.checkpoints.map((c) => c.name);
  for (const c of run.cells) if (!names.includes(c.checkpoint)) names.push(c.checkpoint);
  return names;
}

export function estimate(correct: number, samples: number): Estimate {
  return { accuracy: samples === 0 ? 0 : correct / samples, ci95: wilsonInterval(correct, samples), correct, samples };
}

/** Epsilons arrive as config floats; group them by value to 12 significant digits. */
export function epsKey(eps: number): number {
  return Number(eps.toPrecision(12));
}

export interface WorstCaseRow extends Estimate {
  checkpoint: string;
  eps: number;
  /** Ids of the cells whose per-sample AND this is (the attack cells at eps and the clean cell). */
  cellIds: string[];
}

/**
 * Worst-case robust accuracy per checkpoint and epsilon: a sample counts as robust only when every attack
 * cell at that epsilon (every attack and gradient path, transfer attacks included) left it correct, the
 * per-sample AND of AutoAttack (Croce & Hein 2020), which also starts from the clean-correct mask, so the
 * clean cell joins the AND when the run has one.
 */
export function worstCase(run: RunData): WorstCaseRow[] {
  const rows: WorstCaseRow[] = [];
  for (const checkpoint of checkpointNames(run)) {
    const attacks = run.cells.filter((c) => c.checkpoint === checkpoint && c.kind === 'attack');
    const clean = run.cells.find((c) => c.checkpoint === checkpoint && c.kind === 'clean');
    const epsilons = [...new Set(attacks.map((c) => epsKey(c.eps!)))].sort((a, b) => a - b);
    for (const eps of epsilons) {
      const group = attacks.filter((c) => epsKey(c.eps!) === eps);
      if (clean) group.push(clean);
      // A subset attack (an attack `limit`, e.g. Square on the first 200 images) covers a prefix of the
      // run's samples; each image is ANDed over the cells that evaluated it.
      const samples = Math.max(...group.map((c) => c.samples));
      const robust = new Array<boolean>(samples).fill(true);
      for (const cell of group) decodeBits(cell.correctBits, cell.samples).forEach((ok, i) => (robust[i] &&= ok));
      const correct = robust.filter(Boolean).length;
      rows.push({ checkpoint, eps, cellIds: group.map((c) => c.id), ...estimate(correct, samples) });
    }
  }
  return rows;
}

export interface CorruptionEntry {
  corruption: string;
  family: string;
  /** Accuracy per severity present (severity -> estimate). */
  bySeverity: Map<number, Estimate>;
  meanAccuracy: number;
  /** Corruption error relative to the baseline, a ratio (1 = as the baseline); null when not computable. */
  ce: number | null;
  relativeCe: number | null;
}

export interface CorruptionSummary {
  checkpoint: string;
  baseline: string;
  clean: Estimate | null;
  /** Mean accuracy over every corruption cell of the checkpoint (all corruptions and severities). */
  meanAccuracy: number;
  corruptions: CorruptionEntry[];
  /** Mean of CE over the corruptions where it is defined; null when none is. */
  mCE: number | null;
  relativeMCE: number | null;
}

/** The baseline checkpoint of CE: the argument, else the config's `baseline` field, else the first checkpoint. */
export function baselineName(run: RunData, baseline?: string): string {
  const names = checkpointNames(run);
  const configured = run.manifest.config.baseline;
  const name = baseline ?? (typeof configured === 'string' ? configured : names[0]);
  if (!names.includes(name)) {
    const where = baseline === undefined ? `${join(run.dir, RUN_FILE)}: config.baseline` : '--baseline';
    throw inputError(where, `no checkpoint ${JSON.stringify(name)} in this run`, names.join(', '));
  }
  return name;
}

interface CorruptionGrid {
  family: Map<string, string>;
  /** corruption -> severity -> estimate */
  cells: Map<string, Map<number, Estimate>>;
}

function corruptionGrid(run: RunData, checkpoint: string): CorruptionGrid {
  const grid: CorruptionGrid = { family: new Map(), cells: new Map() };
  for (const c of run.cells) {
    if (c.checkpoint !== checkpoint || c.kind !== 'corruption') continue;
    const name = c.corruption!;
    grid.family.set(name, c.family ?? 'other');
    if (!grid.cells.has(name)) grid.cells.set(name, new Map());
    grid.cells.get(name)!.set(c.severity!, estimate(c.correct, c.samples));
  }
  return grid;
}

function cleanEstimate(run: RunData, checkpoint: string): Estimate | null {
  const c = run.cells.find((x) => x.checkpoint === checkpoint && x.kind === 'clean');
  return c ? estimate(c.correct, c.samples) : null;
}

function mean(xs: number[]): number | null {
  return xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/**
 * Corruption robustness per checkpoint, with the definitions of Hendrycks & Dietterich (ICLR 2019, Sec. 3):
 *   CE_c          = sum_s E(c,s) / sum_s E_base(c,s)
 *   relative CE_c = sum_s (E(c,s) - E_clean) / sum_s (E_base(c,s) - E_base_clean)
 *   mCE = mean_c CE_c, relative mCE = mean_c relative CE_c,
 * where E is the error rate (1 - accuracy) and the sums run over the severities both checkpoints have.
 * Checkpoints without corruption cells are left out.
 */
export function corruptionSummary(run: RunData, baseline?: string): CorruptionSummary[] {
  const base = baselineName(run, baseline);
  const baseGrid = corruptionGrid(run, base);
  const baseClean = cleanEstimate(run, base);
  const out: CorruptionSummary[] = [];
  for (const checkpoint of checkpointNames(run)) {
    const grid = corruptionGrid(run, checkpoint);
    if (grid.cells.size === 0) continue;
    const clean = cleanEstimate(run, checkpoint);
    const all: number[] = [];
    const corruptions: CorruptionEntry[] = [];
    for (const [name, bySeverity] of grid.cells) {
      const accs = [...bySeverity.values()].map((e) => e.accuracy);
      all.push(...accs);
      const baseRow = baseGrid.cells.get(name);
      let ce: number | null = null;
      let relativeCe: number | null = null;
      if (baseRow) {
        const shared = [...bySeverity.keys()].filter((s) => baseRow.has(s));
        const err = shared.map((s) => 1 - bySeverity.get(s)!.accuracy);
        const baseErr = shared.map((s) => 1 - baseRow.get(s)!.accuracy);
        const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
        if (shared.length > 0 && sum(baseErr) > 0) ce = sum(err) / sum(baseErr);
        if (shared.length > 0 && clean && baseClean) {
          const denom = sum(baseErr.map((e) => e - (1 - baseClean.accuracy)));
          if (denom > 0) relativeCe = sum(err.map((e) => e - (1 - clean.accuracy))) / denom;
        }
      }
      corruptions.push({ corruption: name, family: grid.family.get(name)!, bySeverity, meanAccuracy: mean(accs)!, ce, relativeCe });
    }
    out.push({
      checkpoint,
      baseline: base,
      clean,
      meanAccuracy: mean(all)!,
      corruptions,
      mCE: mean(corruptions.flatMap((c) => (c.ce === null ? [] : [c.ce]))),
      relativeMCE: mean(corruptions.flatMap((c) => (c.relativeCe === null ? [] : [c.relativeCe]))),
    });
  }
  return out;
}

export interface SummaryRow {
  checkpoint: string;
  clean: Estimate | null;
  /** Worst-case robust accuracy per epsilon, ascending. */
  robust: { eps: number; estimate: Estimate }[];
  meanCorruptionAccuracy: number | null;
  mCE: number | null;
  relativeMCE: number | null;
  baseline: string | null;
}

/** One row per checkpoint: clean accuracy, worst-case robust accuracy per eps, mean corruption accuracy, mCE. */
export function summaryRows(run: RunData, baseline?: string): SummaryRow[] {
  const worst = worstCase(run);
  const corr = run.cells.some((c) => c.kind === 'corruption') ? corruptionSummary(run, baseline) : [];
  return checkpointNames(run).map((checkpoint) => {
    const c = corr.find((x) => x.checkpoint === checkpoint);
    return {
      checkpoint,
      clean: cleanEstimate(run, checkpoint),
      robust: worst.filter((w) => w.checkpoint === checkpoint).map((w) => ({ eps: w.eps, estimate: w })),
      meanCorruptionAccuracy: c?.meanAccuracy ?? null,
      mCE: c?.mCE ?? null,
      relativeMCE: c?.relativeMCE ?? null,
      baseline: c?.baseline ?? null,
    };
  });
}
