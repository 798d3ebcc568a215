import { tf, type Tensor4D } from '../src/engine/tf.js';
import type { KeyedRng } from '../src/engine/rng.js';
import { pyInt } from '../src/engine/pyNumeric.js';
import { inputError } from '../src/engine/errors.js';
import { gatherRows, indicesWhere, keepRows, retireFooled, keepWorstCase } from './common.js';
import type { AttackContext } from './define.js';
import type { AttackLossName } from './losses.js';
import { ascentStep, dampedL2Direction, l2SphereStart, linfRandomStart, project } from './norms.js';
import type { ThreatModel } from './types.js';

/*
 * The APGD iteration shared by apgd-ce, apgd-dlr and apgd-t (Croce & Hein, ICML 2020, "Reliable evaluation
 * of adversarial robustness with an ensemble of diverse parameter-free attacks", Algorithm 1; reference
 * fra31/auto-attack, autoattack/autopgd_base.py APGDAttack.attack_single_run), L-inf and L2 (the run's
 * threat model, ctx.threatModel):
 * - initial step size eta = 2 eps (both norms), first step without momentum;
 * - z = P(x_k + eta d), x_{k+1} = P(x_k + alpha (z - x_k) + (1 - alpha)(x_k - x_{k-1})), alpha = 0.75, with
 *   d = sign(g) for L-inf and d = g / (||g||_2 + 1e-12) for L2 (norms.ts dampedL2Direction), and P the
 *   projection onto the eps ball followed by the clip to [0,1] (norms.ts projectLinf, projectL2: the
 *   reference's x + (x' - x) / ||x' - x|| min(eps, ||x' - x||) then clamp, with the radius shrunk by 1e-6
 *   relative so float32 rounding stays in the ball);
 * - the random start: uniform in the L-inf box, or for L2 on the sphere of radius eps along a normalised
 *   Gaussian (norms.ts l2SphereStart), then clipped to [0,1];
 * - checkpoints after windows of int(0.22 N), then 3% of N shorter each, at least 6% of N (the reference's
 *   integer form of the paper's p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06); see apgdCheckpoints);
 * - at a checkpoint the step size is halved and the iterate restarts from the best point when
 *   (1) at most rho (w_j - w_{j-1}) of the steps since the last checkpoint increased the loss
 *   (rho = 0.75; the reference's <=, see apgdOscillates), or (2) the step size was not reduced at the
 *   last checkpoint and the best loss has not improved since.
 * Where the paper and the reference differ, this follows the reference (its numbers are what users compare
 * with), checked step by step by replaying its per-step losses (tests/attacks/apgdCore.test.ts):
 * - condition (2) is off at the first checkpoint (the reference starts with "reduced");
 * - a step counts for (1) when its loss beats the previous step's loss, also the first step after a restart
 *   from the best point (compared with the iterate left behind, the reference's loss_steps), and the very
 *   first step is compared with 0, not with the start point's loss (the reference's first window reads
 *   loss_steps[-1], the still-zero last entry): it counts for a positive loss (cross entropy) and not for a
 *   negative one (DLR before success).
 * Like AutoAttack, a sample is done once an iterate fools it (by the run's goal), and a sample never
 * fooled returns its highest-loss point when that is its worst case so far.
 */

/**
 * Iteration counts (1-based, <= steps) after which the step-size conditions are checked, as AutoAttack's
 * reference computes them (fra31/auto-attack, autoattack/autopgd_base.py, L-inf and L2; the same for
 * APGDAttack_targeted, which inherits them): the first window is n_iter_2 = max(int(0.22 * steps), 1)
 * iterations, and each later one shrinks by size_decr = max(int(0.03 * steps), 1) down to
 * n_iter_min = max(int(0.06 * steps), 1). The products are float64 and truncated as Python's int() does
 * (int(0.22 * 50) = 11, int(0.03 * 50) = 1). This is the paper's p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03,
 * 0.06) with every length truncated separately; at 100 or 1000 steps both give the same list, at 50 the
 * reference checks at 11, 21, 30, 38, 45 (the paper's ceil(p_j N): 11, 21, 29, 35, 40, 44, 47, 50).
 */
export function apgdCheckpoints(steps: number): number[] {
  const first = Math.max(pyInt(0.22 * steps), 1);
  const shortest = Math.max(pyInt(0.06 * steps), 1);
  const shrink = Math.max(pyInt(0.03 * steps), 1);
  const out: number[] = [];
  for (let window = first, at = first; at <= steps; window = Math.max(window - shrink, shortest), at += window) out.push(at);
  return out;
}

