/**
 * What executing cells needs: the evaluated images, the loaded models, the store, and the clean
 * correctness of each checkpoint (computed once, or read back from its clean cell on resume).
 */
import { tf, type Tensor1D, type Tensor2D, type Tensor4D } from '../engine/tf.js';
import { ProgressBar } from '../engine/progress.js';
import type { ImageDataset } from '../data/fashionMnist.js';
import { batches, toBatch } from '../data/batching.js';
import type { Classifier, LogitsRequest, LossAndGradOptions } from '../models/classifier.js';
import { predictClasses, rowHasNonFinite } from '../models/decision.js';
import { decodeBits, encodeBits, type SuiteCellResult, wilsonInterval } from '../rundir/records.js';
import type { RunStore } from '../rundir/store.js';
import type { SuiteModel } from './loadClassifier.js';
import { cleanId } from './planner.js';

export interface RunContext {
  /** The evaluated images as read: row r has global sample index data.offset + r. */
  data: ImageDataset;
  /**
   * Per model, the images adapted to its input shape and the labels it is judged against (the dataset's,
   * or its own clean predictions with `labels: model`); a model missing here uses `data`.
   */
  modelData?: ReadonlyMap<string, ImageDataset>;
  seed: number;
  batchSize: number;
  quiet: boolean;
  backend: string;
  /** Every loaded model by checkpoint name (targets and transfer sources). */
  models: ReadonlyMap<string, SuiteModel>;
  store: RunStore;
  /** Called with every cell written or read back, in execution order. */
  onCell?: (cell: SuiteCellResult) => void;
  /** Where progress goes (stderr by default). */
  progressStream?: NodeJS.WriteStream;
}

export function model(ctx: RunContext, name: string): SuiteModel {
  const m = ctx.models.get(name);
  if (!m) throw new Error(`internal: checkpoint ${name} not loaded`);
  return m;
}

/** The images and labels model `name` is evaluated on (see RunContext.modelData). */
export function dataFor(ctx: RunContext, name: string): ImageDataset {
  return ctx.modelData?.get(name) ?? ctx.data;
}

export function bar(ctx: RunContext, label: string, total: number): ProgressBar {
  return new ProgressBar(label, total, { quiet: ctx.quiet, stream: ctx.progressStream });
}

export function finishBar(ctx: RunContext, b: ProgressBar, summary: string): void {
  if (!ctx.quiet) b.done(summary);
}

/** Per row of a batch: classified correctly, and whether its logits hold a NaN or an infinity. */
export interface Judgement {
  correct: boolean[];
  nonFinite: boolean[];
}

/**
 * Judges logits [N, classes] against int32 labels [N] by the shared decision rule (src/models/decision.ts):
 * correct iff the label's logit is strictly above every other (a NaN row or a tie at the top is wrong).
 */
export function judgeLogits(logits: Tensor2D, y: Tensor1D): Judgement {
  const classes = logits.shape[1];
  const values = logits.dataSync();
  const labels = y.dataSync();
  const predicted = predictClasses(values, classes);
  return {
    correct: Array.from(predicted, (p, r) => p === labels[r]),
    nonFinite: Array.from(predicted, (_, r) => rowHasNonFinite(values, r, classes)),
  };
}

/** Row-wise: the prediction (src/models/decision.ts) equals the label. */
export function correctRows(logits: Tensor2D, y: Tensor1D): boolean[] {
  return judgeLogits(logits, y).correct;
}

/** Judges `classifier` (on `output`) on every row of `x`. */
export function judge(classifier: Classifier, x: Tensor4D, y: Tensor1D, output: string): Judgement {
  const logits = classifier.logits(x, output);
  const out = judgeLogits(logits, y);
  logits.dispose();
  return out;
}

/** Correctness of `classifier` (on `output`) for every row of `x`. */
export function predictCorrect(classifier: Classifier, x: Tensor4D, y: Tensor1D, output: string): boolean[] {
  return judge(classifier, x, y, output).correct;
}

/** The record field counting the evaluated images whose logits held a NaN or an infinity. */
export function nonFiniteField(nonFinite: readonly boolean[]): { nonFiniteLogits: number } {
  return { nonFiniteLogits: nonFinite.filter(Boolean).length };
}

/** The fields every CellResult computes the same way from its correctness bits. */
export function scoreFields(correct: readonly boolean[]) {
  const k = correct.filter(Boolean).length;
  const n = correct.length;
  return { samples: n, correct: k, accuracy: n === 0 ? 0 : k / n, ci95: wilsonInterval(k, n), correctBits: encodeBits(correct) };
}

