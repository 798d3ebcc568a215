/**
 * Executing a minimisation attack's sweep (attacks/define.ts, kind 'minimisation'; Foolbox 3's split). One
 * run per (checkpoint, attack entry, gradient path) finds each sample's smallest fooling perturbation, and
 * every epsilon cell of the sweep is derived from the per-sample distances d:
 * - a sample misclassified clean is wrong at every eps (distance 0);
 * - at eps = 0 the cell is the clean evaluation;
 * - at eps > 0 a sample is broken iff answersRadius(d, eps) (attacks/define.ts: d <= eps (1 + BALL_TOLERANCE)
 *   + BALL_TOLERANCE, the ball check's own rule), and its example for that cell is the one found; otherwise
 *   its example is the clean image, which it classifies correctly.
 * These are exactly the cells a per-epsilon run gives (the attack's run(eps) is the same minimisation
 * thresholded by the same rule), including `attacked` (the samples still correct after the previous eps,
 * as the fixed-epsilon sweep counts them) and `nonFiniteLogits`. The run's random stream is keyed by
 * (seed, minimisationKey, sample index), not by a cell's eps, so every cell reads the same run.
 */
import { tf, type Tensor4D } from '../engine/tf.js';
import { KeyedRng } from '../engine/rng.js';
import { batches, toBatch } from '../data/batching.js';
import { getAttack } from '../../attacks/registry.js';
import { answersRadius, thresholdAt } from '../../attacks/define.js';
import { outcome } from '../../attacks/common.js';
import { attackGoal } from '../../attacks/common.js';
import type { MinimisationResult, TargetParams } from '../../attacks/types.js';
import { guardQueries } from '../models/queryGuard.js';
import type { SuiteCellResult } from '../rundir/records.js';
import type { PlannedCell } from './planner.js';
import { bar, cleanCorrect, CountingClassifier, dataFor, finishBar, judge, model, type RunContext } from './context.js';
import type { CellReader, CellWriter, KeepExamples } from './adversarial.js';

/** Whether `cell` is an attack cell of a minimisation attack. */
export function isMinimisationCell(cell: PlannedCell): boolean {
  return cell.attack !== undefined && getAttack(cell.attack.entry.name).kind === 'minimisation';
}

/** The key of a minimisation sweep's one run (its rng stream and its cells' `minimisation.run`): no eps in it. */
export function minimisationKey(cell: PlannedCell): string {
  return `${cell.checkpoint}|${cell.attack!.entry.label}|${cell.attack!.path}|minimise`;
}

/** Per attacked row, what the one run found. */
export interface FoundRows {
  /** Distance of the smallest adversarial example found (threat model norm, [0,1] pixel units); Infinity if none. */
  distance: Float64Array;
  /** The target model's verdict on that example: still classified correctly. */
  foundCorrect: boolean[];
  /** That example's target logits hold a NaN or an infinity. */
  foundNonFinite: boolean[];
  /** The clean image's target logits hold a NaN or an infinity. */
  cleanNonFinite: boolean[];
  gradientEvaluations: number;
}

/**
 * Runs `cell`'s minimisation attack once on dataset rows `rows` (in batches of ctx.batchSize; a transfer entry
 * crafts on its source and is judged on the target, as attackRows). `onFound` sees each batch's rows, images
 * and result before they are disposed (it must copy what it needs).
 */
