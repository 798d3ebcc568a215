import { tf, type Tensor1D, type Tensor2D, type Tensor4D } from '../engine/tf.js';
import type { Classifier, LogitsRequest, LossAndGradOptions, OutputKind } from './classifier.js';

/**
 * A query that is not a valid image reached a model: an attack, a corruption or a probe built an
 * input outside [0,1] (or non-finite, or outside its promised eps ball). It is a bug in that code, not
 * bad user input, so the CLI reports it as an internal error (exit 3) with the message naming who asked.
 */
export class InvalidQueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidQueryError';
  }
}

/** Pixel summary of one query batch: how many values are outside [0,1] or not finite, and the range. */
export interface QueryCheck {
  /** Values that are NaN, +-Infinity, below 0 or above 1 (exactly; no tolerance). */
  invalid: number;
  /** Smallest and largest value (NaN when the batch holds a NaN). */
  min: number;
  max: number;
}

/**
 * Counts the values of `x` (any shape) that are not in the closed interval [0,1]; NaN and +-Infinity
 * count as invalid. One fused comparison and one sum on the device, one 3-number host read.
 */
export function checkPixels(x: tf.Tensor): QueryCheck {
  if (x.size === 0) return { invalid: 0, min: 0, max: 0 };
  const summary = tf.tidy(() => {
    // NaN fails both comparisons, so it is counted as outside [0,1].
    const inside = tf.logicalAnd(tf.greaterEqual(x, 0), tf.lessEqual(x, 1));
    const invalid = tf.sub(x.size, tf.sum(tf.cast(inside, 'float32')));
    return tf.stack([invalid, tf.min(x), tf.max(x)]);
  });
  const [invalid, min, max] = summary.dataSync();
  summary.dispose();
  return { invalid, min, max };
}

/** The threat model a ball check uses: L-inf (max |delta_i|) or L2 (sqrt(sum delta_i^2)) distance. */
export type BallNorm = 'linf' | 'l2';

/**
 * Float slack of the ball check, in pixel units: an attack computes its projections in float32, so
 * x +- eps itself is rounded (one float32 ulp at 1.0 is 1.2e-7) and an L2 norm of d terms carries a
 * relative error of order sqrt(d) 2^-24. A query q passes for centre x when
 *   L-inf: max_i |q_i - x_i| <= eps + 1e-6;
 *   L2:    ||q - x||_2 <= eps (1 + 1e-5) + 1e-6,
 * both computed in float64 from the float32 values. Far below any perturbation that changes a prediction.
 */
export const BALL_TOLERANCE = { absolute: 1e-6, relativeL2: 1e-5 } as const;

/**
 * Clean images whose eps balls every query must lie in. A query row passes when it lies in the ball of
 * at least one of the centres (an attack gathers, drops and repeats rows, so a query row cannot be matched
 * to its clean row by position); tests use centres farther apart than 2 eps, where that is the same as
 * the row's own ball.
 */
export interface QueryBall {
  /** Clean images [N, H, W, C] as row-major host values in [0,1]. */
  centers: Float32Array;
  eps: number;
  norm: BallNorm;
}

/** Distance of host row `q` to host row `c` (same length) under `norm`, in float64. */
function distance(q: Float32Array, c: Float32Array, norm: BallNorm): number {
  let acc = 0;
  for (let i = 0; i < q.length; i++) {
    const d = Math.abs(q[i] - c[i]);
    if (norm === 'linf') acc = d > acc ? d : acc;
    else acc += d * d;
  }
  return norm === 'linf' ? acc : Math.sqrt(acc);
}

/** True when distance `d` is inside the ball of radius `eps` up to BALL_TOLERANCE. */
export function insideBall(d: number, eps: number, norm: BallNorm): boolean {
  const limit = norm === 'linf' ? eps + BALL_TOLERANCE.absolute : eps * (1 + BALL_TOLERANCE.relativeL2) + BALL_TOLERANCE.absolute;
  return d <= limit;
}

