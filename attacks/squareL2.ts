import { tf } from '../src/engine/tf.js';
import { roundHalfEven } from '../src/engine/pyNumeric.js';
import { indicesWhere } from './common.js';
import { defineAttack, type AttackContext } from './define.js';
import type { ParamSchema } from './params.js';
import { squareFraction } from './square.js';
import type { TargetParams } from './types.js';

/**
 * Square Attack, L2 (Andriushchenko, Croce, Flammarion & Hein, ECCV 2020, Algorithm 1 with the L2
 * sampling distribution of Algorithm 3, Sec. 3.2), step for step as the L2 branch of AutoAttack's
 * autoattack/square.py (fra31/auto-attack) attack_single_run. Score-based random search on the margin
 * (logit of the label minus the largest other logit; targeted: the other way round), always on the
 * sphere of radius eps before the [0,1] clip:
 * - start: the image is tiled with windows of side s0 = h // 5 (offset (h - 5 s0) // 2), each filled
 *   with a pseudo-gaussian window (squareL2Window) times a random sign per channel; the sum is scaled to
 *   L2 norm eps, added to x and clipped to [0,1] (one query, always kept);
 * - then `queries` iterations. Iteration i draws a window W1 of side s (squareL2Side: odd, at least 3)
 *   and a second window W2 of the same side. The new content of W1 is, per channel, a fresh
 *   pseudo-gaussian window with a random sign plus the current W1 perturbation normalised to unit norm,
 *   rescaled to norm sqrt(max(eps^2 - ||delta||^2, 0) / C + ||delta on W1 u W2||^2): the perturbation
 *   mass of both windows (and the budget left) moves into W1, W2 is zeroed. The whole perturbation is
 *   then rescaled to norm eps and x + delta clipped to [0,1]; the proposal is kept if the margin strictly
 *   decreases (or the sample is fooled). A sample stops querying once fooled: at most queries + 1
 *   evaluations.
 * - p_i and its schedule are square's (attacks/square.ts squareFraction, rescaleSchedule = resc_schedule).
 * Differences from square.py that do not change the search distribution (as for `square`): each sample
 * draws its own windows, signs and window transpositions from its keyed stream (square.py draws one per
 * iteration for the whole batch), so results do not depend on batch composition; targeted runs accept on
 * the targeted margin (square.py's targeted branch accepts on the cross-entropy of the target). Images
 * smaller than 5 pixels, where square.py's start divides by zero (h // 5 = 0), start with 1-pixel windows;
 * a start window that crosses the image edge (square.py raises a shape error) is cut at the edge.
 * With the draws of square.py replayed (tests/attacks/squareL2.test.ts), the proposals equal square.py's
 * up to float32 rounding.
 */
export interface SquareL2Params extends TargetParams {
  /** Iterations (proposals) after the initial windows, AutoAttack's n_queries; at most queries + 1 model evaluations per sample. */
  queries: number;
  /** Initial fraction of pixels in the window; AutoAttack's default 0.8. */
  pInit: number;
  /** Rescale the 10000-iteration p schedule to `queries` (square.py resc_schedule; true in the SquareAttack class, false in AutoAttack's standard ensemble). */
  rescaleSchedule: boolean;
  /** Draw the window offsets from all side - s + 1 positions (square.py never draws the last one). */
  allOffsets: boolean;
}

const defaults: SquareL2Params = {
  queries: 1000,
  pInit: 0.8,
  rescaleSchedule: true,
  allOffsets: false,
  targeted: false,
  targetClass: undefined,
};

const schema: ParamSchema<SquareL2Params> = {
  queries: { kind: 'int', min: 1 },
  pInit: { kind: 'number', min: 0, max: 1, exclusiveMin: true },
  rescaleSchedule: { kind: 'boolean' },
  allOffsets: { kind: 'boolean' },
  targeted: { kind: 'boolean' },
  targetClass: { kind: 'int', min: 0, optional: true },
};