export async function minimiseRows(
  ctx: RunContext,
  cell: PlannedCell,
  rows: readonly number[],
  onBatch: (done: number) => void,
  onFound?: (batch: readonly number[], x: Tensor4D, found: MinimisationResult) => void,
): Promise<FoundRows> {
  const spec = cell.attack!;
  const attack = getAttack(spec.entry.name);
  const target = model(ctx, cell.checkpoint);
  const source = model(ctx, spec.source.name);
  const who = `attack ${attack.name} in cell ${cell.id}`;
  const counting = new CountingClassifier(guardQueries(source.classifier, { who }));
  const params = spec.entry.params;
  const path = spec.path === 'none' ? 'first' : spec.path;
  const targeted = attack.isTargeted(params);
  const out: FoundRows = { distance: new Float64Array(rows.length), foundCorrect: [], foundNonFinite: [], cleanNonFinite: [], gradientEvaluations: 0 };
  let done = 0;
  for (const batch of batches([...rows], ctx.batchSize)) {
    const { x, y, sampleIndices } = toBatch(dataFor(ctx, cell.checkpoint), batch);
    const rng = new KeyedRng(ctx.seed, minimisationKey(cell), sampleIndices);
    const found = await attack.minimise!(counting, x, y, rng, { path, output: source.ref.output, params });
    let correct: boolean[];
    let nonFinite: boolean[];
    let cleanNonFinite = found.cleanNonFiniteLogits;
    if (spec.transfer) {
      // Judged on the target, like transferAttack: success there decides, the source only crafted.
      const guarded = guardQueries(target.classifier, { who: `${who} (transfer target)` });
      const goal = attackGoal(guarded, y, params as Partial<TargetParams>);
      const onTarget = outcome(guarded, found.xAdv, goal, target.ref.output);
      const judged = targeted ? judge(target.classifier, found.xAdv, y, target.ref.output) : null;
      correct = judged ? judged.correct : onTarget.fooled.map((f) => !f);
      nonFinite = judged ? judged.nonFinite : onTarget.nonFiniteLogits!;
      cleanNonFinite = judge(target.classifier, x, y, target.ref.output).nonFinite;
    } else if (targeted) {
      // A targeted attack's "fooled" means "reached the target"; robust accuracy needs the prediction itself.
      const judged = judge(target.classifier, found.xAdv, y, target.ref.output);
      correct = judged.correct;
      nonFinite = judged.nonFinite;
    } else {
      correct = found.fooled.map((f) => !f);
      nonFinite = found.nonFiniteLogits;
    }
    out.distance.set(found.distance, done);
    out.foundCorrect.push(...correct);
    out.foundNonFinite.push(...nonFinite);
    out.cleanNonFinite.push(...cleanNonFinite);
    onFound?.(batch, x, found);
    tf.dispose([x, y, found.xAdv]);
    done += batch.length;
    onBatch(done);
  }
  out.gradientEvaluations = counting.gradientImages;
  return out;
}

/** One derived cell: correctness over the cell's samples, and what the fixed-epsilon sweep would record. */
export interface DerivedCell {
  eps: number;
  correct: boolean[];
  /** Samples still correct before this eps (0 at eps = 0): what the fixed-epsilon sweep attacks. */
  attacked: number;
  /** Attacked samples whose final example has non-finite logits. */
  nonFiniteLogits: number;
}

/**
 * The cells of a minimisation sweep over `epsilons` (ascending) from the clean correctness of the n samples
 * and, for each clean-correct sample (rows[k] = its index), what the one run found (see the module comment).
 */
export function deriveSweep(clean: readonly boolean[], rows: readonly number[], found: Omit<FoundRows, 'gradientEvaluations'>, epsilons: readonly number[]): DerivedCell[] {
  const out: DerivedCell[] = [];
  let before = clean.slice();
  for (const eps of epsilons) {
    const correct = clean.slice();
    let nonFinite = 0;
    rows.forEach((r, k) => {
      const broken = answersRadius(found.distance[k], eps);
      correct[r] = broken ? found.foundCorrect[k] : true;
      if (eps > 0 && before[r] && (broken ? found.foundNonFinite[k] : found.cleanNonFinite[k])) nonFinite++;
    });
    out.push({ eps, correct, attacked: eps > 0 ? before.filter(Boolean).length : 0, nonFiniteLogits: nonFinite });
    before = correct;
  }
  return out;
}

/** Builds an attack cell's record (adversarial.ts attackCellRecord): cell, correctness, seconds, attacked, gradients, non-finite count. */
export type AttackRecordOf = (
  cell: PlannedCell,
  correct: boolean[],
  seconds: number,
  attacked: number,
  gradients: number,
  nonFiniteLogits: number | undefined,
) => SuiteCellResult;

/**
 * Computes and writes the missing cells of a minimisation sweep (`cells`: the unit's computed cells, ascending
 * eps): one minimiseRows call on the clean-correct samples answers all of them. Cells already stored are left
 * as they are (a resumed run recomputes the run once when any cell of the sweep is missing). The run's compute
 * time and gradient count are recorded once, in the first missing cell with eps > 0 (the others record the
 * derivation's time, about 0), so sums over cells count the run once. Every derived cell records the
 * per-sample distances (field `minimisation`). `examples` (images.ts) gets each cell's examples.
 */
