import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { InputError } from '../../src/engine/errors.js';
import { KeyedRng } from '../../src/engine/rng.js';
import { getAttack } from '../../attacks/registry.js';
import { fmnSchedule, type FmnParams } from '../../attacks/fmn.js';
import type { MinimisationResult } from '../../attacks/types.js';
import { logitsF64, randomImages, randomLinear, type LinearClassifier } from '../helpers/linearClassifier.js';

/**
 * FMN against the closed form of a linear model. With logits z = W^T x + b, the margin between the label y
 * and class j moves linearly: (z_y - z_j)(x + delta) = (z_y - z_j)(x) + (w_y - w_j) . delta, so the smallest
 * perturbation reaching class j's half-space has norm (z_y - z_j) / ||w_y - w_j||_* with d = w_y - w_j and the
 * dual norm (L1 for an L-inf perturbation, L2 for L2), reached at delta = -dist sign(d) (L-inf) or
 * delta = -(z_y - z_j) d / ||d||_2^2 (L2); the model's smallest adversarial perturbation is the minimum over
 * j != y, provided that optimum stays inside the image box [0,1] (checked below).
 */
const SHAPE: [number, number, number] = [6, 6, 2];
const D = 72;
const N = 24;

let xHost: Float32Array;

interface Closed {
  distance: number[];
  /** The optimum x + delta* lies in [0,1] (so the box does not change the answer). */
  feasible: boolean[];
}

/** Closed-form minimal distance per sample for `labels`, dual norm exponent 1 (L-inf attack) or 2 (L2 attack). */
function closedForm(model: LinearClassifier, labels: number[], dualNorm: 1 | 2): Closed {
  const classes = model.numClasses;
  const z = logitsF64(model, xHost, N);
  const distance: number[] = [];
  const feasible: boolean[] = [];
  labels.forEach((y, r) => {
    let best = Infinity;
    let bestDelta: number[] = [];
    for (let j = 0; j < classes; j++) {
      if (j === y) continue;
      const d = Array.from({ length: D }, (_, i) => model.weights[i * classes + y] - model.weights[i * classes + j]);
      const m = z[r][y] - z[r][j];
      const l1 = d.reduce((s, v) => s + Math.abs(v), 0);
      const l2sq = d.reduce((s, v) => s + v * v, 0);
      const dist = dualNorm === 1 ? m / l1 : m / Math.sqrt(l2sq);
      if (dist < best) {
        best = dist;
        bestDelta = d.map((v) => (dualNorm === 1 ? -dist * Math.sign(v) : (-m * v) / l2sq));
      }
    }
    distance.push(best);
    feasible.push(bestDelta.every((v, i) => xHost[r * D + i] + v >= 0 && xHost[r * D + i] + v <= 1));
  });
  return { distance, feasible };
}

async function minimise(
  model: LinearClassifier,
  labels: number[],
  name: string,
  params: Partial<FmnParams> = {},
): Promise<MinimisationResult & { xAdvHost: Float32Array }> {
  const a = getAttack(name);
  const x = tf.tensor4d(xHost, [N, ...SHAPE]);
  const y = tf.tensor1d(labels, 'int32');
  const res = await a.minimise!(model, x, y, new KeyedRng(1, 'fmn', Array.from({ length: N }, (_, i) => i)), {
    path: 'first',
    output: 'first',
    params: a.parseParams(params, 'test'),
  });
  const xAdvHost = Float32Array.from(res.xAdv.dataSync());
  tf.dispose([x, y, res.xAdv]);
  return { ...res, xAdvHost };
}

let multi: LinearClassifier;
let binary: LinearClassifier;
const argmax = (row: number[]) => row.indexOf(Math.max(...row));

beforeAll(async () => {
  await initBackend('wasm');
  multi = randomLinear(21, SHAPE, 4, 0.2);
  binary = randomLinear(23, SHAPE, 2, 0.2);
  // Interior images, so the closed-form optimum lies inside the box (checked per sample).
  xHost = randomImages(22, N, SHAPE, 0.35, 0.65);
});