/** A source of uniform numbers in [0,1) (src/engine/rng.ts SampleStream, or replayed reference draws). */
export interface Uniform {
  next(): number;
}

/**
 * square.py's eta_rectangles(rows, cols) for L2: a rows x cols array (row-major, float64) that sums
 * 1 / (k + 1)^2 over nested rectangles of size (2k + 1) around the cell (rows // 2, cols // 2), cut at
 * the edges, for k = 0 .. max(rows // 2, cols // 2); normalised to unit L2 norm (empty when rows = 0).
 */
function pseudoGaussianRectangle(rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  const rowCentre = Math.floor(rows / 2) + 1;
  const colCentre = Math.floor(cols / 2) + 1;
  let top = rowCentre - 1;
  let left = colCentre - 1;
  for (let k = 0; k < Math.max(rowCentre, colCentre); k++) {
    const weight = 1 / (k + 1) ** 2;
    for (let r = Math.max(top, 0); r < Math.min(top + 2 * k + 1, rows); r++)
      for (let c = Math.max(left, 0); c < Math.min(left + 2 * k + 1, cols); c++) out[r * cols + c] += weight;
    top--;
    left--;
  }
  return normalised(out);
}

function normalised(v: Float64Array): Float64Array {
  let sq = 0;
  for (const a of v) sq += a * a;
  const norm = Math.sqrt(sq);
  if (norm > 0) for (let i = 0; i < v.length; i++) v[i] /= norm;
  return v;
}

/**
 * The pseudo-gaussian window of side s (square.py's eta(s); meta_pseudo_gaussian_pert in the authors'
 * original code, Andriushchenko et al. 2020 Sec. 3.2): an s x s array, row-major float64, whose top
 * s // 2 rows are a positive pseudo-gaussian rectangle and whose other rows a negative one, normalised to
 * unit L2 norm. `transposed` swaps rows and columns (square.py transposes when a uniform draw exceeds 0.5).
 */
export function squareL2Window(s: number, transposed = false): Float64Array {
  const half = Math.floor(s / 2);
  const upper = pseudoGaussianRectangle(half, s);
  const lower = pseudoGaussianRectangle(s - half, s);
  const out = new Float64Array(s * s);
  out.set(upper);
  for (let i = 0; i < lower.length; i++) out[upper.length + i] = -lower[i];
  normalised(out);
  if (!transposed) return out;
  const t = new Float64Array(s * s);
  for (let r = 0; r < s; r++) for (let c = 0; c < s; c++) t[c * s + r] = out[r * s + c];
  return t;
}

/**
 * Side of the L2 window for fraction p of a C x H x W image, as square.py's L2 branch:
 * max(int(round(sqrt(p * n_features / c))), 3) with n_features = c * h * w (float64, Python's round: ties
 * to even), plus one when even, then at most the smaller image side.
 */
export function squareL2Side(p: number, height: number, width: number, channels = 1): number {
  const features = channels * height * width;
  let s = Math.max(roundHalfEven(Math.sqrt((p * features) / channels)), 3);
  if (s % 2 === 0) s += 1;
  return Math.min(s, height, width);
}

/** square.py's random_choice for one value: sign(2u - 1). */
const randomSign = (u: Uniform) => Math.sign(2 * u.next() - 1);
/** square.py's eta(s): the window, transposed when its draw exceeds 0.5. */
const drawWindow = (s: number, u: Uniform) => squareL2Window(s, u.next() > 0.5);