export async function runMinimisationCells(
  ctx: RunContext,
  cells: readonly PlannedCell[],
  read: CellReader,
  write: CellWriter,
  record: AttackRecordOf,
  examples?: (cell: PlannedCell) => KeepExamples | undefined,
): Promise<void> {
  const n = cells[0].samples;
  const missing = new Set<string>();
  let storedDistances: (number | null)[] | undefined;
  for (const cell of cells) {
    const stored = await read(cell.id);
    if (!stored || stored.samples !== n) missing.add(cell.id);
    else storedDistances ??= stored.minimisation?.distances;
  }
  if (missing.size === 0) return;
  const clean = (await cleanCorrect(ctx, cells[0].checkpoint)).correct.slice(0, n);
  const rows = clean.flatMap((c, i) => (c ? [i] : []));
  const started = Date.now();
  let found: FoundRows = { distance: new Float64Array(0), foundCorrect: [], foundNonFinite: [], cleanNonFinite: [], gradientEvaluations: 0 };
  const needsRun = rows.length > 0 && cells.some((c) => missing.has(c.id) && c.attack!.eps > 0);
  if (needsRun) {
    const keeps = cells.filter((c) => c.attack!.eps > 0).map((c) => ({ eps: c.attack!.eps, keep: examples?.(c) })).filter((k) => k.keep);
    const onFound = (batch: readonly number[], x: Tensor4D, result: MinimisationResult) => {
      for (const { eps, keep } of keeps) {
        const at = thresholdAt(result, x, eps);
        keep!(batch, at.xAdv);
        at.xAdv.dispose();
      }
    };
    const key = minimisationKey(cells[0]);
    const b = bar(ctx, `${key} (one run for ${cells.length} eps)`, rows.length);
    found = await minimiseRows(ctx, cells[0], rows, (done) => b.update(done), keeps.length > 0 ? onFound : undefined);
    const broken = Array.from(found.distance).filter(Number.isFinite).length;
    finishBar(ctx, b, `adversarial examples found for ${broken} of ${rows.length}`);
  }
  const runSeconds = (Date.now() - started) / 1000;
  const derived = deriveSweep(clean, rows, found, cells.map((c) => c.attack!.eps));
  // Per sample over the cell's n samples: 0 when misclassified clean, null when nothing was found.
  const distances: (number | null)[] = clean.map(() => 0);
  rows.forEach((r, k) => (distances[r] = Number.isFinite(found.distance[k]) ? found.distance[k] : null));
  let timed = false;
  for (const [i, cell] of cells.entries()) {
    if (!missing.has(cell.id)) continue;
    const d = derived[i];
    const carriesRun: boolean = needsRun && !timed && cell.attack!.eps > 0;
    timed ||= carriesRun;
    const rec = record(cell, d.correct, carriesRun ? runSeconds : 0, d.attacked, carriesRun ? found.gradientEvaluations : 0, d.nonFiniteLogits);
    // Without a run now (only the eps = 0 cell was missing), the stored cells' distances are the run's.
    rec.minimisation = { run: minimisationKey(cell), distances: needsRun || rows.length === 0 ? distances : (storedDistances ?? distances) };
    await write(rec);
  }
}

/**
 * attackRows for one minimisation cell: the run on `rows` thresholded at the cell's eps (what a per-epsilon
 * run of the attack gives). Used where a single cell's examples are recomputed (images.ts on --resume).
 */
export async function minimisedAt(
  ctx: RunContext,
  cell: PlannedCell,
  rows: number[],
  onBatch: (done: number) => void,
  keep?: KeepExamples,
): Promise<{ correct: boolean[]; gradientEvaluations: number; nonFiniteLogits: number }> {
  const eps = cell.attack!.eps;
  const found = await minimiseRows(ctx, cell, rows, onBatch, (batch, x, result) => {
    if (!keep) return;
    const at = thresholdAt(result, x, eps);
    keep(batch, at.xAdv);
    at.xAdv.dispose();
  });
  const all = rows.map(() => true);
  const [cellAt] = deriveSweep(all, rows.map((_, k) => k), found, [eps]);
  return { correct: cellAt.correct, gradientEvaluations: found.gradientEvaluations, nonFiniteLogits: cellAt.nonFiniteLogits };
}
