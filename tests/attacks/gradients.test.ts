import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf, type Tensor2D, type Tensor4D } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { InputError } from '../../src/engine/errors.js';
import type { Classifier } from '../../src/models/classifier.js';
import { guardQueries, InvalidQueryError } from '../../src/models/queryGuard.js';
import { CountingClassifier } from '../../src/suite/context.js';
import { eotLossAndGrad, logitDifferenceAndGrad, logitsJacobian, lossAndGrad } from '../../attacks/gradients.js';
import { defineAttack, type MinimisationContext } from '../../attacks/define.js';
import { fgsm } from '../../attacks/fgsm.js';
import { square } from '../../attacks/square.js';
import { KeyedRng } from '../../src/engine/rng.js';
import { randomizedClassifier } from '../helpers/randomizedClassifier.js';
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

/**
 * Per-class logit gradients (FAB's linearisation): checked against closed forms computed on the host in
 * float64 from the models' exact float32 parameters, a linear model (gradient of z_t - z_y = W_t - W_y) and
 * a one-hidden-layer tanh network, whose Jacobian differs per row:
 *   z = tanh(x A) B + c,  dz_k/dx = A diag(1 - tanh(x A)^2) B_k.
 */
describe('per-class logit gradients', () => {
  const H = 6;
  let A: tf.Tensor2D;
  let B: tf.Tensor2D;
  let aHost: Float32Array;
  let bHost: Float32Array;
  let mlp: Classifier;

  beforeAll(() => {
    const a = randomLinear(51, SHAPE, H, 0.8);
    const bl = randomLinear(52, [1, 1, H], C, 0.9);
    aHost = a.weights;
    bHost = bl.weights;
    A = tf.keep(tf.tensor2d(aHost, [D, H]));
    B = tf.keep(tf.tensor2d(bHost, [H, C]));
    a.dispose();
    bl.dispose();
    const forward = (x: Tensor4D) => tf.matMul(tf.tanh(tf.matMul(tf.reshape(x, [x.shape[0], D]), A)), B) as Tensor2D;
    mlp = {
      name: 'mlp',
      inputShape: SHAPE,
      numClasses: C,
      hasFeedback: false,
      logits: (x: Tensor4D) => tf.tidy(() => forward(x)),
      logitsFor: forward,
      lossAndGrad: () => {
        throw new Error('unused');
      },
    };
  });
  afterAll(() => tf.dispose([A, B]));

  /** Host float64 logits [C] and Jacobian [C][D] of the tanh network at row r of xHost. */
  function mlpAt(xHost: Float32Array, r: number): { z: number[]; J: number[][] } {
    const hidden = Array.from({ length: H }, (_, h) => {
      let v = 0;
      for (let i = 0; i < D; i++) v += xHost[r * D + i] * aHost[i * H + h];
      return Math.tanh(v);
    });
    const z = Array.from({ length: C }, (_, k) => hidden.reduce((s, t, h) => s + t * bHost[h * C + k], 0));
    const J = Array.from({ length: C }, (_, k) =>
      Array.from({ length: D }, (_, i) => hidden.reduce((s, t, h) => s + aHost[i * H + h] * (1 - t * t) * bHost[h * C + k], 0)),
    );
    return { z, J };
  }

  it('logitDifferenceAndGrad: z_t - z_y and W_t - W_y on the linear model, one logitsFor call', () => {
    const { xHost, x, y } = batch(5);
    const targets = tf.tensor1d([2, 0, 4, 3], 'int32'); // row 3: t = y, difference and gradient 0
    const counting = new CountingClassifier(differentiable);
    const { difference, grad } = logitDifferenceAndGrad(counting, x, y, targets, { path: 'first' });
    expect(counting.gradientImages).toBe(N);
    const d = host(difference);
    const g = host(grad);
    const ys = [0, 1, 2, 3];
    const ts = [2, 0, 4, 3];
    for (let r = 0; r < N; r++) {
      const z = (j: number) => stub.bias[j] + Array.from({ length: D }, (_, i) => xHost[r * D + i] * stub.weights[i * C + j]).reduce((s, v) => s + v, 0);
      expect(d[r]).toBeCloseTo(z(ts[r]) - z(ys[r]), 5);
      for (let i = 0; i < D; i++) expect(g[r * D + i]).toBeCloseTo(stub.weights[i * C + ts[r]] - stub.weights[i * C + ys[r]], 6);
    }
    tf.dispose([x, y, targets, difference, grad]);
  });

  it('logitDifferenceAndGrad on a nonlinear network equals the closed-form row Jacobians', () => {
    const { xHost, x, y } = batch(6);
    const targets = tf.tensor1d([4, 3, 0, 1], 'int32');
    const { difference, grad } = logitDifferenceAndGrad(mlp, x, y, targets, { path: 'first' });
    const d = host(difference);
    const g = host(grad);
    const ts = [4, 3, 0, 1];
    for (let r = 0; r < N; r++) {
      const { z, J } = mlpAt(xHost, r);
      expect(d[r]).toBeCloseTo(z[ts[r]] - z[r], 5);
      for (let i = 0; i < D; i++) expect(Math.abs(g[r * D + i] - (J[ts[r]][i] - J[r][i]))).toBeLessThan(1e-5);
    }
    tf.dispose([x, y, targets, difference, grad]);
  });

  it('logitsJacobian: logits [N,K] and jacobian [N,K,H,W,C] equal the closed form row by row (tiled pass)', () => {
    const { xHost, x, y } = batch(7);
    const { logits, jacobian } = logitsJacobian(mlp, x, { path: 'first' });
    expect(logits.shape).toEqual([N, C]);
    expect(jacobian.shape).toEqual([N, C, ...SHAPE]);
    const zs = host(logits);
    const js = host(jacobian);
    for (let r = 0; r < N; r++) {
      const { z, J } = mlpAt(xHost, r);
      for (let k = 0; k < C; k++) {
        expect(zs[r * C + k]).toBeCloseTo(z[k], 5);
        for (let i = 0; i < D; i++) expect(Math.abs(js[(r * C + k) * D + i] - J[k][i])).toBeLessThan(1e-5);
      }
    }
    tf.dispose([x, y, logits, jacobian]);
  });

  it('logitsJacobian agrees with central finite differences of the model itself', () => {
    const { xHost, x, y } = batch(8);
    const { logits, jacobian } = logitsJacobian(mlp, x, { path: 'first' });
    const js = host(jacobian);
    const h = 1e-2;
    for (const [r, i] of [
      [0, 0],
      [1, 7],
      [3, 17],
    ]) {
      const shifted = (s: number) => {
        const v = Float32Array.from(xHost);
        v[r * D + i] += s;
        const z = mlp.logits(tf.tensor4d(v, [N, ...SHAPE]));
        const out = host(z).slice(r * C, (r + 1) * C);
        z.dispose();
        return out;
      };
      const [up, down] = [shifted(h), shifted(-h)];
      for (let k = 0; k < C; k++) expect(Math.abs((up[k] - down[k]) / (2 * h) - js[(r * C + k) * D + i])).toBeLessThan(2e-3);
    }
    tf.dispose([x, y, logits, jacobian]);
  });

  it('a classifier without logitsFor has no per-class gradients: one InputError line naming it', () => {
    const { x, y } = batch(9);
    expect(() => logitsJacobian(stub, x, { path: 'first' })).toThrow('model "linear": gives no differentiable logits, so no logit Jacobian');
    expect(() => logitDifferenceAndGrad(stub, x, y, y, { path: 'first' })).toThrow(InputError);
    tf.dispose([x, y]);
  });
});

