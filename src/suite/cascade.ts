/**
 * Executing a cascade (ensemble) of attacks, AutoAttack's way (Croce & Hein 2020, "Reliable evaluation of
 * adversarial robustness with an ensemble of diverse parameter-free attacks"; fra31/auto-attack
 * autoattack.py run_standard_evaluation): each stage attacks only the samples every earlier stage left
 * correct, and a sample counts as robust only if no stage broke it.
 *
 * Per eps (one chain: one gradient path for the gradient stages, src/suite/planner.ts planCascades), with
 * after[0] = the clean correctness and after[s] the correctness after stages 1..s:
 *
 *   after[s](eps_k) = after[s-1](eps_k) AND after[s](eps_k-1) AND (stage s does not break the sample at eps_k)
 *
 * so stage s attacks the samples correct after stage s-1 at eps_k that stage s did not already break (with
 * the earlier stages) at the next smaller eps: an example inside the smaller ball lies inside the larger one,
 * the saving every sweep of the runner makes (src/suite/adversarial.ts). after[s] only ever holds breaks by
 * stages 1..s, so "robust accuracy after stage s" is what AutoAttack's log prints after that attack.
 *
 * A minimisation-kind stage (one run finds each sample's smallest fooling perturbation, e.g. FAB) runs once,
 * on the union over eps of its candidates; since after[s-1] only falls as eps grows, the recursion above
 * reduces to after[s](eps_k) = after[s-1](eps_k) AND distance > eps_k (deriveFromDistances), the same cells a
 * per-eps run of the thresholded attack gives.
 *
 * Cells (records' `cascade` field): one per stage and eps (attack "<cascade>/<stage>"), holding after[s] and
 * the number the stage broke, and one worst-case cell per eps (attack "<cascade>", the bits of the last
 * stage) with `brokenBy`, the stage that broke each sample, and `attacked` the samples the cascade attacked at
 * that eps (the first stage's: a later stage attacks only samples the first one attacked and left correct). Random draws are keyed by the stage cell's id.
 */
import { batches, toBatch } from '../data/batching.js';
import { KeyedRng } from '../engine/rng.js';
import { tf, type Tensor1D, type Tensor4D } from '../engine/tf.js';
import { guardQueries } from '../models/queryGuard.js';
import { decodeBits, type SuiteCellResult } from '../rundir/records.js';
import { answersRadius } from '../../attacks/define.js';
import { getAttack } from '../../attacks/registry.js';
import type { AnyAttack, AttackRunOptions, MinimisationResult } from '../../attacks/types.js';
import { attackCellRecord, attackRows, type CellReader, type CellWriter, type KeepExamples } from './adversarial.js';
import { bar, cleanCorrect, CountingClassifier, dataFor, finishBar, model, timingFields, type RunContext } from './context.js';
import type { PlannedCell, PlanUnit } from './planner.js';

const count = (bits: readonly boolean[]) => bits.filter(Boolean).length;
const and = (a: readonly boolean[], b: readonly boolean[]) => a.map((v, i) => v && b[i]);
const pct = (bits: readonly boolean[]) => `${((100 * count(bits)) / Math.max(1, bits.length)).toFixed(1)}%`;

/**
 * The correctness after a minimisation stage at each eps: `previous[k]` is the correctness after the
 * earlier stages at `epsilons[k]` (ascending), `rows` the samples the stage attacked (it must hold every
 * sample correct in some previous[k] at eps > 0) and `distance[j]` row rows[j]'s smallest fooling
 * perturbation found, in the threat model's norm ([0,1] pixel units; Infinity = none found). A sample is
 * broken at eps_k when answersRadius(distance, eps_k) (attacks/define.ts: distance <= eps_k up to the ball's
 * float32 slack), the rule a per-eps run of the thresholded attack (thresholdAt) and a sweep's cells
 * (src/suite/minimisation.ts) apply. eps = 0 leaves previous[k] unchanged.
 */