/**
 * The reference's oscillation test at a checkpoint closing a window of `span` iterations: halve when
 * successes <= span * rho, the product taken in float64 and then, as the reference compares it with a
 * float32 tensor, rounded to float32 (autopgd_base.py check_oscillation: t <= k * k3). The paper writes
 * "<"; the reference's "<=" halves when exactly rho of the steps increased the loss (12 of 16 at 0.75).
 */
export function apgdOscillates(successes: number, span: number, rho: number): boolean {
  return successes <= Math.fround(span * rho);
}

/** The schedule and loss of one APGD run. */
export interface ApgdRunOptions {
  steps: number;
  /** Momentum weight alpha of the paper (0.75). */
  momentum: number;
  /** Fraction of loss-increasing steps below which the step size is halved (0.75). */
  rho: number;
  /** Start uniformly in the eps ball (AutoAttack always does); otherwise at x. */
  randomStart: boolean;
  /** The loss ascended (attacks/losses.ts attackLoss). */
  loss: AttackLossName;
  /**
   * Per batch row, a target class for a targeted loss under the run's own goal (APGD-T: the targeted DLR
   * towards targets[r], success still judged by ctx.goal, i.e. any misclassification). Absent: the loss
   * of the goal's labels.
   */
  targets?: Int32Array;
}

/**
 * The step-size schedule of one APGD run on the host, per sample (positions follow the run's active rows):
 * the step size eta (2 eps at the start), the loss-increasing steps since the last checkpoint, the best
 * loss, and at each checkpoint (apgdCheckpoints) the halving decision of conditions (1) and (2) above. It
 * sees only losses, so it can be replayed on the reference's own per-step losses
 * (tests/attacks/apgdT.test.ts).
 */
export class ApgdSchedule {
  eta: Float32Array;
  private lossPrev: Float64Array;
  private lossBest: Float64Array;
  private lossBestAtCheck: Float64Array;
  private successes: Int32Array;
  private reducedAtCheck: boolean[];
  private nextCheck = 0;
  private lastCheckAt = 0;

  /**
   * `checkpoints` from apgdCheckpoints(steps), `rho` of condition (1), `eta0` = 2 eps, `initialLoss` per sample
   * at the start point (NaN losses are passed as -Infinity: never the best point).
   */
  constructor(
    private readonly checkpoints: readonly number[],
    private readonly rho: number,
    eta0: number,
    initialLoss: Float64Array,
  ) {
    const m = initialLoss.length;
    this.eta = new Float32Array(m).fill(eta0);
    // The reference's first comparison reads its still-zero last loss entry (see the header).
    this.lossPrev = new Float64Array(m);
    this.lossBest = Float64Array.from(initialLoss);
    this.lossBestAtCheck = Float64Array.from(initialLoss);
    this.successes = new Int32Array(m);
    // The reference starts with "reduced", so condition (2) is off at the first checkpoint.
    this.reducedAtCheck = new Array<boolean>(m).fill(true);
  }

  /**
   * After step k (0-based) reached losses `f`: which samples improved their best loss (their iterate becomes
   * the best point), and at a checkpoint which samples halve their step size and restart from the best point
   * (null between checkpoints). eta is updated in place.
   */
  step(k: number, f: Float64Array): { improved: boolean[]; halve: boolean[] | null } {
    const m = f.length;
    const improved = new Array<boolean>(m);
    for (let i = 0; i < m; i++) {
      if (f[i] > this.lossPrev[i]) this.successes[i]++;
      this.lossPrev[i] = f[i];
      improved[i] = f[i] > this.lossBest[i];
      if (improved[i]) this.lossBest[i] = f[i];
    }
    if (!(this.nextCheck < this.checkpoints.length && k + 1 === this.checkpoints[this.nextCheck])) return { improved, halve: null };
    const span = this.checkpoints[this.nextCheck] - this.lastCheckAt;
    const halve = new Array<boolean>(m);
    for (let i = 0; i < m; i++) {
      const fewSuccesses = apgdOscillates(this.successes[i], span, this.rho);
      const stalled = !this.reducedAtCheck[i] && this.lossBest[i] <= this.lossBestAtCheck[i];
      halve[i] = fewSuccesses || stalled;
      // The iterate restarts from the best point, but the next step's success is judged against the loss
      // of the iterate just left (the reference's loss_steps[i]), not the best loss: lossPrev stays.
      if (halve[i]) this.eta[i] /= 2;
      this.reducedAtCheck[i] = halve[i];
      this.lossBestAtCheck[i] = this.lossBest[i];
      this.successes[i] = 0;
    }
    this.lastCheckAt = this.checkpoints[this.nextCheck];
    this.nextCheck++;
    return { improved, halve };
  }

