import { tf } from '../src/engine/tf.js';
import type { SampleStream } from '../src/engine/rng.js';
import { indicesWhere } from './common.js';
import { defineAttack, type AttackContext } from './define.js';
import type { ParamSchema } from './params.js';
import type { TargetParams } from './types.js';
import { roundHalfEven } from '../src/engine/pyNumeric.js';

/**
 * Square Attack, L-inf (Andriushchenko, Croce, Flammarion & Hein, ECCV 2020, Algorithm 1 with the
 * L-inf sampling distribution of their Algorithm 2), by default step for step as AutoAttack's
 * autoattack/square.py (fra31/auto-attack) runs it. Score-based random search on the margin loss
 * (logit of the label minus the largest other logit; targeted: the other way round):
 * - start from vertical stripes: every (column, channel) gets x + eps or x - eps, sign at random
 *   (one query, always kept);
 * - then `queries` iterations; iteration i proposes one square window of side
 *   s = max(round(sqrt(p_i * pixels)), 1) (at most the image side) at a random offset, whose pixels are
 *   set to x +/- eps (one random sign per channel), and keeps it if the margin strictly decreases (or the
 *   sample is fooled). A sample stops querying once fooled, so it uses at most queries + 1 evaluations
 *   (fewer still: proposals that change no pixel are not evaluated, see below).
 * - p_i follows the paper's piecewise-constant schedule: p_init halves after iterations 10, 50, 200, 500,
 *   1000, 2000, 4000, 6000, 8000 of a 10000-iteration budget; with rescaleSchedule (square.py's
 *   resc_schedule, the SquareAttack class default) the iteration is first mapped to that budget as
 *   int(i / queries * 10000). AutoAttack's standard ensemble runs Square with resc_schedule=False and
 *   5000 queries, where p stops at p_init / 128.
 * - the window's top-left offset is drawn from 0 .. side - s - 1 as square.py's random_int(0, h - s)
 *   (and the original code's randint(0, h - s)) do: the last offset is never drawn, so on 28 x 28 images
 *   single-pixel windows never reach the last row and column. `allOffsets` draws from 0 .. side - s.
 * - a proposal may change no pixel (the window already sits at the drawn signs, or clipping to [0,1]
 *   gives the same values; with 1-pixel windows half of them): square.py still evaluates the model on it.
 *   For a deterministic model its margin is then the current point's, which square.py never accepts (it
 *   takes a strict decrease, or a misclassification, and the current point is not misclassified, else the
 *   sample would have left). So `square` does not show such a proposal to the model: the sample is neither
 *   improved nor fooled in that iteration, which still counts against `queries`. Same search, same
 *   examples, fewer model evaluations: on the committed CNN at eps 0.03, 28.6% of the proposals are
 *   no-ops at 200 queries with the rescaled schedule (AutoAttack counted 28.8%, docs/autoattack.md) and
 *   12-13% in AutoAttack's standard ensemble (5000 queries, not rescaled) (docs/performance.md).
 *   `evaluateNoOps` evaluates them as square.py does. `skipNoOps` instead redraws the signs until the
 *   window changes (up to 16 times), as the authors' original code (max-andr/square-attack) does: a
 *   different search.
 * Differences from square.py that do not change the search distribution: each sample draws its own
 *   window and signs from its keyed stream (square.py draws one window and sign per iteration for the
 *   whole batch), so results do not depend on batch composition; square.py runs `queries` iterations
 *   after the start, the original code queries - 1 (its budget counts the start).
 */
export interface SquareParams extends TargetParams {
  /**
   * Iterations (proposals) after the initial stripes, AutoAttack's n_queries; at most queries + 1 model
   * evaluations per sample (exactly that for a sample never fooled with evaluateNoOps, fewer without).
   */
  queries: number;
  /** Initial fraction of pixels changed per square; AutoAttack's default 0.8. */
  pInit: number;
  /** Rescale the 10000-iteration p schedule to `queries` (square.py resc_schedule; true in the SquareAttack class, false in AutoAttack's standard ensemble). */
  rescaleSchedule: boolean;
  /** Redraw a proposal's signs while it would change no pixel (the original code's resampling); off in square.py. */
  skipNoOps: boolean;
  /** Draw the window offset from all side - s + 1 positions (square.py never draws the last one). */
  allOffsets: boolean;
  /**
   * Evaluate proposals that change no pixel, as square.py does: same result, more model calls. Unset means
   * false (such a proposal is not shown to the model: it could not be accepted); it is left unset rather
   * than false so the parameters recorded in a run's cells stay those of runs made before it existed.
   */
  evaluateNoOps?: boolean;
}