export function deriveFromDistances(previous: readonly (readonly boolean[])[], epsilons: readonly number[], rows: readonly number[], distance: ArrayLike<number>): boolean[][] {
  if (rows.length !== distance.length) throw new Error(`internal: ${rows.length} rows but ${distance.length} distances`);
  const d = new Map(rows.map((r, j) => [r, distance[j]]));
  return previous.map((bits, k) =>
    bits.map((ok, i) => {
      if (!ok || epsilons[k] === 0) return ok;
      const di = d.get(i);
      if (di === undefined) throw new Error(`internal: sample ${i} is correct at eps ${epsilons[k]} but was not attacked`);
      return !answersRadius(di, epsilons[k]);
    }),
  );
}

/** Per sample: 0 = misclassified clean, k = the first stage after which it is wrong, -1 = robust (see CascadeCellInfo.brokenBy). */
export function brokenBy(clean: readonly boolean[], afterStages: readonly (readonly boolean[])[]): number[] {
  return clean.map((ok, i) => {
    if (!ok) return 0;
    const s = afterStages.findIndex((bits) => !bits[i]);
    return s < 0 ? -1 : s + 1;
  });
}

/** A minimisation-kind attack (attacks/define.ts): one run gives each sample's smallest fooling perturbation. */
export type MinimisingAttack = AnyAttack & {
  minimise(classifier: unknown, x: Tensor4D, y: Tensor1D, rng: KeyedRng, options: AttackRunOptions & { params: unknown }): Promise<{ xAdv: Tensor4D; distance: ArrayLike<number> }>;
};

export const isMinimising = (a: AnyAttack): a is MinimisingAttack => a.kind === 'minimisation' && typeof (a as Partial<MinimisingAttack>).minimise === 'function';

/**
 * How runCascadeUnit gets a stage's outcome on its rows (global sample indices): computed here
 * (computeStages), or, for a cascade split into sample parts over worker processes, computed and recorded
 * per part or read back from the parts (cascadeParts.ts). `seconds`, when given, is the stage's own
 * computing time to record instead of the time runCascadeUnit measured. `samples` [lo, hi) restricts
 * the unit to a part's samples.
 */
export interface StageExecutor {
  samples?: [number, number];
  attack(ctx: RunContext, cell: PlannedCell, rows: number[], onBatch: (done: number) => void, keep?: KeepExamples):
    Promise<{ correct: boolean[]; gradientEvaluations: number; nonFiniteLogits?: number; seconds?: number }>;
  minimise(ctx: RunContext, cell: PlannedCell, attack: MinimisingAttack, rows: number[], onBatch: (done: number) => void,
    onFound?: (batch: readonly number[], x: Tensor4D, found: MinimisationResult) => void): Promise<{ distance: number[]; gradientEvaluations: number; seconds?: number }>;
}

/** The stages computed in this process. */
export const computeStages: StageExecutor = {
  attack: (ctx, cell, rows, onBatch, keep) => attackRows(ctx, cell, rows, onBatch, keep),
  minimise: (ctx, cell, attack, rows, onBatch, onFound) => minimiseStageRows(ctx, cell, attack, rows, onBatch, onFound),
};

/**
 * Runs a minimisation stage on `rows` in batches of ctx.batchSize (rng keyed by `cell`'s id); per row its
 * distance. `onFound` sees each batch's rows, clean images and result before they are disposed.
 */
export async function minimiseStageRows(
  ctx: RunContext,
  cell: PlannedCell,
  attack: MinimisingAttack,
  rows: number[],
  onBatch: (done: number) => void,
  onFound?: (batch: readonly number[], x: Tensor4D, found: MinimisationResult) => void,
) {
  const spec = cell.attack!;
  const target = model(ctx, cell.checkpoint);
  const counting = new CountingClassifier(guardQueries(target.classifier, { who: `attack ${attack.name} in cell ${cell.id}` }));
  const distance: number[] = [];
  for (const batch of batches(rows, ctx.batchSize)) {
    const { x, y, sampleIndices } = toBatch(dataFor(ctx, cell.checkpoint), batch);
    const rng = new KeyedRng(ctx.seed, cell.id, sampleIndices);
    const res = await attack.minimise(counting, x, y, rng, { path: spec.path === 'none' ? 'first' : spec.path, output: target.ref.output, params: spec.entry.params });
    onFound?.(batch, x, res as unknown as MinimisationResult);
    distance.push(...Array.from(res.distance));
    tf.dispose([x, y, res.xAdv]);
    onBatch(distance.length);
  }
  return { distance, gradientEvaluations: counting.gradientImages };
}

