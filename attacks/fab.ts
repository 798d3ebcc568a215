import { tf } from '../src/engine/tf.js';
import { indicesWhere, rankClasses, scoreLogits } from './common.js';
import { defineAttack, type MinimisationContext } from './define.js';
import { projectHyperplaneBoxL2, projectHyperplaneBoxLinf } from './fabProjections.js';
import type { ParamSchema } from './params.js';
import type { ThreatModel } from './types.js';

/**
 * FAB, the Fast Adaptive Boundary attack (Croce & Hein, ICML 2020, "Minimally distorted adversarial examples
 * with a fast adaptive boundary attack", Algorithm 1), in its targeted form FAB-T as AutoAttack's standard
 * ensemble runs it (fra31/auto-attack, autoattack/fab_base.py attack_single_run and perturb), L-inf and L2.
 * A minimisation attack: per sample, the smallest perturbation found that makes the model misclassify it.
 *
 * For each target rank k = 2 .. targets + 1 (the class with the k-th largest clean logit, AutoAttack's
 * `la_target`) and each restart, starting at x1 = x0 (restart 0) or at a random point at distance
 * restartRadius / 2 (later restarts), every step:
 * - linearises the boundary between the true class y and the target t at x1: the hyperplane
 *   f(x1) + g . (z - x1) = 0 with f = z_t - z_y and g its input gradient (one backward pass,
 *   attacks/gradients.ts logitDifferenceAndGrad; with the template's `eot: n`, f and g are the means over n
 *   passes, for a randomised model);
 * - projects both x1 and the clean x0 onto that hyperplane within the box [0,1]: d1, d2
 *   (attacks/fabProjections.ts);
 * - moves to x1 = clip((x1 + eta d1)(1 - alpha) + (x0 + eta d2) alpha, 0, 1) with the adaptive weight
 *   alpha = min(max(|d1| / (|d1| + |d2|), 0), alphaMax) (norms floored at 1e-8);
 * - if x1 is misclassified (any class but y, as the reference checks), keeps it when it is the closest
 *   adversarial example found so far, and steps back towards x0: x1 = x0 + beta (x1 - x0).
 * Every step runs for every sample (the search goes on after the first success, to shrink the distance).
 * The smallest distance over every target and restart is the answer; at any radius eps a sample counts as
 * broken iff that distance is <= eps, which is AutoAttack's FAB-T outcome at eps with one restart (its runs
 * per target are deterministic and independent, and it stops trying targets on a sample once one succeeded
 * within eps). Samples misclassified clean have distance 0; samples never broken, Infinity.
 * The untargeted FAB (`targets: 0` internally, not registered) linearises instead, each step, the boundary
 * to the class with the smallest linearised distance |z_j - z_y| / ||g_j - g_y||_dual (the full Jacobian,
 * attacks/gradients.ts logitsJacobian, averaged over the `eot` passes like f and g).
 * AutoAttack's FAB has no EOT (its rand version runs only APGD-CE and APGD-DLR with eot_iter 20); here every
 * gradient attack takes `eot`, FAB included. The misclassification checks stay one forward pass each.
 */
export interface FabParams {
  /** Iterations per target and restart (AutoAttack: n_iter 100). */
  steps: number;
  /** Runs per target; the first starts at the clean image, later ones at random points (n_restarts 1). */
  restarts: number;
  /** Target classes tried, by rank of the clean logit (n_target_classes 9); at most classes - 1 are used. */
  targets: number;
  /** Upper bound of the step's weight on the clean image's projection (alpha_max 0.1). */
  alphaMax: number;
  /** Overshoot of the projection step (eta 1.05). */
  eta: number;
  /** Backward step towards the clean image after a success (beta 0.9). */
  beta: number;
  /**
   * Random restarts start at distance restartRadius / 2 from the clean image, in the threat model's norm
   * (AutoAttack passes its eps; its FAB default without one is 0.3 for L-inf and 1 for L2). Unused with
   * restarts: 1.
   */
  restartRadius: number;
}

const defaultsFor = (norm: ThreatModel): FabParams => ({
  steps: 100,
  restarts: 1,
  targets: 9,
  alphaMax: 0.1,
  eta: 1.05,
  beta: 0.9,
  restartRadius: norm === 'linf' ? 0.3 : 1,
});

const schema: ParamSchema<FabParams> = {
  steps: { kind: 'int', min: 1 },
  restarts: { kind: 'int', min: 1 },
  targets: { kind: 'int', min: 1 },
  alphaMax: { kind: 'number', min: 0, max: 1 },
  eta: { kind: 'number', min: 1 },
  beta: { kind: 'number', min: 0, max: 1, exclusiveMin: true },
  restartRadius: { kind: 'number', min: 0, exclusiveMin: true },
};

/** Below this, a norm in FAB's step weight counts as this (the reference's 1e-8 floor). */
const NORM_FLOOR = 1e-8;

function norm(values: ArrayLike<number>, p: ThreatModel): number {
  let acc = 0;
  if (p === 'linf') for (let i = 0; i < values.length; i++) acc = Math.max(acc, Math.abs(values[i]));
  else {
    for (let i = 0; i < values.length; i++) acc += values[i] * values[i];
    acc = Math.sqrt(acc);
  }
  return acc;
}

