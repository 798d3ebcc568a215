/**
 * A cascade split by samples over the processes of `bench run --workers N`. A cascade unit is one
 * checkpoint's whole ensemble: alone it would keep one process busy while the others wait. Each sample's
 * path through the stages depends only on that sample (every draw is keyed by (seed, cell id, sample
 * index), and the attacks treat the rows of a batch independently), so the unit's samples are cut into
 * parts of PART_SAMPLES: a worker claims a part, runs the whole cascade on its samples only, and records
 * per stage cell the outcome of its rows in parts/<unit>_samples_<lo>-<hi>.json. The main process then
 * runs the unit once more with every stage answered from the parts (answeringExecutor) and writes the
 * cells, the same records a single process writes (seconds: the parts' summed computing time). Parts
 * survive an interrupted run (--resume reuses them) and are removed when the run finishes.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../rundir/atomic.js';
import { decodeBits, encodeBits } from '../rundir/records.js';
import { computeStages, type StageExecutor } from './cascade.js';
import { cascadeUnitId, type PlannedCell, type PlanUnit } from './planner.js';
import type { KeepExamples } from './adversarial.js';
import { tf } from '../engine/tf.js';

export const PARTS_DIR = 'parts';

/** Samples per part (BENCH_CASCADE_PART_SAMPLES overrides it, for tests). */
export function partSamples(): number {
  const v = Number(process.env.BENCH_CASCADE_PART_SAMPLES);
  return Number.isInteger(v) && v > 0 ? v : 250;
}

/** The sample ranges [lo, hi) a cascade unit is split into; none (run whole) when it has at most one part's samples. */
export function cascadeParts(unit: PlanUnit): [number, number][] {
  if (unit.kind !== 'cascade' || unit.samples) return [];
  return partRanges(unit.cells[0].samples);
}

/** The parts [lo, hi) of a cascade on `n` samples: none when n fits in one part. */
function partRanges(n: number): [number, number][] {
  const size = partSamples();
  if (n <= size) return [];
  const parts: [number, number][] = [];
  for (let lo = 0; lo < n; lo += size) parts.push([lo, Math.min(n, lo + size)]);
  return parts;
}

/** The units workers claim: each cascade unit that splits replaced by its parts (cost shared by sample count). */
export function withCascadeParts(units: readonly PlanUnit[]): PlanUnit[] {
  return units.flatMap((u) => {
    const parts = cascadeParts(u);
    if (parts.length === 0) return [u];
    const n = u.cells[0].samples;
    return parts.map(([lo, hi]) => ({ ...u, cost: (u.cost * (hi - lo)) / n, samples: [lo, hi] as [number, number] }));
  });
}

/** What one part computed for one stage cell: its rows (global sample indices) and their outcome. */
interface StageRecord {
  rows: number[];
  /** Still correct after the stage, per row (bitset as records.ts). */
  correctBits?: string;
  /** A minimisation stage: per row its distance (null: none found). */
  distance?: (number | null)[];
  gradientEvaluations: number;
  nonFiniteLogits?: number;
  seconds: number;
}

export interface CascadePartFile {
  format: 'bench-cascade-part/1';
  unit: string;
  samples: [number, number];
  /** By stage cell id (a minimisation stage: the cell its one run is recorded on). */
  stages: Record<string, StageRecord>;
  /**
   * The adversarial examples of the unit's example panel rows among the part's samples, by stage cell id
   * and sample index (float32 pixels, base64), so that the main process draws the panel without
   * recomputing them (images.ts cascadePanel).
   */
  examples?: Record<string, Record<string, string>>;
}

/**
 * A KeepExamples-shaped capture into file.examples (per stage cell) of the batch rows (global sample
 * indices) below `rows`; xAdv is the batch's examples, NHWC [batch, H, W, C] in [0,1] pixel units.
 */
export function captureExamples(file: CascadePartFile, rows: number): (cell: PlannedCell) => KeepExamples {
  return (cell) => (batch, xAdv) => {
    if (!batch.some((r) => r < rows)) return;
    const size = xAdv.shape[1] * xAdv.shape[2] * xAdv.shape[3];
    const pixels = xAdv.dataSync() as Float32Array;
    const into = ((file.examples ??= {})[cell.id] ??= {});
    batch.forEach((r, k) => {
      if (r < rows) into[String(r)] = Buffer.from(pixels.slice(k * size, (k + 1) * size).buffer).toString('base64');
    });
  };
}

/**
 * Hands the examples the parts captured to `keep` (the panel recorder of the whole unit), per stage cell,
 * as one NHWC [k, ...shape] tensor of the captured rows (shape = [H, W, C] of the checkpoint's images).
 */
export function replayExamples(files: readonly CascadePartFile[], unit: PlanUnit, keep: (cell: PlannedCell) => KeepExamples | undefined, shape: [number, number, number]): void {
  for (const f of files)
    for (const [id, byRow] of Object.entries(f.examples ?? {})) {
      const cell = unit.cells.find((c) => c.id === id);
      const k = cell ? keep(cell) : undefined;
      if (!k) continue;
      const rows = Object.keys(byRow).map(Number);
      const size = shape[0] * shape[1] * shape[2];
      const data = new Float32Array(rows.length * size);
      rows.forEach((r, j) => {
        const b = Buffer.from(byRow[String(r)], 'base64');
        data.set(new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4), j * size);
      });
      const x = tf.tensor4d(data, [rows.length, ...shape]);
      k(rows, x);
      x.dispose();
    }
}

const fileOf = (runDir: string, unitId: string, [lo, hi]: [number, number]) =>
  join(runDir, PARTS_DIR, `${unitId.replace(/[^A-Za-z0-9._=-]+/g, '_')}_samples_${lo}-${hi}.json`);

