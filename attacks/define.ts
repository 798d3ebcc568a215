import type { KeyedRng } from '../src/engine/rng.js';
import type { Classifier } from '../src/models/classifier.js';
import { attackGoal, checkTargetParams, evaluate, finish, indicesWhere, labelTensor, RowStore, targetedParams, unchanged, type AttackGoal, type Score } from './common.js';
import { logitDifferenceAndGrad, logitsJacobian, lossAndGrad } from './gradients.js';
import type { AttackLossName } from './losses.js';
import { BALL_TOLERANCE, ballViolation, distances } from './norms.js';
import { parseWithSchema, type ParamSchema } from './params.js';
import { checkEps } from './threatModels.js';
import { tf, type Tensor1D, type Tensor2D, type Tensor4D, type Tensor5D } from '../src/engine/tf.js';
import type { Attack, AttackCost, AttackKind, AttackResult, AttackRunOptions, MinimisationResult, TargetParams, ThreatModel } from './types.js';

/**
 * What one run of a fixed-epsilon attack sees (attacks/define.ts defineAttack): the batch, its goal, a store
 * for its answers, and the model calls it needs, bound to the run's path, output and goal.
 */
export interface AttackContext<P> {
  /** The attacked model (the first contract: logits, and gradients through attacks/gradients.ts). */
  model: Classifier;
  /** Clean images NHWC [N,H,W,C] in [0,1]; owned by the caller (never dispose it). */
  x: Tensor4D;
  /** Radius in the attack's threat model, checked and > 0. */
  eps: number;
  /** Keyed by the batch's sample indices: every random draw comes from here. */
  rng: KeyedRng;
  params: P;
  path: string;
  output: string;
  threatModel: ThreatModel;
  /** Loss labels (targets when targeted), true labels, and the rows not to attack (goal.skip). */
  goal: AttackGoal;
  /**
   * The answer: the attack writes each row's final adversarial example here (inside the eps ball and
   * [0,1]); rows never written stay x. The template evaluates the store once afterwards.
   */
  store: RowStore;
  /**
   * Scores `images` [rows.length,H,W,C], row k being batch row rows[k], against the goal's labels (one forward
   * pass on the run's output); `rows` defaults to every batch row (images as large as x).
   */
  evaluate(images: Tensor4D, rows?: readonly number[]): Score;
  /**
   * Loss [rows.length] and input gradient of `images` (row k = batch row rows[k]) for the goal's labels,
   * through the run's path and output (attacks/gradients.ts lossAndGrad; the targeted DLR gets the true labels).
   */
  lossAndGrad(images: Tensor4D, rows: readonly number[], loss: AttackLossName): { loss: Tensor1D; grad: Tensor4D };
  /**
   * z_t - z_y [rows.length] and its input gradient [rows.length,H,W,C] (one backward pass) of `images`
   * (row k = batch row rows[k]), y the true labels and t = targets[k], through the run's path and output
   * (attacks/gradients.ts logitDifferenceAndGrad).
   */
  logitDifferenceAndGrad(images: Tensor4D, rows: readonly number[], targets: ArrayLike<number>): { difference: Tensor1D; grad: Tensor4D };
  /**
   * Logits [M,K] and their Jacobian [M,K,H,W,C] of `images` [M,H,W,C] through the run's path and output
   * (attacks/gradients.ts logitsJacobian: one pass over the batch tiled K times).
   */
  logitsJacobian(images: Tensor4D): { logits: Tensor2D; jacobian: Tensor5D };
}

/** What every attack declares, whatever its kind. */
interface AttackSpecBase<P> {
  name: string;
  threatModel: ThreatModel;
  /** False for score-based attacks (square, spsa): they run once, not once per gradient path. */
  usesGradient: boolean;
  /** See Attack.iterationParam. */
  iterationParam?: keyof P & string;
  /** See Attack.isTargeted; default: params.targeted === true (TargetParams). */
  isTargeted?(params: P): boolean;
  /** See Attack.cost: the declared model evaluations per image. */
  cost(params: P): AttackCost;
  /** One line for `bench list --attacks`. */
  describe: string;
  defaults: P;
  /** Every parameter's type and range (attacks/params.ts): unknown keys and bad values are refused by it. */
  schema: ParamSchema<P>;
  /** Checks across fields after the schema, throwing InputError at `where` (e.g. stepSize with relStepSize). */
  check?(params: P, where: string): void;
}

/**
 * A fixed-epsilon attack: one run answers one radius (the runner's sweep reuses survivors across radii).
 * `perturb` writes its adversarial examples into ctx.store; it may leave rows unwritten (they stay clean).
 */
