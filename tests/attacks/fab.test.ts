import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf, type Tensor4D } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { KeyedRng } from '../../src/engine/rng.js';
import { loadFashionMnist } from '../../src/data/fashionMnist.js';
import { loadCnnfModel } from '../../src/models/families/cnnf.js';
import { defineAttack } from '../../attacks/define.js';
import { rankClasses } from '../../attacks/common.js';
import { fabTL2, fabTLinf, minimiseFabUntargeted, type FabParams } from '../../attacks/fab.js';
import { getAttack } from '../../attacks/registry.js';
import type { AnyAttack, MinimisationResult, ThreatModel } from '../../attacks/types.js';
import type { Classifier } from '../../src/models/classifier.js';
import { linearClassifier, logitsF64, withLogitsFor, type LinearClassifier } from '../helpers/linearClassifier.js';
import { randomizedClassifier } from '../helpers/randomizedClassifier.js';

/**
 * FAB on a linear model, against two outside references:
 * - AutoAttack's own FAB (fra31/auto-attack fab_pt.py, run by tests/fixtures/fab-reference/make_fixture.py
 *   on the same float32 model and images): per target rank and untargeted, the distance each run finds;
 * - the closed form. For logits z = x W + b the smallest perturbation making class t score at least the true
 *   class y is (z_y - z_t) / ||w_y - w_t||_q, q the dual norm (L-inf: q = 1; L2: q = 2), when the box does
 *   not bind (interior images); over every target, the minimum of those. FAB's first step lands 5% beyond
 *   the boundary (eta 1.05); its backward steps (beta 0.9) then close in from outside, to within about 1%.
 */
interface Reference {
  shape: [number, number, number, number];
  classes: number;
  weights: number[];
  bias: number[];
  images: number[];
  labels: number[];
  runs: Record<string, (number | null)[]>;
}
const ref = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'fab-reference', 'cases.json'), 'utf8')) as Reference;
const [N, ...rest] = ref.shape;
const SHAPE = rest as [number, number, number];
const C = ref.classes;
const D = SHAPE[0] * SHAPE[1] * SHAPE[2];
const NORM_NAME = { linf: 'Linf', l2: 'L2' } as const;

let linear: LinearClassifier;
let xHost: Float32Array;
let labels: number[];

beforeAll(async () => {
  await initBackend('wasm');
  linear = withLogitsFor(linearClassifier(SHAPE, C, ref.weights, ref.bias));
  xHost = Float32Array.from(ref.images);
  labels = ref.labels;
});

afterAll(() => linear.dispose());

/** Closed-form minimal distance per sample over every other class, and the largest pixel move it needs. */
function closedForm(norm: ThreatModel): { distance: number[]; maxShift: number[] } {
  const z = logitsF64(linear, xHost, N);
  const distance: number[] = [];
  const maxShift: number[] = [];
  labels.forEach((y, r) => {
    let best = Infinity;
    let shift = 0;
    for (let t = 0; t < C; t++) {
      if (t === y) continue;
      const diff = Array.from({ length: D }, (_, i) => linear.weights[i * C + y] - linear.weights[i * C + t]);
      const dual = norm === 'linf' ? diff.reduce((s, v) => s + Math.abs(v), 0) : Math.sqrt(diff.reduce((s, v) => s + v * v, 0));
      const d = Math.max(z[r][y] - z[r][t], 0) / dual;
      if (d < best) {
        best = d;
        shift = norm === 'linf' ? d : (d * Math.max(...diff.map(Math.abs))) / dual;
      }
    }
    distance.push(best);
    maxShift.push(shift);
  });
  return { distance, maxShift };
}

/** The reference's distance per sample for one run, or the minimum over several (null: none found). */
function reference(keys: string[]): number[] {
  return Array.from({ length: N }, (_, r) => Math.min(...keys.map((k) => ref.runs[k][r] ?? Infinity)));
}

async function minimise(attack: AnyAttack, params: Partial<FabParams> = {}, model: Classifier = linear, images = xHost, ys = labels): Promise<MinimisationResult> {
  const n = ys.length;
  const x = tf.tensor4d(images, [n, ...(model.inputShape as [number, number, number])]);
  const y = tf.tensor1d(ys, 'int32');
  const out = await attack.minimise!(model, x, y, new KeyedRng(3, 'fab', Array.from({ length: n }, (_, i) => i)), {
    path: 'first',
    output: 'first',
    params: attack.parseParams(params, 'test'),
  });
  tf.dispose([x, y]);
  return out;
}

