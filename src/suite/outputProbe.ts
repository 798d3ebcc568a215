/**
 * Measures of a model's scores for the sanity checks of src/suite/sanity.ts, the data of AutoAttack's
 * checks (fra31/auto-attack autoattack/checks.py): check_randomized scores the same images n = 5 times and
 * compares the L2-normalised score rows and the correct counts; check_range_output asks whether the scores
 * look like probabilities (all in [0, 1], rows summing to 1), not logits. Images with a NaN or infinite
 * score in any call are counted (nonFiniteRows) and left out of both measures.
 */
import { tf, type Tensor1D, type Tensor4D } from '../engine/tf.js';
import type { Classifier } from '../models/classifier.js';
import type { OutputProbe } from '../rundir/records.js';
import { judgeLogits } from './context.js';

/** Scoring calls of the randomness measure (AutoAttack's n = 5). */
export const REPEAT_CALLS = 5;

/**
 * Scores `x` (NHWC in [0,1]) with labels `y` (int32 [N]) REPEAT_CALLS times on `output` and measures them.
 * `previous` (a measure of earlier batches) is merged in, so batches can be measured one at a time.
 */
export function measureOutputs(classifier: Classifier, x: Tensor4D, y: Tensor1D, output: string, previous?: OutputProbe): OutputProbe {
  const rows: Float32Array[] = [];
  const correct: number[] = [];
  let classes = 0;
  for (let k = 0; k < REPEAT_CALLS; k++) {
    const logits = classifier.logits(x, output);
    classes = logits.shape[1];
    rows.push(logits.dataSync() as Float32Array);
    correct.push(judgeLogits(logits, y).correct.filter(Boolean).length);
    tf.dispose(logits);
  }
  const n = x.shape[0];
  // Rows with a NaN or infinite score in any call carry no measure of randomness nor of range (NaN differs
  // from itself): they are counted, left out of both, and named by the sanity checks (logits-finite).
  const finite = Array.from({ length: n }, (_, r) => rows.every((values) => values.subarray(r * classes, (r + 1) * classes).every(Number.isFinite)));
  const normalised = rows.map((values) => {
    const out = new Float64Array(values.length);
    for (let r = 0; r < n; r++) {
      let sq = 0;
      for (let j = 0; j < classes; j++) sq += values[r * classes + j] ** 2;
      const norm = Math.sqrt(sq) + 1e-10;
      for (let j = 0; j < classes; j++) out[r * classes + j] = values[r * classes + j] / norm;
    }
    return out;
  });
  let maxDiff = previous?.repeat.maxDiff ?? 0;
  for (let a = 0; a < REPEAT_CALLS; a++)
    for (let b = a + 1; b < REPEAT_CALLS; b++)
      for (let r = 0; r < n; r++) {
        if (!finite[r]) continue;
        let sq = 0;
        for (let j = 0; j < classes; j++) sq += (normalised[a][r * classes + j] - normalised[b][r * classes + j]) ** 2;
        maxDiff = Math.max(maxDiff, Math.sqrt(sq));
      }
  const first = rows[0];
  let min = previous?.range.min ?? Infinity;
  let max = previous?.range.max ?? -Infinity;
  let maxRowSumError = previous?.range.maxRowSumError ?? 0;
  for (let r = 0; r < n; r++) {
    if (!finite[r]) continue;
    let sum = 0;
    for (let j = 0; j < classes; j++) {
      const v = first[r * classes + j];
      min = Math.min(min, v);
      max = Math.max(max, v);
      sum += v;
    }
    maxRowSumError = Math.max(maxRowSumError, Math.abs(sum - 1));
  }
  return {
    repeat: { calls: REPEAT_CALLS, maxDiff, correct: correct.map((c, k) => c + (previous?.repeat.correct[k] ?? 0)) },
    range: { min, max, maxRowSumError },
    nonFiniteRows: finite.filter((f) => !f).length + (previous?.nonFiniteRows ?? 0),
  };
}