export interface FixedEpsilonAttackSpec<P> extends AttackSpecBase<P> {
  kind: 'fixed-epsilon';
  perturb(ctx: AttackContext<P>): Promise<void> | void;
}

/**
 * A minimum-norm attack (e.g. FAB, Croce & Hein 2020; DDN): one run finds, per sample, the smallest
 * perturbation that fools it, which answers every radius at once (Attack.minimise; Attack.run at one radius
 * keeps the rows found within it).
 */
export interface MinimisationAttackSpec<P> extends AttackSpecBase<P> {
  kind: 'minimisation';
  /** Per sample: the adversarial example found and its distance in the threat model (Infinity if none). */
  minimise(ctx: Omit<AttackContext<P>, 'eps' | 'store'>): Promise<{ xAdv: Tensor4D; distance: Float64Array }>;
}

export type AttackSpec<P> = FixedEpsilonAttackSpec<P> | MinimisationAttackSpec<P>;

/**
 * Builds an attack from its spec (the twin of corruptions/define.ts defineCorruption). The template owns
 * what every attack shares:
 * - parseParams: defaults, the schema, spec.check, then the target checks of TargetParams (targetClass
 *   needs targeted: true);
 * - run: the radius check of the threat model on x's shape (attacks/threatModels.ts checkEps, InputError),
 *   the goal (targets, rows skipped because the target is the true label; targetClass beyond the model's
 *   classes is an InputError), the eps = 0 (or nothing to attack) shortcut returning a copy of x with the
 *   clean outcome, then spec.perturb, the final evaluation that sets `fooled` (never on skipped rows) and
 *   `nonFiniteLogits` from one forward pass on the returned images, and the ball check: examples outside
 *   the eps ball (float32 slack attacks/norms.ts BALL_TOLERANCE) or outside [0,1] are an internal Error
 *   naming the attack, never a result.
 * A minimisation spec gets `minimise` (spec.minimise under the untargeted or targeted goal of its params,
 * then minimisationProblem's check: an answer whose distances disagree with its images, or whose examples
 * are not misclassified, is an internal Error naming the attack) and a `run` at one eps that keeps the
 * examples found within eps and leaves the other rows clean (same shortcut, evaluation and ball check).
 * Adding an attack is one file with one defineAttack call, plus its line in attacks/registry.ts.
 */