export interface QueryGuardOptions {
  /** Who is querying, for the error message (e.g. `attack pgd in cell cnn/pgd/e2e/0.1`). */
  who: string;
  /** Also require every query row to lie in the eps ball of one of these clean images (tests). */
  ball?: QueryBall;
}

/**
 * A Classifier that checks every input passed to logits(), logitsFor() (offered only when the wrapped model
 * has it) and lossAndGrad() before handing it to the
 * wrapped model: all values finite and inside [0,1] exactly (the contract of Classifier: NHWC float32
 * images in [0,1]); with `ball`, every row inside the eps ball of one of the given clean images
 * (BALL_TOLERANCE). A violation throws InvalidQueryError naming `who`, the method, and the offending
 * range or row. Otherwise it is transparent: same name, shape, classes and outputs as the wrapped model.
 * `queries` and `queriedImages` count what passed through.
 */
export class QueryGuard implements Classifier {
  readonly name: string;
  readonly inputShape: readonly [number, number, number];
  readonly numClasses: number;
  readonly hasFeedback: boolean;
  readonly logitsFor?: (x: Tensor4D, request?: LogitsRequest) => Tensor2D;
  readonly predictionPaths?: readonly string[];
  /** Calls checked (logits + logitsFor + lossAndGrad). */
  queries = 0;
  /** Images checked (rows over all calls). */
  queriedImages = 0;

  constructor(
    private readonly inner: Classifier,
    private readonly options: QueryGuardOptions,
  ) {
    this.name = inner.name;
    this.inputShape = inner.inputShape;
    this.numClasses = inner.numClasses;
    this.hasFeedback = inner.hasFeedback;
    this.predictionPaths = inner.predictionPaths;
    if (inner.logitsFor)
      this.logitsFor = (x, request) => {
        this.check(x, 'logitsFor');
        return inner.logitsFor!(x, request);
      };
  }

  logits(x: Tensor4D, output?: string): Tensor2D {
    this.check(x, 'logits');
    return this.inner.logits(x, output);
  }

  lossAndGrad(x: Tensor4D, y: Tensor1D, options: LossAndGradOptions): { loss: Tensor1D; grad: Tensor4D } {
    this.check(x, 'lossAndGrad');
    return this.inner.lossAndGrad(x, y, options);
  }

  private check(x: Tensor4D, method: string): void {
    this.queries++;
    this.queriedImages += x.shape[0];
    const { invalid, min, max } = checkPixels(x);
    if (invalid > 0)
      throw new InvalidQueryError(
        `${this.options.who} queried ${this.name}.${method} with ${invalid} of ${x.size} pixel values outside [0,1] or not finite ` +
          `(range [${min}, ${max}]); every query must be a valid image`,
      );
    if (this.options.ball) this.checkBall(x, method, this.options.ball);
  }

  private checkBall(x: Tensor4D, method: string, ball: QueryBall): void {
    const size = x.shape[1] * x.shape[2] * x.shape[3];
    const values = x.dataSync() as Float32Array;
    const count = ball.centers.length / size;
    for (let r = 0; r < x.shape[0]; r++) {
      const q = values.subarray(r * size, (r + 1) * size);
      let nearest = Infinity;
      for (let c = 0; c < count && !insideBall(nearest, ball.eps, ball.norm); c++)
        nearest = Math.min(nearest, distance(q, ball.centers.subarray(c * size, (c + 1) * size), ball.norm));
      if (!insideBall(nearest, ball.eps, ball.norm))
        throw new InvalidQueryError(
          `${this.options.who} queried ${this.name}.${method} with row ${r} at ${ball.norm} distance ${nearest} from the nearest clean image, ` +
            `outside the eps ${ball.eps} ball`,
        );
    }
  }
}

/** Wraps `classifier` so every query is checked (see QueryGuard). */
export function guardQueries(classifier: Classifier, options: QueryGuardOptions): QueryGuard {
  return new QueryGuard(classifier, options);
}
