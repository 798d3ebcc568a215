// The cpu fallback for kernels the wasm backend lacks (src/engine/kernels/cpu-fallback.ts): values equal
// the cpu backend's, attributes pass through, int32 inputs and outputs survive the copies, the warning
// is printed once per kernel, the kernels that ran are listed, and no buffer leaks on either backend.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { cpuFallbackKernels, cpuFallbacksRun, NO_FALLBACK, resetCpuFallbacksRun, setCpuFallbackWarning } from '../../src/engine/kernels/index.js';

async function use(backend: string) {
  await tf.setBackend(backend);
  await tf.ready();
}

const lines: string[] = [];
let restore: (line: string) => void;

beforeAll(async () => {
  await initBackend('wasm');
  restore = setCpuFallbackWarning((line) => lines.push(line));
});
afterAll(() => setCpuFallbackWarning(restore));

/** Gradient of a gather-based loss (the logit of each image's label) w.r.t. the logits' input. */
function gatherLossGrad() {
  return tf.tidy(() => {
    const w = tf.tensor2d([[0.5, -1, 2], [1.5, 0.25, -0.75], [-2, 1, 0.5], [0.1, 0.2, 0.3]]);
    const x = tf.tensor2d([[1, 2, 3, 4], [-1, 0.5, 2, -3], [0, 1, 0, 1]]);
    const labels = tf.tensor1d([2, 0, 2], 'int32');
    const g = tf.grad((xi: tf.Tensor) => {
      const logits = tf.matMul(xi as tf.Tensor2D, w);
      const picked = tf.gather(tf.reshape(logits, [-1]), tf.add(tf.tensor1d([0, 3, 6], 'int32'), labels));
      const emb = tf.gather(w, tf.tensor1d([1, 1, 3], 'int32')); // a gather along axis 0 with a repeated index
      return tf.add(tf.sum(picked), tf.sum(tf.mul(emb, tf.sum(xi))));
    })(x);
    return g.dataSync().slice();
  });
}

describe('cpu fallback on wasm', () => {
  it('registers exactly the kernels cpu has and wasm lacks, except complex/canvas ones', () => {
    const registered = cpuFallbackKernels();
    expect(registered).toContain('UnsortedSegmentSum');
    expect(registered).toContain('Einsum');
    expect(registered).not.toContain('Conv2DBackpropFilter'); // has a fast wasm kernel
    for (const k of NO_FALLBACK) expect(registered).not.toContain(k);
    const cpu = new Set(tf.getKernelsForBackend('cpu').map((k) => k.kernelName));
    for (const k of registered) expect(cpu.has(k)).toBe(true);
  });

  it('UnsortedSegmentSum (float32 and int32) equals the cpu backend, no leak, warns once', async () => {
    const run = () => tf.tidy(() => {
      const x = tf.tensor2d([[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]]);
      const ids = tf.tensor1d([2, 0, 2, -1, 1], 'int32');
      const xi = tf.tensor1d([10, 20, 30, 40], 'int32');
      const a = tf.unsortedSegmentSum(x, ids, 4);
      const b = tf.unsortedSegmentSum(xi, tf.tensor1d([1, 1, 0, 1], 'int32'), 3);
      return { a: Array.from(a.dataSync()), aShape: a.shape, b: Array.from(b.dataSync()), bDtype: b.dtype };
    });
    await use('cpu');
    const ref = run();
    await use('wasm');
    resetCpuFallbacksRun();
    lines.length = 0;
    const before = tf.memory().numTensors;
    const cpuIds = (tf.findBackend('cpu') as unknown as { numDataIds(): number }).numDataIds();
    const got = run();
    run();
    expect(tf.memory().numTensors).toBe(before);
    expect((tf.findBackend('cpu') as unknown as { numDataIds(): number }).numDataIds()).toBe(cpuIds);
    expect(got).toEqual(ref);
    expect(got.a).toEqual([3, 4, 9, 10, 6, 8, 0, 0]); // by hand: segment 0 = row 1, 1 = row 4, 2 = rows 0+2
    expect(got.b).toEqual([30, 70, 0]);
    expect(lines).toEqual(['warning: kernel UnsortedSegmentSum has no wasm implementation; running it on the cpu backend (slow)']);
    expect(cpuFallbacksRun()).toEqual([{ kernel: 'UnsortedSegmentSum', calls: 4 }]);
  });

  it('the gradient of a gather-based loss on wasm equals the cpu backend', async () => {
    await use('cpu');
    const ref = gatherLossGrad();
    await use('wasm');
    resetCpuFallbacksRun();
    const got = gatherLossGrad();
    expect(Array.from(got)).toEqual(Array.from(ref));
    expect(cpuFallbacksRun().map((r) => r.kernel)).toEqual(['UnsortedSegmentSum']);
  });

  it('passes attributes through (Einsum equation) and keeps the output shape', async () => {
    const run = () => tf.tidy(() => {
      const a = tf.tensor3d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [2, 2, 3]);
      const b = tf.tensor3d([1, 0, -1, 2, 0.5, 1], [2, 3, 1]);
      const y = tf.einsum('bij,bjk->bik', a, b);
      return { shape: y.shape, v: Array.from(y.dataSync()) };
    });
    await use('cpu');
    const ref = run();
    await use('wasm');
    expect(run()).toEqual(ref);
  });
});