/** ||a - b|| over float32 rows, in float64. */
function distanceOf(a: Float32Array, b: Float32Array, p: ThreatModel): number {
  let acc = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    acc = p === 'linf' ? Math.max(acc, Math.abs(d)) : acc + d * d;
  }
  return p === 'linf' ? acc : Math.sqrt(acc);
}

/** Host state of one FAB run over `rows` (positions k = 0..m-1). */
interface Run {
  rows: number[];
  /** Clean images and the iterate, [m*D] each. */
  x0: Float32Array;
  x1: Float32Array;
  /** Target class per position, or null (untargeted: chosen each step). */
  targets: number[] | null;
}

/** The hyperplane of each position at the iterate: normal g [m*D] (float32) and value f [m] of z_t - z_y. */
function hyperplanes(ctx: MinimisationContext<FabParams>, run: Run, size: number): { g: Float32Array; f: Float32Array } {
  const m = run.rows.length;
  const xt = tf.tensor4d(run.x1, [m, ...(ctx.x.shape.slice(1) as [number, number, number])]);
  try {
    if (run.targets) {
      const { difference, grad } = ctx.logitDifferenceAndGrad(xt, run.rows, run.targets);
      const out = { g: grad.dataSync() as Float32Array, f: difference.dataSync() as Float32Array };
      tf.dispose([difference, grad]);
      return out;
    }
    const { logits, jacobian } = ctx.logitsJacobian(xt);
    const z = logits.dataSync() as Float32Array;
    const J = jacobian.dataSync() as Float32Array;
    tf.dispose([logits, jacobian]);
    const classes = logits.shape[1];
    const g = new Float32Array(m * size);
    const f = new Float32Array(m);
    for (let k = 0; k < m; k++) {
      const y = ctx.goal.trueLabels[run.rows[k]];
      const rowJ = (j: number) => J.subarray((k * classes + j) * size, (k * classes + j + 1) * size);
      let best = Infinity;
      let bestJ = -1;
      const gy = rowJ(y);
      for (let j = 0; j < classes; j++) {
        if (j === y) continue;
        const gj = rowJ(j);
        let dual = 0; // ||g_j - g_y||_1 (L-inf) or _2 (L2)
        for (let i = 0; i < size; i++) {
          const v = gj[i] - gy[i];
          dual += ctx.threatModel === 'linf' ? Math.abs(v) : v * v;
        }
        if (ctx.threatModel === 'l2') dual = Math.sqrt(dual);
        const dist = Math.abs(z[k * classes + j] - z[k * classes + y]) / (1e-12 + dual);
        if (dist < best || bestJ < 0) [best, bestJ] = [dist, j];
      }
      const gj = rowJ(bestJ);
      for (let i = 0; i < size; i++) g[k * size + i] = gj[i] - gy[i];
      f[k] = z[k * classes + bestJ] - z[k * classes + y];
    }
    return { g, f };
  } finally {
    xt.dispose();
  }
}

/** One FAB run (a target rank and a restart) over run.rows, improving `distance` and `best` in place. */
function fabRun(ctx: MinimisationContext<FabParams>, run: Run, size: number, distance: Float64Array, best: Float32Array): void {
  const p = ctx.params;
  const threat = ctx.threatModel;
  const project = threat === 'linf' ? projectHyperplaneBoxLinf : projectHyperplaneBoxL2;
  const m = run.rows.length;
  const w = new Float64Array(size);
  const d1 = new Float64Array(size);
  const d2 = new Float64Array(size);
  const shape = [m, ...(ctx.x.shape.slice(1) as [number, number, number])] as [number, number, number, number];
  for (let step = 0; step < p.steps; step++) {
    const { g, f } = hyperplanes(ctx, run, size);
    for (let k = 0; k < m; k++) {
      const x1 = run.x1.subarray(k * size, (k + 1) * size);
      const x0 = run.x0.subarray(k * size, (k + 1) * size);
      // The linearised boundary g . z = g . x1 - f; a non-finite gradient or value (overflowing logits)
      // gives no hyperplane: both projections are then 0.
      let b = -f[k];
      let finite = Number.isFinite(b);
      for (let i = 0; i < size && finite; i++) {
        w[i] = g[k * size + i];
        finite = Number.isFinite(w[i]);
        b += w[i] * x1[i];
      }
      if (!finite || !Number.isFinite(b)) {
        d1.fill(0);
        d2.fill(0);
      } else {
        project(x1, w, b, d1);
        project(x0, w, b, d2);
      }
      const a1 = Math.max(norm(d1, threat), NORM_FLOOR);
      const a2 = Math.max(norm(d2, threat), NORM_FLOOR);
      const alpha = Math.min(Math.max(a1 / (a1 + a2), 0), p.alphaMax);
      for (let i = 0; i < size; i++) {
        const v = (x1[i] + p.eta * d1[i]) * (1 - alpha) + (x0[i] + p.eta * d2[i]) * alpha;
        x1[i] = Math.min(Math.max(v, 0), 1);
      }
    }
    const xt = tf.tensor4d(run.x1, shape);
    const { fooled } = ctx.evaluate(xt, run.rows);
    xt.dispose();
    for (let k = 0; k < m; k++) {
      if (!fooled[k]) continue;
      const row = run.rows[k];
      const x1 = run.x1.subarray(k * size, (k + 1) * size);
      const x0 = run.x0.subarray(k * size, (k + 1) * size);
      const dist = distanceOf(x1, x0, threat);
      if (dist < distance[row]) {
        distance[row] = dist;
        best.set(x1, row * size);
      }
      for (let i = 0; i < size; i++) x1[i] = x0[i] + (x1[i] - x0[i]) * p.beta;
    }
  }
}

