import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf, type Tensor2D, type Tensor4D } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { KeyedRng } from '../../src/engine/rng.js';
import { square, squareFraction, squareSide } from '../../attacks/square.js';
import { linearClassifier, randomImages, type LinearClassifier } from '../helpers/linearClassifier.js';

/*
 * Square Attack against AutoAttack's autoattack/square.py (fra31/auto-attack), the reference `square`
 * follows by default: its p schedule without rescaling (the standard ensemble's resc_schedule=False),
 * its query count (n_queries iterations after the stripes), its window offsets (random_int(0, h - s):
 * never the last one) and its proposals that change no pixel; and the two named departures
 * (skipNoOps, allOffsets).
 */
const SHAPE: [number, number, number] = [6, 6, 1];
const D = 36;
const N = 8;
const EPS = 0.05;

/**
 * A model no L-inf perturbation can fool (zero weights, bias favouring class 0): every proposal leaves
 * the margin unchanged, so none is accepted and the current point stays the initial stripes. It records
 * every image it is shown, in order, per logits() call.
 */
let model: LinearClassifier;
let shown: Float32Array[][];
let xHost: Float32Array;

beforeAll(async () => {
  await initBackend('wasm');
  model = linearClassifier(SHAPE, 3, new Float32Array(D * 3), [10, 0, 0]);
  xHost = randomImages(51, N, SHAPE, 0.2, 0.8);
});
afterAll(() => model.dispose());

function recording(): LinearClassifier {
  shown = [];
  return {
    ...model,
    logits(x: Tensor4D, output?: string): Tensor2D {
      const v = x.dataSync() as Float32Array;
      shown.push(Array.from({ length: x.shape[0] }, (_, k) => v.slice(k * D, (k + 1) * D)));
      return model.logits(x, output as never);
    },
  };
}

async function attack(params: Record<string, unknown>) {
  const classifier = recording();
  const x = tf.tensor4d(xHost, [N, ...SHAPE]);
  const y = tf.tensor1d(new Array(N).fill(0), 'int32');
  const res = await square.run(classifier, x, y, EPS, new KeyedRng(5, 'square-test', [...Array(N).keys()]), {
    path: 'first',
    output: 'first',
    params: square.parseParams(params, 'test'),
  });
  tf.dispose([x, y, res.xAdv]);
  // shown[0]: the clean check; shown[1]: the stripes; then one call per iteration; last: the final evaluation.
  return { stripes: shown[1], proposals: shown.slice(2, -1), calls: shown.length };
}

/** Pixel indices where a proposal differs from the stripes it was built on (the unchanged current point). */
const changed = (proposal: Float32Array, start: Float32Array) => [...proposal.keys()].filter((i) => proposal[i] !== start[i]);

