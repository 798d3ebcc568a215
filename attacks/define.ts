import { tf, type Tensor1D, type Tensor2D, type Tensor4D, type Tensor5D } from '../src/engine/tf.js';
import type { KeyedRng } from '../src/engine/rng.js';
import type { Classifier } from '../src/models/classifier.js';
import { attackGoal, checkTargetParams, evaluate, finish, labelTensor, RowStore, scoreLogits, targetedParams, unchanged, type AttackGoal, type Score } from './common.js';
import { eotLossAndGrad, eotMean, logitDifferenceAndGrad, logitsJacobian, logitsLossAndGrad, pathGivesPredictions } from './gradients.js';
import type { AttackLossName } from './losses.js';
import { ballViolation, distances, withinBall } from './norms.js';
import { parseWithSchema, type FieldSpec, type ParamSchema } from './params.js';
import { checkEps } from './threatModels.js';
import type { Attack, AttackedModel, AttackCost, AttackKind, AttackResult, AttackRunOptions, MinimisationResult, TargetParams, ThreatModel } from './types.js';

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
   * `targets` (indexed by batch row) asks for the targeted loss towards targets[r] whatever the goal (APGD-T
   * ascends the targeted DLR while its goal stays untargeted); the goal decides success either way. With
   * `eot: n`, both are the mean of n passes (attacks/gradients.ts eotLossAndGrad).
   */
  lossAndGrad(
    images: Tensor4D,
    rows: readonly number[],
    loss: AttackLossName,
    targets?: ArrayLike<number>,
  ): { loss: Tensor1D; grad: Tensor4D };
  /**
   * z_t - z_y [rows.length] and its input gradient [rows.length,H,W,C] (one backward pass) of `images`
   * (row k = batch row rows[k]), y the true labels and t = targets[k], through the run's path and output
   * (attacks/gradients.ts logitDifferenceAndGrad); with `eot: n`, both are the mean of n passes (eotMean).
   */
  logitDifferenceAndGrad(images: Tensor4D, rows: readonly number[], targets: ArrayLike<number>): { difference: Tensor1D; grad: Tensor4D };
  /**
   * lossAndGrad and the Score of the same images (what evaluate(images, rows) returns) together. When the
   * run's path is one of the model's predictionPaths and eot is 1, the score is read from the gradient
   * pass's own logits (as AutoAttack's attacks read theirs), which saves the forward pass evaluate would
   * take; otherwise evaluate runs. Either way the score equals evaluate's.
   */
  lossGradAndScore(
    images: Tensor4D,
    rows: readonly number[],
    loss: AttackLossName,
    targets?: ArrayLike<number>,
  ): { loss: Tensor1D; grad: Tensor4D; score: Score };
  /**
   * Logits [M,K] and their Jacobian [M,K,H,W,C] of `images` [M,H,W,C] through the run's path and output
   * (attacks/gradients.ts logitsJacobian: one pass over the batch tiled K times); with `eot: n`, both are
   * the mean of n such passes (eotMean).
   */
  logitsJacobian(images: Tensor4D): { logits: Tensor2D; jacobian: Tensor5D };
}

/**
 * The parameter every gradient attack gets from the template (defineAttack): `eot: n` averages every
 * gradient the attack takes over n forward and backward passes: the loss and its input gradient
 * (lossAndGrad), the logit difference z_t - z_y and its gradient (logitDifferenceAndGrad, FAB-T), the logits
 * and their Jacobian (logitsJacobian, untargeted FAB) (Expectation over Transformation, Athalye et al.
 * 2018, "Obfuscated Gradients Give a False Sense of Security", Sec. 4.3; AutoAttack's `eot_iter`), the
 * gradient to use against a randomised model. Absent = 1 (one pass; recorded params stay as they were).
 */
export interface EotParams {
  eot?: number;
}

const EOT_FIELD: FieldSpec = { kind: 'int', min: 1, max: 1000, optional: true };