/** |a / b - 1| <= tol per sample, with 0 = 0. */
function expectRelative(got: ArrayLike<number>, want: number[], tol: number) {
  want.forEach((w, r) => {
    if (w === 0) expect(got[r]).toBe(0);
    else expect(Math.abs(got[r] / w - 1)).toBeLessThanOrEqual(tol);
  });
}

describe('FAB on a linear model equals AutoAttack\'s FAB and the closed form', () => {
  for (const [attack, norm] of [
    [fabTLinf, 'linf'],
    [fabTL2, 'l2'],
  ] as const) {
    const name = NORM_NAME[norm];
    it(`${attack.name}: the reference's distance (minimum over its target runs) within 1e-4, the closed form within 1%, never below`, async () => {
      const { distance: exact, maxShift } = closedForm(norm);
      // Meaningful: the box does not bind (pixels in [0.35, 0.65] move less than 0.35), one clean mistake.
      expect(Math.max(...maxShift)).toBeLessThan(0.35);
      expect(exact[N - 1]).toBe(0);
      const found = await minimise(attack, { targets: C - 1 });
      found.xAdv.dispose();
      expectRelative(found.distance, reference([2, 3, 4, 5].map((k) => `${name}/target${k}`)), 1e-4);
      for (let r = 0; r < N - 1; r++) {
        expect(found.distance[r]).toBeGreaterThanOrEqual(exact[r] * (1 - 1e-6));
        expect(found.distance[r]).toBeLessThanOrEqual(exact[r] * 1.01);
      }
    });
  }

  it('targets follow the clean logit ranks: one target is the reference run at rank 2 (the runner-up class)', async () => {
    const z = logitsF64(linear, xHost, N);
    const ranks = rankClasses(z.flat(), C);
    ranks.forEach((order, r) => expect(order[0]).toBe(z[r].indexOf(Math.max(...z[r]))));
    for (const [attack, norm] of [
      [fabTLinf, 'linf'],
      [fabTL2, 'l2'],
    ] as const) {
      const found = await minimise(attack, { targets: 1 });
      found.xAdv.dispose();
      expectRelative(found.distance, reference([`${NORM_NAME[norm]}/target2`]), 1e-4);
    }
  });

  it('untargeted FAB (the full Jacobian each step) equals the reference untargeted run', async () => {
    for (const norm of ['linf', 'l2'] as const) {
      const untargeted = defineAttack<FabParams>(fabSpecLike(norm));
      const found = await minimise(untargeted);
      found.xAdv.dispose();
      expectRelative(found.distance, reference([`${NORM_NAME[norm]}/untargeted`]), 1e-4);
    }
  });
});

/** A minimisation attack running the untargeted FAB loop, with FAB-T's parameters. */
function fabSpecLike(norm: ThreatModel) {
  return {
    name: 'fab-untargeted-test',
    kind: 'minimisation' as const,
    threatModel: norm,
    usesGradient: true,
    isTargeted: () => false,
    cost: () => ({ gradients: 1, forwards: 1 }),
    describe: '',
    defaults: (norm === 'linf' ? fabTLinf : fabTL2).defaults as FabParams,
    schema: {},
    minimise: minimiseFabUntargeted as never,
  };
}