  /** Keeps the samples at `positions` (the others were retired), in that order. */
  keep(positions: readonly number[]): void {
    this.eta = Float32Array.from(positions, (k) => this.eta[k]);
    this.lossPrev = Float64Array.from(positions, (k) => this.lossPrev[k]);
    this.lossBest = Float64Array.from(positions, (k) => this.lossBest[k]);
    this.lossBestAtCheck = Float64Array.from(positions, (k) => this.lossBestAtCheck[k]);
    this.successes = Int32Array.from(positions, (k) => this.successes[k]);
    this.reducedAtCheck = positions.map((k) => this.reducedAtCheck[k]);
  }
}

/** APGD's start in the eps ball of `norm` around x [N,H,W,C] (AutoAttack's, see the header). */
function apgdRandomStart(norm: ThreatModel, x: Tensor4D, eps: number, rng: KeyedRng): Tensor4D {
  return norm === 'linf' ? linfRandomStart(x, eps, rng) : l2SphereStart(x, eps, rng);
}

/** The unprojected step x + eta d of the header, eta a per-row [N,1,1,1] step size. */
function apgdStep(norm: ThreatModel, x: Tensor4D, grad: Tensor4D, eta: Tensor4D): Tensor4D {
  if (norm === 'linf') return ascentStep(x, grad, eta, 'linf');
  return tf.tidy(() => tf.add(x, tf.mul(dampedL2Direction(grad), eta)) as Tensor4D);
}

function rowMask(flags: ArrayLike<boolean | number>): Tensor4D {
  return tf.tensor4d(Float32Array.from(flags as ArrayLike<number>, (f) => (f ? 1 : 0)), [flags.length, 1, 1, 1]);
}

/** What the runs of one attack call share: which batch rows are done, and each row's best margin so far. */
export interface ApgdShared {
  /** done[r]: batch row r is fooled (its example is in ctx.store) or not to be attacked. */
  done: boolean[];
  /** Per batch row, the smallest goal margin (common.ts Score.margin) of the examples stored so far. */
  bestMargin: Float64Array;
}

/**
 * The rows of the batch an APGD attack starts with: every row not skipped by the goal nor already fooled
 * by the clean image (one forward pass), and margins at +Infinity.
 */
export function apgdStart(ctx: AttackContext<unknown>): ApgdShared {
  const n = ctx.x.shape[0];
  const done = ctx.goal.skip.slice();
  const clean = ctx.evaluate(ctx.x);
  clean.fooled.forEach((f, i) => (done[i] ||= f));
  return { done, bestMargin: new Float64Array(n).fill(Infinity) };
}

/**
 * One APGD run (one restart) on the batch rows not yet done, in the ball of radius ctx.eps of the run's
 * threat model (ctx.threatModel, L-inf or L2): rows fooled by an
 * iterate are written to ctx.store with that iterate and marked done; the others end at their best-loss
 * point, stored when its goal margin is below the row's best so far (the per-sample worst case over runs).
 * `rng` is the run's own generator (e.g. derived for the restart); its draws are keyed by sample.
 */
