import { beforeAll, describe, expect, it } from 'vitest';
import { tf, type Tensor1D, type Tensor2D } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { attackLoss, crossEntropy, dlr, margin, targetedDlr } from '../../attacks/losses.js';

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

/** z's class indices sorted by value, largest first (ties: lowest index first, as our picks). */
const order = (row: number[]) => row.map((_, j) => j).sort((a, b) => row[b] - row[a] || a - b);

/**
 * Difference of Logits Ratio and its gradient in float64, from the formula (Croce & Hein 2020, eq. 6-7):
 * untargeted -(z_y - max_{j!=y} z_j) / (z_pi1 - z_pi3 + 1e-12), targeted -(z_y - z_t) / (z_pi1 -
 * (z_pi3 + z_pi4) / 2 + 1e-12); gradient by the quotient rule (N' D - N D') / D^2.
 */
function analyticDlr(z: number[][], labels: number[], targets?: number[]) {
  const value: number[] = [];
  const grad: number[] = [];
  z.forEach((row, r) => {
    const pi = order(row);
    const y = labels[r];
    const e = (j: number) => row.map((_, k) => (k === j ? 1 : 0));
    let n: number;
    let dn: number[];
    let d: number;
    let dd: number[];
    if (targets === undefined) {
      const other = order(row).find((j) => j !== y)!;
      n = row[other] - row[y];
      dn = e(other).map((v, k) => v - e(y)[k]);
      d = row[pi[0]] - row[pi[2]] + 1e-12;
      dd = e(pi[0]).map((v, k) => v - e(pi[2])[k]);
    } else {
      const t = targets[r];
      n = row[t] - row[y];
      dn = e(t).map((v, k) => v - e(y)[k]);
      d = row[pi[0]] - (row[pi[2]] + row[pi[3]]) / 2 + 1e-12;
      dd = e(pi[0]).map((v, k) => v - (e(pi[2])[k] + e(pi[3])[k]) / 2);
    }
    value.push(n / d);
    grad.push(...dn.map((v, k) => (v * d - n * dd[k]) / (d * d)));
  });
  return { value, grad };
}

function expectClose(actual: number[], expected: number[], relative: number) {
  expect(actual.length).toBe(expected.length);
  const scale = Math.max(...expected.map(Math.abs));
  actual.forEach((v, i) => expect(Math.abs(v - expected[i])).toBeLessThanOrEqual(relative * scale));
}

describe('DLR loss (Croce & Hein 2020)', () => {
  it('matches values and gradients worked by hand', () => {
    // Row 0, y = 0: sorted 3, 2, 1, -1; -(3 - 2) / (3 - 1) = -0.5, gradient (e2 - e0) / 2 + (e0 - e1) / 4.
    // Row 1, y = 1: class 2 (4.5) beats the label (4): -(4 - 4.5) / (4.5 - 0) = 1/9 (positive: misclassified).
    // Row 2, y = 3: -(1.5 - 1) / (1.5 - 0.5) = -0.5.
    const { value, grad } = valueAndGrad(dlr, LOGITS, LABELS);
    expectClose(value, [-0.5, 1 / 9, -0.5], 1e-6);
    expectClose(grad.slice(0, 4), [-0.25, -0.25, 0.5, 0], 1e-6);
    const expected = analyticDlr(LOGITS, LABELS);
    expectClose(value, expected.value, 1e-6);
    expectClose(grad, expected.grad, 1e-6);
  });

  it('targeted DLR matches values and gradients worked by hand', () => {
    // Row 0, y = 0, t = 2: -(3 - 2) / (3 - (1 + -1) / 2) = -1/3; gradient (e2 - e0) / 3 + (e0 - e1 / 2 - e3 / 2) / 9.
    const targets = [2, 0, 1];
    const yTrue = tf.tensor1d(LABELS, 'int32');
    const { value, grad } = valueAndGrad((z, t) => attackLoss(z, t, 'dlr', true, yTrue), LOGITS, targets);
    expectClose(value.slice(0, 1), [-1 / 3], 1e-6);
    expectClose(grad.slice(0, 4), [-2 / 9, -1 / 18, 1 / 3, -1 / 18], 1e-6);
    const expected = analyticDlr(LOGITS, LABELS, targets);
    expectClose(value, expected.value, 1e-6);
    expectClose(grad, expected.grad, 1e-6);
    // The free function gives the same numbers.
    const direct = valueAndGrad((z, t) => targetedDlr(z, yTrue, t), LOGITS, targets);
    expect(direct).toEqual({ value, grad });
    yTrue.dispose();
  });

  it('is exact at logit scale 1e12 (values unchanged, gradients scaled by 1e-12)', () => {
    const z = scaled(S);
    const untargeted = valueAndGrad(dlr, z, LABELS);
    const expected = analyticDlr(z, LABELS);
    expectClose(untargeted.value, expected.value, 1e-6);
    expectClose(untargeted.value, [-0.5, 1 / 9, -0.5], 1e-6);
    expectClose(untargeted.grad, expected.grad, 1e-6);
    expect(Math.max(...untargeted.grad.map(Math.abs))).toBeLessThan(1e-12);
    const targets = [2, 0, 1];
    const yTrue = tf.tensor1d(LABELS, 'int32');
    const targeted = valueAndGrad((t, y) => attackLoss(t, y, 'dlr', true, yTrue), z, targets);
    yTrue.dispose();
    const expectedT = analyticDlr(z, LABELS, targets);
    expectClose(targeted.value, expectedT.value, 1e-6);
    expectClose(targeted.grad, expectedT.grad, 1e-6);
  });

  it('a row holding a NaN is NaN; too few classes and a targeted DLR without true labels are refused', () => {
    const { value } = valueAndGrad(dlr, [[NaN, 1, 2, 0], [3, 1, 2, -1]], [1, 0]);
    expect(Number.isNaN(value[0])).toBe(true);
    expect(value[1]).toBeCloseTo(-0.5, 6);
    const two = tf.tensor2d([[1, 2]]);
    const three = tf.tensor2d([[1, 2, 3]]);
    const y = tf.tensor1d([0], 'int32');
    expect(() => dlr(two, y)).toThrow(/loss dlr: needs logits of at least 3 classes/);
    expect(() => targetedDlr(three, y, y)).toThrow(/at least 4 classes/);
    expect(() => attackLoss(three, y, 'dlr', true)).toThrow(/true labels/);
    tf.dispose([two, three, y]);
  });
});
