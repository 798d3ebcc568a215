/**
 * Executing adversarial cells. An attack's epsilon sweep runs in ascending eps and only attacks the
 * samples still correct: a sample misclassified clean is broken at every eps, and one broken at a
 * smaller eps is broken at every larger one (its adversarial example lies inside the larger ball too),
 * so both savings leave every cell's correctness unchanged (the per-sample AND over smaller eps of the
 * plain loop). Every random draw is keyed by (seed, cell id, global sample index), so results do not
 * depend on batch size, resume or sharding.
 */
import { tf, type Tensor4D } from '../engine/tf.js';
import { KeyedRng } from '../engine/rng.js';
import { batches, toBatch } from '../data/batching.js';
import { getAttack } from '../../attacks/registry.js';
import { transferAttack } from '../../attacks/transfer.js';
import type { AnyAttack } from '../../attacks/types.js';
import { ballViolation } from '../../attacks/norms.js';
import { guardQueries } from '../models/queryGuard.js';
import { decodeBits, type GradientProbeResult, type OutputProbe, type SuiteCellResult } from '../rundir/records.js';
import { measureOutputs } from './outputProbe.js';
import { attackId, type GradientProbeSpec, type PlannedCell, type PlanUnit } from './planner.js';
import { isMinimisationCell, minimisedAt, runMinimisationCells } from './minimisation.js';
import { cascadePrefixCorrect } from './cascade.js';
import { partsAnswering } from './cascadeParts.js';
import {
  bar,
  cleanCorrect,
  dataFor,
  CountingClassifier,
  finishBar,
  judge,
  model,
  scoreFields,
  timingFields,
  type RunContext,
} from './context.js';

/**
 * Refuses adversarial examples outside the threat model (a broken plug-in attack must not produce
 * robustness numbers; attacks/norms.ts ballViolation). Attacks built by defineAttack check their own
 * results; this also covers a transfer attack's examples and any Attack object built by hand.
 */
function checkInsideBall(attack: AnyAttack, x: Tensor4D, xAdv: Tensor4D, eps: number, cellId: string): void {
  const violation = ballViolation(xAdv, x, eps, attack.threatModel);
  if (violation) throw new Error(`attack ${attack.name} left the ${attack.threatModel} ball in cell ${cellId}: ${violation}`);
}

interface AttackOutcome {
  /** Still correct after the attack, per attacked row. */
  correct: boolean[];
  gradientEvaluations: number;
  /** Attacked rows whose final example has NaN or infinite logits on the target (undefined if the attack did not say). */
  nonFiniteLogits?: number;
}

/**
 * Attacks dataset rows `rows` for one cell, in batches; returns which are still classified correctly.
 * `keep` (the example panels of images.ts) sees each batch's rows and adversarial images before they are
 * disposed; it must copy what it needs.
 */
export async function attackRows(
  ctx: RunContext,
  cell: PlannedCell,
  rows: number[],
  onBatch: (done: number) => void,
  keep?: KeepExamples,
): Promise<AttackOutcome> {
  // A minimisation attack's cell: its one run on these rows, read at the cell's eps (src/suite/minimisation.ts).
  if (isMinimisationCell(cell)) return minimisedAt(ctx, cell, rows, onBatch, keep);
  const spec = cell.attack!;
  const attack = getAttack(spec.entry.name);
  const target = model(ctx, cell.checkpoint);
  const source = model(ctx, spec.source.name);
  // Every query the attack makes is checked to be a valid image (finite, in [0,1]); a violation is an
  // internal error naming the attack and the cell (src/models/queryGuard.ts).
  const who = `attack ${attack.name} in cell ${cell.id}`;
  const counting = new CountingClassifier(guardQueries(source.classifier, { who }));
  const guardedTarget = spec.transfer ? guardQueries(target.classifier, { who: `${who} (transfer target)` }) : target.classifier;
  const params = spec.entry.params;
  const path = spec.path === 'none' ? 'first' : spec.path;
  const targeted = attack.isTargeted(params);
  const correct: boolean[] = [];
  let nonFinite: number | undefined = 0;
  for (const batch of batches(rows, ctx.batchSize)) {
    // Transfer: source and target share an input shape (checked when planning), so the target's images serve both.
    const { x, y, sampleIndices } = toBatch(dataFor(ctx, cell.checkpoint), batch);
    const rng = new KeyedRng(ctx.seed, cell.id, sampleIndices);
    let xAdv: Tensor4D;
    let fooled: boolean[];
    let nonFiniteRows: boolean[] | undefined;
    if (spec.transfer) {
      const res = await transferAttack(counting, guardedTarget, attack, x, y, spec.eps, rng, {
        path,
        output: source.ref.output,
        params,
        targetOutput: target.ref.output,
      });
      xAdv = res.xAdv;
      fooled = res.fooled;
      nonFiniteRows = res.nonFiniteLogits;
    } else {
      const res = await attack.run(counting, x, y, spec.eps, rng, { path, output: target.ref.output, params });
      xAdv = res.xAdv;
      fooled = res.fooled;
      nonFiniteRows = res.nonFiniteLogits;
    }
    checkInsideBall(attack, x, xAdv, spec.eps, cell.id);
    // A targeted attack's "fooled" means "reached the target"; robust accuracy needs the prediction itself.
    let ok: boolean[];
    if (targeted) {
      const judged = judge(target.classifier, xAdv, y, target.ref.output);
      ok = judged.correct;
      nonFiniteRows = judged.nonFinite;
    } else ok = fooled.map((f) => !f);
    correct.push(...ok);
    nonFinite = nonFinite === undefined || nonFiniteRows === undefined ? undefined : nonFinite + nonFiniteRows.filter(Boolean).length;
    keep?.(batch, xAdv);
    tf.dispose([x, y, xAdv]);
    onBatch(correct.length);
  }
  return { correct, gradientEvaluations: counting.gradientImages, nonFiniteLogits: nonFinite };
}

