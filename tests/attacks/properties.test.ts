import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { tf, type Tensor4D } from '../../src/engine/tf.js';
import type { Classifier, LogitsRequest } from '../../src/models/classifier.js';
import { initBackend } from '../../src/engine/backend.js';
import { KeyedRng } from '../../src/engine/rng.js';
import { listAttacks } from '../../attacks/registry.js';
import type { AnyAttack, AttackRunOptions } from '../../attacks/types.js';
import { logitsF64, NEEDS_LOGITS_FOR, randomImages, randomLinear, type LinearClassifier } from '../helpers/linearClassifier.js';

/**
 * Contract properties every attack must hold, on random images (with pixels exactly at 0 and 1) and a
 * 10-class linear model: the threat model's ball and [0,1], eps = 0 is the identity, determinism,
 * batch-size independence, fooled[] agreeing with the model, no tensor leaks. Minimisation attacks (FAB) run
 * through their one-radius `run` and get the model's differentiable logits (per-class gradients need logitsFor).
 */
const SHAPE: [number, number, number] = [5, 5, 3];
const D = 75;
const N = 8;
const FIRST_INDEX = 1000; // global dataset indices of the rows, as the runner passes them

/** Small budgets so the suite stays fast; chosen to exercise restarts and chunking paths. */
const BUDGET: Record<string, Record<string, unknown>> = {
  fgsm: {},
  pgd: { steps: 8, restarts: 2 },
  'pgd-l2': { steps: 8, restarts: 2 },
  'apgd-ce': { steps: 12, restarts: 2 },
  'apgd-ce-l2': { steps: 12, restarts: 2 },
  'apgd-dlr': { steps: 12, restarts: 2 },
  'apgd-dlr-l2': { steps: 12, restarts: 2 },
  'apgd-t': { steps: 6, restarts: 2, targets: 3 },
  'apgd-t-l2': { steps: 6, restarts: 2, targets: 3 },
  'fab-t': { steps: 10, restarts: 2, targets: 4 },
  'fab-t-l2': { steps: 10, restarts: 2, targets: 4 },
  square: { queries: 60 },
  'square-l2': { queries: 60 },
  spsa: { steps: 4, samples: 16, evalBatch: 64 },
  fmn: { steps: 20 },
  'fmn-l2': { steps: 20 },
};
/** The loss of attacks without a `loss` parameter: FMN's logit difference is the margin loss (attacks/fmn.ts). */
const OWN_LOSS: Record<string, string> = { fmn: 'margin', 'fmn-l2': 'margin' };
const EPS: Record<'linf' | 'l2', number> = { linf: 0.03, l2: 0.3 };

let model: LinearClassifier;
/** The same model with differentiable logits (logitsFor), for the attacks in NEEDS_LOGITS_FOR. */
let modelWithLogits: LinearClassifier;
const modelFor = (attack: AnyAttack) => (NEEDS_LOGITS_FOR.includes(attack.name) ? modelWithLogits : model);
let xHost: Float32Array;
let labels: number[];

beforeAll(async () => {
  await initBackend('wasm');
  model = randomLinear(21, SHAPE, 10, 0.5);
  modelWithLogits = randomLinear(21, SHAPE, 10, 0.5, { logitsFor: true });
  xHost = randomImages(22, N, SHAPE);
  for (let i = 0; i < xHost.length; i += 7) xHost[i] = i % 2 === 0 ? 0 : 1; // saturated pixels
  const z = logitsF64(model, xHost, N);
  labels = z.map((row) => row.indexOf(Math.max(...row)));
  labels[N - 1] = (labels[N - 1] + 3) % 10; // one sample misclassified before any attack
});

afterAll(() => {
  model.dispose();
  modelWithLogits.dispose();
});

interface Outcome {
  xAdv: Float32Array;
  fooled: boolean[];
}

async function runRows(
  attack: AnyAttack,
  rows: number[],
  eps: number,
  seed = 5,
  params: Record<string, unknown> = BUDGET[attack.name],
  options: Partial<AttackRunOptions> & { model?: Classifier } = {},
): Promise<Outcome> {
  const x = tf.tensor4d(Float32Array.from(rows.flatMap((r) => Array.from(xHost.subarray(r * D, (r + 1) * D)))), [rows.length, ...SHAPE]);
  const y = tf.tensor1d(rows.map((r) => labels[r]), 'int32');
  const rng = new KeyedRng(seed, `props/${attack.name}`, rows.map((r) => FIRST_INDEX + r));
  const res = await attack.run(modelFor(attack), x, y, eps, rng, {
    path: options.path ?? 'first',
    output: options.output ?? 'first',
    params: attack.parseParams(params, 'test'),
  });
  const out = { xAdv: Float32Array.from(res.xAdv.dataSync() as Float32Array), fooled: res.fooled };
  tf.dispose([x, y, res.xAdv]);
  return out;
}

