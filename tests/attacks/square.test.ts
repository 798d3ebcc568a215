import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf, type Tensor2D, type Tensor4D } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { KeyedRng } from '../../src/engine/rng.js';
import { square, squareFraction, squareSide } from '../../attacks/square.js';
import { linearClassifier, logitsF64, randomImages, randomLinear, type LinearClassifier } from '../helpers/linearClassifier.js';

/*
 * Square Attack against AutoAttack's autoattack/square.py (fra31/auto-attack), the reference `square`
 * follows by default: its p schedule without rescaling (the standard ensemble's resc_schedule=False),
 * its query count (n_queries iterations after the stripes), its window offsets (random_int(0, h - s):
 * never the last one) and its proposals that change no pixel (evaluated by square.py, and with
 * evaluateNoOps; by default not shown to the model, with the same examples); and the two named departures
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

function recording(inner: LinearClassifier = model): LinearClassifier {
  shown = [];
  return {
    ...inner,
    logits(x: Tensor4D, output?: string): Tensor2D {
      const v = x.dataSync() as Float32Array;
      shown.push(Array.from({ length: x.shape[0] }, (_, k) => v.slice(k * D, (k + 1) * D)));
      return inner.logits(x, output as never);
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
  // shown[0]: the clean check; shown[1]: the stripes (every row, in order); then at most one call per
  // iteration, holding the rows whose proposal is evaluated; last: the final evaluation.
  const stripes = shown[1];
  const proposals = shown.slice(2, -1).map((batch) => batch.map((image) => ({ row: rowOf(image, stripes), image })));
  return { stripes, proposals, calls: shown.length };
}

/** Pixel indices where a proposal differs from the stripes it was built on (the unchanged current point). */
const changed = (proposal: Float32Array, start: Float32Array) => [...proposal.keys()].filter((i) => proposal[i] !== start[i]);

/**
 * The batch row a proposal belongs to: the row whose stripes it differs from least (a proposal changes
 * one window of its row's stripes; the random clean images differ everywhere).
 */
function rowOf(image: Float32Array, stripes: Float32Array[]): number {
  const counts = stripes.map((s) => changed(image, s).length);
  return counts.indexOf(Math.min(...counts));
}

describe('square follows autoattack/square.py', () => {
  it('runs `queries` iterations after the initial stripes, as n_queries does: queries + 1 evaluations of an unbroken sample (evaluateNoOps)', async () => {
    // square.py: x_best from the stripes (one query), then `for i_iter in range(self.n_queries)`, each
    // iteration evaluating every sample still robust.
    const { proposals, calls } = await attack({ queries: 17, evaluateNoOps: true });
    expect(proposals.length).toBe(17);
    expect(proposals.every((batch) => batch.map((p) => p.row).join() === [...Array(N).keys()].join())).toBe(true);
    expect(calls).toBe(17 + 3); // + the clean check, the stripes and the final evaluation
  });

  it('square.py evaluates proposals that change no pixel (about half with 1-pixel windows): evaluateNoOps', async () => {
    // pInit 0.02 on 6 x 6: side max(round(sqrt(0.02 * 36)), 1) = 1 at every iteration. A 1-pixel window
    // already at x +/- eps keeps its value when the drawn sign is the one it has: probability 1/2.
    const { stripes, proposals } = await attack({ queries: 100, pInit: 0.02, evaluateNoOps: true });
    let count = 0;
    for (const batch of proposals) batch.forEach(({ row, image }) => (count += changed(image, stripes[row]).length === 0 ? 1 : 0));
    expect(proposals.flat().length).toBe(100 * N);
    // 800 Bernoulli(1/2) draws: [0.4, 0.6] is more than 5 standard deviations (0.018) either side.
    expect(count / (100 * N)).toBeGreaterThan(0.4);
    expect(count / (100 * N)).toBeLessThan(0.6);
  });

  it('by default shows the model no proposal that changes no pixel (nor does skipNoOps, which redraws their signs)', async () => {
    // The model cannot be fooled, so every row's current point stays its stripes all along.
    for (const params of [{}, { skipNoOps: true }]) {
      const { stripes, proposals } = await attack({ queries: 100, pInit: 0.02, ...params });
      const shownProposals = proposals.flat();
      expect(shownProposals.length, JSON.stringify(params)).toBeGreaterThan(0);
      expect(shownProposals.filter(({ row, image }) => changed(image, stripes[row]).length === 0).length, JSON.stringify(params)).toBe(0);
    }
  });

  it('skipping proposals that change no pixel gives bit-identical examples with fewer images shown than evaluateNoOps (square.py)', async () => {
    // A foolable model: some rows are fooled part-way, the others improve their margin by accepted
    // proposals; pInit 0.05 with the rescaled schedule gives 1- and 2-pixel windows after a few
    // iterations, so many proposals change nothing.
    const foolable = randomLinear(61, SHAPE, 3, 1);
    const labels = logitsF64(foolable, xHost, N).map((z) => z.indexOf(Math.max(...z)));
    const run = async (evaluateNoOps: boolean) => {
      const classifier = recording(foolable);
      const x = tf.tensor4d(xHost, [N, ...SHAPE]);
      const y = tf.tensor1d(labels, 'int32');
      const res = await square.run(classifier, x, y, 0.1, new KeyedRng(7, 'square-noops', [...Array(N).keys()]), {
        path: 'first',
        output: 'first',
        params: square.parseParams({ queries: 150, pInit: 0.05, evaluateNoOps }, 'test'),
      });
      const xAdv = res.xAdv.dataSync() as Float32Array;
      tf.dispose([x, y, res.xAdv]);
      return { xAdv: Float32Array.from(xAdv), fooled: res.fooled, images: shown.flat().length, stripes: shown[1] };
    };
    const withNoOps = await run(true);
    const skipping = await run(false);
    foolable.dispose();
    // Not a trivial case: some rows fooled, some not, and some of the unfooled rows moved off their stripes.
    const fooledCount = withNoOps.fooled.filter(Boolean).length;
    expect(fooledCount).toBeGreaterThan(0);
    expect(fooledCount).toBeLessThan(N);
    const moved = withNoOps.fooled.filter((f, r) => !f && changed(withNoOps.xAdv.subarray(r * D, (r + 1) * D), withNoOps.stripes[r]).length > 0);
    expect(moved.length).toBeGreaterThan(0);
    expect(Buffer.from(skipping.xAdv.buffer).equals(Buffer.from(withNoOps.xAdv.buffer))).toBe(true);
    expect(skipping.fooled).toEqual(withNoOps.fooled);
    expect(skipping.images).toBeLessThan(withNoOps.images);
  });

  it("draws the window's offset from 0 .. side - s - 1 as random_int(0, h - s); allOffsets also reaches the last row and column", async () => {
    const reached = async (params: Record<string, unknown>) => {
      const { stripes, proposals } = await attack({ queries: 150, pInit: 0.02, skipNoOps: true, ...params });
      const rows = new Set<number>();
      const cols = new Set<number>();
      for (const batch of proposals)
        batch.forEach(({ row, image }) =>
          changed(image, stripes[row]).forEach((i) => {
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
      return Math.min(...last.map(({ row, image }) => changed(image, stripes[row]).length));
    };
    expect(await minChange(true)).toBe(1);
    expect(await minChange(false)).toBeGreaterThanOrEqual(4);
  });
});