describe('per-class logit gradients through CNN-F (committed checkpoint, e2e path)', () => {
  it('the tiled Jacobian equals one backward pass per class, and the difference gradient J_t - J_y', async () => {
    const { loadCnnfModel } = await import('../../src/models/families/cnnf.js');
    const { join } = await import('node:path');
    const model = await loadCnnfModel(join(import.meta.dirname, '..', '..', 'checkpoints', 'cnnf-fmnist'));
    const cnnf = model.classifier;
    const n = 2;
    const size = 28 * 28;
    const xHost = randomImages(70, n, [28, 28, 1]);
    const x = tf.tensor4d(xHost, [n, 28, 28, 1]);
    const request = { path: 'e2e', output: 'last' };
    const { logits, jacobian } = logitsJacobian(cnnf, x, request);
    const J = host(jacobian);
    const K = cnnf.numClasses;
    expect(jacobian.shape).toEqual([n, K, 28, 28, 1]);
    const plain = cnnf.logits(x, 'last');
    expect(host(logits)).toEqual(host(plain).map((v) => expect.closeTo(v, 4)));
    plain.dispose();
    for (let k = 0; k < K; k++) {
      const g = tf.tidy(() => tf.grad((xi: tf.Tensor) => tf.sum(tf.slice(cnnf.logitsFor!(xi as Tensor4D, request), [0, k], [n, 1])))(x));
      const single = host(g);
      g.dispose();
      for (let r = 0; r < n; r++)
        for (let i = 0; i < size; i++) expect(Math.abs(J[(r * K + k) * size + i] - single[r * size + i])).toBeLessThan(1e-4);
    }
    const y = tf.tensor1d([3, 7], 'int32');
    const t = tf.tensor1d([5, 0], 'int32');
    const { grad } = logitDifferenceAndGrad(cnnf, x, y, t, request);
    const d = host(grad);
    [3, 7].forEach((yy, r) => {
      const tt = [5, 0][r];
      for (let i = 0; i < size; i++) expect(Math.abs(d[r * size + i] - (J[(r * K + tt) * size + i] - J[(r * K + yy) * size + i]))).toBeLessThan(1e-4);
    });
    tf.dispose([x, y, t, logits, jacobian, grad]);
    model.dispose();
  }, 120_000);
});
describe('EOT (eot: n, attacks/gradients.ts eotLossAndGrad and the defineAttack template)', () => {
  it('n passes of a randomised model average to the mean of n separate calls, and the mean is closer to the expected gradient', () => {
    const model = randomizedClassifier(stub, 11);
    const { x, y } = batch(5);
    const n = 8;
    model.reset();
    const singles = Array.from({ length: n }, () => {
      const r = lossAndGrad(model, x, y, { path: 'first', loss: 'ce' });
      const out = { loss: host(r.loss), grad: host(r.grad) };
      tf.dispose([r.loss, r.grad]);
      return out;
    });
    model.reset();
    const eot = eotLossAndGrad(model, x, y, { path: 'first', loss: 'ce' }, n);
    const eotGrad = host(eot.grad);
    const eotLoss = host(eot.loss);
    expect(model.masks.length).toBe(n);
    eotGrad.forEach((g, i) => expect(g).toBeCloseTo(singles.reduce((s, r) => s + r.grad[i], 0) / n, 5));
    eotLoss.forEach((l, i) => expect(l).toBeCloseTo(singles.reduce((s, r) => s + r.loss[i], 0) / n, 5));
    // Two single calls differ (the model is randomised)...
    expect(singles[0].grad).not.toEqual(singles[1].grad);
    // ...and averaging reduces the gradient's variance: over 20 repeats, the spread of 8-pass means is below
    // half that of single passes (1/8 of it in expectation).
    const sq = (a: number[], b: number[]) => a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0);
    const repeats = 20;
    const spread = (k: number) => {
      const draws = Array.from({ length: repeats }, () => {
        const r = eotLossAndGrad(model, x, y, { path: 'first', loss: 'ce' }, k);
        const g = host(r.grad);
        tf.dispose([r.loss, r.grad]);
        return g;
      });
      const mean = draws[0].map((_, i) => draws.reduce((s, d) => s + d[i], 0) / repeats);
      return draws.reduce((s, d) => s + sq(d, mean), 0) / repeats;
    };
    const one = spread(1);
    const eight = spread(8);
    expect(eight).toBeLessThan(one / 2);
    tf.dispose([x, y, eot.loss, eot.grad]);
  });

  it('the per-class gradients FAB linearises take eot too: logitDifferenceAndGrad and logitsJacobian are the means of n passes', async () => {
    // A minimisation attack that only records what its context's per-class gradient calls return.
    const seen: { eot: number; diff: number[]; dgrad: number[]; logits: number[]; jac: number[]; masksBefore: number; masksAfter: number }[] = [];
    const targetsOf = [2, 3, 4, 0];
    let model = randomizedClassifier(stub, 13);
    const probe = defineAttack<{ dummy: number }>({
      name: 'record-logit-gradients',
      kind: 'minimisation',
      threatModel: 'linf',
      usesGradient: true,
      cost: () => ({ gradients: 2, forwards: 0 }),
      describe: 'records per-class gradients (test)',
      defaults: { dummy: 0 },
      schema: { dummy: { kind: 'number' } },
      async minimise(ctx: MinimisationContext<{ dummy: number }>) {
        const rows = Array.from({ length: ctx.x.shape[0] }, (_, i) => i);
        const masksBefore = model.masks.length;
        const d = ctx.logitDifferenceAndGrad(ctx.x, rows, rows.map((r) => targetsOf[r]));
        const j = ctx.logitsJacobian(ctx.x);
        seen.push({ eot: (ctx.params as { eot?: number }).eot ?? 1, diff: host(d.difference), dgrad: host(d.grad), logits: host(j.logits), jac: host(j.jacobian), masksBefore, masksAfter: model.masks.length });
        tf.dispose([d.difference, d.grad, j.logits, j.jacobian]);
        return { xAdv: tf.clone(ctx.x), distance: new Float64Array(rows.length).fill(Infinity) };
      },
    });
    const { xHost, x } = batch(7);
    const rng = new KeyedRng(0, 'eot-fab', [0, 1, 2, 3]);
    // Labels: the predictions of the template's clean evaluation (the first mask of each seed), so that no
    // row counts as fooled clean and the attack sees the whole batch.
    const labelsFor = (seed: number) => {
      const z = randomizedClassifier(stub, seed).logits(x);
      const pred = tf.argMax(z, 1);
      const out = host(pred);
      tf.dispose([z, pred]);
      return out;
    };
    for (const n of [1, 5]) {
      const labels = labelsFor(13 + n);
      const y = tf.tensor1d(labels, 'int32');
      model = randomizedClassifier(stub, 13 + n);
      const params = probe.parseParams({ eot: n }, 'params');
      expect(probe.cost(params).gradients).toBe(2 * n);
      const res = await probe.minimise!(model, x, y, rng, { path: 'first', output: 'last', params });
      tf.dispose(res.xAdv);
      const r = seen.at(-1)!;
      // One clean evaluation, then n passes for the logit difference and n (tiled K times) for the Jacobian.
      const masks = model.masks.slice(r.masksBefore, r.masksAfter);
      expect(masks.length).toBe(2 * n);
      const diffMasks = masks.slice(0, n);
      const jacMasks = masks.slice(n);
      for (let i = 0; i < N; i++) {
        const t = targetsOf[i];
        const yi = labels[i];
        // z_t - z_y of pass p: sum_q x_q m_p,q (W_qt - W_qy) + b_t - b_y; its gradient m_p,q (W_qt - W_qy).
        let diff = 0;
        for (const m of diffMasks) {
          let v = stub.bias[t] - stub.bias[yi];
          for (let q = 0; q < D; q++) v += xHost[i * D + q] * m[i * D + q] * (stub.weights[q * C + t] - stub.weights[q * C + yi]);
          diff += v / n;
        }
        expect(r.diff[i]).toBeCloseTo(diff, 4);
        for (let q = 0; q < D; q++) {
          const g = diffMasks.reduce((s, m) => s + m[i * D + q] * (stub.weights[q * C + t] - stub.weights[q * C + yi]), 0) / n;
          expect(r.dgrad[i * D + q]).toBeCloseTo(g, 5);
        }
        // Jacobian pass p runs on the batch tiled C times: row k*N + i (mask row k*N + i) differentiates z_k
        // of image i; the logits are copy 0's (mask rows 0..N-1).
        for (let k = 0; k < C; k++) {
          let z = 0;
          for (const m of jacMasks) {
            let v = stub.bias[k];
            for (let q = 0; q < D; q++) v += xHost[i * D + q] * m[i * D + q] * stub.weights[q * C + k];
            z += v / n;
          }
          expect(r.logits[i * C + k]).toBeCloseTo(z, 4);
          for (let q = 0; q < D; q++) {
            const g = jacMasks.reduce((s, m) => s + m[(k * N + i) * D + q] * stub.weights[q * C + k], 0) / n;
            expect(r.jac[(i * C + k) * D + q]).toBeCloseTo(g, 5);
          }
        }
      }
      y.dispose();
    }
    // eot: 1 is the plain call, bit for bit: the same masks through logitDifferenceAndGrad directly.
    const one = seen[0];
    model = randomizedClassifier(stub, 14);
    const y = tf.tensor1d(labelsFor(14), 'int32');
    const t = tf.tensor1d(targetsOf.slice(0, N), 'int32');
    model.logits(x); // the template's clean evaluation draws the first mask
    const direct = logitDifferenceAndGrad(model, x, y, t, { path: 'first', output: 'last' });
    expect(host(direct.difference)).toEqual(one.diff);
    expect(host(direct.grad)).toEqual(one.dgrad);
    tf.dispose([x, y, t, direct.difference, direct.grad]);
  });

  it('every gradient attack takes eot: FGSM with eot 4 takes 4 passes per gradient and declares 4x the gradients', async () => {
    const model = randomizedClassifier(stub, 12);
    const { x, y } = batch(6);
    const rng = new KeyedRng(0, 'eot', [0, 1, 2, 3]);
    const params = fgsm.parseParams({ eot: 4 }, 'params');
    expect(fgsm.cost(params).gradients).toBe(4 * fgsm.cost(fgsm.parseParams({}, 'params')).gradients);
    expect(() => square.parseParams({ eot: 2 }, 'params')).toThrow(/unknown parameter/);
    expect(() => fgsm.parseParams({ eot: 0 }, 'params')).toThrow(InputError);
    model.reset();
    const res = await fgsm.run(model, x, y, 0.1, rng, { path: 'first', output: 'last', params });
    // 4 gradient passes and the final evaluation (one forward).
    expect(model.masks.length).toBe(5);
    // FGSM's step is the sign of the mean of the 4 passes' gradients: check against the masks drawn.
    const [h, w, c] = SHAPE;
    const xHost = host(x);
    const labels = host(y);
    const advHost = host(res.xAdv);
    for (let r = 0; r < N; r++) {
      for (let i = 0; i < h * w * c; i++) {
        // d ce / d x_i = mean_k m_k,i * sum_j (p_kj - onehot_j) W_ij, p from the masked logits of pass k.
        let g = 0;
        for (let k = 0; k < 4; k++) {
          const m = model.masks[k];
          const logits = Array.from({ length: C }, (_, j) => {
            let s = stub.bias[j];
            for (let q = 0; q < D; q++) s += xHost[r * D + q] * m[r * D + q] * stub.weights[q * C + j];
            return s;
          });
          const mx = Math.max(...logits);
          const e = logits.map((v) => Math.exp(v - mx));
          const sum = e.reduce((a, v) => a + v, 0);
          let dz = 0;
          for (let j = 0; j < C; j++) dz += (e[j] / sum - (j === labels[r] ? 1 : 0)) * stub.weights[i * C + j];
          g += (m[r * D + i] * dz) / 4;
        }
        const expected = Math.min(1, Math.max(0, xHost[r * D + i] + 0.1 * Math.sign(g)));
        if (Math.abs(g) > 1e-5) expect(advHost[r * D + i]).toBeCloseTo(expected, 5);
      }
    }
    tf.dispose([x, y, res.xAdv]);
  });
});