/** x0 + eps * delta / (||delta||_2 + 1e-12), clipped to [0,1], as float32 (square.py's normalize and clamp). */
function onSphere(x0: Float32Array, delta: Float64Array, eps: number): Float32Array {
  let sq = 0;
  for (const d of delta) sq += d * d;
  const scale = eps / (Math.sqrt(sq) + 1e-12);
  const out = new Float32Array(x0.length);
  for (let i = 0; i < out.length; i++) {
    const v = x0[i] + scale * delta[i];
    out[i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
  return out;
}

/**
 * The initial point of square.py's L2 branch for one image x0 (H x W x C, NHWC row-major, [0,1]):
 * windows of side s0 = max(h // 5, 1) tiled from offset max((h - 5 s0) // 2, 0), h // s0 rows by
 * w // s0 columns of them; each draws (in this order, from `u`) its transposition and C signs, and adds
 * sign[c] * squareL2Window(s0) to channel c (the part inside the image). Returns the sum rescaled to L2
 * norm eps, added to x0 and clipped to [0,1].
 */
export function squareL2Start(x0: Float32Array, shape: readonly [number, number, number], eps: number, u: Uniform): Float32Array {
  const [height, width, channels] = shape;
  const side = Math.max(Math.floor(height / 5), 1);
  const offset = Math.max(Math.floor((height - side * 5) / 2), 0);
  const delta = new Float64Array(x0.length);
  const signs = new Float64Array(channels);
  let top = offset;
  for (let i = 0; i < Math.floor(height / side); i++, top += side) {
    let left = offset;
    for (let j = 0; j < Math.floor(width / side); j++, left += side) {
      const window = drawWindow(side, u);
      for (let c = 0; c < channels; c++) signs[c] = randomSign(u);
      for (let r = 0; r < side && top + r < height; r++)
        for (let q = 0; q < side && left + q < width; q++)
          for (let c = 0; c < channels; c++) delta[((top + r) * width + left + q) * channels + c] += window[r * side + q] * signs[c];
    }
  }
  return onSphere(x0, delta, eps);
}

/**
 * One proposal of square.py's L2 branch from the current point `best` around x0 (both H x W x C NHWC,
 * [0,1]) with windows of side `side`. Draws from `u`, in square.py's order: the offsets of W1 (top, left)
 * and W2 (top, left) as random_int(0, h - side) (or from all h - side + 1 with allOffsets), the
 * transposition of the pseudo-gaussian window, C signs. Returns the proposal (see the module comment):
 * W1 gets the new content, W2 is zeroed, the perturbation is rescaled to norm eps and x0 + delta clipped.
 */
export function squareL2Proposal(
  x0: Float32Array,
  best: Float32Array,
  shape: readonly [number, number, number],
  eps: number,
  side: number,
  u: Uniform,
  allOffsets = false,
): Float32Array {
  const [height, width, channels] = shape;
  const offset = (extent: number) => Math.floor(u.next() * (allOffsets ? extent - side + 1 : Math.max(extent - side, 1)));
  const top1 = offset(height);
  const left1 = offset(width);
  const top2 = offset(height);
  const left2 = offset(width);
  const delta = new Float64Array(x0.length);
  let imageSq = 0;
  for (let i = 0; i < delta.length; i++) {
    delta[i] = best[i] - x0[i];
    imageSq += delta[i] * delta[i];
  }
  const inside = (h: number, w: number, top: number, left: number) => h >= top && h < top + side && w >= left && w < left + side;
  // Per channel: squared norm of delta on W1, and on the union of W1 and W2.
  const w1Sq = new Float64Array(channels);
  const unionSq = new Float64Array(channels);
  for (let h = 0; h < height; h++)
    for (let w = 0; w < width; w++) {
      const in1 = inside(h, w, top1, left1);
      if (!in1 && !inside(h, w, top2, left2)) continue;
      for (let c = 0; c < channels; c++) {
        const d2 = delta[(h * width + w) * channels + c] ** 2;
        unionSq[c] += d2;
        if (in1) w1Sq[c] += d2;
      }
    }
  const window = drawWindow(side, u);
  const signs = Array.from({ length: channels }, () => randomSign(u));
  const fresh = new Float64Array(side * side * channels);
  const freshSq = new Float64Array(channels);
  for (let r = 0; r < side; r++)
    for (let q = 0; q < side; q++)
      for (let c = 0; c < channels; c++) {
        const old = delta[((top1 + r) * width + left1 + q) * channels + c] / (1e-12 + Math.sqrt(w1Sq[c]));
        const v = window[r * side + q] * signs[c] + old;
        fresh[(r * side + q) * channels + c] = v;
        freshSq[c] += v * v;
      }
  const budget = Math.max(eps * eps - imageSq, 0) / channels;
  const scale = Array.from({ length: channels }, (_, c) => Math.sqrt(budget + unionSq[c]) / (1e-12 + Math.sqrt(freshSq[c])));
  for (let r = 0; r < side; r++)
    for (let q = 0; q < side; q++)
      for (let c = 0; c < channels; c++) delta[((top2 + r) * width + left2 + q) * channels + c] = 0;
  for (let r = 0; r < side; r++)
    for (let q = 0; q < side; q++)
      for (let c = 0; c < channels; c++)
        delta[((top1 + r) * width + left1 + q) * channels + c] = fresh[(r * side + q) * channels + c] * scale[c];
  return onSphere(x0, delta, eps);
}

async function perturbSquareL2(ctx: AttackContext<SquareL2Params>): Promise<void> {
  const { x, eps, rng, goal, store, params: p } = ctx;
  const n = x.shape[0];
  const shape = [x.shape[1], x.shape[2], x.shape[3]] as const;
  const [height, width, channels] = shape;
  const size = store.rowSize;
  const clean = ctx.evaluate(x);
  let rows = indicesWhere(n, (i) => !goal.skip[i] && !clean.fooled[i]);
  if (rows.length === 0) return;

  const keyed = rng.derive('square-l2');
  const streams = new Map(rows.map((r) => [r, keyed.stream(r)]));
  const best = new Map<number, Float32Array>();
  const bestMargin = new Map<number, number>();

  const query = (candidates: Float32Array[]) => {
    const batch = new Float32Array(candidates.length * size);
    candidates.forEach((c, k) => batch.set(c, k * size));
    const t = tf.tensor4d(batch, [candidates.length, height, width, channels]);
    const score = ctx.evaluate(t, rows);
    t.dispose();
    return score;
  };

  /** Keeps improving candidates (the first always, even at margin +Infinity); fooled rows are answered and leave. */
  const accept = (candidates: Float32Array[], score: { fooled: boolean[]; margin: Float64Array }) => {
    const still: number[] = [];
    rows.forEach((r, k) => {
      if (!best.has(r) || score.fooled[k] || score.margin[k] < bestMargin.get(r)!) {
        best.set(r, candidates[k]);
        bestMargin.set(r, score.margin[k]);
      }
      if (score.fooled[k]) store.writeHost(r, candidates[k]);
      else still.push(r);
    });
    rows = still;
  };

  const starts = rows.map((r) => squareL2Start(store.row(r), shape, eps, streams.get(r)!));
  accept(starts, query(starts));
  for (let it = 0; it < p.queries && rows.length > 0; it++) {
    const side = squareL2Side(squareFraction(it, p.queries, p.pInit, p.rescaleSchedule), height, width, channels);
    const candidates = rows.map((r) => squareL2Proposal(store.row(r), best.get(r)!, shape, eps, side, streams.get(r)!, p.allOffsets));
    accept(candidates, query(candidates));
  }
  for (const r of rows) store.writeHost(r, best.get(r)!);
}

export const squareL2 = defineAttack<SquareL2Params>({
  name: 'square-l2',
  kind: 'fixed-epsilon',
  threatModel: 'l2',
  usesGradient: false,
  iterationParam: 'queries',
  // Samples stop querying once fooled: about half the query budget on average (as square).
  cost: (p) => ({ gradients: 0, forwards: 0.5 * (p.queries + 1) }),
  describe: 'Square Attack L2, Andriushchenko et al. 2020: score-based random search with pseudo-gaussian windows, 1000 queries',
  defaults,
  schema,
  perturb: perturbSquareL2,
});
