import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf, type Tensor4D } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { BALL_TOLERANCE, checkPixels, guardQueries, insideBall, InvalidQueryError } from '../../src/models/queryGuard.js';
import { randomImages, randomLinear, type LinearClassifier } from '../helpers/linearClassifier.js';

/**
 * The query guard (src/models/queryGuard.ts): exact [0,1] and finiteness on every logits/lossAndGrad
 * input, the optional eps-ball check with its stated float tolerance, and transparency otherwise.
 */
const SHAPE: [number, number, number] = [4, 4, 1];
const D = 16;

let model: LinearClassifier;
let clean: Float32Array;

beforeAll(async () => {
  await initBackend('wasm');
  model = randomLinear(5, SHAPE, 3);
  clean = randomImages(6, 2, SHAPE, 0.2, 0.8);
});

afterAll(() => model.dispose());

/** One image equal to clean row `row` with value `v` at pixel `at`. */
function withPixel(row: number, at: number, v: number): Tensor4D {
  const values = Float32Array.from(clean.subarray(row * D, (row + 1) * D));
  values[at] = v;
  return tf.tensor4d(values, [1, ...SHAPE]);
}

describe('checkPixels', () => {
  it('counts values outside [0,1] exactly, and NaN and infinities as outside', () => {
    const f32AboveOne = Math.fround(1 + 2 ** -23); // the float32 right after 1
    const t = tf.tensor1d([0, 1, 0.5, -1e-30, f32AboveOne, Number.NaN, Infinity, -Infinity]);
    expect(checkPixels(t).invalid).toBe(5); // all but 0, 1 and 0.5
    expect(checkPixels(tf.tensor1d([0, 1, 0.25])).invalid).toBe(0);
    expect(checkPixels(tf.tensor1d([])).invalid).toBe(0);
    t.dispose();
  });
});

describe('QueryGuard', () => {
  it('passes valid images through unchanged (same logits, loss and gradient)', () => {
    const guarded = guardQueries(model, { who: 'test' });
    const x = tf.tensor4d(clean, [2, ...SHAPE]);
    const y = tf.tensor1d([0, 2], 'int32');
    expect(guarded.logits(x).arraySync()).toEqual(model.logits(x).arraySync());
    const a = guarded.lossAndGrad(x, y, { path: 'first', loss: 'margin' });
    const b = model.lossAndGrad(x, y, { path: 'first', loss: 'margin' });
    expect(a.grad.arraySync()).toEqual(b.grad.arraySync());
    expect(a.loss.arraySync()).toEqual(b.loss.arraySync());
    expect([guarded.name, guarded.numClasses, guarded.inputShape, guarded.hasFeedback]).toEqual([model.name, model.numClasses, model.inputShape, model.hasFeedback]);
    expect([guarded.queries, guarded.queriedImages]).toEqual([2, 4]);
    tf.dispose([x, y, a.loss, a.grad, b.loss, b.grad]);
  });

  it('refuses, on both methods, any value outside [0,1] or non-finite, naming who asked and the range', () => {
    const guarded = guardQueries(model, { who: 'attack pgd in cell c1' });
    const y = tf.tensor1d([0], 'int32');
    for (const bad of [-1e-7, Math.fround(1 + 2 ** -23), Number.NaN, Infinity, -Infinity]) {
      const x = withPixel(0, 5, bad);
      expect(() => guarded.logits(x)).toThrow(InvalidQueryError);
      expect(() => guarded.lossAndGrad(x, y, { path: 'e2e' })).toThrow(InvalidQueryError);
      expect(() => guarded.logits(x)).toThrow(/^attack pgd in cell c1 queried linear\.logits with 1 of 16 pixel values outside \[0,1\] or not finite/);
      x.dispose();
    }
    for (const edge of [0, 1]) {
      const x = withPixel(0, 5, edge);
      expect(() => guarded.logits(x).dispose()).not.toThrow();
      x.dispose();
    }
    y.dispose();
  });

  it('with a ball, refuses rows farther than eps (+ the stated tolerance) from every clean image', () => {
    const eps = 0.05;
    for (const norm of ['linf', 'l2'] as const) {
      const guarded = guardQueries(model, { who: `probe ${norm}`, ball: { centers: clean, eps, norm } });
      const limit = norm === 'linf' ? eps + BALL_TOLERANCE.absolute : eps * (1 + BALL_TOLERANCE.relativeL2) + BALL_TOLERANCE.absolute;
      const base = clean[D + 3]; // row 1, one pixel moved: both norms measure the move itself
      const inside = withPixel(1, 3, base + eps);
      const outside = withPixel(1, 3, base + limit + 1e-5);
      expect(() => guarded.logits(inside).dispose()).not.toThrow();
      expect(() => guarded.logits(outside)).toThrow(InvalidQueryError);
      expect(() => guarded.logits(outside)).toThrow(new RegExp(`^probe ${norm} queried linear\\.logits with row 0 at ${norm} distance .* outside the eps 0\\.05 ball`));
      tf.dispose([inside, outside]);
    }
  });

  it('states its tolerance: a float32 ulp at 1 passes, a thousandth of a pixel does not', () => {
    expect(insideBall(0.1 + 2 ** -23, 0.1, 'linf')).toBe(true);
    expect(insideBall(0.1 + 1e-3, 0.1, 'linf')).toBe(false);
    expect(insideBall(1.5 * (1 + 2e-6), 1.5, 'l2')).toBe(true);
    expect(insideBall(1.5 * (1 + 1e-3), 1.5, 'l2')).toBe(false);
  });
});