/**
 * Hands a minimisation stage's batch to each eps > 0 cell's `examples` callback, as its example at that eps
 * by the stage cells' own rule (deriveFromDistances): the example found where answersRadius(distance, eps), else the
 * clean image (which the stage did not break at that eps).
 */
export function keepThresholded(cells: readonly PlannedCell[], batch: readonly number[], x: Tensor4D, found: Pick<MinimisationResult, 'xAdv' | 'distance'>, examples: (cell: PlannedCell) => KeepExamples | undefined): void {
  const size = x.shape[1] * x.shape[2] * x.shape[3];
  let adv: Float32Array | null = null;
  let clean: Float32Array | null = null;
  for (const cell of cells) {
    const eps = cell.attack!.eps;
    const keep = eps > 0 ? examples(cell) : undefined;
    if (!keep) continue;
    adv ??= found.xAdv.dataSync() as Float32Array;
    clean ??= x.dataSync() as Float32Array;
    const out = new Float32Array(clean.length);
    for (let r = 0; r < batch.length; r++) out.set((answersRadius(found.distance[r], eps) ? adv : clean).subarray(r * size, (r + 1) * size), r * size);
    const at = tf.tensor4d(out, x.shape);
    keep(batch, at);
    at.dispose();
  }
}

/** The record of a stage or worst-case cell: an attack cell named after the cascade, with its `cascade` field. */
function cascadeRecord(ctx: RunContext, cell: PlannedCell, correct: boolean[], seconds: number, attacked: number, gradients: number, nonFinite: number | undefined, extra: { broken?: number; brokenBy?: number[] }): SuiteCellResult {
  const info = cell.cascade!;
  const record = attackCellRecord(ctx, cell, correct, seconds, attacked, gradients, nonFinite);
  const entry = cell.attack!.entry;
  record.path = info.chain;
  if (info.stage > 0) {
    record.attack = `${info.label}/${entry.label}`;
    record.method = entry.name;
  } else {
    record.attack = info.label;
    delete record.method;
    delete record.attackParams;
    delete record.nonFiniteLogits;
  }
  record.cascade = { label: info.label, stages: info.stages, ...(info.stage > 0 ? { stage: info.stage } : {}), ...extra };
  return record;
}

/**
 * Runs a cascade unit (planner.ts planCascades): the stages in order, each over the eps list ascending, then
 * the worst-case cells. Stored cells are read back (--resume), not recomputed; the worst-case cells are
 * derived from the stage cells. `announce: false` keeps the records from ctx.onCell (a recomputation
 * for a probe, cascadePrefixCorrect, whose records are not the run's). `examples` (images.ts cascadePanel)
 * may ask to see the adversarial images of a computed stage cell's attacked batches (a minimisation stage:
 * its example at each eps, thresholdAt).
 */
