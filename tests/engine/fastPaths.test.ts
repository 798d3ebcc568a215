// The performance fast paths (src/engine/fastPaths.ts, src/engine/kernels/shared-identity.ts,
// src/models/fastOps.ts) against the plain TensorFlow.js formulation: the same logits, losses and
// gradients on wasm, and against the cpu backend; variable gradients (training) unchanged; the pooling
// gradient's tie-breaking (first maximum, as PyTorch); no tensor leaks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { SampleStream } from '../../src/engine/rng.js';
import { setDisabledFastPaths } from '../../src/engine/fastPaths.js';
import { sharedIdentityRegistered } from '../../src/engine/kernels/index.js';
import { CnnfNetwork, type Params } from '../../src/models/cnnf.js';
import { CnnfClassifier } from '../../src/models/cnnfClassifier.js';
import { weightSpecs, type ArchitectureSpec } from '../../src/models/architecture.js';
import { adaptivePool } from '../../src/models/feedbackLayers.js';
import type { GradientPath, OutputKind } from '../../src/models/classifier.js';

function randomArray(n: number, key: string, scale = 1): Float32Array {
  const s = new SampleStream(11, key, 0);
  return Float32Array.from({ length: n }, () => scale * s.normal());
}

/** A small CNN-F with an odd image side (exercises the pooling crop) and two pooled blocks. */
function smallArch(ind: number, cycles: number): ArchitectureSpec {
  return {
    family: 'cnnf',
    inputShape: [9, 9, 1],
    numClasses: 5,
    kernelSize: 3,
    convs: [{ filters: 4, pool: false }, { filters: 6, pool: true }, { filters: 8, pool: true }],
    dense: [12],
    ind,
    cycles,
    resParam: 0.1,
    insNormEpsilon: 1e-8,
  };
}

function randomWeights(arch: ArchitectureSpec): Record<string, { data: Float32Array; shape: number[] }> {
  const out: Record<string, { data: Float32Array; shape: number[] }> = {};
  for (const s of weightSpecs(arch)) {
    const fanIn = s.shape.length === 4 ? s.shape[0] * s.shape[1] * s.shape[2] : s.shape[0];
    out[s.name] = { data: randomArray(s.shape.reduce((a, b) => a * b, 1), s.name, Math.sqrt(2 / fanIn)), shape: s.shape };
  }
  return out;
}

const N = 6;
const images = () => tf.tensor4d(Float32Array.from(randomArray(N * 81, 'x'), (v) => Math.min(1, Math.max(0, 0.5 + 0.3 * v))), [N, 9, 9, 1]);
const labels = () => tf.tensor1d([0, 1, 2, 3, 4, 0], 'int32');

async function use(backend: string) {
  await tf.setBackend(backend);
  await tf.ready();
}

/** Loss, input gradient and logits of one configuration, read back (tensors freed). */
function attackView(arch: ArchitectureSpec, path: GradientPath, output: OutputKind) {
  const weights = randomWeights(arch);
  return tf.tidy(() => {
    const params: Params = {};
    for (const [k, w] of Object.entries(weights)) params[k] = tf.tensor(w.data, w.shape);
    const clf = new CnnfClassifier('t', new CnnfNetwork(arch, { mean: [0.5], std: [0.5] }, params), output);
    const x = images(), y = labels();
    const { loss, grad } = clf.lossAndGrad(x, y, { path, output });
    return { loss: loss.dataSync().slice(), grad: grad.dataSync().slice(), logits: clf.logits(x, output).dataSync().slice() };
  });
}

/** Gradients of a training-style loss w.r.t. trainable variables (every output, reconstructions). */
function variableView(arch: ArchitectureSpec, label: string) {
  const weights = randomWeights(arch);
  const vars: Params = {};
  for (const [k, w] of Object.entries(weights)) vars[k] = tf.variable(tf.tensor(w.data, w.shape), true, `fastPaths/${label}/${k}`);
  const net = new CnnfNetwork(arch, { mean: [0.5], std: [0.5] }, vars);
  const out = tf.tidy(() => {
    const x = images();
    const { grads } = tf.variableGrads(() => {
      const run = net.run(x);
      const recon = run.reconstructions.length ? tf.sum(tf.square(tf.sub(run.reconstructions[0], run.featureInd))) : tf.scalar(0);
      return tf.add(tf.add(tf.sum(tf.square(run.last)), tf.sum(run.first)), recon) as tf.Scalar;
    });
    return Object.fromEntries(Object.entries(grads).map(([k, g]) => [k.split('/').pop(), g.dataSync().slice()]));
  });
  tf.dispose(Object.values(vars));
  return out;
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number) {
  expect(actual.length).toBe(expected.length);
  let maxDiff = 0, maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
    maxRef = Math.max(maxRef, Math.abs(expected[i]));
  }
  expect(maxDiff).toBeLessThanOrEqual(rtol * Math.max(maxRef, 1e-12));
}

