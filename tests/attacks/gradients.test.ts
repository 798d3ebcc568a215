import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf, type Tensor2D, type Tensor4D } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { InputError } from '../../src/engine/errors.js';
import type { Classifier } from '../../src/models/classifier.js';
import { guardQueries, InvalidQueryError } from '../../src/models/queryGuard.js';
import { CountingClassifier } from '../../src/suite/context.js';
import { lossAndGrad } from '../../attacks/gradients.js';
import { randomImages, randomLinear, type LinearClassifier } from '../helpers/linearClassifier.js';

/**
 * Attacks take gradients themselves (attacks/gradients.ts): an attack loss over the model's differentiable
 * logitsFor, by automatic differentiation. Checked against the linear model's hand-written gradients (ce,
 * margin) and the DLR gradient by the chain rule; a model without logitsFor keeps its own ce/margin and
 * refuses other losses; the runner's wrappers pass logitsFor through, counted and checked.
 */
const SHAPE: [number, number, number] = [3, 3, 2];
const D = 18;
const C = 5;
const N = 4;

let stub: LinearClassifier;
let W: tf.Tensor2D;
let b: tf.Tensor1D;
/** The same linear model, offering only differentiable logits (its lossAndGrad must not be used). */
let differentiable: Classifier;

beforeAll(async () => {
  await initBackend('wasm');
  stub = randomLinear(41, SHAPE, C, 0.7);
  W = tf.keep(tf.tensor2d(stub.weights, [D, C]));
  b = tf.keep(tf.tensor1d(stub.bias));
  differentiable = {
    name: 'linear-logits',
    inputShape: SHAPE,
    numClasses: C,
    hasFeedback: false,
    logits: (x: Tensor4D) => tf.tidy(() => tf.add(tf.matMul(tf.reshape(x, [x.shape[0], D]), W), b) as Tensor2D),
    logitsFor: (x: Tensor4D) => tf.add(tf.matMul(tf.reshape(x, [x.shape[0], D]), W), b) as Tensor2D,
    lossAndGrad: () => {
      throw new Error('attacks must differentiate logitsFor themselves');
    },
  };
});

afterAll(() => {
  stub.dispose();
  tf.dispose([W, b]);
});

function batch(seed: number) {
  const xHost = randomImages(seed, N, SHAPE);
  return { xHost, x: tf.tensor4d(xHost, [N, ...SHAPE]), y: tf.tensor1d([0, 1, 2, 3], 'int32') };
}

const host = (t: tf.Tensor) => Array.from(t.dataSync());

describe('attack gradients through logitsFor', () => {
  it('equal the hand-written ce and margin gradients, untargeted and targeted', () => {
    const { x, y } = batch(1);
    for (const loss of ['ce', 'margin'] as const)
      for (const targeted of [false, true]) {
        const mine = lossAndGrad(differentiable, x, y, { path: 'first', loss, targeted });
        const ref = stub.lossAndGrad(x, y, { path: 'first', loss, targeted });
        const [a, c] = [host(mine.grad), host(ref.grad)];
        a.forEach((v, i) => expect(Math.abs(v - c[i])).toBeLessThan(1e-5));
        host(mine.loss).forEach((v, i) => expect(v).toBeCloseTo(host(ref.loss)[i], 5));
        tf.dispose([mine.loss, mine.grad, ref.loss, ref.grad]);
      }
    tf.dispose([x, y]);
  });

  it('DLR: the input gradient is W times the DLR gradient of the logits (chain rule, float64 on the host)', () => {
    const { xHost, x, y } = batch(2);
    const { loss, grad } = lossAndGrad(differentiable, x, y, { path: 'first', loss: 'dlr' });
    const g = host(grad);
    const values = host(loss);
    for (let r = 0; r < N; r++) {
      const z = Array.from({ length: C }, (_, j) => {
        let v = stub.bias[j];
        for (let i = 0; i < D; i++) v += xHost[r * D + i] * stub.weights[i * C + j];
        return v;
      });
      const byValue = z.map((_, j) => j).sort((p, q) => z[q] - z[p] || p - q);
      const other = byValue.find((j) => j !== r)!;
      const [p1, , p3] = byValue;
      const num = z[other] - z[r];
      const den = z[p1] - z[p3] + 1e-12;
      expect(values[r]).toBeCloseTo(num / den, 5);
      const dz = z.map((_, j) => (((j === other ? 1 : 0) - (j === r ? 1 : 0)) * den - num * ((j === p1 ? 1 : 0) - (j === p3 ? 1 : 0))) / den ** 2);
      for (let i = 0; i < D; i++) {
        const expected = dz.reduce((s, d, j) => s + d * stub.weights[i * C + j], 0);
        expect(Math.abs(g[r * D + i] - expected)).toBeLessThan(1e-5);
      }
    }
    tf.dispose([x, y, loss, grad]);
  });

  it('a classifier without logitsFor gives its own ce and margin gradients and refuses other losses', () => {
    const { x, y } = batch(3);
    const before = stub.calls.lossAndGrad;
    const r = lossAndGrad(stub, x, y, { path: 'bpda', output: 'last', loss: 'margin' });
    expect(stub.calls.lossAndGrad).toBe(before + 1);
    expect(stub.calls.options.at(-1)).toMatchObject({ path: 'bpda', output: 'last', loss: 'margin' });
    expect(() => lossAndGrad(stub, x, y, { path: 'first', loss: 'dlr' })).toThrow(InputError);
    expect(() => lossAndGrad(stub, x, y, { path: 'first', loss: 'dlr' })).toThrow('model "linear": gives no differentiable logits, so no dlr loss gradient (allowed: ce, margin)');
    tf.dispose([x, y, r.loss, r.grad]);
  });

  it('the runner wrappers pass logitsFor through: counted as gradient images, every query checked', () => {
    const { x, y } = batch(4);
    const counting = new CountingClassifier(differentiable);
    const r = lossAndGrad(counting, x, y, { path: 'first', loss: 'dlr' });
    expect(counting.gradientImages).toBe(N);
    expect(new CountingClassifier(stub).logitsFor).toBeUndefined();
    const guarded = guardQueries(differentiable, { who: 'test' });
    const g = lossAndGrad(guarded, x, y, { path: 'first', loss: 'dlr' });
    expect(host(g.grad)).toEqual(host(r.grad));
    const bad = tf.tidy(() => tf.mul(x, 2) as Tensor4D);
    expect(() => lossAndGrad(guarded, bad, y, { path: 'first' })).toThrow(InvalidQueryError);
    expect(() => lossAndGrad(guarded, bad, y, { path: 'first' })).toThrow(/test queried linear-logits\.logitsFor/);
    tf.dispose([x, y, r.loss, r.grad, g.loss, g.grad, bad]);
  });
});
