import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { KeyedRng } from '../../src/engine/rng.js';
import { listAttacks } from '../../attacks/registry.js';
import { transferAttack } from '../../attacks/transfer.js';
import type { AnyAttack } from '../../attacks/types.js';
import { NO_PREDICTION, predictClasses } from '../../src/models/decision.js';
import { KIND_PIXEL, nonFiniteClassifier, STUB_SHAPE, stubLogits } from '../helpers/nonFiniteClassifier.js';
import { NEEDS_LOGITS_FOR } from '../helpers/linearClassifier.js';

/**
 * Every registered attack on a model whose logits, losses and gradients hold NaN and infinities (see
 * tests/helpers/nonFiniteClassifier.ts): it finishes, returns valid images inside the threat model, and
 * decides `fooled` by the shared decision rule of src/models/decision.ts (a NaN row or a tie at the top
 * has no prediction: misclassified, never the target). Before the fix, Square threw a TypeError on the
 * row whose label logit is +Infinity, PGD-L2 left the ball on infinite gradients, and a tie at +Infinity
 * or a NaN row counted as correct when the label came first.
 */
const D = 16;
const EPS = { linf: 0.1, l2: 0.1 };
const BUDGET: Record<string, Record<string, unknown>> = {
  fgsm: {},
  pgd: { steps: 5, restarts: 2 },
  'pgd-l2': { steps: 5, restarts: 2 },
  'apgd-ce': { steps: 8, restarts: 2 },
  'apgd-ce-l2': { steps: 8, restarts: 2 },
  'apgd-dlr': { steps: 8, restarts: 2 },
  'apgd-dlr-l2': { steps: 8, restarts: 2 },
  'apgd-t': { steps: 4, restarts: 2, targets: 3 },
  'apgd-t-l2': { steps: 4, restarts: 2, targets: 3 },
  'fab-t': { steps: 5, restarts: 2, targets: 3 },
  'fab-t-l2': { steps: 5, restarts: 2, targets: 3 },
  square: { queries: 30 },
  'square-l2': { queries: 30 },
  spsa: { steps: 3, samples: 8 },
  fmn: { steps: 5 },
  'fmn-l2': { steps: 5 },
};
const LOSSES: Record<string, Record<string, unknown>[]> = {
  fgsm: [{ loss: 'ce' }, { loss: 'margin' }],
  pgd: [{ loss: 'ce' }, { loss: 'margin' }],
  'pgd-l2': [{ loss: 'ce' }],
  'apgd-ce': [{ loss: 'ce' }, { loss: 'margin' }],
  'apgd-ce-l2': [{ loss: 'ce' }, { loss: 'margin' }],
  square: [{}],
  'square-l2': [{}],
  spsa: [{}, { update: 'sign' }],
};

/** Four images, one per kind, each filled with a mid value and its kind's first pixel. */
function images(): Float32Array {
  const x = new Float32Array(4 * D);
  for (let r = 0; r < 4; r++) {
    for (let i = 0; i < D; i++) x[r * D + i] = 0.3 + 0.02 * ((i * 5 + r) % 7);
    x[r * D] = KIND_PIXEL[r];
  }
  return x;
}
// Labels: class 0 for the three non-finite kinds; the finite kind's own prediction (so it starts correct).
const X = images();
const FINITE_PREDICTION = predictClasses(stubLogits(X.subarray(3 * D, 4 * D)), 4)[0];
const LABELS = [0, 0, 0, FINITE_PREDICTION];

beforeAll(async () => {
  await initBackend('wasm');
});

function checkImages(xAdv: Float32Array, eps: number, norm: 'linf' | 'l2') {
  expect(xAdv.every((v) => Number.isFinite(v) && v >= 0 && v <= 1)).toBe(true);
  for (let r = 0; r < 4; r++) {
    const d = Array.from({ length: D }, (_, i) => xAdv[r * D + i] - X[r * D + i]);
    const dist = norm === 'linf' ? Math.max(...d.map(Math.abs)) : Math.sqrt(d.reduce((s, v) => s + v * v, 0));
    expect([r, dist <= eps * (1 + 1e-5) + 1e-6]).toEqual([r, true]);
  }
}