beforeAll(async () => {
  await initBackend('wasm');
});
afterAll(() => setDisabledFastPaths(null));

describe('shared Identity / Cast on wasm', () => {
  it('is registered and shares buffers without changing values or accounting', async () => {
    await use('wasm');
    expect(sharedIdentityRegistered()).toBe(true);
    const before = tf.memory().numTensors;
    const a = tf.tensor1d([1.5, -2, 3]);
    const c = tf.clone(a);
    const same = tf.cast(a, 'float32');
    a.dispose();
    expect(Array.from(c.dataSync())).toEqual([1.5, -2, 3]);
    expect(Array.from(same.dataSync())).toEqual([1.5, -2, 3]);
    // Casts that change the dtype still convert.
    const i = tf.tensor1d([1, -2, 7], 'int32');
    const f = tf.cast(i, 'float32');
    expect(f.dtype).toBe('float32');
    expect(Array.from(f.dataSync())).toEqual([1, -2, 7]);
    tf.dispose([c, same, i, f]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('CNN-F fast paths vs the plain formulation', () => {
  const cases: { ind: number; cycles: number }[] = [
    { ind: 1, cycles: 1 },
    { ind: 0, cycles: 2 },
    { ind: 2, cycles: 0 },
  ];
  const combos: [GradientPath, OutputKind][] = [['first', 'last'], ['e2e', 'last'], ['e2e', 'average'], ['bpda', 'last'], ['bpda', 'average']];

  it.each(cases)('ind $ind, $cycles cycle(s): wasm fast is bit-identical to wasm plain, and matches cpu plain within float32 rounding', async ({ ind, cycles }) => {
    const arch = smallArch(ind, cycles);
    for (const [path, output] of combos) {
      await use('wasm');
      setDisabledFastPaths([]);
      const before = tf.memory().numTensors;
      const fast = attackView(arch, path, output);
      expect(tf.memory().numTensors).toBe(before);
      setDisabledFastPaths(['all']);
      const plain = attackView(arch, path, output);
      await use('cpu');
      const cpu = attackView(arch, path, output);
      setDisabledFastPaths(null);
      for (const key of ['loss', 'grad', 'logits'] as const) {
        expect(Array.from(fast[key]), `${path}/${output} ${key}`).toEqual(Array.from(plain[key])); // bit-identical
        expectClose(fast[key], cpu[key], 1e-4);
      }
    }
  });

  it('leaves gradients w.r.t. trainable variables (training) unchanged', async () => {
    await use('wasm');
    const arch = smallArch(1, 1);
    setDisabledFastPaths([]);
    const fast = variableView(arch, 'fast');
    setDisabledFastPaths(['all']);
    const plain = variableView(arch, 'plain');
    setDisabledFastPaths(null);
    expect(Object.keys(fast).sort()).toEqual(Object.keys(plain).sort());
    for (const k of Object.keys(plain)) expect(Array.from(fast[k]), k).toEqual(Array.from(plain[k])); // bit-identical
  });
});

describe('AdaPool fast path', () => {
  it.each(['wasm', 'cpu'])('routes the gradient of tied windows to the first max / min, as the plain path (%s)', async (backend) => {
    await use(backend);
    // One 2x2 window all equal, one with a tie for the max, one with a tie for the min; hidden of both signs.
    const x = tf.tensor4d([3, 3, 1, 5, 4, 0, 3, 3, 5, 2, 0, 6], [1, 2, 6, 1]);
    const hidden = tf.tensor4d([1, 1, -1], [1, 1, 3, 1]);
    const dy = tf.tensor4d([1, 2, 3], [1, 1, 3, 1]);
    const gradOf = (h: tf.Tensor | null) =>
      tf.tidy(() => tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(adaptivePool(xi as tf.Tensor4D, h, false).out, dy)))(x).dataSync().slice());
    setDisabledFastPaths([]);
    const fastFirst = gradOf(null), fastFeedback = gradOf(hidden);
    setDisabledFastPaths(['all']);
    const plainFirst = gradOf(null), plainFeedback = gradOf(hidden);
    setDisabledFastPaths(null);
    // Windows [3,3;3,3] -> position (0,0); [1,5;5,2] -> the 5 in row 0; [4,0;0,6] -> max 6, min the 0 in row 0.
    expect(Array.from(fastFirst)).toEqual([1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3]);
    expect(Array.from(fastFirst)).toEqual(Array.from(plainFirst));
    expect(Array.from(fastFeedback)).toEqual([1, 0, 0, 2, 0, 3, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(fastFeedback)).toEqual(Array.from(plainFeedback));
    tf.dispose([x, hidden, dy]);
  });
});
