import { tf, type Tensor4D } from '../src/engine/tf.js';
import type { SampleStream } from '../src/engine/rng.js';
import { gatherRows, indicesWhere, keepRows, labelTensor, marginTensor, retireFooled } from './common.js';
import { defineAttack, type AttackContext } from './define.js';
import { projectLinf } from './norms.js';
import type { ParamSchema } from './params.js';
import type { TargetParams } from './types.js';

/**
 * SPSA (Uesato, O'Donoghue, van den Oord & Kohli, ICML 2018, "Adversarial risk and the dangers of
 * evaluating against weak attacks"), as in the CleverHans reference: the margin loss is minimised with
 * a gradient estimate from `samples` Rademacher (+-1) directions v, each evaluated at x + delta v and
 * x - delta v:  g = mean_v (f(x + delta v) - f(x - delta v)) / (2 delta) * v.
 * The update is Adam (lr 0.01, betas 0.9/0.999, eps 1e-8) or a signed step, the perturbation is
 * projected to the L-inf ball and [0,1] after each step, and the start is uniform in the ball.
 * Paper/reference settings: delta = 0.01, lr = 0.01, 128 samples per step, 100+ steps; our default is
 * 20 steps for the benchmark's budget. Note our pixels are in [0,1] (the reference CNN-F used [-1,1]).
 * One deliberate difference from the reference: its probes x +- delta v are not clipped, so they leave
 * [0,1] at saturated pixels and the eps ball at its boundary; ours are projected onto both (the model
 * only ever sees valid images of the threat model), which makes the difference one-sided in the
 * coordinates at a bound (the difference is still divided by 2 delta). Near no bound the probes and
 * the estimate are the reference's.
 */
export interface SpsaParams extends TargetParams {
  steps: number;
  /** Rademacher directions per step (each costs two forward passes). */
  samples: number;
  /** Finite-difference half-width. */
  delta: number;
  learningRate: number;
  update: 'adam' | 'sign';
  randomStart: boolean;
  earlyStop: boolean;
  /**
   * Images per forward pass while estimating gradients (a memory knob). Results are identical while
   * 2 * samples <= evalBatch; below that a row's directions are summed in parts (float rounding only).
   */
  evalBatch: number;
}

const defaults: SpsaParams = {
  steps: 20,
  samples: 128,
  delta: 0.01,
  learningRate: 0.01,
  update: 'adam',
  randomStart: true,
  earlyStop: true,
  evalBatch: 512,
  targeted: false,
  targetClass: undefined,
};

const schema: ParamSchema<SpsaParams> = {
  steps: { kind: 'int', min: 1 },
  samples: { kind: 'int', min: 1 },
  delta: { kind: 'number', min: 0, exclusiveMin: true },
  learningRate: { kind: 'number', min: 0, exclusiveMin: true },
  update: { kind: 'enum', values: ['adam', 'sign'] },
  randomStart: { kind: 'boolean' },
  earlyStop: { kind: 'boolean' },
  evalBatch: { kind: 'int', min: 2 },
  targeted: { kind: 'boolean' },
  targetClass: { kind: 'int', min: 0, optional: true },
};

const ADAM = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };

/**
 * Bound on each finite-difference slope. Margins may be infinite (src/models/decision.ts): a direction
 * with +Infinity - +Infinity carries no information and counts 0, an infinite slope keeps its sign at
 * this bound. With |slope| <= 1e18 the estimate g is <= 1e18 in magnitude and Adam's second moment
 * g^2 <= 1e36 stays below float32's maximum 3.4e38, so the update is never Infinity / Infinity = NaN.
 * Ordinary slopes (margin changes of order 1 over 2 delta = 0.02) are nowhere near it.
 */
const SLOPE_BOUND = 1e18;

/** Fills `out` with +-1, 32 signs per 32-bit draw of the sample's stream. */
function rademacher(stream: SampleStream, out: Float32Array, offset: number, count: number): void {
  let bits = 0;
  for (let j = 0; j < count; j++) {
    if ((j & 31) === 0) bits = Math.floor(stream.next() * 4294967296) >>> 0;
    out[offset + j] = (bits >>> (j & 31)) & 1 ? 1 : -1;
  }
}

