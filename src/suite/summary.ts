/**
 * Derived results of a run directory: everything here is computed from the records (run.json,
 * cells/*.json, sanity.json; read by src/rundir/read.ts) alone, so tables, charts, reports and
 * comparisons agree with each other and can be re-rendered at any time.
 */
import { join } from 'node:path';
import { inputError } from '../engine/errors.js';
import { RUN_FILE } from '../rundir/files.js';
import type { RunData } from '../rundir/read.js';
import { decodeBits, wilsonInterval, type CellResult } from '../rundir/records.js';
import { DEFAULT_BOOTSTRAP_SEED } from './bootstrap.js';
import { computeMce, type CorruptionBits, type Excluded } from './mce.js';
import { THREAT_MODELS, threatModelOf } from '../../attacks/threatModels.js';
import type { ThreatModel } from '../../attacks/types.js';

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
  /** The norm of eps: a worst case combines attacks of this threat model only. */
  threatModel: ThreatModel;
  eps: number;
  /** Ids of the cells whose per-sample AND this is (the attack cells at eps and the clean cell). */
  cellIds: string[];
}

/** The threat models of a run's attack cells, in THREAT_MODELS order (L-inf first). */
export function runThreatModels(cells: readonly Pick<CellResult, 'kind' | 'threatModel'>[]): ThreatModel[] {
  const present = new Set(cells.filter((c) => c.kind === 'attack').map(threatModelOf));
  return THREAT_MODELS.filter((t) => present.has(t));
}

/**
 * Worst-case robust accuracy per checkpoint, threat model and epsilon: a sample counts as robust only when
 * every attack cell of that threat model at that epsilon (every attack and gradient path, transfer attacks
 * included) left it correct, the per-sample AND of AutoAttack (Croce & Hein 2020), which also starts from
 * the clean-correct mask, so the clean cell joins the AND when the run has one. An L2 radius and an L-inf
 * radius of the same number are different balls, so attacks of different threat models never share a row.
 */