/** The stored part, or null when absent or not this unit's. */
export async function readPart(runDir: string, unitId: string, samples: [number, number]): Promise<CascadePartFile | null> {
  const text = await readFile(fileOf(runDir, unitId, samples), 'utf8').catch(() => null);
  if (text === null) return null;
  try {
    const f = JSON.parse(text) as CascadePartFile;
    return f.format === 'bench-cascade-part/1' && f.unit === unitId && f.samples[0] === samples[0] && f.samples[1] === samples[1] ? f : null;
  } catch {
    return null;
  }
}

/** Stores a part (atomically) under <run-dir>/parts/; a StorageError names the file when it cannot be written. */
export async function writePart(runDir: string, file: CascadePartFile): Promise<void> {
  await writeFileAtomic(fileOf(runDir, file.unit, file.samples), `${JSON.stringify(file)}\n`);
}

/** Removes <run-dir>/parts/ and everything in it (nothing when absent). */
export async function removeParts(runDir: string): Promise<void> {
  await rm(join(runDir, PARTS_DIR), { recursive: true, force: true });
}

/** Computes the stages on the part's samples and records each stage's outcome in `file`. */
export function recordingExecutor(unitId: string, samples: [number, number]): { exec: StageExecutor; file: CascadePartFile } {
  const file: CascadePartFile = { format: 'bench-cascade-part/1', unit: unitId, samples, stages: {} };
  const exec: StageExecutor = {
    samples,
    async attack(ctx, cell, rows, onBatch, keep) {
      const started = Date.now();
      const out = await computeStages.attack(ctx, cell, rows, onBatch, keep);
      const seconds = (Date.now() - started) / 1000;
      file.stages[cell.id] = { rows, correctBits: encodeBits(out.correct), gradientEvaluations: out.gradientEvaluations, seconds, ...(out.nonFiniteLogits !== undefined ? { nonFiniteLogits: out.nonFiniteLogits } : {}) };
      return out;
    },
    async minimise(ctx, cell, attack, rows, onBatch, onFound) {
      const started = Date.now();
      const out = await computeStages.minimise(ctx, cell, attack, rows, onBatch, onFound);
      const seconds = (Date.now() - started) / 1000;
      file.stages[cell.id] = { rows, distance: out.distance.map((d) => (Number.isFinite(d) ? d : null)), gradientEvaluations: out.gradientEvaluations, seconds };
      return out;
    },
  };
  return { exec, file };
}

/**
 * An executor answering, from the stored parts, the stages of a split cascade on its first `n` samples:
 * what a probe continuing the cascade (planner.ts PlannedCell.continues.cascade, `stageCells` its stage
 * cells) needs when the stage cells are not written yet, as in a parallel run whose workers are still
 * computing other parts. Undefined when the cascade does not split or a part holding some of the n samples
 * is not stored yet; the caller then recomputes the stages on the n samples (the same bits, more work).
 */
export async function partsAnswering(runDir: string, stageCells: readonly PlannedCell[], n: number): Promise<StageExecutor | undefined> {
  const first = stageCells[0];
  const info = first?.cascade;
  const needed = info ? partRanges(first.samples).filter(([lo]) => lo < n) : [];
  if (!info || needed.length === 0) return undefined;
  const unitId = cascadeUnitId(first.checkpoint, info.label, info.chain);
  const files: CascadePartFile[] = [];
  for (const range of needed) {
    const file = await readPart(runDir, unitId, range);
    if (!file) return undefined;
    files.push(file);
  }
  return answeringExecutor(files);
}

/**
 * Answers every stage of the whole unit from its parts: per requested row the outcome the part holding
 * that sample recorded; gradients, non-finite counts and seconds summed over the parts. Throws an
 * internal error when a part lacks a row the unit asks for (the parts and the unit disagree).
 */
export function answeringExecutor(files: readonly CascadePartFile[]): StageExecutor {
  const lookup = (cellId: string, rows: number[]) => {
    const found = rows.map((r) => {
      const f = files.find((p) => r >= p.samples[0] && r < p.samples[1]);
      const st = f?.stages[cellId];
      const j = st ? st.rows.indexOf(r) : -1;
      if (!f || !st || j < 0) throw new Error(`internal: no cascade part recorded sample ${r} of ${cellId}`);
      return { st, j };
    });
    const used = files.map((f) => f.stages[cellId]).filter((st): st is StageRecord => st !== undefined);
    const sum = (k: 'gradientEvaluations' | 'seconds') => used.reduce((t, st) => t + st[k], 0);
    return { found, used, gradientEvaluations: sum('gradientEvaluations'), seconds: sum('seconds') };
  };
  return {
    async attack(_ctx, cell, rows) {
      const { found, used, gradientEvaluations, seconds } = lookup(cell.id, rows);
      const bits = new Map(used.map((st) => [st, decodeBits(st.correctBits ?? '', st.rows.length)]));
      const nonFinite = used.some((st) => st.nonFiniteLogits !== undefined) ? used.reduce((t, st) => t + (st.nonFiniteLogits ?? 0), 0) : undefined;
      return { correct: found.map(({ st, j }) => bits.get(st)![j]), gradientEvaluations, seconds, ...(nonFinite !== undefined ? { nonFiniteLogits: nonFinite } : {}) };
    },
    async minimise(_ctx, cell, _attack, rows) {
      const { found, gradientEvaluations, seconds } = lookup(cell.id, rows);
      return { distance: found.map(({ st, j }) => st.distance?.[j] ?? Infinity), gradientEvaluations, seconds };
    },
  };
}