describe('FAB-T as an attack of the minimisation kind', () => {
  it('run at one eps keeps exactly the samples whose minimal distance is <= eps', async () => {
    const found = await minimise(fabTLinf, { targets: C - 1, steps: 30 });
    found.xAdv.dispose();
    const finite = Array.from(found.distance).filter((d) => d > 0 && Number.isFinite(d)).sort((a, b) => a - b);
    const eps = (finite[3] + finite[4]) / 2;
    const x = tf.tensor4d(xHost, [N, ...SHAPE]);
    const y = tf.tensor1d(labels, 'int32');
    const res = await fabTLinf.run(linear, x, y, eps, new KeyedRng(3, 'fab', Array.from({ length: N }, (_, i) => i)), {
      path: 'first',
      output: 'first',
      params: fabTLinf.parseParams({ targets: C - 1, steps: 30 }, 'test'),
    });
    expect(res.fooled).toEqual(Array.from(found.distance, (d) => d <= eps));
    expect(res.fooled.filter(Boolean).length).toBe(5); // four found within eps, and the clean mistake
    tf.dispose([x, y, res.xAdv]);
  });

  it('tries at most classes - 1 targets: 9 on a 5-class model is the same run as 4', async () => {
    const [nine, four] = [await minimise(fabTLinf, { steps: 3, targets: 9 }), await minimise(fabTLinf, { steps: 3, targets: 4 })];
    expect(Array.from(nine.distance)).toEqual(Array.from(four.distance));
    tf.dispose([nine.xAdv, four.xAdv]);
  });

  it('takes eot: each step linearises the mean of eot passes (L-inf and L2), and declares eot times the gradients', async () => {
    const x = tf.tensor4d(xHost, [N, ...SHAPE]);
    const steps = 2;
    const targets = 2;
    for (const attack of [fabTLinf, fabTL2]) {
      const calls: Record<number, number> = {};
      for (const eot of [1, 3]) {
        const params = attack.parseParams({ steps, targets, eot }, 'test');
        expect(attack.cost(params).gradients).toBe(eot * targets * steps);
        // Labels: the predictions of the template's clean evaluation (the seed's first mask), so every row is attacked.
        const first = randomizedClassifier(linear, 21).logits(x);
        const pred = tf.argMax(first, 1) as tf.Tensor1D;
        const model = randomizedClassifier(linear, 21);
        const found = await attack.minimise!(model, x, pred, new KeyedRng(0, 'fab-eot', Array.from({ length: N }, (_, i) => i)), { path: 'first', output: 'first', params });
        calls[eot] = model.masks.length;
        // Every pass of the model is one batch: the clean evaluation, FAB's clean logits, per target and step
        // eot gradient passes and one misclassification check, and the final evaluation.
        expect(model.masks.length, `${attack.name} eot ${eot}`).toBe(3 + targets * steps * (eot + 1));
        tf.dispose([first, pred, found.xAdv]);
      }
      expect(calls[3] - calls[1]).toBe(2 * targets * steps);
    }
    x.dispose();
  });

  it('leaks no tensors', async () => {
    const before = tf.memory().numTensors;
    const found = await minimise(fabTL2, { steps: 3 });
    found.xAdv.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('is registered as fab-t and fab-t-l2 with AutoAttack\'s defaults', () => {
    expect(getAttack('fab-t')).toBe(fabTLinf);
    expect(getAttack('fab-t-l2')).toBe(fabTL2);
    expect(fabTLinf.kind).toBe('minimisation');
    expect(fabTLinf.defaults).toEqual({ steps: 100, restarts: 1, targets: 9, alphaMax: 0.1, eta: 1.05, beta: 0.9, restartRadius: 0.3 });
    expect(fabTL2.defaults).toMatchObject({ restartRadius: 1 });
    expect(fabTLinf.isTargeted(fabTLinf.defaults)).toBe(false);
    expect(fabTLinf.cost(fabTLinf.defaults)).toEqual({ gradients: 900, forwards: 901 });
  });
});

describe('FAB-T on the committed CNN', () => {
  it('16 test images: every found example is misclassified at exactly the reported distance', async () => {
    const model = await loadCnnfModel(join(import.meta.dirname, '..', '..', 'checkpoints', 'cnn-fmnist'));
    const test = await loadFashionMnist('test');
    const n = 16;
    const size = 28 * 28;
    const images = test.images.subarray(0, n * size);
    const ys = Array.from(test.labels.subarray(0, n));
    const classifier = model.classifier;
    const found = await minimise(fabTLinf, { steps: 10, targets: 3 }, classifier, images as Float32Array, ys);
    const x = tf.tensor4d(images, [n, 28, 28, 1]);
    const measured = tf.tidy(() => tf.max(tf.abs(tf.sub(found.xAdv, x)), [1, 2, 3])).dataSync();
    const predicted = tf.tidy(() => tf.argMax(classifier.logits(found.xAdv), 1)).dataSync();
    const cleanPred = tf.tidy(() => tf.argMax(classifier.logits(x), 1)).dataSync();
    const d = Array.from(found.distance);
    console.log('fab-t linf distances (10 steps, 3 targets):', d.map((v) => v.toFixed(4)).join(' '));
    for (let i = 0; i < n; i++) {
      if (cleanPred[i] !== ys[i]) {
        expect(d[i]).toBe(0);
        continue;
      }
      expect(Number.isFinite(d[i])).toBe(true);
      expect(predicted[i]).not.toBe(ys[i]);
      expect(Math.abs(measured[i] - d[i])).toBeLessThanOrEqual(1e-6);
    }
    tf.dispose([x, found.xAdv]);
    model.dispose();
  }, 120_000);
});
