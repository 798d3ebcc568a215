import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { KeyedRng } from '../../src/engine/rng.js';
import { getAttack } from '../../attacks/registry.js';
import type { MinimisationResult } from '../../attacks/types.js';
import { logitsF64, randomImages, randomLinear, type LinearClassifier } from '../helpers/linearClassifier.js';

/**
 * FMN against the closed form of a linear model. With logits z = W^T x + b, the margin between the label y
 * and class j moves linearly: (z_y - z_j)(x + delta) = (z_y - z_j)(x) + (w_y - w_j) . delta, so the smallest
 * perturbation reaching class j's half-space has norm (z_y - z_j) / ||w_y - w_j||_* (the dual norm: L1 for an
 * L-inf perturbation, L2 for L2), and the smallest adversarial perturbation of the whole model is the minimum
 * over j != y, when the optimum stays inside the image box (interior images and small distances, checked).
 */
const SHAPE: [number, number, number] = [6, 6, 2];
const D = 72;
const N = 24;

let model: LinearClassifier;
let xHost: Float32Array;
let labels: number[];

/** Closed-form minimal distance per sample, with q the dual norm's exponent (1 or 2). */
function closedForm(dualNorm: 1 | 2): number[] {
  const classes = model.numClasses;
  const z = logitsF64(model, xHost, N);
  return labels.map((y, r) => {
    let best = Infinity;
    for (let j = 0; j < classes; j++) {
      if (j === y) continue;
      let s = 0;
      for (let i = 0; i < D; i++) {
        const d = model.weights[i * classes + y] - model.weights[i * classes + j];
        s += dualNorm === 1 ? Math.abs(d) : d * d;
      }
      best = Math.min(best, (z[r][y] - z[r][j]) / (dualNorm === 1 ? s : Math.sqrt(s)));
    }
    return best;
  });
}

async function minimise(name: string, params: Record<string, unknown> = {}): Promise<MinimisationResult & { xAdvHost: Float32Array }> {
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

beforeAll(async () => {
  await initBackend('wasm');
  model = randomLinear(21, SHAPE, 4, 0.2);
  xHost = randomImages(22, N, SHAPE, 0.35, 0.65);
  const z = logitsF64(model, xHost, N);
  labels = z.map((row) => row.indexOf(Math.max(...row)));
});

afterAll(() => model.dispose());

describe('fmn on a linear model', () => {
  for (const [name, dual] of [
    ['fmn', 1],
    ['fmn-l2', 2],
  ] as const)
    it(`${name}: finds the closed-form minimal distance`, async () => {
      const exact = closedForm(dual);
      const res = await minimise(name);
      const ratio = exact.map((e, r) => res.distance[r] / e);
      console.log(name, exact.slice(0, 6), Array.from(res.distance.slice(0, 6)), Math.min(...ratio), Math.max(...ratio));
    });
});
