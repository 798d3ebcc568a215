import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf, type Tensor4D } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { InputError, inputError } from '../../src/engine/errors.js';
import { KeyedRng } from '../../src/engine/rng.js';
import { defineAttack, type AttackContext } from '../../attacks/define.js';
import { gatherRows, indicesWhere, RowStore } from '../../attacks/common.js';
import { ascentStep, project, withinBall } from '../../attacks/norms.js';
import { listAttacks } from '../../attacks/registry.js';
import type { TargetParams, ThreatModel } from '../../attacks/types.js';
import { logitsF64, randomImages, randomLinear, type LinearClassifier } from '../helpers/linearClassifier.js';

/**
 * A new attack is one defineAttack call: this file defines a minimal one (a single ascent step of size eps)
 * and checks that it gets the template's parameter parsing, radius refusal, eps = 0 shortcut, goal, final
 * evaluation and ball check without writing any of them.
 */
interface StepParams extends TargetParams {
  /** Multiplies the step; > 1 without projection leaves the ball (to test the ball check). */
  scale: number;
  projectBack: boolean;
}

const SHAPE: [number, number, number] = [4, 4, 1];
const N = 6;
let perturbCalls = 0;

function stepAttack(threatModel: ThreatModel) {
  return defineAttack<StepParams>({
    name: `one-step-${threatModel}`,
    kind: 'fixed-epsilon',
    threatModel,
    usesGradient: true,
    cost: () => ({ gradients: 1, forwards: 1 }),
    describe: 'one ascent step of size eps (test)',
    defaults: { scale: 1, projectBack: true, targeted: false, targetClass: undefined },
    schema: {
      scale: { kind: 'number', min: 0, exclusiveMin: true },
      projectBack: { kind: 'boolean' },
      targeted: { kind: 'boolean' },
      targetClass: { kind: 'int', min: 0, optional: true },
    },
    check(p, where) {
      if (p.scale > 1 && p.projectBack) throw inputError(`${where}.scale`, 'scale > 1 is projected back anyway', 'scale <= 1');
    },
    perturb(ctx: AttackContext<StepParams>) {
      perturbCalls++;
      const rows = indicesWhere(ctx.x.shape[0], (i) => !ctx.goal.skip[i]);
      const xs = gatherRows(ctx.x, rows);
      const { loss, grad } = ctx.lossAndGrad(xs, rows, 'margin');
      const moved = ascentStep(xs, grad, ctx.eps * ctx.params.scale, ctx.threatModel);
      const out = ctx.params.projectBack ? project(moved, xs, ctx.eps, ctx.threatModel) : moved;
      ctx.store.write(rows, out);
      tf.dispose([xs, loss, grad, moved, out]);
    },
  });
}

const linf = stepAttack('linf');
const l2 = stepAttack('l2');
let model: LinearClassifier;
let xHost: Float32Array;
let labels: number[];

beforeAll(async () => {
  await initBackend('wasm');
  model = randomLinear(31, SHAPE, 4, 0.5);
  xHost = randomImages(32, N, SHAPE, 0.1, 0.9);
  labels = logitsF64(model, xHost, N).map((row) => row.indexOf(Math.max(...row)));
  labels[0] = (labels[0] + 1) % 4; // misclassified before any attack
});

afterAll(() => model.dispose());

