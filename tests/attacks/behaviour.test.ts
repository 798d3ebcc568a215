import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { KeyedRng } from '../../src/engine/rng.js';
import { getAttack } from '../../attacks/registry.js';
import { transferAttack } from '../../attacks/transfer.js';
import type { AnyAttack } from '../../attacks/types.js';
import { logitsF64, randomImages, randomLinear, type LinearClassifier } from '../helpers/linearClassifier.js';

const SHAPE: [number, number, number] = [6, 6, 1];
const D = 36;
const N = 40;

let model: LinearClassifier;
let other: LinearClassifier;
let xHost: Float32Array;
let labels: number[];

const argmax = (row: number[]) => row.indexOf(Math.max(...row));

beforeAll(async () => {
  await initBackend('wasm');
  model = randomLinear(31, SHAPE, 10, 0.5);
  other = randomLinear(32, SHAPE, 10, 0.5);
  xHost = randomImages(33, N, SHAPE);
  labels = logitsF64(model, xHost, N).map(argmax); // clean accuracy 100%
});

afterAll(() => {
  model.dispose();
  other.dispose();
});

async function run(attack: AnyAttack, eps: number, params: Record<string, unknown>, target: LinearClassifier = model, y = labels) {
  const x = tf.tensor4d(xHost, [N, ...SHAPE]);
  const yt = tf.tensor1d(y, 'int32');
  const res = await attack.run(target, x, yt, eps, new KeyedRng(3, attack.name, [...Array(N).keys()]), {
    path: 'first',
    output: 'first',
    params: attack.parseParams(params, 'test'),
  });
  const xAdv = Float32Array.from(res.xAdv.dataSync() as Float32Array);
  tf.dispose([x, yt, res.xAdv]);
  return { xAdv, fooled: res.fooled };
}

const accuracy = (fooled: boolean[]) => fooled.filter((f) => !f).length / fooled.length;

describe('attack behaviour on a 10-class linear model', () => {
  it('square and SPSA (score-based) drive accuracy down about as far as PGD at a moderate eps', async () => {
    const eps = 0.04;
    const pgdAcc = accuracy((await run(getAttack('pgd'), eps, {})).fooled);
    const squareAcc = accuracy((await run(getAttack('square'), eps, { queries: 500 })).fooled);
    const spsaAcc = accuracy((await run(getAttack('spsa'), eps, { steps: 10, samples: 64 })).fooled);
    expect(pgdAcc).toBeLessThan(0.5);
    expect(squareAcc).toBeLessThanOrEqual(pgdAcc + 0.15);
    expect(spsaAcc).toBeLessThanOrEqual(pgdAcc + 0.15);
  });

  it('targeted PGD moves predictions to the target class; fooled means "predicted as the target"', async () => {
    const { xAdv, fooled } = await run(getAttack('pgd'), 0.25, { targeted: true, targetClass: 4, loss: 'margin' });
    const preds = logitsF64(model, xAdv, N).map(argmax);
    preds.forEach((p, r) => expect(fooled[r]).toBe(p === 4 && labels[r] !== 4));
    expect(fooled.filter(Boolean).length).toBeGreaterThan(N / 2);
    // Samples whose label already is the target are left alone and never count as fooled.
    labels.forEach((l, r) => {
      if (l !== 4) return;
      expect(fooled[r]).toBe(false);
      expect(xAdv.subarray(r * D, (r + 1) * D)).toEqual(xHost.subarray(r * D, (r + 1) * D));
    });
  });

  it('default targets are (y + 1) mod classes', async () => {
    const { xAdv, fooled } = await run(getAttack('apgd-ce'), 0.25, { targeted: true, steps: 20 });
    const preds = logitsF64(model, xAdv, N).map(argmax);
    preds.forEach((p, r) => expect(fooled[r]).toBe(p === (labels[r] + 1) % 10));
    expect(fooled.filter(Boolean).length).toBeGreaterThan(N / 2);
  });

  it('spends no gradient steps on samples misclassified before the attack', async () => {
    const wrong = labels.map((l) => (l + 1) % 10);
    for (const name of ['pgd', 'apgd-ce']) {
      const before = model.calls.lossAndGrad;
      const { xAdv, fooled } = await run(getAttack(name), 0.05, {}, model, wrong);
      expect(model.calls.lossAndGrad).toBe(before);
      expect(fooled.every(Boolean)).toBe(true);
      expect(xAdv).toEqual(xHost);
    }
    const logitsBefore = model.calls.logits;
    await run(getAttack('square'), 0.05, {}, model, wrong);
    expect(model.calls.logits - logitsBefore).toBe(2); // the clean check and the final verdict
  });

  it('transfer: crafted on the source, judged on the target', async () => {
    const x = tf.tensor4d(xHost, [N, ...SHAPE]);
    const y = tf.tensor1d(labels, 'int32');
    const attack = getAttack('pgd');
    const res = await transferAttack(model, other, attack, x, y, 0.05, new KeyedRng(3, attack.name, [...Array(N).keys()]), {
      path: 'first',
      output: 'first',
      params: attack.parseParams({}, 'test'),
    });
    const xAdv = res.xAdv.dataSync() as Float32Array;
    const onTarget = logitsF64(other, xAdv, N).map(argmax);
    const onSource = logitsF64(model, xAdv, N).map(argmax);
    onTarget.forEach((p, r) => expect(res.fooled[r]).toBe(p !== labels[r]));
    onSource.forEach((p, r) => expect(res.fooledSource[r]).toBe(p !== labels[r]));
    // The same example set judged on the source model equals running the attack directly.
    const direct = await run(attack, 0.05, {});
    expect(Array.from(xAdv)).toEqual(Array.from(direct.xAdv));
    tf.dispose([x, y, res.xAdv]);
  });
});