/** What every attack declares, whatever its kind. */
interface AttackSpecBase<P> {
  name: string;
  threatModel: ThreatModel;
  /** False for score-based attacks (square, spsa): they run once, not once per gradient path. */
  usesGradient: boolean;
  /** See Attack.iterationParam. */
  iterationParam?: keyof P & string;
  /** See Attack.repeatParams. */
  repeatParams?: readonly (keyof P & string)[];
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
  /** See Attack.checkModel: refuses a model these params cannot attack (e.g. DLR on 2 classes). */
  checkModel?(params: P, model: AttackedModel, where: string): void;
}

/**
 * A fixed-epsilon attack: one run answers one radius (the runner's sweep reuses survivors across radii).
 * `perturb` writes its adversarial examples into ctx.store; it may leave rows unwritten (they stay clean).
 */
export interface FixedEpsilonAttackSpec<P> extends AttackSpecBase<P> {
  kind: 'fixed-epsilon';
  perturb(ctx: AttackContext<P>): Promise<void> | void;
}

/** What one run of a minimisation attack sees: the fixed-epsilon context without a radius or a store. */
export type MinimisationContext<P> = Omit<AttackContext<P>, 'eps' | 'store'>;

/**
 * A minimum-norm attack (FMN, Pintor et al. 2021; FAB, Croce & Hein 2020): one run finds, per sample, the
 * smallest perturbation that fools it, which answers every radius at once (Foolbox 3's MinimizationAttack).
 * The runner calls it once per (checkpoint, gradient path) and derives every epsilon cell of the sweep from
 * the distances (src/suite/minimisation.ts).
 */
export interface MinimisationAttackSpec<P> extends AttackSpecBase<P> {
  kind: 'minimisation';
  /**
   * Per sample: the adversarial example found [N,H,W,C] in [0,1] (any row where none was found; the template
   * resets it to x) and its distance in the threat model (Infinity if none). The template re-measures every
   * distance on the returned images and keeps the measured one; a claimed distance below the measured one
   * (beyond BALL_TOLERANCE) is an internal Error naming the attack.
   */
  minimise(ctx: MinimisationContext<P>): Promise<{ xAdv: Tensor4D; distance: Float64Array }>;
}

export type AttackSpec<P> = FixedEpsilonAttackSpec<P> | MinimisationAttackSpec<P>;

/**
 * Builds an attack from its spec (the twin of corruptions/define.ts defineCorruption). The template owns
 * what every attack shares:
 * - parseParams: defaults, the schema, spec.check, then the target checks of TargetParams (targetClass
 *   needs targeted: true);
 * - run: the radius check of the threat model on x's shape (attacks/threatModels.ts checkEps, InputError),
 *   spec.checkModel (InputError, before any shortcut, so eps = 0 is refused alike), the goal (targets, rows skipped because the target is the true label; targetClass beyond the model's
 *   classes is an InputError), the eps = 0 (or nothing to attack) shortcut returning a copy of x with the
 *   clean outcome, then spec.perturb, the final evaluation that sets `fooled` (never on skipped rows) and
 *   `nonFiniteLogits` from one forward pass on the returned images, and the ball check: examples outside
 *   the eps ball (float32 slack attacks/norms.ts BALL_TOLERANCE) or outside [0,1] are an internal Error
 *   naming the attack, never a result.
 * For a minimisation spec the template also owns (see minimiseWith): the goal, one clean pass (a row the
 * clean image already fools gets distance 0 and x itself), spec.minimise on the other rows, one forward pass
 * on the returned images that decides fooled (a row it does not fool gets x back and distance Infinity),
 * the distances measured on those images (attacks/norms.ts distances, the ball check's own measure) and the
 * [0,1] check. Its `run(eps)` is that one minimisation thresholded at eps (thresholdAt).
 * Adding an attack is one file with one defineAttack call, plus its line in attacks/registry.ts.
 */
