import type { Tensor1D, Tensor4D } from '../src/engine/tf.js';
import type { KeyedRng } from '../src/engine/rng.js';
import type { Classifier } from '../src/models/classifier.js';

export type ThreatModel = 'linf' | 'l2';

/**
 * fixed-epsilon: one run answers one radius; minimisation: one run finds each sample's smallest fooling
 * perturbation, answering every radius (attacks/define.ts; Foolbox 3's split of the two kinds).
 */
export type AttackKind = 'fixed-epsilon' | 'minimisation';

export interface AttackRunOptions {
  /** How gradients are taken through a feedback model (ignored by score-based attacks). */
  path: string;
  /** Which logits decide the prediction (and the loss). */
  output: string;
}

export interface AttackResult {
  /** Adversarial images, same shape as x, inside the eps ball around x and inside [0,1]. */
  xAdv: Tensor4D;
  /**
   * fooled[i]: the classifier's prediction (on options.output) of xAdv[i] differs from y[i]
   * (untargeted), or equals the target class (targeted).
   */
  fooled: boolean[];
  /**
   * nonFiniteLogits[i]: the logits of xAdv[i] hold a NaN or an infinity (reported by the run's
   * logits-finite sanity check; such a row has no prediction, src/models/decision.ts).
   */
  nonFiniteLogits?: boolean[];
}

/**
 * The answer of a minimisation attack's one run (Attack.minimise), for a batch of N images.
 */
export interface MinimisationResult {
  /**
   * Per sample, the smallest adversarial example found [N,H,W,C] in [0,1]; x's row itself where none was
   * found (distance Infinity) and where x already fools the model (distance 0).
   */
  xAdv: Tensor4D;
  /**
   * Per sample, ||xAdv - x|| in the attack's threat model ([0,1] pixel units), measured on the returned
   * float32 images exactly as attacks/norms.ts ballViolation measures them: 0 when x already fools the
   * model, Infinity when no adversarial example was found (or a skipped row). The example answers radius
   * eps iff withinBall(distance, eps) (attacks/norms.ts) and eps > 0.
   */
  distance: Float64Array;
  /** fooled[i]: xAdv[i] fools the model (one forward pass on options.output); false exactly where distance is Infinity. */
  fooled: boolean[];
  /** nonFiniteLogits[i]: the logits of xAdv[i] hold a NaN or an infinity. */
  nonFiniteLogits: boolean[];
  /** The same of the clean image x[i] (what a radius below the distance returns). */
  cleanNonFiniteLogits: boolean[];
}

/**
 * One adversarial attack, built by attacks/define.ts defineAttack. Gradient attacks ascend a loss of
 * attacks/losses.ts (for targeted attacks, labels = targets, the negated ce / margin of the target or the
 * targeted DLR, as attackLoss defines it), differentiated through the model's logitsFor by
 * attacks/gradients.ts. It sees the model only through classifier.logits and those gradients; all its
 * randomness comes from `rng` (keyed by sample index), so results
 * do not depend on batch size. `run` with eps = 0 returns x unchanged. The caller owns x, y and the
 * returned xAdv; the attack disposes everything else it creates.
 */
export interface Attack<P> {
  name: string;
  /**
   * How it answers radii (attacks/define.ts). A minimisation attack also has `minimise`; its `run(eps)` is
   * minimise followed by thresholding at eps (thresholdAt), so every caller of `run` gets the same answer
   * a sweep derived from one minimise call gives.
   */
  kind: AttackKind;
  threatModel: ThreatModel;
  /** False for score-based attacks (square, spsa): they run once, not once per gradient path. */
  usesGradient: boolean;
  /**
   * The parameter that counts the attack's iterations (gradient steps or query rounds), when it has one:
   * raising it can only strengthen the attack (the more-steps sanity probe multiplies it). Absent for
   * one-step attacks (FGSM).
   */
  iterationParam?: keyof P & string;
  /**
   * The parameters that repeat the attack per sample, each repetition a complete run of `iterationParam`
   * iterations (restarts; APGD-T's and FAB-T's target classes), when it has any. Setting them all to 1
   * leaves one run: the more-steps sanity probe (src/suite/planner.ts) raises the iterations of that one
   * run, which tests convergence in iterations without paying for every repetition again.
   */
  repeatParams?: readonly (keyof P & string)[];
  /** Whether these (parsed) params make the attack targeted: success means reaching a chosen class. */
  isTargeted(params: P): boolean;
  /**
   * Model evaluations per attacked image with these (parsed) params, the attack's declared cost: input
   * gradients (each one forward and one backward pass) and forward-only passes. The planner prices cells
   * and the sanity probes rank attacks by it; nothing selects an attack by its name. The forwards are an
   * upper bound: where the gradient path's logits are the model's predictions (Classifier.predictionPaths),
   * the per-step scores of APGD, PGD and FMN come from their gradient passes (attacks/define.ts
   * lossGradAndScore) and those forward passes are not run.
   */
  cost(params: P): AttackCost;
  /**
   * Refuses (InputError at `where`) a model these (parsed) params cannot attack, e.g. the DLR loss on a model
   * of fewer than 3 classes. Absent: every model. `run` checks it first; the planner checks it for every
   * checkpoint and every attack entry, cascade stages included, before any cell runs. `where` locates the
   * params (a config's `file: attacks[i].params`; `attack NAME params` when called directly); a field is
   * named by appending `.key`.
   */
  checkModel?(params: P, model: AttackedModel, where: string): void;
  /** One line for `bench list --attacks`. */
  describe: string;
  defaults: P;
  /** Validates a config's params object (undefined means all defaults); throws InputError. */
  parseParams(raw: unknown, where: string): P;
  run(
    classifier: Classifier,
    x: Tensor4D,
    y: Tensor1D,
    eps: number,
    rng: KeyedRng,
    options: AttackRunOptions & { params: P },
  ): Promise<AttackResult>;
  /**
   * Minimisation attacks only (kind 'minimisation'): one run finding, per sample of x (NHWC [N,H,W,C] in
   * [0,1]) with labels y (int32 [N]), the smallest perturbation in the threat model that fools the model;
   * see MinimisationResult. The caller owns x, y and the returned xAdv.
   */
  minimise?(
    classifier: Classifier,
    x: Tensor4D,
    y: Tensor1D,
    rng: KeyedRng,
    options: AttackRunOptions & { params: P },
  ): Promise<MinimisationResult>;
}

/** What Attack.checkModel looks at: the model's name (for the message) and class count. */
export interface AttackedModel {
  name: string;
  numClasses: number;
}

/** Model evaluations per attacked image (see Attack.cost). */
export interface AttackCost {
  gradients: number;
  forwards: number;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyAttack = Attack<any>;

/** Parameters shared by attacks that can be targeted. */
export interface TargetParams {
  /** Targeted attack: success means the prediction equals the target class. */
  targeted: boolean;
  /** Target class for every sample; when absent the target is (y + 1) mod classes. */
  targetClass?: number;
}