describe('square follows autoattack/square.py', () => {
  it('runs `queries` iterations after the initial stripes, as n_queries does: queries + 1 evaluations of an unbroken sample', async () => {
    // square.py: x_best from the stripes (one query), then `for i_iter in range(self.n_queries)`.
    const { proposals, calls } = await attack({ queries: 17 });
    expect(proposals.length).toBe(17);
    expect(calls).toBe(17 + 3); // + the clean check, the stripes and the final evaluation
  });

  it('spends queries on proposals that change no pixel (about half with 1-pixel windows); skipNoOps redraws their signs', async () => {
    // pInit 0.02 on 6 x 6: side max(round(sqrt(0.02 * 36)), 1) = 1 at every iteration. A 1-pixel window
    // already at x +/- eps keeps its value when the drawn sign is the one it has: probability 1/2.
    const noOps = async (params: Record<string, unknown>) => {
      const { stripes, proposals } = await attack({ queries: 100, pInit: 0.02, ...params });
      let count = 0;
      for (const batch of proposals) batch.forEach((p, k) => (count += changed(p, stripes[k]).length === 0 ? 1 : 0));
      return count / (proposals.length * N);
    };
    const reference = await noOps({});
    // 800 Bernoulli(1/2) draws: [0.4, 0.6] is more than 5 standard deviations (0.018) either side.
    expect(reference).toBeGreaterThan(0.4);
    expect(reference).toBeLessThan(0.6);
    expect(await noOps({ skipNoOps: true })).toBe(0);
  });

  it("draws the window's offset from 0 .. side - s - 1 as random_int(0, h - s); allOffsets also reaches the last row and column", async () => {
    const reached = async (params: Record<string, unknown>) => {
      const { stripes, proposals } = await attack({ queries: 150, pInit: 0.02, skipNoOps: true, ...params });
      const rows = new Set<number>();
      const cols = new Set<number>();
      for (const batch of proposals)
        batch.forEach((p, k) =>
          changed(p, stripes[k]).forEach((i) => {
            rows.add(Math.floor(i / 6));
            cols.add(i % 6);
          }),
        );
      return { rows: [...rows].sort(), cols: [...cols].sort() };
    };
    expect(await reached({})).toEqual({ rows: [0, 1, 2, 3, 4], cols: [0, 1, 2, 3, 4] });
    expect(await reached({ allOffsets: true })).toEqual({ rows: [0, 1, 2, 3, 4, 5], cols: [0, 1, 2, 3, 4, 5] });
  });

  it('p schedule without rescaling (AutoAttack standard ensemble: resc_schedule=False) matches square.py', () => {
    // /usr/bin/python3 scripts/reference/params.py, key square_schedule_fixed: for (n_queries, p_init), the
    // iterations where p_selection changes (and the ends), as [it, p, side for c=1, side for c=3] on 28 x 28.
    const reference: Record<string, [number, number, number, number][]> = {
      '5000/0.8': [[0, 0.8, 25, 25], [10, 0.8, 25, 25], [11, 0.4, 18, 18], [50, 0.4, 18, 18], [51, 0.2, 13, 13], [200, 0.2, 13, 13], [201, 0.1, 9, 9], [500, 0.1, 9, 9], [501, 0.05, 6, 6], [1000, 0.05, 6, 6], [1001, 0.025, 4, 4], [2000, 0.025, 4, 4], [2001, 0.0125, 3, 3], [4000, 0.0125, 3, 3], [4001, 0.00625, 2, 2], [4999, 0.00625, 2, 2]],
      '200/0.8': [[0, 0.8, 25, 25], [10, 0.8, 25, 25], [11, 0.4, 18, 18], [50, 0.4, 18, 18], [51, 0.2, 13, 13], [199, 0.2, 13, 13]],
      '10000/0.05': [[0, 0.05, 6, 6], [10, 0.05, 6, 6], [11, 0.025, 4, 4], [50, 0.025, 4, 4], [51, 0.0125, 3, 3], [200, 0.0125, 3, 3], [201, 0.00625, 2, 2], [500, 0.00625, 2, 2], [501, 0.003125, 2, 2], [1000, 0.003125, 2, 2], [1001, 0.0015625, 1, 1], [2000, 0.0015625, 1, 1], [2001, 0.00078125, 1, 1], [4000, 0.00078125, 1, 1], [4001, 0.000390625, 1, 1], [6000, 0.000390625, 1, 1], [6001, 0.0001953125, 1, 1], [8000, 0.0001953125, 1, 1], [8001, 9.765625e-5, 1, 1], [9999, 9.765625e-5, 1, 1]],
    };
    for (const [key, rows] of Object.entries(reference)) {
      const [budget, pInit] = key.split('/').map(Number);
      for (const [it, p, side1, side3] of rows) {
        const ours = squareFraction(it, budget, pInit, false);
        expect(ours, `${key} iteration ${it}`).toBe(p);
        expect([squareSide(ours, 28, 28, 1), squareSide(ours, 28, 28, 3)], `${key} iteration ${it}`).toEqual([side1, side3]);
      }
    }
  });

  it('rescaleSchedule: false runs the unrescaled schedule inside the attack (large windows all along a short budget)', async () => {
    // 20 queries, pInit 0.8, 6 x 6: rescaled, p reaches 0.8 / 512 (side 1) by the end; unrescaled, p stays
    // 0.8 (side 5) for iterations 0..10 and 0.4 (side 4) after: every non-empty change covers at least
    // a 4-pixel column segment.
    const minChange = async (rescaleSchedule: boolean) => {
      const { stripes, proposals } = await attack({ queries: 20, pInit: 0.8, skipNoOps: true, rescaleSchedule });
      const last = proposals[proposals.length - 1];
      return Math.min(...last.map((p, k) => changed(p, stripes[k]).length));
    };
    expect(await minChange(true)).toBe(1);
    expect(await minChange(false)).toBeGreaterThanOrEqual(4);
  });
});