export function defineAttack<P extends object>(spec: AttackSpec<P>): Attack<P> {
  const kind: AttackKind = spec.kind;
  // Gradient attacks take `eot` (Expectation over Transformation) from the template, not from their own schema.
  const schema = (spec.usesGradient ? { ...spec.schema, eot: EOT_FIELD } : spec.schema) as ParamSchema<P>;
  const eotOf = (p: P) => (spec.usesGradient ? ((p as Partial<EotParams>).eot ?? 1) : 1);
  const common = {
    name: spec.name,
    kind,
    threatModel: spec.threatModel,
    usesGradient: spec.usesGradient,
    ...(spec.iterationParam !== undefined ? { iterationParam: spec.iterationParam } : {}),
    ...(spec.repeatParams !== undefined ? { repeatParams: spec.repeatParams } : {}),
    isTargeted: spec.isTargeted ?? ((p: P) => targetedParams(p as Partial<TargetParams>)),
    // EOT: every input gradient is n forward and backward passes.
    cost: (p: P) => {
      const c = spec.cost(p);
      return { gradients: c.gradients * eotOf(p), forwards: c.forwards };
    },
    ...(spec.checkModel ? { checkModel: spec.checkModel } : {}),
    describe: spec.describe,
    defaults: spec.defaults,
    parseParams(raw: unknown, where: string): P {
      const p = parseWithSchema(raw, where, spec.defaults, schema);
      spec.check?.(p, where);
      checkTargetParams(p as Partial<TargetParams>, where);
      return p;
    },
  };
  if (spec.kind === 'minimisation') {
    const minimise = (model: Classifier, x: Tensor4D, y: Tensor1D, rng: KeyedRng, options: AttackRunOptions & { params: P }) =>
      minimiseWith(spec, model, x, y, rng, options);
    return {
      ...common,
      minimise,
      async run(model, x, y, eps, rng, options) {
        checkEps(eps, spec.threatModel, x);
        const goal = attackGoal(model, y, options.params as Partial<TargetParams>);
        if (eps === 0 || goal.skip.every(Boolean)) return unchanged(model, x, goal, options.output);
        const found = await minimise(model, x, y, rng, options);
        try {
          return thresholdAt(found, x, eps);
        } finally {
          found.xAdv.dispose();
        }
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
      spec.checkModel?.(params, model, `attack ${spec.name} params`);
      const goal = attackGoal(model, y, params as Partial<TargetParams>);
      if (eps === 0 || goal.skip.every(Boolean)) return unchanged(model, x, goal, options.output);
      const store = new RowStore(x);
      await perturb({
        model,
        x,
        eps,
        rng,
        params,
        path: options.path,
        output: options.output,
        threatModel: spec.threatModel,
        goal,
        store,
        ...modelCalls(model, goal, options, eotOf(params)),
      });
      const result = finish(model, store, goal, options.output);
      const violation = ballViolation(result.xAdv, x, eps, spec.threatModel);
      if (violation) {
        result.xAdv.dispose();
        throw new Error(`attack ${spec.name} left the ${spec.threatModel} ball: ${violation}`);
      }
      return result;
    },
  };
}

/** Bound model calls of one run on a batch (shared by both kinds): the model-calling methods of AttackContext. */
type ModelCalls = Pick<
  AttackContext<unknown>,
  'evaluate' | 'lossAndGrad' | 'logitDifferenceAndGrad' | 'logitsJacobian' | 'lossGradAndScore'
>;

function modelCalls(model: Classifier, goal: AttackGoal, options: AttackRunOptions, eot: number): ModelCalls {
  const labelsOf = (rows: readonly number[]) => rows.map((r) => goal.lossLabels[r]);
  const gradient = { path: options.path, output: options.output };
  // One pass gives both the gradient and the score only when its logits are the predictions and no mean is taken.
  const sharedPass = eot === 1 && pathGivesPredictions(model, options.path);
  const scoreOf = (logits: Tensor2D, rows: readonly number[]): Score => {
    const values = logits.dataSync();
    logits.dispose();
    return scoreLogits(values, model.numClasses, labelsOf(rows), goal.targeted);
  };
  /** Labels of a loss gradient: targets[r] when given (APGD-T), else the goal's; and the true labels a targeted DLR needs. */
  const gradientLabels = (rows: readonly number[], loss: AttackLossName, targets?: ArrayLike<number>) => {
    const targeted = targets !== undefined || goal.targeted;
    const labels = targets !== undefined ? tf.tensor1d(Int32Array.from(rows, (r) => targets[r]), 'int32') : labelTensor(goal.lossLabels, rows);
    const trueLabels = targeted && loss === 'dlr' ? labelTensor(goal.trueLabels, rows) : undefined;
    return { labels, trueLabels, options: { ...gradient, loss, targeted, trueLabels } };
  };
  const calls: ModelCalls = {
    evaluate: (images, rows) => evaluate(model, images, rows ? labelsOf(rows) : goal.lossLabels, goal.targeted, options.output),
    lossAndGrad(images, rows, loss, targets) {
      const { labels, trueLabels, options: o } = gradientLabels(rows, loss, targets);
      try {
        return eotLossAndGrad(model, images, labels, o, eot);
      } finally {
        tf.dispose([labels, ...(trueLabels ? [trueLabels] : [])]);
      }
    },
    logitDifferenceAndGrad(images, rows, targets) {
      const labels = labelTensor(goal.trueLabels, rows);
      const t = tf.tensor1d(Int32Array.from(targets), 'int32');
      try {
        return eotMean(eot, () => logitDifferenceAndGrad(model, images, labels, t, gradient));
      } finally {
        tf.dispose([labels, t]);
      }
    },
    logitsJacobian: (images) => eotMean(eot, () => logitsJacobian(model, images, gradient)),
    lossGradAndScore(images, rows, loss, targets) {
      if (!sharedPass) return { ...calls.lossAndGrad(images, rows, loss, targets), score: calls.evaluate(images, rows) };
      const { labels, trueLabels, options: o } = gradientLabels(rows, loss, targets);
      try {
        const { loss: value, grad, logits } = logitsLossAndGrad(model as Required<Pick<Classifier, 'logitsFor'>>, images, labels, o);
        return { loss: value, grad, score: scoreOf(logits, rows) };
      } finally {
        tf.dispose([labels, ...(trueLabels ? [trueLabels] : [])]);
      }
    },
  };
  return calls;
}

/**
 * One minimisation run on a batch (the template of a minimisation spec; see defineAttack): x NHWC [N,H,W,C]
 * in [0,1], y int32 [N]. Returns the examples and distances of MinimisationResult.
 * Throws an Error naming the attack when an example leaves [0,1] or its measured distance exceeds the one the
 * attack claimed (beyond BALL_TOLERANCE).
 */
async function minimiseWith<P>(
  spec: MinimisationAttackSpec<P>,
  model: Classifier,
  x: Tensor4D,
  y: Tensor1D,
  rng: KeyedRng,
  options: AttackRunOptions & { params: P },
): Promise<MinimisationResult> {
  spec.checkModel?.(options.params, model, `attack ${spec.name} params`);
  const n = x.shape[0];
  const goal = attackGoal(model, y, options.params as Partial<TargetParams>);
  const eot = spec.usesGradient ? ((options.params as Partial<EotParams>).eot ?? 1) : 1;
  const calls = modelCalls(model, goal, options, eot);
  const clean = calls.evaluate(x);
  // Rows the clean image already fools need no perturbation (distance 0); skipped rows are never fooled.
  const cleanFooled = clean.fooled.map((f, i) => f && !goal.skip[i]);
  const toAttack: AttackGoal = { ...goal, skip: goal.skip.map((s, i) => s || cleanFooled[i]) };
  let claimed: Float64Array | null = null;
  let found = tf.clone(x);
  if (!toAttack.skip.every(Boolean)) {
    found.dispose();
    const out = await spec.minimise({
      model,
      x,
      rng,
      params: options.params,
      path: options.path,
      output: options.output,
      threatModel: spec.threatModel,
      goal: toAttack,
      ...modelCalls(model, toAttack, options, eot),
    });
    found = out.xAdv;
    claimed = out.distance;
    if (found.shape.some((d, i) => d !== x.shape[i])) {
      found.dispose();
      throw new Error(`attack ${spec.name} returned examples of shape [${found.shape}] for images of shape [${x.shape}]`);
    }
  }
  const score = calls.evaluate(found);
  const fooled = score.fooled.map((f, i) => f && !toAttack.skip[i]);
  // Rows not fooled (and rows fooled clean) are x itself: one tf.where on a per-row mask.
  const xAdv = pickRows(fooled, found, x);
  found.dispose();
  const [lo, hi] = tf.tidy(() => [tf.min(xAdv), tf.max(xAdv)]).map((t) => {
    const v = n === 0 ? 0 : t.dataSync()[0];
    t.dispose();
    return v;
  });
  if (n > 0 && (lo < 0 || hi > 1)) {
    xAdv.dispose();
    throw new Error(`attack ${spec.name} returned pixels outside [0,1]: [${lo}, ${hi}]`);
  }
  const measured = distances(xAdv, x, spec.threatModel);
  const distance = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (cleanFooled[i]) distance[i] = 0;
    else if (!fooled[i]) distance[i] = Infinity;
    else {
      distance[i] = measured[i];
      const c = claimed?.[i] ?? Infinity;
      if (Number.isFinite(c) && !withinBall(measured[i], c)) {
        xAdv.dispose();
        throw new Error(`attack ${spec.name} claimed distance ${c} for row ${i}, measured ${measured[i]}`);
      }
    }
  }
  return {
    xAdv,
    distance,
    fooled: fooled.map((f, i) => f || cleanFooled[i]),
    nonFiniteLogits: score.nonFinite.map((b, i) => (cleanFooled[i] ? clean.nonFinite[i] : b)),
    cleanNonFiniteLogits: clean.nonFinite,
  };
}