export async function runCascadeUnit(
  ctx: RunContext,
  unit: PlanUnit,
  read: CellReader,
  write: CellWriter,
  announce = true,
  examples?: (cell: PlannedCell) => KeepExamples | undefined,
  exec: StageExecutor = computeStages,
): Promise<SuiteCellResult[]> {
  const worst = unit.cells.filter((c) => c.cascade!.stage === 0);
  const info = worst[0].cascade!;
  const n = worst[0].samples;
  const epsilons = worst.map((c) => c.attack!.eps);
  // A part (--workers, cascadeParts.ts) attacks only its own samples: the others count as not correct.
  const clean = (await cleanCorrect(ctx, worst[0].checkpoint)).correct.slice(0, n).map((ok, i) => ok && (!exec.samples || (i >= exec.samples[0] && i < exec.samples[1])));
  const results: SuiteCellResult[] = [];
  const emit = async (record: SuiteCellResult, stored: boolean) => {
    if (!stored) await write(record);
    results.push(record);
    if (announce) ctx.onCell?.(record);
  };
  // after[s][k]: correct after stages 1..s at epsilons[k]; after[0] = clean.
  const after: boolean[][][] = [epsilons.map(() => clean)];
  const seconds: number[][] = [];
  const gradients: number[][] = [];
  for (let s = 1; s <= info.stages.length; s++) {
    const cells = unit.cells.filter((c) => c.cascade!.stage === s);
    const attack = getAttack(cells[0].attack!.entry.name);
    const stored = await Promise.all(cells.map((c) => read(c.id)));
    const row: boolean[][] = [];
    seconds.push(cells.map(() => 0));
    gradients.push(cells.map(() => 0));
    const done = stored.every((r) => r && r.samples === n);
    if (isMinimising(attack) && !done) {
      // One run on every sample some eps > 0 still has correct after the earlier stages.
      const started = Date.now();
      const rows = clean.flatMap((_, i) => (after[s - 1].some((bits, k) => epsilons[k] > 0 && bits[i]) ? [i] : []));
      const first = cells[epsilons.findIndex((e) => e > 0)] ?? cells[0];
      let distance: number[] = [];
      let grads = 0;
      let stageSeconds: number | undefined;
      if (rows.length > 0 && epsilons.some((e) => e > 0)) {
        const b = bar(ctx, `${first.id} (all eps)${exec.samples ? ` [samples ${exec.samples[0]}-${exec.samples[1] - 1}]` : ''}`, rows.length);
        const res = await exec.minimise(ctx, first, attack, rows, (d) => b.update(d), examples && ((batch, x, found) => keepThresholded(cells, batch, x, found, examples)));
        distance = res.distance;
        grads = res.gradientEvaluations;
        stageSeconds = res.seconds;
        finishBar(ctx, b, `${rows.length} sample${rows.length === 1 ? '' : 's'} minimised`);
      }
      const derived = rows.length > 0 ? deriveFromDistances(after[s - 1], epsilons, rows, distance) : after[s - 1].map((b) => b.slice());
      const total = stageSeconds ?? (Date.now() - started) / 1000;
      for (const [k, cell] of cells.entries()) {
        row.push(derived[k]);
        // The one run's time and gradients are recorded on the first cell it answers (eps > 0).
        const own = cell === first;
        seconds[s - 1][k] = own ? total : 0;
        gradients[s - 1][k] = own ? grads : 0;
        const attacked = epsilons[k] > 0 ? count(after[s - 1][k]) : 0;
        await emit(cascadeRecord(ctx, cell, derived[k], seconds[s - 1][k], attacked, gradients[s - 1][k], undefined, { broken: count(after[s - 1][k]) - count(derived[k]) }), false);
      }
      after.push(row);
      continue;
    }
    let prev = clean;
    for (const [k, cell] of cells.entries()) {
      const old = stored[k];
      if (old && old.samples === n) {
        prev = decodeBits(old.correctBits, n);
        row.push(prev);
        seconds[s - 1][k] = old.timings.seconds;
        gradients[s - 1][k] = old.timings.gradientEvaluations ?? 0;
        await emit(old, true);
        continue;
      }
      const started = Date.now();
      const start = and(after[s - 1][k], prev);
      const rows = start.flatMap((ok, i) => (ok ? [i] : []));
      let correct = start;
      let nonFinite: number | undefined = 0;
      let grads = 0;
      let stageSeconds: number | undefined;
      const eps = cell.attack!.eps;
      if (eps > 0 && rows.length > 0) {
        const b = bar(ctx, exec.samples ? `${cell.id} [samples ${exec.samples[0]}-${exec.samples[1] - 1}]` : cell.id, rows.length);
        const outcome = await exec.attack(ctx, cell, rows, (d) => b.update(d), examples?.(cell));
        correct = start.slice();
        rows.forEach((r, j) => (correct[r] = outcome.correct[j]));
        nonFinite = outcome.nonFiniteLogits;
        grads = outcome.gradientEvaluations;
        stageSeconds = outcome.seconds;
        // A part's bar (labelled with its samples) speaks of its own samples.
        const part = exec.samples;
        finishBar(ctx, b, `robust accuracy after ${info.stages[s - 1]} ${pct(part ? correct.slice(part[0], part[1]) : correct)}`);
      }
      seconds[s - 1][k] = stageSeconds ?? (Date.now() - started) / 1000;
      gradients[s - 1][k] = grads;
      const record = cascadeRecord(ctx, cell, correct, seconds[s - 1][k], eps > 0 ? rows.length : 0, grads, nonFinite, { broken: count(after[s - 1][k]) - count(correct) });
      await emit(record, false);
      row.push(correct);
      prev = correct;
    }
    after.push(row);
  }
  for (const [k, cell] of worst.entries()) {
    const old = await read(cell.id);
    if (old && old.samples === n) {
      await emit(old, true);
      continue;
    }
    const last = after[after.length - 1][k];
    const time = seconds.reduce((t, r) => t + r[k], 0);
    const grads = gradients.reduce((t, r) => t + r[k], 0);
    // The samples the cascade attacked at this eps: the first stage's (every later stage attacks a subset of them).
    const firstStage = results.find((r) => r.cascade?.stage === 1 && r.eps === cell.attack!.eps);
    const record = cascadeRecord(ctx, cell, last, time, firstStage?.attacked ?? 0, grads, undefined, { brokenBy: brokenBy(clean, after.slice(1).map((r) => r[k])) });
    record.timings = timingFields(time, n, getAttack(cell.attack!.entry.name).usesGradient || grads > 0 ? grads : undefined);
    await emit(record, false);
  }
  return results;
}

