import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf, type Tensor4D } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { InputError, inputError } from '../../src/engine/errors.js';
import { KeyedRng } from '../../src/engine/rng.js';
import { defineAttack, type AttackContext } from '../../attacks/define.js';
import { gatherRows, indicesWhere } from '../../attacks/common.js';
import { ascentStep, project } from '../../attacks/norms.js';
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

  it('builds minimisation attacks (their template is tested in fab.test.ts); registered attacks declare their kind', () => {
    const minimal = defineAttack<Record<string, never>>({
      name: 'min-norm',
      kind: 'minimisation',
      threatModel: 'linf',
      usesGradient: false,
      cost: () => ({ gradients: 0, forwards: 1 }),
      describe: '',
      defaults: {},
      schema: {},
      minimise: async () => {
        throw new Error('unused');
      },
    });
    expect(minimal.kind).toBe('minimisation');
    expect(typeof minimal.minimise).toBe('function');
    expect(new Set(listAttacks().map((a) => a.kind))).toEqual(new Set(['fixed-epsilon', 'minimisation']));
    for (const a of listAttacks()) expect(typeof a.minimise === 'function').toBe(a.kind === 'minimisation');
  });
});