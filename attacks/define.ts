import type { Tensor1D, Tensor4D } from '../src/engine/tf.js';
import type { KeyedRng } from '../src/engine/rng.js';
import type { Classifier } from '../src/models/classifier.js';
import { attackGoal, checkTargetParams, evaluate, finish, labelTensor, RowStore, targetedParams, unchanged, type AttackGoal, type Score } from './common.js';
import { eotLossAndGrad } from './gradients.js';
import type { AttackLossName } from './losses.js';
import { ballViolation } from './norms.js';
import { parseWithSchema, type FieldSpec, type ParamSchema } from './params.js';
import { checkEps } from './threatModels.js';
import type { Attack, AttackCost, AttackKind, AttackResult, AttackRunOptions, TargetParams, ThreatModel } from './types.js';

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
}

/**
 * The parameter every gradient attack gets from the template (defineAttack): `eot: n` averages the loss and
 * the input gradient over n forward and backward passes (Expectation over Transformation, Athalye et al.
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
 * perturbation that fools it, which answers every radius at once. A typed slot for the next step
 * (design.md "Seams v2"): the runner has no sweep for it yet, so defineAttack refuses it.
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
 * Adding an attack is one file with one defineAttack call, plus its line in attacks/registry.ts.
 */
export function defineAttack<P extends object>(spec: AttackSpec<P>): Attack<P> {
  if (spec.kind !== 'fixed-epsilon') throw new Error(`attack ${spec.name}: kind ${spec.kind} has no runner yet (only fixed-epsilon)`);
  const { perturb } = spec;
  const kind: AttackKind = spec.kind;
  // Gradient attacks take `eot` (Expectation over Transformation) from the template, not from their own schema.
  const schema = (spec.usesGradient ? { ...spec.schema, eot: EOT_FIELD } : spec.schema) as ParamSchema<P>;
  const eotOf = (p: P) => (spec.usesGradient ? ((p as Partial<EotParams>).eot ?? 1) : 1);
  return {
    name: spec.name,
    kind,
    threatModel: spec.threatModel,
    usesGradient: spec.usesGradient,
    ...(spec.iterationParam !== undefined ? { iterationParam: spec.iterationParam } : {}),
    isTargeted: spec.isTargeted ?? ((p: P) => targetedParams(p as Partial<TargetParams>)),
    // EOT: every input gradient is n forward and backward passes.
    cost: (p: P) => {
      const c = spec.cost(p);
      return { gradients: c.gradients * eotOf(p), forwards: c.forwards };
    },
    describe: spec.describe,
    defaults: spec.defaults,
    parseParams(raw: unknown, where: string): P {
      const p = parseWithSchema(raw, where, spec.defaults, schema);
      spec.check?.(p, where);
      checkTargetParams(p as Partial<TargetParams>, where);
      return p;
    },
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
      const labelsOf = (rows: readonly number[]) => rows.map((r) => goal.lossLabels[r]);
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
        evaluate: (images, rows) => evaluate(model, images, rows ? labelsOf(rows) : goal.lossLabels, goal.targeted, options.output),
        lossAndGrad(images, rows, loss) {
          const labels = labelTensor(goal.lossLabels, rows);
          const trueLabels = goal.targeted && loss === 'dlr' ? labelTensor(goal.trueLabels, rows) : undefined;
          try {
            const request = { path: options.path, output: options.output, loss, targeted: goal.targeted, trueLabels };
            return eotLossAndGrad(model, images, labels, request, eotOf(params));
          } finally {
            labels.dispose();
            trueLabels?.dispose();
          }
        },
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
