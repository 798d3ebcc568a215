/**
 * src/suite/outputProbe.ts: the data of AutoAttack's check_randomized (5 identical calls) and
 * check_range_output (probabilities instead of logits), measured on small linear models.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf, type Tensor2D, type Tensor4D } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { computeSanityChecks } from '../../src/suite/sanity.js';
import { measureOutputs, REPEAT_CALLS } from '../../src/suite/outputProbe.js';
import type { Classifier } from '../../src/models/classifier.js';
import { logitsF64, randomImages, randomLinear, type LinearClassifier } from '../helpers/linearClassifier.js';
import { randomizedClassifier } from '../helpers/randomizedClassifier.js';

const SHAPE: [number, number, number] = [3, 3, 1];
const N = 6;
let linear: LinearClassifier;
let x: Tensor4D;
let y: tf.Tensor1D;
let xHost: Float32Array;

beforeAll(async () => {
  await initBackend('wasm');
  linear = randomLinear(3, SHAPE, 4, 1);
  xHost = randomImages(4, N, SHAPE);
  x = tf.tensor4d(xHost, [N, ...SHAPE]);
  y = tf.tensor1d([0, 1, 2, 3, 0, 1], 'int32');
});
afterAll(() => {
  linear.dispose();
  tf.dispose([x, y]);
});

const checksOf = (outputs: ReturnType<typeof measureOutputs>) =>
  Object.fromEntries(
    computeSanityChecks({
      checkpoints: [{ name: 'm', numClasses: 4 }],
      cells: [],
      probes: [{ format: 'bench-gradient-probe/1', id: 'p', checkpoint: 'm', path: 'first', output: 'last', samples: N, zero: 0, nonFinite: 0, outputs, completedAt: '' }],
    }).map((c) => [c.name, c.status]),
  );

describe('output probe', () => {
  it('a deterministic model: no difference between calls; its range and row sums are those of its logits', () => {
    const o = measureOutputs(linear, x, y, 'last');
    expect(o.repeat.calls).toBe(REPEAT_CALLS);
    expect(o.repeat.maxDiff).toBe(0);
    expect(new Set(o.repeat.correct).size).toBe(1);
    const z = logitsF64(linear, xHost, N);
    expect(o.range.min).toBeCloseTo(Math.min(...z.flat()), 5);
    expect(o.range.max).toBeCloseTo(Math.max(...z.flat()), 5);
    expect(o.range.maxRowSumError).toBeCloseTo(Math.max(...z.map((r) => Math.abs(r.reduce((a, b) => a + b, 0) - 1))), 5);
    expect(checksOf(o)).toMatchObject({ deterministic: 'pass', 'scores-not-probabilities': 'pass' });
  });

  it('a randomised model (input dropout): identical calls differ, and the check says to use EOT', () => {
    const model = randomizedClassifier(linear, 9);
    const o = measureOutputs(model, x, y, 'last');
    expect(o.repeat.maxDiff).toBeGreaterThan(1e-4);
    expect(checksOf(o).deterministic).toBe('warn');
  });

  it('a model whose scores are probabilities (softmax output read as logits) is flagged', () => {
    const probs: Classifier = { ...linear, logits: (xi: Tensor4D) => tf.tidy(() => tf.softmax(linear.logits(xi)) as Tensor2D) };
    const o = measureOutputs(probs, x, y, 'last');
    expect(o.range.min).toBeGreaterThanOrEqual(0);
    expect(o.range.maxRowSumError).toBeLessThan(1e-5);
    expect(checksOf(o)['scores-not-probabilities']).toBe('warn');
  });

  it('NaN logits are neither randomness nor a pass of the probability check: counted, left out, and pointed to logits-finite', () => {
    const details = (outputs: ReturnType<typeof measureOutputs>) =>
      Object.fromEntries(
        computeSanityChecks({
          checkpoints: [{ name: 'm', numClasses: 4 }],
          cells: [],
          probes: [{ format: 'bench-gradient-probe/1', id: 'p', checkpoint: 'm', path: 'first', output: 'last', samples: N, zero: 0, nonFinite: 0, outputs, completedAt: '' }],
        }).map((c) => [c.name, c]),
      );
    // Every score NaN (e.g. an overflow in the model): nothing can be measured.
    const allNaN: Classifier = { ...linear, logits: (xi: Tensor4D) => tf.tidy(() => linear.logits(xi).mul(NaN) as Tensor2D) };
    const all = details(measureOutputs(allNaN, x, y, 'last'));
    for (const name of ['deterministic', 'scores-not-probabilities']) {
      expect(all[name].status, name).toBe('skip');
      expect(all[name].detail, name).toContain(`the scores are not finite (all ${N} probe images give NaN or infinite logits; see logits-finite)`);
      expect(all[name].detail, name).not.toMatch(/randomised:|EOT|NaN\.\.NaN/);
    }
    // The first two images NaN: the checks run on the other four, as the linear model's own measure of them.
    const mask = tf.tensor2d([[NaN], [NaN], [1], [1], [1], [1]]);
    const someNaN: Classifier = { ...linear, logits: (xi: Tensor4D) => tf.tidy(() => linear.logits(xi).mul(mask) as Tensor2D) };
    const o = measureOutputs(someNaN, x, y, 'last');
    const [, rest] = tf.split(x, [2, 4]);
    const [, yRest] = tf.split(y, [2, 4]);
    const clean = measureOutputs(linear, rest as Tensor4D, yRest as tf.Tensor1D, 'last');
    expect(o.nonFiniteRows).toBe(2);
    expect(o.repeat.maxDiff).toBe(0);
    expect(o.range).toEqual(clean.range);
    const some = details(o);
    expect(some.deterministic.status).toBe('pass');
    expect(some['scores-not-probabilities'].status).toBe('pass');
    for (const name of ['deterministic', 'scores-not-probabilities'])
      expect(some[name].detail, name).toContain(`; 2 of ${N} probe images left out: their scores are not finite (NaN or infinite logits; see logits-finite)`);
    tf.dispose([mask, rest, yRest]);
  });

  it('batches merge: two halves measure as the whole', () => {
    const whole = measureOutputs(linear, x, y, 'last');
    const [xa, xb] = tf.split(x, 2);
    const [ya, yb] = tf.split(y, 2);
    const merged = measureOutputs(linear, xb as Tensor4D, yb as tf.Tensor1D, 'last', measureOutputs(linear, xa as Tensor4D, ya as tf.Tensor1D, 'last'));
    expect(merged).toEqual(whole);
    tf.dispose([xa, xb, ya, yb]);
  });
});
