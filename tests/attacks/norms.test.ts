import { beforeAll, describe, expect, it } from 'vitest';
import { tf, type Tensor4D } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { KeyedRng } from '../../src/engine/rng.js';
import { ascentDirection, ascentStep, ballViolation, distances, project, randomStart } from '../../attacks/norms.js';
import type { ThreatModel } from '../../attacks/types.js';
import { randomImages } from '../helpers/linearClassifier.js';

/**
 * The threat models' geometry (attacks/norms.ts): projections land in the ball and the box, are the
 * identity there and idempotent, L2 keeps the direction of the perturbation; steps, random starts,
 * distances and the ball check.
 */
const SHAPE: [number, number, number] = [4, 4, 3];
const D = 48;
const N = 6;

beforeAll(async () => {
  await initBackend('wasm');
});

const images = (seed: number, lo = 0, hi = 1) => tf.tensor4d(randomImages(seed, N, SHAPE, lo, hi), [N, ...SHAPE]);
const host = (t: tf.Tensor) => Array.from(t.dataSync());

/** Per-row distance in float64 from host values. */
function hostDistance(a: number[], b: number[], norm: ThreatModel): number[] {
  return Array.from({ length: N }, (_, r) => {
    let acc = 0;
    for (let i = r * D; i < (r + 1) * D; i++) acc = norm === 'linf' ? Math.max(acc, Math.abs(a[i] - b[i])) : acc + (a[i] - b[i]) ** 2;
    return norm === 'linf' ? acc : Math.sqrt(acc);
  });
}

describe.each([
  ['linf', 0.05],
  ['l2', 0.4],
] as const)('%s projection (eps %s)', (norm, eps) => {
  it('lands inside the eps ball and [0,1], from far outside both', () => {
    const x = images(1);
    const far = images(2, -2, 3); // every row far from x and outside [0,1]
    const p = project(far, x, eps, norm);
    const values = host(p);
    expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...values)).toBeLessThanOrEqual(1);
    for (const d of hostDistance(values, host(x), norm)) expect(d).toBeLessThanOrEqual(eps * (1 + 1e-6));
    expect(ballViolation(p, x, eps, norm)).toBeNull();
    tf.dispose([x, far, p]);
  });

  it('is idempotent and leaves points inside the ball and the box where they are', () => {
    const x = images(3, 0.2, 0.8);
    const far = images(4, -2, 3);
    const once = project(far, x, eps, norm);
    const twice = project(once, x, eps, norm);
    const a = host(once);
    host(twice).forEach((v, i) => expect(Math.abs(v - a[i])).toBeLessThanOrEqual(1e-6));
    // A point well inside: half a random step in the ball.
    const inside = tf.tidy(() => project(tf.add(x, tf.mul(tf.sub(once, x), 0.5)) as Tensor4D, x, eps, norm));
    const again = project(inside, x, eps, norm);
    const b = host(inside);
    host(again).forEach((v, i) => expect(Math.abs(v - b[i])).toBeLessThanOrEqual(1e-6));
    tf.dispose([x, far, once, twice, inside, again]);
  });

  it('distances agree with the norm computed on the host', () => {
    const x = images(5);
    const y = images(6);
    const expected = hostDistance(host(y), host(x), norm);
    Array.from(distances(y, x, norm)).forEach((d, r) => expect(d).toBeCloseTo(expected[r], 5));
    tf.dispose([x, y]);
  });

  it('random starts are inside the ball and [0,1], and keyed per sample', () => {
    const x = images(7);
    const rng = new KeyedRng(3, 'cell', [10, 11, 12, 13, 14, 15]);
    const s = randomStart(norm, x, eps, rng);
    expect(ballViolation(s, x, eps, norm)).toBeNull();
    // Row 2 alone, with its own sample index, starts at the same point.
    const x2 = tf.slice(x, [2, 0, 0, 0], [1, ...SHAPE]) as Tensor4D;
    const s2 = randomStart(norm, x2, eps, new KeyedRng(3, 'cell', [12]));
    expect(host(s2)).toEqual(host(s).slice(2 * D, 3 * D));
    tf.dispose([x, s, x2, s2]);
  });
});

describe('L2 projection geometry', () => {
  it('scales the perturbation back to the sphere along its own direction when the box is not active', () => {
    const x = tf.fill([1, ...SHAPE], 0.5) as Tensor4D;
    const delta = Array.from({ length: D }, (_, i) => ((i % 5) - 2) * 0.01); // |delta_i| <= 0.02: the box is far
    const xAdv = tf.tidy(() => tf.add(x, tf.tensor4d(delta, [1, ...SHAPE])) as Tensor4D);
    const norm = Math.sqrt(delta.reduce((s, v) => s + v * v, 0));
    const eps = norm / 2;
    const p = project(xAdv, x, eps, 'l2');
    const out = host(p).map((v) => v - 0.5);
    out.forEach((v, i) => expect(v).toBeCloseTo(delta[i] / 2, 6));
    expect(distances(p, x, 'l2')[0]).toBeLessThanOrEqual(eps);
    tf.dispose([x, xAdv, p]);
  });
});

describe('ascent steps', () => {
  it('L-inf: sign steps of exactly alpha; L2: a step of L2 length alpha along the gradient; NaN components count 0', () => {
    const x = tf.fill([2, 1, 1, 3], 0.5) as Tensor4D;
    const grad = tf.tensor4d([3, -4, 0, NaN, 2, 0], [2, 1, 1, 3]) as Tensor4D;
    const linf = host(ascentStep(x, grad, 0.1, 'linf')).map((v) => v - 0.5);
    linf.forEach((v, i) => expect(v).toBeCloseTo([0.1, -0.1, 0, 0, 0.1, 0][i], 6));
    const l2 = host(ascentStep(x, grad, 0.1, 'l2')).map((v) => v - 0.5);
    l2.forEach((v, i) => expect(v).toBeCloseTo([0.06, -0.08, 0, 0, 0.1, 0][i], 6));
    expect(host(ascentDirection(tf.tensor4d([Infinity, -Infinity, 1], [1, 1, 1, 3]) as Tensor4D, 'l2'))).toEqual(
      [1, -1, 0].map((v) => Math.fround(v / Math.SQRT2)),
    );
    tf.dispose([x, grad]);
  });
});

describe('ballViolation', () => {
  it('names the distance and the pixel range of examples outside the ball or [0,1]', () => {
    const x = tf.fill([1, 2, 2, 1], 0.5) as Tensor4D;
    const out = tf.tensor4d([0.5, 0.5, 0.5, 0.75], [1, 2, 2, 1]) as Tensor4D; // exact in float32
    expect(ballViolation(out, x, 0.1, 'linf')).toBe('distance 0.25 for eps 0.1, pixels in [0.5, 0.75]');
    expect(ballViolation(out, x, 0.2, 'l2')).toBe('distance 0.25 for eps 0.2, pixels in [0.5, 0.75]');
    expect(ballViolation(out, x, 0.25, 'linf')).toBeNull();
    expect(ballViolation(out, x, 0.25 * (1 - 1e-6), 'l2')).toBeNull(); // float32 slack
    const outsideBox = tf.tensor4d([0.5, 0.5, 0.5, 1.0078125], [1, 2, 2, 1]) as Tensor4D; // 1 + 2^-7
    expect(ballViolation(outsideBox, x, 1, 'linf')).toBe('distance 0.5078125 for eps 1, pixels in [0.5, 1.0078125]');
    tf.dispose([x, out, outsideBox]);
  });
});