/** A start at distance radius / 2 from x0 in the threat model's norm, clipped to [0,1] (the reference's). */
function randomStart(ctx: MinimisationContext<FabParams>, run: Run, size: number, key: string): void {
  const rng = ctx.rng.derive(key).select(run.rows);
  const noise = ctx.threatModel === 'linf' ? rng.uniform(size, -1, 1) : rng.normal(size);
  const half = ctx.params.restartRadius / 2;
  for (let k = 0; k < run.rows.length; k++) {
    const t = noise.subarray(k * size, (k + 1) * size);
    const scale = half / Math.max(norm(t, ctx.threatModel), 1e-12);
    for (let i = 0; i < size; i++) run.x1[k * size + i] = Math.min(Math.max(run.x0[k * size + i] + scale * t[i], 0), 1);
  }
}

/** FAB over the batch: targeted (FAB-T) with params.targets > 0 ranks, untargeted with `untargeted`. */
async function minimiseFab(ctx: MinimisationContext<FabParams>, untargeted: boolean): Promise<{ xAdv: tf.Tensor4D; distance: Float64Array }> {
  const { x, goal, model } = ctx;
  const n = x.shape[0];
  const size = x.shape[1] * x.shape[2] * x.shape[3];
  const classes = model.numClasses;
  const clean = Float32Array.from(x.dataSync() as Float32Array);
  const best = Float32Array.from(clean);
  const distance = new Float64Array(n).fill(Infinity);

  const logitsT = model.logits(x, ctx.output);
  const logits = logitsT.dataSync() as Float32Array;
  logitsT.dispose();
  const score = scoreLogits(logits, classes, goal.trueLabels, false);
  score.fooled.forEach((f, i) => f && (distance[i] = 0));
  const rows = indicesWhere(n, (i) => !score.fooled[i]);
  if (rows.length > 0) {
    const ranks = rankClasses(logits, classes);
    const x0 = new Float32Array(rows.length * size);
    rows.forEach((r, k) => x0.set(clean.subarray(r * size, (r + 1) * size), k * size));
    const targetRanks = untargeted ? [0] : Array.from({ length: Math.min(ctx.params.targets, classes - 1) }, (_, i) => i + 2);
    for (const rank of targetRanks)
      for (let restart = 0; restart < ctx.params.restarts; restart++) {
        const run: Run = { rows, x0, x1: Float32Array.from(x0), targets: untargeted ? null : rows.map((r) => ranks[r][rank - 1]) };
        if (restart > 0) randomStart(ctx, run, size, untargeted ? `restart${restart}` : `target${rank}/restart${restart}`);
        fabRun(ctx, run, size, distance, best);
      }
  }
  return { xAdv: tf.tensor4d(best, x.shape as [number, number, number, number]), distance };
}

const DESCRIBE = 'FAB-T, Croce & Hein 2020 (as in AutoAttack): minimum-norm boundary attack towards the 9 runner-up classes, 100 steps each';

function fabT(norm: ThreatModel) {
  return defineAttack<FabParams>({
    name: norm === 'linf' ? 'fab-t' : 'fab-t-l2',
    kind: 'minimisation',
    threatModel: norm,
    usesGradient: true,
    iterationParam: 'steps',
    repeatParams: ['targets', 'restarts'],
    // Success is misclassification; the targets only steer the linearisation.
    isTargeted: () => false,
    // Per target rank, restart and step: one input gradient (z_t - z_y) and one forward pass (the
    // misclassification check), plus the clean forward pass.
    cost: (p) => ({ gradients: p.targets * p.restarts * p.steps, forwards: p.targets * p.restarts * p.steps + 1 }),
    describe: norm === 'linf' ? DESCRIBE : DESCRIBE.replace('FAB-T', 'FAB-T L2'),
    defaults: defaultsFor(norm),
    schema,
    minimise: (ctx) => minimiseFab(ctx, false),
  });
}

/** FAB-T under L-inf: `fab-t`. */
export const fabTLinf = fabT('linf');
/** FAB-T under L2: `fab-t-l2`. */
export const fabTL2 = fabT('l2');

/** The untargeted FAB step loop (full Jacobian each step), for callers outside the registry. */
export const minimiseFabUntargeted = (ctx: MinimisationContext<FabParams>) => minimiseFab(ctx, true);
