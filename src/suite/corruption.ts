/**
 * Executing corruption cells. One unit is one (corruption, severity): each batch is corrupted once and
 * every checkpoint is evaluated on the same corrupted images. The randomness is keyed by
 * (seed, corruptionKey(name, severity), global sample index), the key `bench preview` uses, so a preview
 * shows exactly the images a run evaluates, and every checkpoint sees the same images (a paired comparison).
 */
import { tf } from '../engine/tf.js';
import { KeyedRng } from '../engine/rng.js';
import { batches, toBatch } from '../data/batching.js';
import { corruptionKey, getCorruption } from '../../corruptions/registry.js';
import type { AnyCorruption } from '../../corruptions/types.js';
import { guardQueries } from '../models/queryGuard.js';
import type { PlannedCell, PlanUnit } from './planner.js';
import type { SuiteCellResult } from '../rundir/records.js';
import { bar, dataFor, finishBar, judge, model, nonFiniteField, scoreFields, timingFields, type RunContext } from './context.js';
import { adaptBatch } from '../datasets/index.js';
import { toLabelTensor } from '../data/batching.js';

/** Looks a corruption up by name; tests may pass their own registry. */
export type CorruptionLookup = (name: string) => AnyCorruption;

export async function runCorruptionUnit(
  ctx: RunContext,
  unit: PlanUnit,
  lookup: CorruptionLookup = (name) => getCorruption(name),
): Promise<SuiteCellResult[]> {
  const out: SuiteCellResult[] = [];
  const missing: PlannedCell[] = [];
  for (const cell of unit.cells) {
    const stored = await ctx.store.readCell(cell.id);
    if (stored) {
      out.push(stored);
      ctx.onCell?.(stored);
    } else missing.push(cell);
  }
  if (missing.length === 0) return out;
  const { name, severity } = missing[0].corruption!;
  const corruption = lookup(name);
  const key = corruptionKey(name, severity);
  const n = missing[0].samples;
  const correct = missing.map(() => [] as boolean[]);
  const nonFinite = missing.map(() => [] as boolean[]);
  const seconds = missing.map(() => 0);
  let corruptSeconds = 0;
  const b = bar(ctx, `${name} severity ${severity}`, n);
  for (const rows of batches(Array.from({ length: n }, (_, i) => i), ctx.batchSize)) {
    const { x, y, sampleIndices } = toBatch(ctx.data, rows);
    let t = Date.now();
    const xc = corruption.apply(x, severity, new KeyedRng(ctx.seed, key, sampleIndices));
    corruptSeconds += (Date.now() - t) / 1000;
    missing.forEach((cell, k) => {
      const m = model(ctx, cell.checkpoint);
      t = Date.now();
      // The corruption acts on the images as read; each model then sees them adapted to its input (a no-op
      // when the shapes match), judged against its own labels (the dataset's, or its clean predictions).
      // The corrupted images must be valid images (src/models/queryGuard.ts): a corruption that leaves
      // [0,1] or produces NaN is an internal error naming it, not an accuracy.
      const xm = adaptBatch(xc, m.classifier.inputShape);
      const own = dataFor(ctx, cell.checkpoint);
      const ym = own === ctx.data ? y : toLabelTensor(own.labels, rows);
      const guarded = guardQueries(m.classifier, { who: `corruption ${name} severity ${severity}` });
      const judged = judge(guarded, xm, ym, m.ref.output);
      correct[k].push(...judged.correct);
      nonFinite[k].push(...judged.nonFinite);
      if (xm !== xc) xm.dispose();
      if (ym !== y) ym.dispose();
      seconds[k] += (Date.now() - t) / 1000;
    });
    tf.dispose([x, y, xc]);
    b.update(correct[0].length);
  }
  const accuracies = missing.map((cell, k) => `${cell.checkpoint} ${((100 * correct[k].filter(Boolean).length) / n).toFixed(1)}%`);
  finishBar(ctx, b, accuracies.join(', '));
  for (const [k, cell] of missing.entries()) {
    const m = model(ctx, cell.checkpoint);
    // Each cell is charged its own evaluation time plus an equal share of the corruption's.
    const cellSeconds = seconds[k] + corruptSeconds / missing.length;
    const record: SuiteCellResult = {
      format: 'bench-cell/1',
      id: cell.id,
      kind: 'corruption',
      checkpoint: cell.checkpoint,
      output: m.ref.output,
      corruption: name,
      family: corruption.family,
      severity,
      ...scoreFields(correct[k]),
      ...nonFiniteField(nonFinite[k]),
      timings: timingFields(cellSeconds, n),
      backend: ctx.backend,
      completedAt: new Date().toISOString(),
    };
    await ctx.store.writeCell(record);
    out.push(record);
    ctx.onCell?.(record);
  }
  return out;
}