afterAll(() => {
  multi.dispose();
  binary.dispose();
});

describe('fmn on a linear model (4 classes, 100 steps, the defaults)', () => {
  for (const [name, dual] of [
    ['fmn', 1],
    ['fmn-l2', 2],
  ] as const)
    it(`${name}: every sample's distance is the closed-form minimum over the other classes (relative 1e-3), never below it`, async () => {
      const labels = logitsF64(multi, xHost, N).map(argmax);
      const exact = closedForm(multi, labels, dual);
      expect(exact.feasible.every(Boolean)).toBe(true);
      const res = await minimise(multi, labels, name);
      for (let r = 0; r < N; r++) {
        expect(res.fooled[r]).toBe(true);
        // No perturbation can be smaller than the closed form (float32 slack only).
        expect(res.distance[r]).toBeGreaterThanOrEqual(exact.distance[r] * (1 - 1e-5));
        expect(res.distance[r]).toBeLessThanOrEqual(exact.distance[r] * (1 + 1e-3));
      }
    });

  it('a sample the clean image already fools has distance 0 and keeps x', async () => {
    const labels = logitsF64(multi, xHost, N).map(argmax);
    const wrong = labels.map((l, r) => (r % 3 === 0 ? (l + 1) % 4 : l));
    const res = await minimise(multi, wrong, 'fmn', { steps: 5 });
    for (let r = 0; r < N; r += 3) {
      expect(res.distance[r]).toBe(0);
      expect(Array.from(res.xAdvHost.subarray(r * D, (r + 1) * D))).toEqual(Array.from(xHost.subarray(r * D, (r + 1) * D)));
    }
  });
});

describe('fmn targeted (2 classes: the target is the other class, the same closed form)', () => {
  it('fmn-l2 targeted at the other class reaches the closed-form distance', async () => {
    const labels = logitsF64(binary, xHost, N).map(argmax);
    const exact = closedForm(binary, labels, 2);
    expect(exact.feasible.every(Boolean)).toBe(true);
    const res = await minimise(binary, labels, 'fmn-l2', { targeted: true });
    for (let r = 0; r < N; r++) {
      expect(res.distance[r]).toBeGreaterThanOrEqual(exact.distance[r] * (1 - 1e-5));
      expect(res.distance[r]).toBeLessThanOrEqual(exact.distance[r] * (1 + 1e-3));
    }
  });
});

describe('fmn parameters', () => {
  it("anneals the step size from maxStepSize to maxStepSize / 100 and gamma from 0.05 to 0.001 (Foolbox's cosine)", () => {
    const p = getAttack('fmn').parseParams(undefined, 'test') as FmnParams;
    expect(p).toMatchObject({ steps: 100, maxStepSize: 1, gamma: 0.05 });
    expect(fmnSchedule(p, 0)).toEqual({ stepSize: 1, gamma: 0.05 });
    const half = fmnSchedule(p, 50);
    expect(half.stepSize).toBeCloseTo((1 + 0.01) / 2, 12);
    expect(half.gamma).toBeCloseTo((0.05 + 0.001) / 2, 12);
    // The last step (k = 99) is one step short of the final values, as Foolbox's range(steps).
    expect(fmnSchedule(p, 99).stepSize).toBeCloseTo(0.01 + 0.99 * (1 + Math.cos((Math.PI * 99) / 100)) / 2, 12);
  });

  it('refuses the other norm and a final step size above the first, naming the field', () => {
    expect(() => getAttack('fmn').parseParams({ norm: 'l2' }, 'attacks[0].params')).toThrow(/attacks\[0\]\.params\.norm: fmn is the linf attack; use fmn-l2/);
    expect(() => getAttack('fmn-l2').parseParams({ maxStepSize: 0.5, minStepSize: 1 }, 'p')).toThrow(InputError);
  });
});
