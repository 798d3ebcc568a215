import { beforeAll, describe, expect, it } from 'vitest';
import { tf, type Tensor1D, type Tensor2D } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { attackLoss, crossEntropy, margin } from '../../src/models/losses.js';

/**
 * Every loss an attack ascends, exact at any logit scale: values and input gradients against the
 * analytic ones on hand-made logits. At scale 1e12 every logit below is an integer multiple of 1e12,
 * exactly representable in float32 (1e12 = 2^12 * 244140625 needs 28 bits, so each is checked against
 * its own float32 rounding), and the gaps are so large that softmax is exactly one-hot in float32.
 */
const S = 1e12;
const LOGITS = [
  [3, 1, 2, -1],
  [-2, 4, 4.5, 0],
  [0.5, -3, 1, 1.5],
];
const LABELS = [0, 1, 3];

beforeAll(async () => {
  await initBackend('wasm');
});

/** Value and d(sum)/dz of `loss` at `z` [rows][classes]. */
function valueAndGrad(loss: (z: Tensor2D, y: Tensor1D) => Tensor1D, z: number[][], labels: number[]) {
  const zt = tf.tensor2d(z);
  const y = tf.tensor1d(labels, 'int32');
  const { value, grad } = tf.valueAndGrad((t: tf.Tensor) => loss(t as Tensor2D, y))(zt);
  const out = { value: Array.from(value.dataSync()), grad: Array.from(grad.dataSync()) };
  tf.dispose([zt, y, value, grad]);
  return out;
}

const f32 = (v: number) => Math.fround(v);
const scaled = (s: number) => LOGITS.map((row) => row.map((v) => f32(v * s)));

/** The analytic margin max_{j != y} z_j - z_y and its gradient onehot(j*) - onehot(y), in float64. */
function analyticMargin(z: number[][], labels: number[]) {
  const value: number[] = [];
  const grad: number[] = [];
  z.forEach((row, r) => {
    let jStar = -1;
    row.forEach((v, j) => {
      if (j !== labels[r] && (jStar < 0 || v > row[jStar])) jStar = j;
    });
    value.push(row[jStar] - row[labels[r]]);
    grad.push(...row.map((_, j) => (j === jStar ? 1 : 0) - (j === labels[r] ? 1 : 0)));
  });
  return { value, grad };
}

describe('margin (C&W) loss', () => {
  it('is exact at logit scale 1e12, value and gradient', () => {
    const z = scaled(S);
    const expected = analyticMargin(z, LABELS);
    // e.g. row 0: max(1e12, 2e12, -1e12) - 3e12 = -1e12 (hiding the label by subtracting 1e9 gave -1e9).
    expect(expected.value[0]).toBe(f32(2e12) - f32(3e12));
    expect(expected.value[0]).toBeLessThan(-0.99e12);
    const { value, grad } = valueAndGrad(margin, z, LABELS);
    expect(value).toEqual(expected.value.map(f32));
    expect(grad).toEqual(expected.grad);
  });

  it('the targeted margin is its negation, z_t - max_{j != t} z_j, with the negated gradient', () => {
    const z = scaled(S);
    const expected = analyticMargin(z, LABELS);
    const { value, grad } = valueAndGrad((t, y) => attackLoss(t, y, 'margin', true), z, LABELS);
    expect(value).toEqual(expected.value.map((v) => f32(-v)));
    expect(grad).toEqual(expected.grad.map((g) => -g + 0));
  });

  it('is exact at every scale from 1 to 1e30 (no constant hides the label)', () => {
    for (const s of [1, 1e6, 1e9, 1e10, 1e20, 1e30]) {
      const z = scaled(s);
      const { value } = valueAndGrad(margin, z, LABELS);
      expect([s, value]).toEqual([s, analyticMargin(z, LABELS).value.map(f32)]);
    }
  });

  it('stays defined on infinite logits: extended-real value, a gradient without NaN', () => {
    const z = [
      [Infinity, 1, 2, -Infinity], // label 0 infinite: margin -Infinity
      [5, -Infinity, 3, -Infinity], // label 1 at -Infinity: margin +Infinity
      [-Infinity, -Infinity, -Infinity, 7], // every other class -Infinity: margin -Infinity
    ];
    const { value, grad } = valueAndGrad(margin, z, [0, 1, 3]);
    expect(value).toEqual([-Infinity, Infinity, -Infinity]);
    expect(grad.every(Number.isFinite)).toBe(true);
    expect(grad.slice(0, 8)).toEqual([-1, 0, 1, 0, 1, -1, 0, 0]);
  });
});

describe('cross entropy', () => {
  it('is exact at logit scale 1e12: logsumexp(z) - z_y, gradient softmax(z) - onehot(y)', () => {
    const z = scaled(S);
    const { value: raw, grad } = valueAndGrad(crossEntropy, z, LABELS);
    const value = raw.map((v) => v + 0); // -0 -> 0
    // softmax is one-hot at the row maximum (every gap is >= 5e11), so logsumexp(z) = max z.
    const expectedValue = z.map((row, r) => f32(Math.max(...row) - row[LABELS[r]]));
    expect(value).toEqual(expectedValue);
    const expectedGrad = z.flatMap((row, r) => row.map((v, j) => (v === Math.max(...row) ? 1 : 0) - (j === LABELS[r] ? 1 : 0)));
    expect(grad).toEqual(expectedGrad);
  });

  it('stays defined when another class is infinite (no 0 * Infinity in picking the label)', () => {
    const { value, grad } = valueAndGrad(crossEntropy, [[1, 2, -Infinity]], [0]);
    // logsumexp(1, 2, -inf) - 1 = log(1 + e) exactly.
    expect(value[0]).toBeCloseTo(Math.log(1 + Math.E), 6);
    expect(grad.every(Number.isFinite)).toBe(true);
  });
});