async function run(attack: typeof linf, eps: number, raw: Record<string, unknown> = {}) {
  const x = tf.tensor4d(xHost, [N, ...SHAPE]);
  const y = tf.tensor1d(labels, 'int32');
  const rng = new KeyedRng(1, 'cell', Array.from({ length: N }, (_, i) => i));
  try {
    const res = await attack.run(model, x, y, eps, rng, { path: 'first', output: 'last', params: attack.parseParams(raw, 'params') });
    const out = { xAdv: Float32Array.from(res.xAdv.dataSync()), fooled: res.fooled, nonFinite: res.nonFiniteLogits };
    res.xAdv.dispose();
    return out;
  } finally {
    tf.dispose([x, y]);
  }
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('defineAttack template', () => {
  it('declares what the spec gives and parses params with the schema, the spec check and the target checks', () => {
    expect(linf.kind).toBe('fixed-epsilon');
    expect(l2.threatModel).toBe('l2');
    expect(linf.isTargeted(linf.parseParams({ targeted: true }, 'p'))).toBe(true);
    expect(linf.parseParams(undefined, 'p')).toEqual(linf.defaults);
    expect(() => linf.parseParams({ scal: 2 }, 'p')).toThrow('p.scal: unknown parameter (did you mean "scale"?)');
    expect(() => linf.parseParams({ scale: 2 }, 'p')).toThrow('p.scale: scale > 1 is projected back anyway');
    expect(() => linf.parseParams({ targetClass: 2 }, 'p')).toThrow('p.targetClass: a target class needs targeted: true');
  });

  it('refuses a radius outside the threat model before perturbing', async () => {
    const before = perturbCalls;
    for (const eps of [-0.1, 1.5, NaN]) expect(await rejection(run(linf, eps))).toBeInstanceOf(InputError);
    expect((await rejection(run(linf, 1.5))).message).toMatch(/invalid epsilon 1\.5 for the L-inf threat model/);
    // L2 on 4x4x1 images: up to sqrt(16) = 4.
    expect((await rejection(run(l2, 4.01))).message).toMatch(/invalid epsilon 4\.01 for the L2 threat model \(allowed: finite numbers in \[0, 4\]/);
    expect(perturbCalls).toBe(before);
  });

  it('eps = 0 returns x unchanged with the clean outcome, without perturbing', async () => {
    const before = perturbCalls;
    const out = await run(linf, 0);
    expect(perturbCalls).toBe(before);
    expect(out.xAdv).toEqual(xHost);
    expect(out.fooled).toEqual(labels.map((_, i) => i === 0));
    expect(out.nonFinite).toEqual(new Array(N).fill(false));
  });

  it('sets fooled from one evaluation of the returned images, and never on rows skipped by the goal', async () => {
    for (const attack of [linf, l2]) {
      const eps = attack === linf ? 0.3 : 1.5;
      const out = await run(attack, eps);
      const predicted = logitsF64(model, out.xAdv, N).map((row) => row.indexOf(Math.max(...row)));
      expect(out.fooled).toEqual(predicted.map((p, i) => p !== labels[i]));
      expect(out.fooled.some(Boolean)).toBe(true);
    }
    // Targeted at class labels[1]: row 1 is skipped (target = true label) although it predicts the target.
    const out = await run(linf, 0.3, { targeted: true, targetClass: labels[1] });
    expect(out.fooled[1]).toBe(false);
    expect(Array.from(out.xAdv.subarray(16, 32))).toEqual(Array.from(xHost.subarray(16, 32)));
    expect(await rejection(run(linf, 0.3, { targeted: true, targetClass: 4 }))).toBeInstanceOf(InputError);
  });

  it('refuses examples outside the ball or [0,1] as an internal error naming the attack', async () => {
    const linfErr = await rejection(run(linf, 0.1, { scale: 3, projectBack: false }));
    expect(linfErr).not.toBeInstanceOf(InputError);
    expect(linfErr.message).toMatch(/^attack one-step-linf left the linf ball: distance 0\.3\d* for eps 0\.1/);
    const l2Err = await rejection(run(l2, 0.5, { scale: 2, projectBack: false }));
    expect(l2Err.message).toMatch(/^attack one-step-l2 left the l2 ball: distance 1(\.0*\d*)? for eps 0\.5/);
  });

  it('leaks no tensors', async () => {
    const before = tf.memory().numTensors;
    await run(linf, 0.3);
    await run(l2, 0);
    await rejection(run(linf, 0.1, { scale: 3, projectBack: false }));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('every registered attack is built by the template: fixed-epsilon ones run, minimisation ones also minimise', () => {
    for (const a of listAttacks()) {
      expect(['fixed-epsilon', 'minimisation']).toContain(a.kind);
      expect(typeof a.minimise === 'function').toBe(a.kind === 'minimisation');
    }
    expect(listAttacks().some((a) => a.kind === 'minimisation')).toBe(true);
  });
});

/**
 * A minimal minimisation attack: along the model's normalised margin-ascent direction (L-inf: its sign), the
 * first radius t of a grid that fools each row (a row never fooled returns its last, non-fooling point, which the
 * template must replace by x); `understate` makes it claim t / 2 (a broken attack), `escape`
 * moves rows outside [0,1].
 */
interface LineParams {
  understate: boolean;
  escape: boolean;
  /** Grid radii tried (the first `radii` of GRID); rows not fooled by then return the last point tried. */
  radii: number;
}
let minimiseCalls = 0;
const GRID = Array.from({ length: 40 }, (_, k) => 0.05 * (k + 1));

function lineAttack(threatModel: ThreatModel) {
  return defineAttack<LineParams>({
    name: `line-${threatModel}`,
    kind: 'minimisation',
    threatModel,
    usesGradient: true,
    cost: () => ({ gradients: 1, forwards: GRID.length }),
    describe: 'first fooling radius on a grid along the gradient (test)',
    defaults: { understate: false, escape: false, radii: GRID.length },
    schema: { understate: { kind: 'boolean' }, escape: { kind: 'boolean' }, radii: { kind: 'int', min: 1, max: GRID.length } },
    async minimise(ctx) {
      minimiseCalls++;
      const n = ctx.x.shape[0];
      const rows = indicesWhere(n, (i) => !ctx.goal.skip[i]);
      const xs = gatherRows(ctx.x, rows);
      const { loss, grad } = ctx.lossAndGrad(xs, rows, 'margin');
      const store = new RowStore(ctx.x);
      const distance = new Float64Array(n).fill(Infinity);
      const done = new Array<boolean>(rows.length).fill(false);
      for (const [i, t] of GRID.slice(0, ctx.params.radii).entries()) {
        const moved = tf.tidy(() => tf.clipByValue(ascentStep(xs, grad, t, ctx.threatModel), 0, 1) as Tensor4D);
        const score = ctx.evaluate(moved, rows);
        const now = indicesWhere(rows.length, (k) => score.fooled[k] && !done[k]);
        store.write(
          now.map((k) => rows[k]),
          moved,
          now,
        );
        for (const k of now) {
          done[k] = true;
          distance[rows[k]] = ctx.params.understate ? t / 2 : t;
        }
        if (i === ctx.params.radii - 1) {
          const left = indicesWhere(rows.length, (k) => !done[k]);
          store.write(
            left.map((k) => rows[k]),
            moved,
            left,
          );
        }
        moved.dispose();
      }
      tf.dispose([xs, loss, grad]);
      const xAdv = store.toTensor();
      if (!ctx.params.escape) return { xAdv, distance };
      const out = tf.add(xAdv, 2) as Tensor4D;
      xAdv.dispose();
      return { xAdv: out, distance };
    },
  });
}

const lineLinf = lineAttack('linf');
const lineL2 = lineAttack('l2');

async function minimiseWith(attack: typeof lineLinf, raw: Record<string, unknown> = {}) {
  const x = tf.tensor4d(xHost, [N, ...SHAPE]);
  const y = tf.tensor1d(labels, 'int32');
  const rng = new KeyedRng(1, 'sweep', Array.from({ length: N }, (_, i) => i));
  try {
    const res = await attack.minimise!(model, x, y, rng, { path: 'first', output: 'last', params: attack.parseParams(raw, 'params') });
    const out = { ...res, xAdv: Float32Array.from(res.xAdv.dataSync()) };
    res.xAdv.dispose();
    return out;
  } finally {
    tf.dispose([x, y]);
  }
}

const row = (a: Float32Array, r: number) => Array.from(a.subarray(r * 16, (r + 1) * 16));

describe('defineAttack template, minimisation kind', () => {
  it('minimise: distances measured on the returned images, 0 for a row fooled clean, Infinity (and x) where nothing was found', async () => {
    for (const attack of [lineLinf, lineL2]) {
      const out = await minimiseWith(attack, { radii: attack === lineLinf ? 2 : 6 });
      expect(attack.kind).toBe('minimisation');
      expect(out.distance[0]).toBe(0); // labels[0] is wrong: fooled clean
      expect(row(out.xAdv, 0)).toEqual(row(xHost, 0));
      const predicted = logitsF64(model, out.xAdv, N).map((r) => r.indexOf(Math.max(...r)));
      for (let r = 1; r < N; r++) {
        const delta = row(out.xAdv, r).map((v, i) => v - xHost[r * 16 + i]);
        const norm = attack === lineLinf ? Math.max(...delta.map(Math.abs)) : Math.sqrt(delta.reduce((s, v) => s + v * v, 0));
        if (Number.isFinite(out.distance[r])) {
          expect(out.fooled[r]).toBe(true);
          expect(predicted[r]).not.toBe(labels[r]);
          expect(Math.abs(out.distance[r] - norm)).toBeLessThanOrEqual(1e-6);
        } else {
          expect(out.fooled[r]).toBe(false);
          expect(row(out.xAdv, r)).toEqual(row(xHost, r));
        }
      }
      // Both kinds of rows occur.
      expect(Array.from(out.distance).filter((d) => d > 0 && Number.isFinite(d)).length).toBeGreaterThan(1);
      expect(Array.from(out.distance).filter((d) => d === Infinity).length).toBeGreaterThan(1);
    }
  });

  it('run(eps) is the one minimisation read at eps: the example found iff withinBall(distance, eps), else x; eps = 0 runs nothing', async () => {
    for (const attack of [lineLinf, lineL2]) {
      const found = await minimiseWith(attack);
      const radii = Array.from(new Set(Array.from(found.distance).filter((d) => d > 0 && Number.isFinite(d)))).sort((a, b) => a - b);
      // Each distance itself (the ball's edge), just below it, and between two of them.
      for (const eps of [radii[0], radii[0] * 0.99, (radii[0] + radii[radii.length - 1]) / 2, radii[radii.length - 1]]) {
        const out = await run(attack as unknown as typeof linf, eps);
        for (let r = 0; r < N; r++) {
          const inside = withinBall(found.distance[r], eps);
          expect(out.fooled[r]).toBe(inside && found.fooled[r]);
          expect(row(out.xAdv, r)).toEqual(row(inside ? found.xAdv : xHost, r));
        }
      }
      const before = minimiseCalls;
      const clean = await run(attack as unknown as typeof linf, 0);
      expect(minimiseCalls).toBe(before);
      expect(clean.xAdv).toEqual(xHost);
      expect(clean.fooled).toEqual(labels.map((_, i) => i === 0));
    }
  });

  it('refuses an attack that understates its distances or leaves [0,1], as an internal error naming it', async () => {
    const under = await rejection(minimiseWith(lineL2, { understate: true }));
    expect(under).not.toBeInstanceOf(InputError);
    expect(under.message).toMatch(/^attack line-l2 claimed distance [\d.]+ for row \d+, measured [\d.]+/);
    expect((await rejection(minimiseWith(lineLinf, { escape: true }))).message).toMatch(/^attack line-linf returned pixels outside \[0,1\]/);
  });

  it('leaks no tensors', async () => {
    const before = tf.memory().numTensors;
    await minimiseWith(lineLinf);
    await run(lineL2 as unknown as typeof linf, 0.5);
    await rejection(minimiseWith(lineL2, { understate: true }));
    expect(tf.memory().numTensors).toBe(before);
  });
});