/** Keeps x + pert inside the L-inf ball and [0,1]; returns the new perturbation. */
function projectPerturbation(pert: Tensor4D, xs: Tensor4D, eps: number): Tensor4D {
  return tf.tidy(() => tf.sub(tf.clipByValue(tf.add(xs, tf.clipByValue(pert, -eps, eps)), 0, 1), xs) as Tensor4D);
}

/**
 * The image xs + pert, projected once more onto the L-inf ball and [0,1]: pert was projected against xs,
 * but float32 rounding of (xs + pert) could still land one ulp outside the box.
 */
function iterate(xs: Tensor4D, pert: Tensor4D, eps: number): Tensor4D {
  return tf.tidy(() => projectLinf(tf.add(xs, pert) as Tensor4D, xs, eps));
}

async function perturbSpsa(ctx: AttackContext<SpsaParams>): Promise<void> {
  const { model: classifier, x, eps, rng, goal, store, params: p } = ctx;
  const n = x.shape[0];
  const [, height, width, channels] = x.shape;
  const size = height * width * channels;
  const done = goal.skip.slice();
  if (p.earlyStop) {
    const clean = ctx.evaluate(x);
    clean.fooled.forEach((f, i) => (done[i] ||= f));
  }
  let rows = indicesWhere(n, (i) => !done[i]);
  if (rows.length === 0) return;

  const directionsRng = rng.derive('spsa-directions');
  const streams = new Map<number, SampleStream>(rows.map((r) => [r, directionsRng.stream(r)]));
  let xs = gatherRows(x, rows);
  const startValues = p.randomStart ? rng.derive('spsa-start').select(rows).uniform(size, -eps, eps) : null;
  let pert = tf.tidy(() =>
    startValues ? projectPerturbation(tf.tensor4d(startValues, xs.shape), xs, eps) : (tf.zerosLike(xs) as Tensor4D),
  );
  let m = tf.zerosLike(xs);
  let v = tf.zerosLike(xs);

  const k = p.samples;
  // Work is split by rows when a row's 2k images fit in evalBatch, else by direction groups.
  const rowsPerChunk = Math.max(1, Math.floor(p.evalBatch / (2 * k)));
  const dirsPerChunk = rowsPerChunk > 1 || 2 * k <= p.evalBatch ? k : Math.max(1, Math.floor(p.evalBatch / 2));

  /** SPSA gradient estimate of the margin at xs + pert, [rows, H, W, C]. */
  const estimate = (cur: Tensor4D): Tensor4D => {
    const parts: tf.Tensor[] = [];
    for (let r0 = 0; r0 < rows.length; r0 += rowsPerChunk) {
      const chunkRows = rows.slice(r0, r0 + rowsPerChunk);
      const rc = chunkRows.length;
      let acc: tf.Tensor | null = null;
      for (let k0 = 0; k0 < k; k0 += dirsPerChunk) {
        const kc = Math.min(dirsPerChunk, k - k0);
        const dirs = new Float32Array(rc * kc * size);
        chunkRows.forEach((r, i) => {
          const s = streams.get(r)!;
          for (let j = 0; j < kc; j++) rademacher(s, dirs, (i * kc + j) * size, size);
        });
        const partial = tf.tidy(() => {
          const V = tf.tensor3d(dirs, [rc, kc, size]);
          const base = tf.reshape(tf.slice(cur, [r0, 0, 0, 0], [rc, height, width, channels]), [rc, 1, size]);
          const clean = tf.reshape(tf.slice(xs, [r0, 0, 0, 0], [rc, height, width, channels]), [rc, 1, size]);
          // Every probe is a valid image of the threat model: inside [0,1] and the eps ball (see the docstring).
          const lower = tf.maximum(tf.sub(clean, eps), 0);
          const upper = tf.minimum(tf.add(clean, eps), 1);
          const probe = (t: tf.Tensor) => tf.reshape(tf.minimum(tf.maximum(t, lower), upper), [rc * kc, height, width, channels]);
          const plus = probe(tf.add(base, tf.mul(V, p.delta)));
          const minus = probe(tf.sub(base, tf.mul(V, p.delta)));
          const labels = labelTensor(
            goal.lossLabels,
            chunkRows.flatMap((row) => new Array<number>(kc).fill(row)),
          );
          const fPlus = marginTensor(classifier.logits(plus as Tensor4D, ctx.output), labels, goal.targeted);
          const fMinus = marginTensor(classifier.logits(minus as Tensor4D, ctx.output), labels, goal.targeted);
          const raw = tf.div(tf.sub(fPlus, fMinus), 2 * p.delta);
          const slope = tf.reshape(tf.clipByValue(tf.where(tf.isNaN(raw), tf.zerosLike(raw), raw), -SLOPE_BOUND, SLOPE_BOUND), [rc, 1, kc]);
          return tf.reshape(tf.matMul(slope, V), [rc, size]);
        });
        if (acc === null) acc = partial;
        else {
          const sum: tf.Tensor = tf.add(acc, partial);
          tf.dispose([acc, partial]);
          acc = sum;
        }
      }
      parts.push(acc!);
    }
    const g = tf.tidy(() => tf.reshape(tf.div(tf.concat(parts, 0), k), [rows.length, height, width, channels]) as Tensor4D);
    tf.dispose(parts);
    return g;
  };

  for (let t = 1; t <= p.steps && rows.length > 0; t++) {
    let cur = iterate(xs, pert, eps);
    if (p.earlyStop) {
      const score = ctx.evaluate(cur, rows);
      const keep = retireFooled(store, cur, rows, score.fooled, done);
      if (keep) {
        rows = keep.map((i) => rows[i]);
        [xs, pert, m, v, cur] = [xs, pert, m, v, cur].map((tensor) => keepRows(tensor, keep));
        if (rows.length === 0) {
          cur.dispose();
          break;
        }
      }
    }
    const g = estimate(cur);
    cur.dispose();
    const next = tf.tidy(() => {
      let step: tf.Tensor;
      let m2 = m;
      let v2 = v;
      if (p.update === 'adam') {
        m2 = tf.add(tf.mul(m, ADAM.beta1), tf.mul(g, 1 - ADAM.beta1)) as Tensor4D;
        v2 = tf.add(tf.mul(v, ADAM.beta2), tf.mul(tf.square(g), 1 - ADAM.beta2)) as Tensor4D;
        const mHat = tf.div(m2, 1 - ADAM.beta1 ** t);
        const vHat = tf.div(v2, 1 - ADAM.beta2 ** t);
        step = tf.div(mHat, tf.add(tf.sqrt(vHat), ADAM.epsilon));
      } else {
        step = tf.sign(g);
      }
      // Minimise the margin: move against the estimated gradient.
      const moved = tf.sub(pert, tf.mul(step, p.learningRate)) as Tensor4D;
      return { pert: projectPerturbation(moved, xs, eps), m: m2, v: v2 };
    });
    g.dispose();
    if (next.m !== m) m.dispose();
    if (next.v !== v) v.dispose();
    pert.dispose();
    ({ pert, m, v } = next);
  }

  if (rows.length > 0) {
    const final = iterate(xs, pert, eps);
    store.write(rows, final);
    final.dispose();
  }
  tf.dispose([xs, pert, m, v]);
}

export const spsa = defineAttack<SpsaParams>({
  name: 'spsa',
  kind: 'fixed-epsilon',
  threatModel: 'linf',
  usesGradient: false,
  iterationParam: 'steps',
  // Each step evaluates `samples` directions at +delta and -delta.
  cost: (p) => ({ gradients: 0, forwards: p.steps * p.samples * 2 }),
  describe: 'SPSA, Uesato et al. 2018: gradient-free Adam on the margin, 128 Rademacher directions x 20 steps',
  defaults,
  schema,
  perturb: perturbSpsa,
});
