// Micro-benchmarks (CPU time per call, one wasm process) of the kernels behind the WRN CNN-F step
// optimisations (docs/performance.md, "Wide-ResNet CNN-F"): filter reversal, the subsampling that is the
// gradient of zero insertion, a convolution with a reused vs a new filter tensor, and spatial sums (Sum
// vs AvgPool) next to a plain multiply of the same map, and DepthToSpace vs Concat.
//   npx tsx scripts/perf/micro-kernels.ts
import { tf } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
await initBackend('wasm');
function t(name: string, f: () => tf.Tensor, reps = 5) {
  tf.dispose(f());
  const c0 = process.cpuUsage();
  for (let i = 0; i < reps; i++) { const o = f(); o.dataSync(); o.dispose(); }
  const c = process.cpuUsage(c0);
  console.log(name.padEnd(40), ((c.user + c.system) / 1000 / reps).toFixed(2), 'ms cpu');
}
const k = tf.randomNormal([3, 3, 128, 128]);
t('reverse [3,3,128,128] dims 0,1', () => tf.reverse(k, [0, 1]));
const idx = tf.tensor1d([8, 7, 6, 5, 4, 3, 2, 1, 0], 'int32');
t('gather rows', () => tf.reshape(tf.gather(tf.reshape(k, [9, 128 * 128]), idx, 0), [3, 3, 128, 128]));
t('slices+concat', () => tf.reshape(tf.concat([8, 7, 6, 5, 4, 3, 2, 1, 0].map((i) => tf.slice(tf.reshape(k, [9, 128 * 128]), [i, 0], [1, 128 * 128])), 0), [3, 3, 128, 128]));
t('transpose [3,3,128,128] 0132', () => tf.transpose(k, [0, 1, 3, 2]));
const dy = tf.randomNormal([8, 32, 32, 64]);
t('slice6d', () => tf.slice(tf.reshape(dy, [8, 16, 2, 16, 2, 64]), [0, 0, 0, 0, 0, 0], [8, 16, 1, 16, 1, 64]));
t('stridedSlice4d', () => tf.stridedSlice(dy, [0, 0, 0, 0], [8, 32, 32, 64], [1, 2, 2, 1]));
t('two 3d slices', () => {
  const a = tf.slice(tf.reshape(dy, [8 * 16, 2, 32 * 64]), [0, 0, 0], [128, 1, 32 * 64]);
  return tf.reshape(tf.slice(tf.reshape(a, [128 * 16, 2, 64]), [0, 0, 0], [128 * 16, 1, 64]), [8, 16, 16, 64]);
});
const x = tf.randomNormal([8, 16, 16, 64]);
t('pad6d zeroInsert', () => tf.reshape(tf.pad(tf.reshape(x, [8, 16, 1, 16, 1, 64]), [[0, 0], [0, 0], [0, 1], [0, 0], [0, 1], [0, 0]]), [8, 32, 32, 64]));
const w = tf.randomNormal([3, 3, 64, 64]);
t('conv 16x16x64 3x3 64', () => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'));
const x2 = tf.randomNormal([8, 8, 8, 128]); const w2 = tf.randomNormal([3, 3, 128, 128]);
t('conv 8x8x128 3x3 128', () => tf.conv2d(x2 as tf.Tensor4D, w2 as tf.Tensor4D, 1, 'same'));
t('conv 8x8x128 3x3 128 explicit pad', () => tf.conv2d(x2 as tf.Tensor4D, w2 as tf.Tensor4D, 1, [[0, 0], [1, 1], [1, 1], [0, 0]]));
t('conv 8x8x128 new kernel each call', () => tf.conv2d(x2 as tf.Tensor4D, tf.add(w2, 0) as unknown as tf.Tensor4D, 1, 'same'));
const a = tf.randomNormal([1024, 1024]);
t('matmul 1024', () => tf.matMul(a, a as tf.Tensor2D), 3);
// Spatial sums of an NHWC map (InsNorm): wasm's Sum transposes a non-innermost reduction first.
for (const shape of [[32, 32, 32, 32], [32, 16, 16, 64], [32, 8, 8, 128]] as const) {
  const m = tf.randomNormal([...shape]) as tf.Tensor4D;
  const [, h, w] = shape;
  t(`two-pass Sum ${JSON.stringify(shape)}`, () => tf.sum(tf.sum(m, 1, true), 2, true));
  t(`two-pass AvgPool ${JSON.stringify(shape)}`, () => tf.mul(tf.avgPool(tf.avgPool(m, [h, 1], [h, 1], 'valid'), [1, w], [1, w], 'valid'), h * w));
  t(`multiply ${JSON.stringify(shape)}`, () => tf.mul(m, m));
}
// Interleaving sub-pixel phases: wasm's DepthToSpace against a Concat of two row phases of the same size.
const phases = tf.randomNormal([32, 16, 16, 128]) as tf.Tensor4D;
t('depthToSpace [32,16,16,128] block 2', () => tf.depthToSpace(phases, 2));
const rowA = tf.randomNormal([32, 16, 1, 16 * 64]), rowB = tf.randomNormal([32, 16, 1, 16 * 64]);
t('concat 2 x [32,16,1,1024] axis 2', () => tf.concat([rowA, rowB], 2));