const defaults: SquareParams = {
  queries: 1000,
  pInit: 0.8,
  rescaleSchedule: true,
  skipNoOps: false,
  allOffsets: false,
  evaluateNoOps: undefined,
  targeted: false,
  targetClass: undefined,
};

const schema: ParamSchema<SquareParams> = {
  queries: { kind: 'int', min: 1 },
  pInit: { kind: 'number', min: 0, max: 1, exclusiveMin: true },
  rescaleSchedule: { kind: 'boolean' },
  skipNoOps: { kind: 'boolean' },
  allOffsets: { kind: 'boolean' },
  evaluateNoOps: { kind: 'boolean' },
  targeted: { kind: 'boolean' },
  targetClass: { kind: 'int', min: 0, optional: true },
};

/** Boundaries (in a 10000-iteration budget) after which p halves again (Andriushchenko et al. 2020, Sec. 4). */
const HALVING_POINTS = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000];

/**
 * Fraction of pixels in the square at iteration `iteration` (0-based) of a budget of `budget` iterations,
 * as AutoAttack's square.py p_selection: with `rescale` (resc_schedule) the iteration is mapped to a
 * 10000 budget as int(it / n_queries * 10000) (float64, in that order, truncated); without, it is used
 * as is. Then p_init is halved once per boundary it exceeds (10 < it <= 50: p_init / 2, ...,
 * 8000 < it: p_init / 512).
 */
export function squareFraction(iteration: number, budget: number, pInit: number, rescale = true): number {
  const scaled = rescale ? Math.floor((iteration / budget) * 10000) : iteration;
  let halvings = 0;
  for (const point of HALVING_POINTS) if (scaled > point) halvings++;
  return pInit / 2 ** halvings;
}

/**
 * Side of the square for fraction p of a C x H x W image, as AutoAttack's square.py computes it:
 * max(int(round(sqrt(p * n_features / c))), 1) with n_features = c * h * w, in that float64 order and
 * with Python's round (ties to even: a side of 2.5 is 2), then at most the smaller side.
 */
export function squareSide(p: number, height: number, width: number, channels = 1): number {
  const features = channels * height * width;
  return Math.min(Math.max(roundHalfEven(Math.sqrt((p * features) / channels)), 1), height, width);
}

const clip01 = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : v);