export function worstCase(run: RunData): WorstCaseRow[] {
  const rows: WorstCaseRow[] = [];
  for (const checkpoint of checkpointNames(run)) {
    const all = run.cells.filter((c) => c.checkpoint === checkpoint && c.kind === 'attack');
    const clean = run.cells.find((c) => c.checkpoint === checkpoint && c.kind === 'clean');
    for (const threatModel of runThreatModels(all)) {
      const attacks = all.filter((c) => threatModelOf(c) === threatModel);
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
        rows.push({ checkpoint, threatModel, eps, cellIds: group.map((c) => c.id), ...estimate(correct, samples) });
      }
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
  /** The baseline's mean degradation on this corruption (error over its clean error) with its 95% bootstrap interval. */
  baselineDegradation: { value: number; ci95: [number, number] } | null;
  /** The baseline's degradation is within sampling noise (interval low end <= 0): relative CE unstable. */
  withinNoise: boolean;
  /** Why the corruption is left out of mCE / relative mCE (null when it is in). */
  ceExcluded: string | null;
  relativeCeExcluded: string | null;
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
  /** 95% paired-bootstrap percentile intervals of mCE and relative mCE (src/suite/mce.ts). */
  mCECi95: [number, number] | null;
  relativeMCECi95: [number, number] | null;
  /** Every corruption left out of mCE or relative mCE, with the reason. */
  excluded: Excluded[];
  /** Corruptions whose relative CE rests on a baseline degradation within noise, one sentence each. */
  warnings: string[];
  bootstrap: { resamples: number; seed: number; samples: number };
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
  /** corruption -> severity -> cell */
  records: Map<string, Map<number, CellResult>>;
}

function corruptionGrid(run: RunData, checkpoint: string): CorruptionGrid {
  const grid: CorruptionGrid = { family: new Map(), cells: new Map(), records: new Map() };
  for (const c of run.cells) {
    if (c.checkpoint !== checkpoint || c.kind !== 'corruption') continue;
    const name = c.corruption!;
    grid.family.set(name, c.family ?? 'other');
    if (!grid.cells.has(name)) {
      grid.cells.set(name, new Map());
      grid.records.set(name, new Map());
    }
    grid.cells.get(name)!.set(c.severity!, estimate(c.correct, c.samples));
    grid.records.get(name)!.set(c.severity!, c);
  }
  return grid;
}

function cleanCell(run: RunData, checkpoint: string): CellResult | undefined {
  return run.cells.find((x) => x.checkpoint === checkpoint && x.kind === 'clean');
}

function cleanEstimate(run: RunData, checkpoint: string): Estimate | null {
  const c = cleanCell(run, checkpoint);
  return c ? estimate(c.correct, c.samples) : null;
}

function mean(xs: number[]): number | null {
  return xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Per-sample correctness of a cell's first n images as 0/1 bytes. */
function bitsOf(c: CellResult, n: number): Uint8Array {
  return Uint8Array.from(decodeBits(c.correctBits, c.samples).slice(0, n), (b) => (b ? 1 : 0));
}

/** Resamples and seed of the mCE intervals (src/suite/bootstrap.ts). */
export const MCE_BOOTSTRAP = { resamples: 1000, seed: DEFAULT_BOOTSTRAP_SEED } as const;

const summaryCache = new WeakMap<RunData, Map<string, CorruptionSummary[]>>();

/**
 * Corruption robustness per checkpoint with the definitions of Hendrycks & Dietterich (ICLR 2019, Sec. 3)
 * (CE, relative CE, mCE, relative mCE; src/suite/mce.ts), 95% paired-bootstrap intervals of mCE and
 * relative mCE over the evaluated images (the same resampled images for the checkpoint, the baseline and
 * both clean cells), the corruptions each mean leaves out and why, and warnings where the baseline's
 * degradation is within noise. Checkpoints without corruption cells are left out. Memoised per RunData.
 */
export function corruptionSummary(run: RunData, baseline?: string): CorruptionSummary[] {
  const base = baselineName(run, baseline);
  const cached = summaryCache.get(run)?.get(base);
  if (cached) return cached;
  const baseGrid = corruptionGrid(run, base);
  const baseCleanCell = cleanCell(run, base);
  const out: CorruptionSummary[] = [];
  for (const checkpoint of checkpointNames(run)) {
    const grid = corruptionGrid(run, checkpoint);
    if (grid.cells.size === 0) continue;
    const cleanRecord = cleanCell(run, checkpoint);
    const all: number[] = [];
    const paired: CorruptionBits[] = [];
    const missingInBaseline: string[] = [];
    const used: CellResult[] = [cleanRecord, baseCleanCell].filter((c): c is CellResult => c !== undefined);
    for (const [name, bySeverity] of grid.cells) {
      all.push(...[...bySeverity.values()].map((e) => e.accuracy));
      const baseRow = baseGrid.records.get(name);
      if (!baseRow) {
        missingInBaseline.push(name);
        continue;
      }
      const severities = [...bySeverity.keys()].filter((s) => baseRow.has(s)).sort((a, b) => a - b);
      for (const s of severities) used.push(grid.records.get(name)!.get(s)!, baseRow.get(s)!);
      paired.push({ corruption: name, severities, model: [], base: [] });
    }
    const n = used.length ? Math.min(...used.map((c) => c.samples)) : 0;
    for (const p of paired) {
      p.model = p.severities.map((s) => bitsOf(grid.records.get(p.corruption)!.get(s)!, n));
      p.base = p.severities.map((s) => bitsOf(baseGrid.records.get(p.corruption)!.get(s)!, n));
    }
    const result = computeMce(
      {
        n,
        baseline: base,
        clean: cleanRecord ? bitsOf(cleanRecord, n) : null,
        baseClean: baseCleanCell ? bitsOf(baseCleanCell, n) : null,
        corruptions: paired,
        missingInBaseline,
      },
      MCE_BOOTSTRAP,
    );
    // The baseline against itself: every CE and relative CE is 1 by definition (numerator = denominator), so
    // its means are exactly 1 with the interval [1, 1] (a resample whose denominator is 0 is 0/0, not an
    // unbounded ratio), and nothing about them is within noise.
    const self = checkpoint === base;
    if (self) {
      if (result.mCECi95) result.mCECi95 = [1, 1];
      if (result.relativeMCECi95) result.relativeMCECi95 = [1, 1];
      result.warnings = [];
      for (const c of result.corruptions) c.withinNoise = false;
    }
    const reason = (name: string, from: Excluded['from']) => result.excluded.find((e) => e.corruption === name && e.from === from)?.reason ?? null;
    const corruptions: CorruptionEntry[] = [...grid.cells].map(([name, bySeverity]) => {
      const ce = result.corruptions.find((c) => c.corruption === name);
      return {
        corruption: name,
        family: grid.family.get(name)!,
        bySeverity,
        meanAccuracy: mean([...bySeverity.values()].map((e) => e.accuracy))!,
        ce: ce?.ce ?? null,
        relativeCe: ce?.relativeCe ?? null,
        baselineDegradation: ce?.baselineDegradation ?? null,
        withinNoise: ce?.withinNoise ?? false,
        ceExcluded: reason(name, 'mCE'),
        relativeCeExcluded: reason(name, 'relative mCE'),
      };
    });
    out.push({
      checkpoint,
      baseline: base,
      clean: cleanEstimate(run, checkpoint),
      meanAccuracy: mean(all)!,
      corruptions,
      mCE: result.mCE,
      relativeMCE: result.relativeMCE,
      mCECi95: result.mCECi95,
      relativeMCECi95: result.relativeMCECi95,
      excluded: result.excluded,
      warnings: result.warnings,
      bootstrap: result.bootstrap,
    });
  }
  if (!summaryCache.has(run)) summaryCache.set(run, new Map());
  summaryCache.get(run)!.set(base, out);
  return out;
}

/**
 * Lines saying what the mCE numbers leave out and where they are unstable, for one checkpoint's summary:
 * "left out of relative mCE: contrast (reason)", "within noise: pixelate: ...". Empty when nothing is.
 */
export function mceNotes(s: CorruptionSummary): string[] {
  const lines: string[] = [];
  for (const from of ['mCE', 'relative mCE'] as const) {
    const list = s.excluded.filter((e) => e.from === from);
    if (list.length > 0) lines.push(`left out of ${from}: ${list.map((e) => `${e.corruption} (${e.reason})`).join('; ')}`);
  }
  for (const w of s.warnings) lines.push(`within noise: ${w}`);
  return lines;
}

export interface SummaryRow {
  checkpoint: string;
  clean: Estimate | null;
  /** Worst-case robust accuracy per threat model (L-inf first) and epsilon, ascending. */
  robust: { threatModel: ThreatModel; eps: number; estimate: Estimate }[];
  meanCorruptionAccuracy: number | null;
  mCE: number | null;
  relativeMCE: number | null;
  mCECi95: [number, number] | null;
  relativeMCECi95: [number, number] | null;
  /** mceNotes of the checkpoint's corruption summary (corruptions left out, noise warnings). */
  mceNotes: string[];
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
      robust: worst.filter((w) => w.checkpoint === checkpoint).map((w) => ({ threatModel: w.threatModel, eps: w.eps, estimate: w })),
      meanCorruptionAccuracy: c?.meanAccuracy ?? null,
      mCE: c?.mCE ?? null,
      relativeMCE: c?.relativeMCE ?? null,
      mCECi95: c?.mCECi95 ?? null,
      relativeMCECi95: c?.relativeMCECi95 ?? null,
      mceNotes: c ? mceNotes(c) : [],
      baseline: c?.baseline ?? null,
    };
  });
}
