import { tf, type Tensor1D, type Tensor2D, type Tensor4D } from '../../src/engine/tf.js';
import type { Classifier, LossAndGradOptions, OutputKind } from '../../src/models/classifier.js';

/**
 * A stub classifier whose logits, losses and gradients hold NaN and infinities, for testing that attacks
 * and metrics finish with defined results. 4x4x1 images, 4 classes. Each image's behaviour is chosen by
 * its first pixel, in quarters, so it does not change inside an eps ball of radius < 0.125 around the
 * quarter's centre (KIND_PIXEL):
 *   kind 0 'label-inf': logits [+Inf, -Inf, 3 + sum(x), -Inf]: class 0 wins by an infinite margin at every x;
 *            loss NaN, gradient +-Infinity (alternating signs);
 *   kind 1 'nan':       logits [NaN, 1, 2, 3]: no prediction; loss NaN, gradient NaN;
 *   kind 2 'tie-inf':   logits [+Inf, 0, +Inf, 0]: classes 0 and 2 tie at +Infinity, no prediction;
 *            loss NaN, gradient NaN and +-Infinity mixed;
 *   kind 3 'finite':    finite linear logits z = x W; the gradient of the margin (onehot(j*) - onehot(y)) W^T,
 *            but with one component (pixel 5) set to +Infinity.
 * With `{ logitsFor: true }` it also offers the same logits as differentiable tf ops (Classifier.logitsFor,
 * which attacks/gradients.ts then prefers), for attacks whose loss lossAndGrad does not write out (DLR):
 * the kinds' constant rows are constants, kind 0's third logit 3 + sum(x) and kind 3's x W carry the
 * gradient, which autodiff takes through the attack's loss (NaN where the loss is NaN; kind 3's gradient
 * is then finite).
 */
export const KIND_PIXEL = [0.125, 0.375, 0.625, 0.875];
export const STUB_SHAPE: [number, number, number] = [4, 4, 1];
const D = 16;
const C = 4;

const weight = (i: number, j: number) => Math.sin(7 * i + 3 * j + 1);

function kindOf(row: Float32Array | number[]): number {
  return Math.min(3, Math.max(0, Math.floor(row[0] * 4)));
}

/** Host logits [classes] of one image. */
export function stubLogits(row: ArrayLike<number>): number[] {
  const kind = kindOf(Array.from(row));
  let sum = 0;
  for (let i = 0; i < D; i++) sum += row[i];
  if (kind === 0) return [Infinity, -Infinity, 3 + sum, -Infinity];
  if (kind === 1) return [NaN, 1, 2, 3];
  if (kind === 2) return [Infinity, 0, Infinity, 0];
  return Array.from({ length: C }, (_, j) => {
    let z = 0;
    for (let i = 0; i < D; i++) z += row[i] * weight(i, j);
    return z;
  });
}

/** stubLogits as differentiable tf ops on a batch [N,4,4,1]: each row's kind read from its first pixel. */
function differentiableLogits(x: Tensor4D): Tensor2D {
  const n = x.shape[0];
  const v = x.dataSync() as Float32Array;
  const kinds = Array.from({ length: n }, (_, r) => kindOf(Array.from(v.subarray(r * D, (r + 1) * D))));
  const constant = kinds.flatMap((k) => (k === 0 ? [Infinity, -Infinity, 0, -Infinity] : k === 1 ? [NaN, 1, 2, 3] : k === 2 ? [Infinity, 0, Infinity, 0] : [0, 0, 0, 0]));
  const W = Array.from({ length: D * C }, (_, t) => weight(Math.floor(t / C), t % C));
  const flat = tf.reshape(x, [n, D]);
  const linear = tf.matMul(flat, tf.tensor2d(W, [D, C]));
  const third = tf.tile(tf.add(tf.sum(flat, 1, true), 3), [1, C]);
  const isLinear = tf.tensor2d(kinds.flatMap((k) => new Array<boolean>(C).fill(k === 3)), [n, C], 'bool');
  const isThird = tf.tensor2d(kinds.flatMap((k) => [false, false, k === 0, false]), [n, C], 'bool');
  return tf.where(isLinear, linear, tf.where(isThird, third, tf.tensor2d(constant, [n, C]))) as Tensor2D;
}