export function timingFields(seconds: number, images: number, gradientEvaluations?: number) {
  return {
    seconds: Number(seconds.toFixed(3)),
    imagesPerSecond: seconds > 0 ? Number((images / seconds).toFixed(2)) : 0,
    ...(gradientEvaluations !== undefined ? { gradientEvaluations } : {}),
  };
}

interface CleanResult {
  correct: boolean[];
  seconds: number;
  /** Images whose clean logits hold a NaN or an infinity (undefined when read from a record that lacks the count). */
  nonFiniteLogits?: number;
}

const cleanMemo = new WeakMap<RunContext, Map<string, Promise<CleanResult>>>();

/**
 * Clean correctness of checkpoint `name` on every evaluated image: read from its clean cell when one is
 * stored (resume, or another unit wrote it), else computed once per run and kept in memory.
 */
export function cleanCorrect(ctx: RunContext, name: string): Promise<CleanResult> {
  let memo = cleanMemo.get(ctx);
  if (!memo) cleanMemo.set(ctx, (memo = new Map()));
  let p = memo.get(name);
  if (!p) {
    p = (async () => {
      const stored = await ctx.store.readCell(cleanId(name));
      if (stored && stored.samples === ctx.data.count)
        return { correct: decodeBits(stored.correctBits, ctx.data.count), seconds: stored.timings.seconds, nonFiniteLogits: stored.nonFiniteLogits };
      const m = model(ctx, name);
      const started = Date.now();
      const b = bar(ctx, `${name} clean`, ctx.data.count);
      const correct: boolean[] = [];
      const nonFinite: boolean[] = [];
      for (const rows of batches(Array.from({ length: ctx.data.count }, (_, i) => i), ctx.batchSize)) {
        const { x, y } = toBatch(dataFor(ctx, name), rows);
        const judged = judge(m.classifier, x, y, m.ref.output);
        correct.push(...judged.correct);
        nonFinite.push(...judged.nonFinite);
        tf.dispose([x, y]);
        b.update(correct.length);
      }
      const seconds = (Date.now() - started) / 1000;
      finishBar(ctx, b, `accuracy ${((100 * correct.filter(Boolean).length) / correct.length).toFixed(1)}%`);
      return { correct, seconds, ...nonFiniteField(nonFinite) };
    })();
    memo.set(name, p);
  }
  return p;
}

/** Writes (or reads back) the clean cell of `name`. */
export async function runCleanCell(ctx: RunContext, id: string, name: string): Promise<SuiteCellResult> {
  const stored = await ctx.store.readCell(id);
  if (stored) {
    ctx.onCell?.(stored);
    return stored;
  }
  const { correct, seconds, nonFiniteLogits } = await cleanCorrect(ctx, name);
  const m = model(ctx, name);
  const cell: SuiteCellResult = {
    format: 'bench-cell/1',
    id,
    kind: 'clean',
    checkpoint: name,
    output: m.ref.output,
    ...scoreFields(correct),
    ...(nonFiniteLogits !== undefined ? { nonFiniteLogits } : {}),
    timings: timingFields(seconds, correct.length),
    backend: ctx.backend,
    completedAt: new Date().toISOString(),
  };
  await ctx.store.writeCell(cell);
  ctx.onCell?.(cell);
  return cell;
}

/**
 * Counts what an attack asks of a model (images through lossAndGrad or logitsFor, which attacks take only to
 * differentiate (attacks/gradients.ts), and through logits), for the cell's timings; otherwise a
 * transparent pass-through of the Classifier contract. It offers logitsFor only when the wrapped model does.
 */
export class CountingClassifier implements Classifier {
  gradientImages = 0;
  forwardImages = 0;
  readonly name: string;
  readonly inputShape: readonly [number, number, number];
  readonly numClasses: number;
  readonly hasFeedback: boolean;
  readonly logitsFor?: (x: Tensor4D, request?: LogitsRequest) => Tensor2D;
  readonly predictionPaths?: readonly string[];
  constructor(private readonly inner: Classifier) {
    this.name = inner.name;
    this.inputShape = inner.inputShape;
    this.numClasses = inner.numClasses;
    this.hasFeedback = inner.hasFeedback;
    this.predictionPaths = inner.predictionPaths;
    if (inner.logitsFor)
      this.logitsFor = (x, request) => {
        this.gradientImages += x.shape[0];
        return inner.logitsFor!(x, request);
      };
  }
  logits(x: Tensor4D, output?: string): Tensor2D {
    this.forwardImages += x.shape[0];
    return this.inner.logits(x, output);
  }
  lossAndGrad(x: Tensor4D, y: Tensor1D, options: LossAndGradOptions) {
    this.gradientImages += x.shape[0];
    return this.inner.lossAndGrad(x, y, options);
  }
}