const ALL = Array.from({ length: N }, (_, i) => i);

describe.each(listAttacks().map((a) => [a.name, a] as const))('%s', (_name, attack) => {
  const eps = EPS[attack.threatModel];
  let base: Outcome;

  beforeAll(async () => {
    base = await runRows(attack, ALL, eps);
  });

  it('stays in the eps ball and in [0,1]', () => {
    for (let r = 0; r < N; r++) {
      let linf = 0;
      let sq = 0;
      for (let i = 0; i < D; i++) {
        const v = base.xAdv[r * D + i];
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(1);
        const d = v - xHost[r * D + i];
        linf = Math.max(linf, Math.abs(d));
        sq += d * d;
      }
      if (attack.threatModel === 'linf') expect(linf).toBeLessThanOrEqual(eps + 1e-6);
      else expect(Math.sqrt(sq)).toBeLessThanOrEqual(eps * (1 + 1e-5));
    }
  });

  it('actually perturbs (not a stub) and fools some samples', () => {
    expect(base.xAdv).not.toEqual(xHost);
    expect(base.fooled.filter(Boolean).length).toBeGreaterThan(1);
  });

  it('fooled[] agrees with the classifier on xAdv (float64 re-evaluation)', () => {
    const z = logitsF64(model, base.xAdv, N);
    z.forEach((row, r) => expect(base.fooled[r]).toBe(row.indexOf(Math.max(...row)) !== labels[r]));
    expect(base.fooled[N - 1]).toBe(true); // misclassified to begin with
  });

  it('eps = 0 returns x unchanged', async () => {
    const res = await runRows(attack, ALL, 0);
    expect(res.xAdv).toEqual(xHost);
    expect(res.fooled).toEqual(ALL.map((r) => r === N - 1));
  });

  it('is deterministic for a seed', async () => {
    const again = await runRows(attack, ALL, eps);
    expect(again.xAdv).toEqual(base.xAdv);
    expect(again.fooled).toEqual(base.fooled);
  });

  it('does not depend on batch size (batches of 3 vs all at once)', async () => {
    const parts: Outcome[] = [];
    for (let start = 0; start < N; start += 3) parts.push(await runRows(attack, ALL.slice(start, start + 3), eps));
    const xAdv = new Float32Array(N * D);
    let offset = 0;
    for (const part of parts) {
      xAdv.set(part.xAdv, offset);
      offset += part.xAdv.length;
    }
    expect(xAdv).toEqual(base.xAdv);
    expect(parts.flatMap((p) => p.fooled)).toEqual(base.fooled);
  });

  it('leaks no tensors', async () => {
    const before = tf.memory().numTensors;
    await runRows(attack, ALL, eps);
    await runRows(attack, ALL, 0);
    expect(tf.memory().numTensors).toBe(before);
  });

  it(attack.usesGradient ? 'passes path, output and loss to lossAndGrad' : 'never asks for gradients', async () => {
    const model = modelFor(attack);
    const before = model.calls.lossAndGrad;
    model.calls.options.length = 0;
    model.calls.logitsFor.length = 0;
    await runRows(attack, ALL, eps, 5, BUDGET[attack.name], { path: 'bpda', output: 'last' });
    if (!attack.usesGradient) {
      expect(model.calls.lossAndGrad).toBe(before);
      return;
    }
    if (model === modelWithLogits) {
      // Differentiated through logitsFor (its loss is the attack's own): the request names the path and output.
      expect(model.calls.lossAndGrad).toBe(before);
      expect(model.calls.logitsFor.length).toBeGreaterThan(0);
      for (const r of model.calls.logitsFor) expect(r).toEqual({ path: 'bpda', output: 'last' });
      return;
    }
    expect(model.calls.options.length).toBeGreaterThan(0);
    for (const o of model.calls.options) {
      expect(o.path).toBe('bpda');
      expect(o.output).toBe('last');
      expect(o.loss).toBe(attack.parseParams(BUDGET[attack.name], 't').loss ?? OWN_LOSS[attack.name]);
    }
  });
});