export function nonFiniteClassifier(options: { logitsFor?: boolean } = {}): Classifier & { calls: { logits: number; lossAndGrad: number } } {
  const calls = { logits: 0, lossAndGrad: 0 };
  const rowsOf = (x: Tensor4D) => {
    const v = x.dataSync() as Float32Array;
    return Array.from({ length: x.shape[0] }, (_, r) => v.subarray(r * D, (r + 1) * D));
  };
  return {
    name: 'non-finite-stub',
    inputShape: STUB_SHAPE,
    numClasses: C,
    hasFeedback: false,
    calls,
    logits(x: Tensor4D, _output?: OutputKind): Tensor2D {
      calls.logits++;
      return tf.tensor2d(rowsOf(x).flatMap(stubLogits), [x.shape[0], C]);
    },
    ...(options.logitsFor ? { logitsFor: differentiableLogits } : {}),
    lossAndGrad(x: Tensor4D, y: Tensor1D, options: LossAndGradOptions) {
      calls.lossAndGrad++;
      const labels = y.dataSync();
      const loss: number[] = [];
      const grad: number[] = [];
      rowsOf(x).forEach((row, r) => {
        const kind = kindOf(row);
        if (kind === 0) {
          loss.push(NaN);
          for (let i = 0; i < D; i++) grad.push(i % 2 === 0 ? Infinity : -Infinity);
        } else if (kind === 1) {
          loss.push(NaN);
          for (let i = 0; i < D; i++) grad.push(NaN);
        } else if (kind === 2) {
          loss.push(NaN);
          for (let i = 0; i < D; i++) grad.push(i % 3 === 0 ? NaN : i % 3 === 1 ? Infinity : -Infinity);
        } else {
          const z = stubLogits(row);
          const label = labels[r];
          let jStar = -1;
          for (let j = 0; j < C; j++) if (j !== label && (jStar < 0 || z[j] > z[jStar])) jStar = j;
          const sign = options.targeted ? -1 : 1;
          loss.push(sign * (z[jStar] - z[label]));
          for (let i = 0; i < D; i++) grad.push(i === 5 ? Infinity : sign * (weight(i, jStar) - weight(i, label)));
        }
      });
      return { loss: tf.tensor1d(loss), grad: tf.tensor4d(grad, x.shape as [number, number, number, number]) };
    },
  };
}

/**
 * The same stub offering differentiable logits (logitsFor, for attacks that take per-class gradients, FAB):
 * the forward pass is stubLogits; the input gradient of logit j is, per kind, +-Infinity (label-inf), NaN
 * (nan), NaN and +-Infinity mixed (tie-inf), or W_j with pixel 5 set to +Infinity (finite), the patterns of
 * its lossAndGrad.
 */
export function differentiableNonFiniteClassifier(): Classifier & Required<Pick<Classifier, 'logitsFor'>> {
  const base = nonFiniteClassifier();
  const gradientOf = (kind: number, i: number, j: number): number =>
    kind === 0
      ? i % 2 === 0
        ? Infinity
        : -Infinity
      : kind === 1
        ? NaN
        : kind === 2
          ? i % 3 === 0
            ? NaN
            : i % 3 === 1
              ? Infinity
              : -Infinity
          : i === 5
            ? Infinity
            : weight(i, j);
  const logitsFor = tf.customGrad((x: tf.Tensor, save: tf.GradSaveFunc) => {
    save([x]);
    const xs = x.dataSync() as Float32Array;
    const n = x.shape[0];
    const value = tf.tensor2d(
      Array.from({ length: n }, (_, r) => stubLogits(xs.subarray(r * D, (r + 1) * D))).flat(),
      [n, C],
    );
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const rows = saved[0].dataSync() as Float32Array;
        const dys = dy.dataSync();
        const dx = new Float32Array(n * D);
        for (let r = 0; r < n; r++) {
          const kind = kindOf(Array.from(rows.subarray(r * D, (r + 1) * D)));
          for (let i = 0; i < D; i++) {
            let acc = 0;
            for (let j = 0; j < C; j++) if (dys[r * C + j] !== 0) acc += dys[r * C + j] * gradientOf(kind, i, j);
            dx[r * D + i] = acc;
          }
        }
        return tf.tensor(dx, saved[0].shape);
      },
    };
  }) as (x: Tensor4D) => Tensor2D;
  return { ...base, logits: base.logits, lossAndGrad: base.lossAndGrad, logitsFor: (x: Tensor4D) => logitsFor(x) };
}