export function defineAttack<P extends object>(spec: AttackSpec<P>): Attack<P> {
  const kind: AttackKind = spec.kind;
  /** Everything of the context but eps and the store: the batch, its goal and the bound model calls. */
  const contextOf = (model: Classifier, x: Tensor4D, rng: KeyedRng, params: P, options: AttackRunOptions, goal: AttackGoal): Omit<AttackContext<P>, 'eps' | 'store'> => {
    const labelsOf = (rows: readonly number[]) => rows.map((r) => goal.lossLabels[r]);
    const request = { path: options.path, output: options.output };
    return {
      model,
      x,
      rng,
      params,
      path: options.path,
      output: options.output,
      threatModel: spec.threatModel,
      goal,
      evaluate: (images, rows) => evaluate(model, images, rows ? labelsOf(rows) : goal.lossLabels, goal.targeted, options.output),
      lossAndGrad(images, rows, loss) {
        const labels = labelTensor(goal.lossLabels, rows);
        const trueLabels = goal.targeted && loss === 'dlr' ? labelTensor(goal.trueLabels, rows) : undefined;
        try {
          return lossAndGrad(model, images, labels, { ...request, loss, targeted: goal.targeted, trueLabels });
        } finally {
          labels.dispose();
          trueLabels?.dispose();
        }
      },
      logitDifferenceAndGrad(images, rows, targets) {
        const labels = labelTensor(goal.trueLabels, rows);
        const t = tf.tensor1d(Int32Array.from(targets), 'int32');
        try {
          return logitDifferenceAndGrad(model, images, labels, t, request);
        } finally {
          tf.dispose([labels, t]);
        }
      },
      logitsJacobian: (images) => logitsJacobian(model, images, request),
    };
  };
  const parseParams = (raw: unknown, where: string): P => {
    const p = parseWithSchema(raw, where, spec.defaults, spec.schema);
    spec.check?.(p, where);
    checkTargetParams(p as Partial<TargetParams>, where);
    return p;
  };
  const common = {
    name: spec.name,
    kind,
    threatModel: spec.threatModel,
    usesGradient: spec.usesGradient,
    ...(spec.iterationParam !== undefined ? { iterationParam: spec.iterationParam } : {}),
    isTargeted: spec.isTargeted ?? ((p: P) => targetedParams(p as Partial<TargetParams>)),
    cost: spec.cost,
    describe: spec.describe,
    defaults: spec.defaults,
    parseParams,
  };
  /** The ball check every answer passes: outside the eps ball or [0,1] is an internal Error naming the attack. */
  const checked = (result: AttackResult, x: Tensor4D, eps: number): AttackResult => {
    const violation = ballViolation(result.xAdv, x, eps, spec.threatModel);
    if (violation) {
      result.xAdv.dispose();
      throw new Error(`attack ${spec.name} left the ${spec.threatModel} ball: ${violation}`);
    }
    return result;
  };

  if (spec.kind === 'minimisation') {
    const { minimise } = spec;
    const minimiseChecked = async (
      model: Classifier,
      x: Tensor4D,
      y: Tensor1D,
      rng: KeyedRng,
      options: AttackRunOptions & { params: P },
    ): Promise<MinimisationResult> => {
      const goal = attackGoal(model, y, options.params as Partial<TargetParams>);
      const found = await minimise(contextOf(model, x, rng, options.params, options, goal));
      const problem = minimisationProblem(found, x, spec.threatModel, (images) => evaluate(model, images, goal.lossLabels, goal.targeted, options.output).fooled);
      if (problem) {
        found.xAdv.dispose();
        throw new Error(`attack ${spec.name}: ${problem}`);
      }
      return found;
    };
    return {
      ...common,
      minimise: minimiseChecked,
      async run(model, x, y, eps, rng, options): Promise<AttackResult> {
        checkEps(eps, spec.threatModel, x);
        const goal = attackGoal(model, y, options.params as Partial<TargetParams>);
        if (eps === 0 || goal.skip.every(Boolean)) return unchanged(model, x, goal, options.output);
        const found = await minimiseChecked(model, x, y, rng, options);
        // One radius from the minimal distances: rows found within eps take their example, the rest stay x.
        const store = new RowStore(x);
        const within = indicesWhere(x.shape[0], (i) => found.distance[i] <= eps);
        store.write(within, found.xAdv, within);
        found.xAdv.dispose();
        return checked(finish(model, store, goal, options.output), x, eps);
      },
    };
  }

  const { perturb } = spec;
  return {
    ...common,
    async run(
      model: Classifier,
      x: Tensor4D,
      y: Tensor1D,
      eps: number,
      rng: KeyedRng,
      options: AttackRunOptions & { params: P },
    ): Promise<AttackResult> {
      const params = options.params;
      checkEps(eps, spec.threatModel, x);
      const goal = attackGoal(model, y, params as Partial<TargetParams>);
      if (eps === 0 || goal.skip.every(Boolean)) return unchanged(model, x, goal, options.output);
      const store = new RowStore(x);
      await perturb({ ...contextOf(model, x, rng, params, options, goal), eps, store });
      return checked(finish(model, store, goal, options.output), x, eps);
    },
  };
}

/**
 * Why a minimisation answer is not what it claims, or null: distances are one per row, never NaN or
 * negative; a finite distance equals the measured ||xAdv - x|| (float32 slack BALL_TOLERANCE) and its row
 * is fooled (one forward pass, `fooledOf`); a row with distance Infinity is x unchanged.
 */
export function minimisationProblem(
  found: MinimisationResult,
  x: Tensor4D,
  norm: ThreatModel,
  fooledOf: (images: Tensor4D) => boolean[],
): string | null {
  const n = x.shape[0];
  if (found.distance.length !== n || found.xAdv.shape.join() !== x.shape.join())
    return `returned ${found.distance.length} distances and images of shape [${found.xAdv.shape}] for a batch of shape [${x.shape}]`;
  if (n === 0) return null;
  const measured = distances(found.xAdv, x, norm);
  const fooled = fooledOf(found.xAdv);
  for (let i = 0; i < n; i++) {
    const d = found.distance[i];
    if (Number.isNaN(d) || d < 0) return `row ${i}: distance ${d}`;
    if (d === Infinity) {
      if (measured[i] !== 0) return `row ${i}: no adversarial found (distance Infinity) but the image moved by ${measured[i]}`;
      continue;
    }
    if (Math.abs(measured[i] - d) > BALL_TOLERANCE * (1 + d)) return `row ${i}: reported distance ${d}, measured ${measured[i]}`;
    if (!fooled[i]) return `row ${i}: reported adversarial at distance ${d} is not misclassified`;
  }
  return null;
}