export function attackCellRecord(
  ctx: RunContext,
  cell: PlannedCell,
  correct: boolean[],
  seconds: number,
  attacked: number,
  gradients: number,
  nonFiniteLogits: number | undefined,
): SuiteCellResult {
  const spec = cell.attack!;
  const attack = getAttack(spec.entry.name);
  const target = model(ctx, cell.checkpoint);
  return {
    format: 'bench-cell/1',
    id: cell.id,
    kind: 'attack',
    checkpoint: cell.checkpoint,
    output: target.ref.output,
    attack: spec.entry.label,
    ...(spec.entry.label !== spec.entry.name ? { method: spec.entry.name } : {}),
    attackParams: spec.entry.params,
    path: spec.path,
    ...(spec.transfer ? { transferFrom: spec.source.name } : {}),
    ...(cell.probe ? { probe: cell.probe } : {}),
    eps: spec.eps,
    threatModel: attack.threatModel,
    ...scoreFields(correct),
    attacked,
    ...(nonFiniteLogits !== undefined ? { nonFiniteLogits } : {}),
    timings: timingFields(seconds, attacked, attack.usesGradient ? gradients : undefined),
    backend: ctx.backend,
    completedAt: new Date().toISOString(),
  };
}

/**
 * The correctness, on a probe's first n images, left by the main sweep the probe continues (see
 * PlannedCell.continues): stored main cells are read (their first n bits), missing ones are recomputed on
 * the n images with the main cells' ids as rng keys, which gives the same bits as the main run. A probe
 * of a cascade stage continues the cascade after that stage (cascade.ts cascadePrefixCorrect).
 */
async function continueFrom(ctx: RunContext, probe: PlannedCell, clean: boolean[]): Promise<{ id: string; correct: boolean[] }> {
  const { entry, epsilons, cascade } = probe.continues!;
  const spec = probe.attack!;
  const n = clean.length;
  // A split cascade's stored parts answer its stages while its cells are not written yet (a parallel run).
  if (cascade) return cascadePrefixCorrect(ctx, cascade, n, await partsAnswering(ctx.store.dir, cascade, n));
  let correct = clean;
  let id = '';
  for (const eps of epsilons) {
    id = attackId(probe.checkpoint, entry.label, spec.path, eps);
    const stored = await ctx.store.readCell(id);
    if (stored && stored.samples >= n) {
      correct = decodeBits(stored.correctBits, stored.samples).slice(0, n);
      continue;
    }
    const rows = correct.flatMap((c, i) => (c ? [i] : []));
    if (rows.length === 0) continue;
    const main: PlannedCell = { ...probe, id, continues: undefined, probe: undefined, attack: { ...spec, entry, eps } };
    const b = bar(ctx, `${id} (for ${probe.id})`, rows.length);
    const outcome = await attackRows(ctx, main, rows, (done) => b.update(done));
    correct = correct.slice();
    rows.forEach((r, k) => (correct[r] = outcome.correct[k]));
    finishBar(ctx, b, `robust accuracy ${((100 * correct.filter(Boolean).length) / n).toFixed(1)}%`);
  }
  return { id, correct };
}

export type CellReader = (id: string) => Promise<SuiteCellResult | null>;
export type CellWriter = (cell: SuiteCellResult) => Promise<void>;
/** Sees each batch's adversarial images of one cell (images.ts captures its example panels with it). */
export type KeepExamples = (rows: readonly number[], xAdv: Tensor4D) => void;

/**
 * Runs an attack unit: an eps sweep (cells in ascending eps, then copies), or a single probe cell.
 * `read`/`write` choose cells/ or probes/. Stored cells are read back, not recomputed (--resume).
 * `examples` (images.ts) may ask to see the adversarial images of a computed cell's attacked batches.
 */
