import { beforeAll, describe, expect, it } from 'vitest';
import { tf, type Tensor4D } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { KeyedRng } from '../../src/engine/rng.js';
import { ascentDirection, ascentStep, ballViolation, dampedL2Direction, distances, l2SphereStart, project, randomStart } from '../../attacks/norms.js';
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

describe("AutoAttack's L2 geometry (autopgd_base.py, norm 'L2')", () => {
  it('l2SphereStart: on the sphere of radius eps for interior images, clipped to [0,1] at the box, keyed per sample', () => {
    const eps = 0.4;
    const inner = images(8, 0.45, 0.55); // |delta_i| <= eps < 0.45: the box is never hit
    const rng = new KeyedRng(4, 'cell', [20, 21, 22, 23, 24, 25]);
    const s = l2SphereStart(inner, eps, rng);
    const d = hostDistance(host(s), host(inner), 'l2');
    for (const v of d) expect(v).toBeCloseTo(eps, 5);
    const x2 = tf.slice(inner, [3, 0, 0, 0], [1, ...SHAPE]) as Tensor4D;
    const s2 = l2SphereStart(x2, eps, new KeyedRng(4, 'cell', [23]));
    expect(host(s2)).toEqual(host(s).slice(3 * D, 4 * D));
    // At the box edge the clip only shrinks the perturbation.
    const edge = tf.zeros([N, ...SHAPE]) as Tensor4D;
    const e = l2SphereStart(edge, eps, rng);
    expect(Math.min(...host(e))).toBe(0);
    expect(ballViolation(e, edge, eps, 'l2')).toBeNull();
    for (const v of hostDistance(host(e), host(edge), 'l2')) expect(v).toBeLessThan(eps);
    tf.dispose([inner, s, x2, s2, edge, e]);
  });

  it('dampedL2Direction: g / (||g||_2 + 1e-12), so a vanishing gradient gives a proportionally shorter step', () => {
    // Rows: ||g|| = 5 (a unit step), ||g|| = 1e-12 (half a step), ||g|| = 5e-13 (a third), zero, and
    // components that would overflow ||g||^2 in float32 (a unit step).
    const g = tf.tensor4d([3, -4, 0, 6e-13, -8e-13, 0, 3e-13, -4e-13, 0, 0, 0, 0, 3e30, -4e30, 0], [5, 1, 1, 3]) as Tensor4D;
    const dir = host(dampedL2Direction(g));
    const unit = [0.6, -0.8, 0];
    const expected = [1, 0.5, 1 / 3, 0, 1].flatMap((f) => unit.map((u) => u * f));
    dir.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 6));
    tf.dispose(g);
  });
});
