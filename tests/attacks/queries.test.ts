import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf, type Tensor4D } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { KeyedRng } from '../../src/engine/rng.js';
import { GRADIENT_PATHS, type GradientPath } from '../../src/models/classifier.js';
import { guardQueries, InvalidQueryError } from '../../src/models/queryGuard.js';
import { listAttacks } from '../../attacks/registry.js';
import { transferAttack } from '../../attacks/transfer.js';
import type { AnyAttack } from '../../attacks/types.js';
import { logitsF64, NEEDS_LOGITS_FOR, randomImages, randomLinear, type LinearClassifier } from '../helpers/linearClassifier.js';

/**
 * Every input an attack shows the model is a valid image: for every registered attack (the registry is
 * iterated, so a new attack is covered without editing this file), on every gradient path, targeted and
 * untargeted, with each loss / update rule and early stopping on and off, random starts on, every query
 * to logits() and lossAndGrad() is finite, inside [0,1] exactly, and (fixed-epsilon attacks) inside the
 * attack's eps ball around a clean image (src/models/queryGuard.ts BALL_TOLERANCE); what the target of a
 * transfer attack sees is inside the ball for every attack. The clean images have pixels exactly at 0
 * and 1, where an unclipped start, probe or momentum step leaves the box first.
 */
const SHAPE: [number, number, number] = [5, 5, 3];
const D = 75;
const N = 4;
/** A small and a large radius per threat model (the large one is the sanity probe's regime). */
const EPSILONS = { linf: [0.05, 0.5], l2: [0.4, 1] } as const;

/** Small budgets for any attack's usual knobs (only the keys an attack has are set). */
const SMALL: Record<string, unknown> = { steps: 5, restarts: 2, queries: 30, samples: 6, evalBatch: 8, targets: 2 };
/** Options tried one value at a time when an attack has them. */
const VARIANTS: Record<string, readonly unknown[]> = {
  targeted: [false, true],
  loss: ['ce', 'margin'],
  update: ['adam', 'sign'],
  earlyStop: [true, false],
};

let model: LinearClassifier;
/** The same model with differentiable logits (logitsFor), for the attacks in NEEDS_LOGITS_FOR. */
let modelWithLogits: LinearClassifier;
const modelFor = (attack: AnyAttack) => (NEEDS_LOGITS_FOR.includes(attack.name) ? modelWithLogits : model);
let target: LinearClassifier;
let xHost: Float32Array;
let labels: number[];

beforeAll(async () => {
  await initBackend('wasm');
  model = randomLinear(41, SHAPE, 10, 0.5);
  modelWithLogits = randomLinear(41, SHAPE, 10, 0.5, { logitsFor: true });
  target = randomLinear(42, SHAPE, 10, 0.5);
  xHost = randomImages(43, N, SHAPE);
  for (let i = 0; i < xHost.length; i += 3) xHost[i] = (i / 3) % 2 === 0 ? 0 : 1; // a third of the pixels saturated
  labels = logitsF64(model, xHost, N).map((row) => row.indexOf(Math.max(...row)));
});

afterAll(() => {
  model.dispose();
  modelWithLogits.dispose();
  target.dispose();
});

/** Every parameter combination to try for `attack`: SMALL budgets, random starts on, each VARIANTS value. */
function paramSets(attack: AnyAttack): Record<string, unknown>[] {
  const defaults = attack.defaults as Record<string, unknown>;
  const base: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(SMALL)) if (k in defaults) base[k] = v;
  if ('randomStart' in defaults) base.randomStart = true;
  let sets = [base];
  for (const [k, values] of Object.entries(VARIANTS))
    if (k in defaults) sets = sets.flatMap((s) => values.map((v) => ({ ...s, [k]: v })));
  return sets;
}

const show = (p: Record<string, unknown>) => JSON.stringify(p);