export function apgdRun(ctx: AttackContext<unknown>, shared: ApgdShared, rng: KeyedRng, opts: ApgdRunOptions): void {
  const { x, eps, store, threatModel } = ctx;
  const { done, bestMargin } = shared;
  const n = x.shape[0];
  const checkpoints = apgdCheckpoints(opts.steps);

  let rows = indicesWhere(n, (i) => !done[i]);
  if (rows.length === 0) return;
  let xs = gatherRows(x, rows);
  let cur = opts.randomStart ? apgdRandomStart(threatModel, xs, eps, rng.select(rows)) : tf.clone(xs);

  /** Loss and gradient at `cur`, plus the fooled mask (from the gradient pass's logits where they are the predictions). */
  const probe = (): { grad: Tensor4D; f: Float64Array; fooled: boolean[] } => {
    const { loss, grad, score } = ctx.lossGradAndScore(cur, rows, opts.loss, opts.targets);
    const values = loss.dataSync();
    loss.dispose();
    // A NaN loss (NaN or overflowing logits) ranks below every other value: never the best point.
    const f = Float64Array.from(values, (v) => (Number.isNaN(v) ? -Infinity : v));
    return { grad, f, fooled: score.fooled };
  };

  let { grad, f, fooled } = probe();
  let prev = tf.clone(cur);
  let xBest = tf.clone(cur);
  let gradBest = tf.clone(grad);
  const schedule = new ApgdSchedule(checkpoints, opts.rho, 2 * eps, f);

  /** Retires fooled samples with the iterate that fooled them. */
  const retire = () => {
    const keep = retireFooled(store, cur, rows, fooled, done);
    if (!keep) return;
    rows = keep.map((k) => rows[k]);
    [xs, cur, prev, xBest, gradBest, grad] = [xs, cur, prev, xBest, gradBest, grad].map((t) => keepRows(t, keep));
    f = Float64Array.from(keep, (k) => f[k]);
    schedule.keep(keep);
  };
  retire();

  for (let k = 0; k < opts.steps && rows.length > 0; k++) {
    const eta = tf.tensor4d(schedule.eta, [rows.length, 1, 1, 1]);
    const next = tf.tidy(() => {
      const z = project(apgdStep(threatModel, cur, grad, eta), xs, eps, threatModel);
      if (k === 0) return z;
      const a = opts.momentum;
      const moved = tf.add(tf.add(cur, tf.mul(tf.sub(z, cur), a)), tf.mul(tf.sub(cur, prev), 1 - a)) as Tensor4D;
      return project(moved, xs, eps, threatModel);
    });
    eta.dispose();
    prev.dispose();
    grad.dispose();
    prev = cur;
    cur = next;
    ({ grad, f, fooled } = probe());
    retire();
    if (rows.length === 0) break;

    const { improved, halve } = schedule.step(k, f);
    if (improved.some(Boolean)) {
      const mask = rowMask(improved);
      const nb = tf.tidy(() => tf.where(tf.cast(mask, 'bool'), cur, xBest) as Tensor4D);
      const ng = tf.tidy(() => tf.where(tf.cast(mask, 'bool'), grad, gradBest) as Tensor4D);
      tf.dispose([mask, xBest, gradBest]);
      xBest = nb;
      gradBest = ng;
    }

    if (halve?.some(Boolean)) {
      const mask = rowMask(halve);
      const nc = tf.tidy(() => tf.where(tf.cast(mask, 'bool'), xBest, cur) as Tensor4D);
      const ng = tf.tidy(() => tf.where(tf.cast(mask, 'bool'), gradBest, grad) as Tensor4D);
      tf.dispose([mask, cur, grad]);
      cur = nc;
      grad = ng;
    }
  }

  // Samples never fooled in this run: their best-loss point, kept if it is the worst case so far.
  const score = ctx.evaluate(xBest, rows);
  keepWorstCase(store, xBest, rows, score, bestMargin, done);
  tf.dispose([xs, cur, prev, xBest, gradBest, grad]);
}

/**
 * Refuses a model with fewer classes than a DLR loss needs (InputError at `where`, one line naming the attack,
 * the model's class count and the attack to use instead): the DLR denominator z_pi1 - z_pi3 needs a third
 * class, the targeted one's z_pi1 - (z_pi3 + z_pi4)/2 a fourth. AutoAttack only warns here
 * (autoattack/checks.py check_n_classes) and then fails inside its sort; bench refuses up front. The
 * attacks suggested are those of the same threat model `norm` (L2: apgd-ce-l2, pgd-l2, ...).
 */
export function checkDlrClasses(
  attack: string,
  model: { name: string; numClasses: number },
  targeted: boolean,
  where: string,
  norm: ThreatModel = 'linf',
): void {
  const needed = targeted ? 4 : 3;
  if (model.numClasses >= needed) return;
  const l2 = norm === 'l2' ? '-l2' : '';
  const instead =
    model.numClasses >= 3
      ? `apgd-ce${l2}, or apgd-dlr${l2} (untargeted DLR needs 3 classes)`
      : `apgd-ce${l2} (cross entropy), or pgd${l2} with loss margin`;
  throw inputError(
    where,
    `the ${targeted ? 'targeted ' : ''}DLR loss of ${attack} needs a model of at least ${needed} classes; model ${JSON.stringify(model.name)} has ${model.numClasses}`,
    instead,
  );
}