export async function runAttackUnit(
  ctx: RunContext,
  unit: PlanUnit,
  read: CellReader,
  write: CellWriter,
  examples?: (cell: PlannedCell) => KeepExamples | undefined,
): Promise<SuiteCellResult[]> {
  const results = new Map<string, SuiteCellResult>();
  const computed = unit.cells.filter((c) => !c.copyOf);
  if (computed.length === 0) return [];
  const n = computed[0].samples;
  // A minimisation attack answers every eps of the sweep from one run: its missing cells are written here,
  // and the loop below reads them all back (src/suite/minimisation.ts).
  if (isMinimisationCell(computed[0])) await runMinimisationCells(ctx, computed, read, write, (...a) => attackCellRecord(ctx, ...a), examples);
  let correct = (await cleanCorrect(ctx, computed[0].checkpoint)).correct.slice(0, n);
  for (const cell of computed) {
    const stored = await read(cell.id);
    if (stored && stored.samples === n) {
      correct = decodeBits(stored.correctBits, n);
      results.set(cell.id, stored);
      ctx.onCell?.(stored);
      continue;
    }
    const spec = cell.attack!;
    let reference: SuiteCellResult['reference'];
    if (cell.continues) {
      const survivors = await continueFrom(ctx, cell, correct);
      correct = survivors.correct;
      reference = { id: survivors.id, samples: n, correct: correct.filter(Boolean).length };
    }
    const started = Date.now();
    const rows = correct.flatMap((c, i) => (c ? [i] : []));
    let gradients = 0;
    let nonFinite: number | undefined = 0;
    if (spec.eps > 0 && rows.length > 0) {
      const b = bar(ctx, cell.id, rows.length);
      const outcome = await attackRows(ctx, cell, rows, (done) => b.update(done), examples?.(cell));
      gradients = outcome.gradientEvaluations;
      nonFinite = outcome.nonFiniteLogits;
      correct = correct.slice();
      rows.forEach((r, k) => (correct[r] = outcome.correct[k]));
      finishBar(ctx, b, `robust accuracy ${((100 * correct.filter(Boolean).length) / n).toFixed(1)}%`);
    }
    const record = attackCellRecord(ctx, cell, correct, (Date.now() - started) / 1000, spec.eps > 0 ? rows.length : 0, gradients, nonFinite);
    if (reference) record.reference = reference;
    await write(record);
    results.set(cell.id, record);
    ctx.onCell?.(record);
  }
  for (const cell of unit.cells.filter((c) => c.copyOf)) {
    const stored = await read(cell.id);
    if (stored) {
      ctx.onCell?.(stored);
      continue;
    }
    const original = results.get(cell.copyOf!);
    if (!original) throw new Error(`internal: ${cell.id} copies ${cell.copyOf}, which is not in its unit`);
    const copy: SuiteCellResult = { ...original, id: cell.id, path: cell.attack!.path, copyOf: original.id, completedAt: new Date().toISOString() };
    await write(copy);
    ctx.onCell?.(copy);
  }
  return [...results.values()];
}

/**
 * The gradient sanity probe: on the first `samples` images, the fraction whose input gradient on each
 * path is exactly zero everywhere or holds a NaN/infinity (a symptom of gradient masking or a broken path).
 */
export async function runGradientProbe(ctx: RunContext, spec: GradientProbeSpec): Promise<GradientProbeResult> {
  const stored = await ctx.store.readProbe(spec.id);
  if (stored && stored.format === 'bench-gradient-probe/1') return stored;
  const m = model(ctx, spec.checkpoint);
  let zero = 0;
  let nonFinite = 0;
  let outputs: OutputProbe | undefined;
  const rows = Array.from({ length: Math.min(spec.samples, ctx.data.count) }, (_, i) => i);
  for (const batch of batches(rows, ctx.batchSize)) {
    const { x, y } = toBatch(dataFor(ctx, spec.checkpoint), batch);
    const guarded = guardQueries(m.classifier, { who: `gradient probe ${spec.id}` });
    outputs = measureOutputs(guarded, x, y, m.ref.output, outputs);
    const { loss, grad } = guarded.lossAndGrad(x, y, { path: spec.path, output: m.ref.output });
    const g = grad.dataSync();
    const size = g.length / batch.length;
    for (let r = 0; r < batch.length; r++) {
      let allZero = true;
      let finite = true;
      for (let i = r * size; i < (r + 1) * size; i++) {
        const v = g[i];
        if (v !== 0) allZero = false;
        if (!Number.isFinite(v)) finite = false;
      }
      if (!finite) nonFinite++;
      else if (allZero) zero++;
    }
    tf.dispose([x, y, loss, grad]);
  }
  const rec: GradientProbeResult = {
    format: 'bench-gradient-probe/1',
    id: spec.id,
    checkpoint: spec.checkpoint,
    path: spec.path,
    output: m.ref.output,
    samples: rows.length,
    zero,
    nonFinite,
    ...(outputs ? { outputs } : {}),
    completedAt: new Date().toISOString(),
  };
  await ctx.store.writeProbe(rec);
  return rec;
}