/**
 * The correctness, on the first `n` images, after the last stage of `stageCells` at the largest eps among
 * them (planner.ts PlannedCell.continues.cascade: a cascade's stage cells, stages 1..s, at its epsilons up to
 * the probe's). The stage cell at that eps is read when stored (its first n bits); otherwise stages 1..s
 * are recomputed on the n images (runCascadeUnit on the same cell ids, so the same rng keys and the same
 * bits as the run's own cells), or answered by `exec` (a split cascade's stored parts,
 * cascadeParts.ts partsAnswering), and nothing is written. Returns that cell's id and the n bits.
 */
export async function cascadePrefixCorrect(
  ctx: RunContext,
  stageCells: readonly PlannedCell[],
  n: number,
  exec: StageExecutor = computeStages,
): Promise<{ id: string; correct: boolean[] }> {
  const last = Math.max(...stageCells.map((c) => c.cascade!.stage));
  const eps = Math.max(...stageCells.map((c) => c.attack!.eps));
  const target = stageCells.find((c) => c.cascade!.stage === last && c.attack!.eps === eps);
  if (!target) throw new Error(`internal: no stage ${last} cell at eps ${eps} in a cascade prefix`);
  const stored = await ctx.store.readCell(target.id);
  if (stored && stored.samples >= n) return { id: target.id, correct: decodeBits(stored.correctBits, stored.samples).slice(0, n) };
  const cells: PlannedCell[] = stageCells.map((c) => ({ ...c, samples: n, cascade: { ...c.cascade!, stages: c.cascade!.stages.slice(0, last) } }));
  // runCascadeUnit reads its eps list from worst-case cells: stand-ins (never written) at the stage's radii.
  const worst = cells.filter((c) => c.cascade!.stage === last).map((c) => ({ ...c, id: `${c.id} (prefix)`, cascade: { ...c.cascade!, stage: 0 } }));
  const unit: PlanUnit = { id: `cascade-prefix|${target.id}`, kind: 'cascade', cells: [...cells, ...worst], gradientProbes: [], cost: 0 };
  const results = await runCascadeUnit(ctx, unit, async () => null, async () => undefined, false, undefined, exec);
  const record = results.find((r) => r.id === target.id);
  if (!record) throw new Error(`internal: the cascade prefix did not compute ${target.id}`);
  return { id: target.id, correct: decodeBits(record.correctBits, n) };
}