/** Row i of `a` where take[i], else row i of `b` (both [N,H,W,C]); a new tensor. */
function pickRows(take: readonly boolean[], a: Tensor4D, b: Tensor4D): Tensor4D {
  return tf.tidy(() => {
    const mask = tf.cast(tf.reshape(tf.tensor1d(take.map((t) => (t ? 1 : 0)), 'int32'), [take.length, 1, 1, 1]), 'bool');
    return tf.where(tf.broadcastTo(mask, b.shape), a, b) as Tensor4D;
  });
}

/**
 * Whether a minimisation attack's example at `distance` answers radius eps: eps > 0 and withinBall(distance,
 * eps) (attacks/norms.ts; eps = 0 is the clean evaluation, as every attack's eps = 0 shortcut). The one rule
 * by which both a minimisation attack's run(eps) and the runner's derived sweep (src/suite/minimisation.ts)
 * decide a sample.
 */
export function answersRadius(distance: number, eps: number): boolean {
  return eps > 0 && withinBall(distance, eps);
}

/**
 * A minimisation result read at radius eps: per row, the example found when answersRadius(distance, eps),
 * else x (NHWC [N,H,W,C]); fooled and nonFiniteLogits to match. A new xAdv; `found` and x stay the caller's.
 */
export function thresholdAt(found: MinimisationResult, x: Tensor4D, eps: number): AttackResult {
  const take = Array.from(found.distance, (d) => answersRadius(d, eps));
  const xAdv = pickRows(take, found.xAdv, x);
  return {
    xAdv,
    fooled: take.map((t, i) => t && found.fooled[i]),
    nonFiniteLogits: take.map((t, i) => (t ? found.nonFiniteLogits[i] : found.cleanNonFiniteLogits[i])),
  };
}