async function perturbSquare(ctx: AttackContext<SquareParams>): Promise<void> {
  const { x, eps, rng, goal, store, params: p } = ctx;
  const n = x.shape[0];
  const [, height, width, channels] = x.shape;
  const size = store.rowSize;
  const clean = ctx.evaluate(x);
  let rows = indicesWhere(n, (i) => !goal.skip[i] && !clean.fooled[i]);
  if (rows.length === 0) return;

  const keyed = rng.derive('square');
  const streams = new Map<number, SampleStream>(rows.map((r) => [r, keyed.stream(r)]));
  const best = new Map<number, Float32Array>();
  const bestMargin = new Map<number, number>();
  const original = (r: number) => store.row(r);

  /** Queries the model on candidates[k] for batch row queried[k]; returns their scores. */
  const query = (queried: readonly number[], candidates: Float32Array[]) => {
    const batch = new Float32Array(candidates.length * size);
    candidates.forEach((c, k) => batch.set(c, k * size));
    const t = tf.tensor4d(batch, [candidates.length, height, width, channels]);
    const score = ctx.evaluate(t, queried);
    t.dispose();
    return score;
  };

  /**
   * Accepts improving candidates (candidates[k] for batch row queried[k]); fooled rows keep the candidate
   * that fooled them and leave the active rows. Active rows not in `queried` stay as they are.
   */
  const accept = (queried: readonly number[], candidates: Float32Array[]) => {
    if (queried.length === 0) return;
    const score = query(queried, candidates);
    const fooled = new Set<number>();
    queried.forEach((r, k) => {
      // The first candidate (the stripes) is always taken, so every row has a best point even when its
      // margin is +Infinity (the label's logit infinite, the others finite).
      const first = !best.has(r);
      if (first || score.fooled[k] || score.margin[k] < bestMargin.get(r)!) {
        best.set(r, candidates[k]);
        bestMargin.set(r, score.margin[k]);
      }
      if (score.fooled[k]) {
        store.writeHost(r, candidates[k]);
        fooled.add(r);
      }
    });
    if (fooled.size > 0) rows = rows.filter((r) => !fooled.has(r));
  };

  // Vertical-stripe initialisation: one sign per (column, channel), the same down the column.
  const starts = rows.map((r) => {
    const s = streams.get(r)!;
    const x0 = original(r);
    const c0 = new Float32Array(size);
    const signs = new Float32Array(width * channels);
    for (let i = 0; i < signs.length; i++) signs[i] = s.next() < 0.5 ? -1 : 1;
    for (let h = 0; h < height; h++)
      for (let w = 0; w < width; w++)
        for (let c = 0; c < channels; c++) {
          const idx = (h * width + w) * channels + c;
          c0[idx] = clip01(x0[idx] + eps * signs[w * channels + c]);
        }
    return c0;
  });
  accept(rows, starts);

  const channelSigns = new Float32Array(channels);
  /** Whether setting the window to x0 +/- eps (channelSigns) would change any pixel of `current`. */
  const windowChanges = (x0: Float32Array, current: Float32Array, top: number, left: number, side: number) => {
    for (let h = top; h < top + side; h++)
      for (let w = left; w < left + side; w++)
        for (let c = 0; c < channels; c++) {
          const idx = (h * width + w) * channels + c;
          if (Math.fround(clip01(x0[idx] + eps * channelSigns[c])) !== current[idx]) return true;
        }
    return false;
  };

  for (let it = 0; it < p.queries && rows.length > 0; it++) {
    const side = squareSide(squareFraction(it, p.queries, p.pInit, p.rescaleSchedule), height, width, channels);
    // Proposals that change no pixel of their row's current point are not evaluated (unless evaluateNoOps):
    // their margin would be the current one, which is never accepted (see the docstring).
    const queried: number[] = [];
    const candidates: Float32Array[] = [];
    for (const r of rows) {
      const s = streams.get(r)!;
      const x0 = original(r);
      const current = best.get(r)!;
      // square.py: random_int(0, h - s) = floor(uniform[0, h - s)), never h - s (0 when s = h).
      const top = p.allOffsets ? s.int(height - side + 1) : s.int(Math.max(height - side, 1));
      const left = p.allOffsets ? s.int(width - side + 1) : s.int(Math.max(width - side, 1));
      const draw = () => {
        for (let c = 0; c < channels; c++) channelSigns[c] = s.next() < 0.5 ? -1 : 1;
      };
      draw();
      // skipNoOps: redraw the signs while the window would not change at all (the original code's loop).
      for (let attempt = 0; p.skipNoOps && attempt < 16 && !windowChanges(x0, current, top, left, side); attempt++) draw();
      const candidate = Float32Array.from(current);
      let changes = false;
      for (let h = top; h < top + side; h++)
        for (let w = left; w < left + side; w++)
          for (let c = 0; c < channels; c++) {
            const idx = (h * width + w) * channels + c;
            candidate[idx] = clip01(x0[idx] + eps * channelSigns[c]);
            // Compared as stored (float32), so the test is exact.
            if (candidate[idx] !== current[idx]) changes = true;
          }
      if (changes || p.evaluateNoOps === true) {
        queried.push(r);
        candidates.push(candidate);
      }
    }
    accept(queried, candidates);
  }
  for (const r of rows) store.writeHost(r, best.get(r)!);
}

export const square = defineAttack<SquareParams>({
  name: 'square',
  kind: 'fixed-epsilon',
  threatModel: 'linf',
  usesGradient: false,
  iterationParam: 'queries',
  // Samples stop querying once fooled, and proposals that change no pixel are not evaluated (28.6% of them
  // with the rescaled schedule at 200 queries on the committed CNN, docs/performance.md): a rough estimate of
  // half the budget, left as it was (measured there, eps 0.03: 133 evaluations per image, 185 with evaluateNoOps).
  cost: (p) => ({ gradients: 0, forwards: 0.5 * (p.queries + 1) }),
  describe: 'Square Attack L-inf, Andriushchenko et al. 2020: score-based random search, 1000 queries',
  defaults,
  schema,
  perturb: perturbSquare,
});
