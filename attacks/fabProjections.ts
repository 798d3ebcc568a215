/*
 * The projection step of FAB (Croce & Hein, ICML 2020, "Minimally distorted adversarial examples with a fast
 * adaptive boundary attack", section 3.1, eq. 5-6): the smallest perturbation d, in the L-inf or L2 norm, that
 * moves a point t of the image box onto a hyperplane while staying in the box,
 *
 *   minimise ||d||_p  subject to  w . (t + d) = b  and  0 <= t + d <= 1 (componentwise),
 *
 * for one flattened image t [D] (pixels in [0,1]), normal w [D] and offset b. On the host, in float64, one row
 * at a time (the attack calls it twice per sample and step).
 *
 * Both norms have the same shape of solution. Let c = w . t - b and s = sign(c) (s = +1 when c = 0): the
 * constraint asks to lower s w . (t + d) by |c|. Coordinate i can lower it by at most |w_i| cap_i, moving to
 * the box face 0 (when s w_i > 0, cap_i = t_i) or 1 (when s w_i < 0, cap_i = 1 - t_i); the most the box allows
 * is M = sum_i |w_i| cap_i.
 * - L-inf: at radius lambda each coordinate moves min(lambda, cap_i) towards its face, lowering the value by
 *   F(lambda) = sum_i |w_i| min(lambda, cap_i), piecewise linear and increasing; the answer is the lambda with
 *   F(lambda) = |c|, found by walking the breakpoints cap_i in increasing order.
 * - L2 (KKT conditions): d_i = clip(-alpha s w_i, -t_i, 1 - t_i) for the multiplier alpha >= 0 with
 *   G(alpha) = sum_i min(alpha w_i^2, |w_i| cap_i) = |c|, walking the breakpoints cap_i / |w_i| the same way.
 * When |c| >= M the hyperplane is out of the box's reach (or touches its corner): the answer is that corner,
 * every coordinate with w_i != 0 at its face, the box point nearest the hyperplane in value; this is what
 * AutoAttack's reference (fra31/auto-attack, autoattack/fab_projections.py, projection_linf and
 * projection_l2) returns too, and the attack's step moves towards it. Coordinates with w_i = 0 (L2: |w_i| <=
 * 1e-8, the reference's threshold) do not move.
 */

/** The L2 projection treats weights of magnitude at most this as zero (AutoAttack's projection_l2 does). */
export const L2_ZERO_WEIGHT = 1e-8;

/** The normalised problem: which coordinates move, towards which face, and how far they can. */
interface Faces {
  /** Indices with a nonzero weight. */
  active: number[];
  /** Per coordinate: -1 (towards 0) or +1 (towards 1). */
  direction: Int8Array;
  /** Per coordinate: the distance to that face, cap_i. */
  cap: Float64Array;
  /** |c| = |w . t - b|. */
  gap: number;
  /** M = sum |w_i| cap_i, the most the box lets the value move. */
  reach: number;
}

function faces(t: ArrayLike<number>, w: ArrayLike<number>, b: number, isZero: (v: number) => boolean): Faces {
  const n = t.length;
  if (w.length !== n) throw new Error(`fab projection: point has ${n} values, the normal ${w.length}`);
  let c = -b;
  for (let i = 0; i < n; i++) c += w[i] * t[i];
  const s = c >= 0 ? 1 : -1;
  const direction = new Int8Array(n);
  const cap = new Float64Array(n);
  const active: number[] = [];
  let reach = 0;
  for (let i = 0; i < n; i++) {
    if (isZero(w[i])) continue;
    active.push(i);
    const down = s * w[i] > 0;
    direction[i] = down ? -1 : 1;
    cap[i] = down ? t[i] : 1 - t[i];
    reach += Math.abs(w[i]) * cap[i];
  }
  return { active, direction, cap, gap: Math.abs(c), reach };
}

/** The box corner every active coordinate at its face: the answer when the hyperplane is out of reach. */
function corner(f: Faces, out: Float64Array): Float64Array {
  out.fill(0);
  for (const i of f.active) out[i] = f.direction[i] * f.cap[i];
  return out;
}

/**
 * The smallest L-inf perturbation d [D] with w . (t + d) = b and t + d in [0,1]^D (see the file comment;
 * FAB's L-inf projection, Croce & Hein 2020). t [D] in [0,1], w [D], b a number; written into `out` (length D,
 * float64) and returned. ||d||_inf is the radius lambda solving sum_i |w_i| min(lambda, cap_i) = |w . t - b|;
 * the coordinates not yet at their face move by exactly lambda. Out of reach: the nearest box corner.
 */