/** What the decision rule says of row r of xAdv: untargeted fooled iff not predicted as the label; targeted iff predicted as the target. */
function decided(xAdv: Float32Array, r: number, label: number, targeted: boolean): boolean {
  const p = predictClasses(stubLogits(xAdv.subarray(r * D, (r + 1) * D)), 4)[0];
  return targeted ? p === label : p !== label;
}

// Targeted variants for the attacks that have a `targeted` parameter (apgd-t's goal is always untargeted).
const cases = listAttacks().flatMap((attack) =>
  (LOSSES[attack.name] ?? [{}]).flatMap((extra) =>
    ('targeted' in (attack.defaults as object) ? [false, true] : [false]).map((targeted) => [`${attack.name} ${JSON.stringify(extra)}${targeted ? ' targeted' : ''}`, attack, extra, targeted] as const),
  ),
);

describe('attacks on NaN and infinite logits, losses and gradients', () => {
  it('the stub classifier covers every attack in the registry', () => {
    expect(listAttacks().every((a) => a.name in BUDGET)).toBe(true);
  });

  it.each(cases)('%s finishes with valid images and fooled by the shared decision rule', async (_name, attack: AnyAttack, extra, targeted) => {
    const model = nonFiniteClassifier({ logitsFor: NEEDS_LOGITS_FOR.includes(attack.name) });
    const x = tf.tensor4d(X, [4, ...STUB_SHAPE]);
    const y = tf.tensor1d(LABELS, 'int32');
    const params = attack.parseParams({ ...BUDGET[attack.name], ...extra, ...(targeted ? { targeted: true, targetClass: 1 } : {}) }, 'test');
    const before = tf.memory().numTensors;
    const res = await attack.run(model, x, y, EPS[attack.threatModel], new KeyedRng(1, attack.name, [0, 1, 2, 3]), { path: 'first', output: 'first', params });
    const xAdv = Float32Array.from(res.xAdv.dataSync() as Float32Array);
    tf.dispose(res.xAdv);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y]);

    checkImages(xAdv, EPS[attack.threatModel], attack.threatModel);
    // label-inf: correct everywhere; nan and tie-inf: no prediction, so misclassified and never the target.
    expect(res.fooled.slice(0, 3)).toEqual(targeted ? [false, false, false] : [false, true, true]);
    // The finite row: fooled is what the decision rule says of the returned image.
    expect(res.fooled[3]).toBe(decided(xAdv, 3, targeted ? 1 : LABELS[3], targeted));
    expect(res.nonFiniteLogits).toEqual([true, true, true, false]);
  });

  it('transfer: success on the target model by the same rule, and its non-finite rows', async () => {
    const source = nonFiniteClassifier();
    const target = nonFiniteClassifier();
    const pgd = listAttacks().find((a) => a.name === 'pgd')!;
    const x = tf.tensor4d(X, [4, ...STUB_SHAPE]);
    const y = tf.tensor1d(LABELS, 'int32');
    const res = await transferAttack(source, target, pgd, x, y, 0.1, new KeyedRng(1, 't', [0, 1, 2, 3]), {
      path: 'first',
      output: 'first',
      params: pgd.parseParams({ steps: 3 }, 'test'),
    });
    const xAdv = Float32Array.from(res.xAdv.dataSync() as Float32Array);
    tf.dispose([x, y, res.xAdv]);
    checkImages(xAdv, 0.1, 'linf');
    expect(res.fooled.slice(0, 3)).toEqual([false, true, true]);
    expect(res.fooled[3]).toBe(decided(xAdv, 3, LABELS[3], false));
    expect(res.nonFiniteLogits).toEqual([true, true, true, false]);
  });

  it('the stub rows are what they claim under the decision rule', () => {
    const predicted = Array.from(predictClasses([0, 1, 2, 3].flatMap((r) => stubLogits(X.subarray(r * D, (r + 1) * D))), 4));
    expect(predicted.slice(0, 3)).toEqual([0, NO_PREDICTION, NO_PREDICTION]);
    expect(predicted[3]).not.toBe(NO_PREDICTION);
  });
});
