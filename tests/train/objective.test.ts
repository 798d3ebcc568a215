import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/engine/backend.js';
import { tf } from '../../src/engine/tf.js';
import { readSafetensors } from '../../src/models/safetensors.js';
import { importReferenceSafetensors } from '../../src/models/importReference.js';
import { CIFAR_REFERENCE_NORMALIZATION, wrnArchitecture } from '../../src/models/cnnfWrn/architecture.js';
import { WrnCnnfNetwork } from '../../src/models/cnnfWrn/network.js';
import { cnnfTrainingLoss } from '../../src/train/objective.js';

/**
 * The CIFAR training objective against the reference: tests/fixtures/cnnf-reference/wrn_train_step holds
 * the loss and parameter gradients of one train_adv batch of yjhuangcd/CNNF (train.py, CIFAR branch) on a
 * WRN-10-1 CNN-F with ind 1, 2 cycles, clean_parameter 0.05, mse_parameter 0.1, made by
 * scripts/reference/wrn_train_step.py with PyTorch 1.13 on CPU.
 */
const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'cnnf-reference', 'wrn_train_step');
const meta = JSON.parse(readFileSync(join(FIXTURE, 'meta.json'), 'utf8')) as { loss: number; depth: number; widen: number; ind: number; cycles: number; res_param: number; mse_parameter: number; clean_parameter: number; batch: number };
const arch = wrnArchitecture(meta.depth, meta.widen, meta.ind, meta.cycles, meta.res_param);

function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

async function lossAndGrads(detachFeedbackFc: boolean): Promise<{ loss: number; grads: Record<string, Float32Array> }> {
  const weights = await importReferenceSafetensors(join(FIXTURE, 'weights.safetensors'), arch);
  const cases = (await readSafetensors(join(FIXTURE, 'cases.safetensors'))).tensors;
  const n = meta.batch;
  const vars: Record<string, tf.Variable> = {};
  for (const [name, w] of Object.entries(weights)) vars[name] = tf.variable(tf.tensor(w.data, w.shape), true, name);
  const out = tf.tidy(() => {
    const x = tf.concat([tf.tensor4d(cases.get('x_clean')!.data as Float32Array, [n, 32, 32, 3]), tf.tensor4d(cases.get('x_adv')!.data as Float32Array, [n, 32, 32, 3])]);
    const y = tf.tensor1d(cases.get('targets')!.data as Int32Array, 'int32');
    const network = new WrnCnnfNetwork(arch, CIFAR_REFERENCE_NORMALIZATION, vars, detachFeedbackFc ? tf.clone(vars['fc.kernel']) : undefined);
    return tf.variableGrads(() => cnnfTrainingLoss(network, x as tf.Tensor4D, tf.concat([y, y]) as tf.Tensor1D, meta.mse_parameter, n, meta.clean_parameter).loss, Object.values(vars));
  });
  const grads: Record<string, Float32Array> = {};
  for (const [name, g] of Object.entries(out.grads)) grads[name] = (await g.data()) as Float32Array;
  const loss = (await out.value.data())[0];
  tf.dispose([out.value, ...Object.values(out.grads), ...Object.values(vars)]);
  return { loss, grads };
}

describe('the WRN CNN-F training objective matches the reference train_adv', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('loss and every parameter gradient of one adversarial batch', async () => {
    const expected = await importReferenceSafetensors(join(FIXTURE, 'grads.safetensors'), arch);
    const { loss, grads } = await lossAndGrads(true);
    expect(Math.abs(loss - meta.loss) / meta.loss).toBeLessThan(1e-5);
    const errors = Object.keys(expected).map((name) => [name, relL2(grads[name], expected[name].data)] as const);
    const worst = errors.reduce((a, b) => (b[1] > a[1] ? b : a));
    expect(worst[1], `worst gradient ${worst[0]}`).toBeLessThan(1e-4); // measured: 2.8e-6 (block1.0.ins1.bias), loss 6e-7
    expect(Object.keys(grads).sort()).toEqual(Object.keys(expected).sort());
  }, 60_000);

  it('without the detached feedback classifier the classifier gradient differs from the reference', async () => {
    const expected = await importReferenceSafetensors(join(FIXTURE, 'grads.safetensors'), arch);
    const { grads } = await lossAndGrads(false);
    expect(relL2(grads['fc.kernel'], expected['fc.kernel'].data)).toBeGreaterThan(1e-2);
  }, 60_000);
});