export function projectHyperplaneBoxLinf(t: ArrayLike<number>, w: ArrayLike<number>, b: number, out = new Float64Array(t.length)): Float64Array {
  const f = faces(t, w, b, (v) => v === 0);
  if (f.gap >= f.reach) return corner(f, out);
  const weight = new Float64Array(t.length);
  for (const i of f.active) weight[i] = Math.abs(w[i]);
  const lambda = solveBreakpoints(weight, f.cap, f.active, f.gap);
  if (!Number.isFinite(lambda)) return corner(f, out); // float rounding at the last breakpoint
  out.fill(0);
  for (const i of f.active) out[i] = f.direction[i] * Math.min(lambda, f.cap[i]);
  return out;
}

/**
 * The smallest L2 perturbation d [D] with w . (t + d) = b and t + d in [0,1]^D (see the file comment; FAB's
 * L2 projection, Croce & Hein 2020): d_i = clip(-alpha sign(c) w_i, -t_i, 1 - t_i) with c = w . t - b and the
 * multiplier alpha >= 0 solving sum_i min(alpha w_i^2, |w_i| cap_i) = |c|. t [D] in [0,1], w [D], b a number;
 * written into `out` (length D, float64) and returned. Weights with |w_i| <= L2_ZERO_WEIGHT count as zero.
 * Out of reach: the nearest box corner.
 */
export function projectHyperplaneBoxL2(t: ArrayLike<number>, w: ArrayLike<number>, b: number, out = new Float64Array(t.length)): Float64Array {
  const f = faces(t, w, b, (v) => !(Math.abs(v) > L2_ZERO_WEIGHT));
  if (f.gap >= f.reach) return corner(f, out);
  const limit = new Float64Array(t.length); // alpha at which coordinate i reaches its face
  for (const i of f.active) limit[i] = f.cap[i] / Math.abs(w[i]);
  const weight = new Float64Array(t.length);
  for (const i of f.active) weight[i] = w[i] * w[i];
  // sum_i min(alpha w_i^2, |w_i| cap_i) = sum_i w_i^2 min(alpha, limit_i): the L-inf equation in alpha.
  const alpha = solveBreakpoints(weight, limit, f.active, f.gap);
  if (!Number.isFinite(alpha)) return corner(f, out);
  out.fill(0);
  for (const i of f.active) out[i] = alpha < limit[i] ? f.direction[i] * alpha * Math.abs(w[i]) : f.direction[i] * f.cap[i];
  return out;
}

/**
 * The lambda >= 0 with sum_i a_i min(lambda, c_i) = g over the indices `active` (a_i > 0, c_i >= 0, and
 * 0 <= g < sum_i a_i c_i), or Infinity when float rounding leaves no unsaturated coordinate. The sum is
 * piecewise linear and increasing in lambda, with breakpoints c_i; instead of sorting them (O(D log D)),
 * a quickselect-style search (expected O(D)) partitions the breakpoints around a pivot p, evaluates the sum
 * at p from the parts already classified, and keeps the side holding lambda: below p every c_i > p is
 * unsaturated, above it every c_i <= p is saturated. Pivots come from a fixed linear congruential sequence.
 */
function solveBreakpoints(a: Float64Array, c: Float64Array, active: readonly number[], g: number): number {
  const idx = Int32Array.from(active);
  let lo = 0;
  let hi = idx.length;
  let saturated = 0; // sum of a_i c_i over coordinates known to be at their face (c_i < lambda)
  let free = 0; // sum of a_i over coordinates known to move by lambda (c_i >= lambda)
  let seed = 0x9e3779b9;
  while (lo < hi) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    const pivot = c[idx[lo + (seed % (hi - lo))]];
    // Three-way partition of idx[lo, hi): [lo, lt) below the pivot, [lt, gt) equal, [gt, hi) above.
    let lt = lo;
    let gt = hi;
    let k = lo;
    let belowAC = 0;
    let equalA = 0;
    let aboveA = 0;
    while (k < gt) {
      const i = idx[k];
      if (c[i] < pivot) {
        belowAC += a[i] * c[i];
        idx[k++] = idx[lt];
        idx[lt++] = i;
      } else if (c[i] > pivot) {
        aboveA += a[i];
        idx[k] = idx[--gt];
        idx[gt] = i;
      } else {
        equalA += a[i];
        k++;
      }
    }
    const atPivot = saturated + belowAC + pivot * (free + equalA + aboveA);
    if (atPivot >= g) {
      free += equalA + aboveA; // lambda <= pivot
      hi = lt;
    } else {
      saturated += belowAC + pivot * equalA; // lambda > pivot
      lo = gt;
    }
  }
  return free > 0 ? (g - saturated) / free : Infinity;
}