/**
 * The eps ball every query must lie in: a fixed-epsilon attack's own. A minimisation attack (fmn) searches for
 * each sample's smallest perturbation whatever the radius, so only its returned examples are bounded (run(eps)
 * thresholds them; attacks/define.ts): its queries are checked to be valid images only.
 */
const ballOf = (attack: AnyAttack, eps: number) => (attack.kind === 'fixed-epsilon' ? { ball: { centers: xHost, eps, norm: attack.threatModel } } : {});

async function runGuarded(attack: AnyAttack, eps: number, params: Record<string, unknown>, path: GradientPath) {
  const guarded = guardQueries(modelFor(attack), { who: `attack ${attack.name} ${show(params)} path ${path} eps ${eps}`, ...ballOf(attack, eps) });
  const x = tf.tensor4d(xHost, [N, ...SHAPE]);
  const y = tf.tensor1d(labels, 'int32');
  try {
    const res = await attack.run(guarded, x, y, eps, new KeyedRng(7, `queries/${attack.name}`, [...Array(N).keys()]), {
      path,
      output: 'first',
      params: attack.parseParams(params, 'test'),
    });
    res.xAdv.dispose();
    return guarded;
  } finally {
    tf.dispose([x, y]);
  }
}

describe.each(listAttacks().map((a) => [a.name, a] as const))('%s', (_name, attack) => {
  const paths: readonly GradientPath[] = attack.usesGradient ? GRADIENT_PATHS : ['first'];
  it('queries the model only with valid images inside its eps ball (every path, variant and eps)', async () => {
    let runs = 0;
    for (const eps of EPSILONS[attack.threatModel])
      for (const params of paramSets(attack))
        for (const path of paths) {
          const guarded = await runGuarded(attack, eps, params, path);
          expect(guarded.queriedImages).toBeGreaterThan(N);
          runs++;
        }
    // Both eps, all paths, targeted both ways when the attack can be targeted (apgd-t's goal is untargeted).
    expect(runs).toBeGreaterThanOrEqual(2 * paths.length * ('targeted' in (attack.defaults as object) ? 2 : 1));
  });

  it('as a transfer attack, shows the target only its final examples', async () => {
    const eps = EPSILONS[attack.threatModel][0];
    const source = guardQueries(modelFor(attack), { who: `transfer source ${attack.name}`, ...ballOf(attack, eps) });
    const seen: Float32Array[] = [];
    const recording = {
      ...target,
      logits(x: Tensor4D) {
        seen.push(Float32Array.from(x.dataSync() as Float32Array));
        return target.logits(x);
      },
    };
    const guardedTarget = guardQueries(recording, { who: `transfer target ${attack.name}`, ball: { centers: xHost, eps, norm: attack.threatModel } });
    const x = tf.tensor4d(xHost, [N, ...SHAPE]);
    const y = tf.tensor1d(labels, 'int32');
    const res = await transferAttack(source, guardedTarget, attack, x, y, eps, new KeyedRng(7, 'transfer', [...Array(N).keys()]), {
      path: 'first',
      output: 'first',
      params: attack.parseParams(paramSets(attack)[0], 'test'),
    });
    expect(seen).toEqual([Float32Array.from(res.xAdv.dataSync() as Float32Array)]);
    tf.dispose([x, y, res.xAdv]);
  });
});

describe('the check itself', () => {
  it('catches an attack that steps outside [0,1] (a plug-in that forgets to clip)', async () => {
    const guarded = guardQueries(model, { who: 'attack sloppy' });
    const x = tf.tensor4d(xHost, [N, ...SHAPE]);
    const y = tf.tensor1d(labels, 'int32');
    const { grad, loss } = guarded.lossAndGrad(x, y, { path: 'first' });
    const stepped = tf.add(x, tf.mul(tf.sign(grad), 0.1)) as Tensor4D; // no projection
    expect(() => guarded.logits(stepped)).toThrow(InvalidQueryError);
    expect(() => guarded.logits(stepped)).toThrow(/attack sloppy queried linear\.logits/);
    tf.dispose([x, y, grad, loss, stepped]);
  });
});
