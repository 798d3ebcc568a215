// Micro benchmark of the convolution kernels behind training and attacks, on the CNN-F's Fashion-MNIST
// layer shapes: forward conv, input gradient, filter gradient and the transposed conv, TensorFlow.js's
// own kernel vs ours (src/engine/kernels) where the original exists, in ms and GFLOP/s.
//   npx tsx scripts/kernel-bench.ts [--batch 100] [--reps 3] [--backend wasm] [--alternatives]
//                                   [--only layers,kernels] [--kernel-batch 32]
// --alternatives also times the filter-gradient designs we rejected (im2col + matMul) and the
// transpose flags of tf.matMul, which are slow on wasm.
// The `kernels` section times the gradient kernels of depthwise-separable and strided networks (what a
// converted graph-model's attack step runs) on wasm, before (wasm's own kernel, or the cpu fallback where
// wasm has none: BENCH_DISABLE_FAST conv-backprop,depthwise-backprop) and after (src/engine/kernels/
// conv-backprop-kernels.ts), next to the forward kernel of the same shape.
import { tf } from '../src/engine/tf.js';
import { initBackend } from '../src/engine/backend.js';
import { setDisabledFastPaths } from '../src/engine/fastPaths.js';
import {
  conv2dFilterGradient,
  conv2dInputGradient,
  conv2dTransposeSame,
  registerFastConvGradients,
  unregisterFastConvGradients,
  setCpuFallbackWarning,
  cpuFallbacksRun,
  resetCpuFallbacksRun,
} from '../src/engine/kernels/index.js';
import { scriptArgs } from './lib/cliArgs.js';

const { values: flags } = scriptArgs(import.meta.url, {
  batch: { type: 'string', default: '100' },
  reps: { type: 'string', default: '3' },
  backend: { type: 'string', default: 'wasm' },
  alternatives: { type: 'boolean' },
  only: { type: 'string', default: 'layers,kernels' },
  'kernel-batch': { type: 'string', default: '32' },
});
const batch = Number(flags.batch);
const reps = Number(flags.reps);
const backendName = flags.backend;
const alternatives = flags.alternatives;
const only = flags.only.split(',');
const kernelBatch = Number(flags['kernel-batch']);

/** name, input channels, output channels, image side (3x3 kernels, 'same' padding, stride 1). */
const LAYERS: [string, number, number, number][] = [
  ['conv1', 1, 16, 28],
  ['conv2', 16, 32, 28],
  ['conv3', 32, 32, 28],
  ['conv4', 32, 64, 14],
];
const K = 3;
const SAME = { top: 1, bottom: 1, left: 1, right: 1 };

/** Best process CPU time (user + system, ms) of the last time() call: steadier than wall time on a busy machine. */
let lastCpuMs = 0;

/** Best wall time of `reps` runs after one warm-up; the result is read back outside any tidy. */
function time(run: () => tf.Tensor | tf.Tensor[]): number {
  let best = Infinity;
  lastCpuMs = Infinity;
  for (let r = 0; r <= reps; r++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const out = run();
    for (const t of Array.isArray(out) ? out : [out]) t.dataSync();
    const dt = performance.now() - t0;
    const c = process.cpuUsage(c0);
    tf.dispose(out);
    if (r > 0) {
      best = Math.min(best, dt);
      lastCpuMs = Math.min(lastCpuMs, (c.user + c.system) / 1000);
    }
  }
  return best;
}

function row(label: string, ms: number | null, flops: number, note = '') {
  const msText = ms === null ? 'n/a'.padStart(9) : `${ms.toFixed(1).padStart(7)} ms`;
  const rate = ms === null ? '' : `${(flops / ms / 1e6).toFixed(2).padStart(6)} GFLOP/s`;
  console.log(`  ${label.padEnd(34)} ${msText}  ${rate.padEnd(15)} ${note}`);
}

function im2colFilterGradient(x: tf.Tensor4D, dy: tf.Tensor4D): tf.Tensor {
  return tf.tidy(() => {
    const [N, H, W, C] = x.shape;
    const O = dy.shape[3];
    const xp = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]);
    const shifted: tf.Tensor[] = [];
    for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) shifted.push(tf.slice(xp, [0, i, j, 0], [-1, H, W, -1]));
    const cols = tf.reshape(tf.concat(shifted, 3), [N * H * W, K * K * C]) as tf.Tensor2D;
    const dyRows = tf.reshape(dy, [N * H * W, O]) as tf.Tensor2D;
    return tf.reshape(tf.matMul(tf.transpose(cols), dyRows), [K, K, C, O]);
  });
}

function nineMatMulFilterGradient(x: tf.Tensor4D, dy: tf.Tensor4D): tf.Tensor {
  return tf.tidy(() => {
    const [N, H, W, C] = x.shape;
    const O = dy.shape[3];
    const xp = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]);
    const dyT = tf.transpose(tf.reshape(dy, [N * H * W, O])) as tf.Tensor2D;
    const taps: tf.Tensor[] = [];
    for (let i = 0; i < K; i++)
      for (let j = 0; j < K; j++)
        taps.push(tf.matMul(dyT, tf.reshape(tf.slice(xp, [0, i, j, 0], [-1, H, W, -1]), [N * H * W, C]) as tf.Tensor2D));
    return tf.reshape(tf.transpose(tf.stack(taps), [0, 2, 1]), [K, K, C, O]);
  });
}

function matMulFlags() {
  const M = batch * 28 * 28, C = 32, O = 32;
  const a = tf.randomNormal([M, C]) as tf.Tensor2D, b = tf.randomNormal([M, O]) as tf.Tensor2D;
  const aT = tf.transpose(a) as tf.Tensor2D, bT = tf.transpose(b) as tf.Tensor2D;
  const flops = 2 * M * C * O;
  console.log(`\ntf.matMul on [${M},${C}] and [${M},${O}] operands (the filter-gradient product)`);
  row('[C,M] x [M,O]', time(() => tf.matMul(aT, b)), flops);
  row('transposeA: [M,C]^T x [M,O]', time(() => tf.matMul(a, b, true, false)), flops);
  row('transposeB: [C,M] x [O,M]^T', time(() => tf.matMul(aT, bT, false, true)), flops);
  row('explicit tf.transpose, then matMul', time(() => tf.tidy(() => tf.matMul(tf.transpose(a), b))), flops);
  tf.dispose([a, b, aT, bT]);
}

type Shape4 = [number, number, number, number];

/** One gradient-kernel case: a forward op and its backprop kernels at one realistic shape. */
interface KernelCase {
  label: string;
  depthwise: boolean;
  xs: Shape4;
  /** kh, kw, in, out (conv) or multiplier (depthwise). */
  ws: Shape4;
  strides: number;
  pad: 'same' | 'valid';
}

const KERNEL_CASES = (n: number): KernelCase[] => [
  { label: 'depthwise 3x3 s1 same', depthwise: true, xs: [n, 32, 32, 32], ws: [3, 3, 32, 1], strides: 1, pad: 'same' },
  { label: 'depthwise 3x3 s2 same', depthwise: true, xs: [n, 32, 32, 32], ws: [3, 3, 32, 1], strides: 2, pad: 'same' },
  { label: 'depthwise 3x3 s1 valid', depthwise: true, xs: [n, 16, 16, 64], ws: [3, 3, 64, 1], strides: 1, pad: 'valid' },
  { label: 'conv 3x3 s2 same (stem)', depthwise: false, xs: [n, 32, 32, 3], ws: [3, 3, 3, 32], strides: 2, pad: 'same' },
  { label: 'conv 3x3 s2 same', depthwise: false, xs: [n, 32, 32, 32], ws: [3, 3, 32, 64], strides: 2, pad: 'same' },
  { label: 'conv 3x3 s1 same', depthwise: false, xs: [n, 32, 32, 32], ws: [3, 3, 32, 32], strides: 1, pad: 'same' },
  { label: 'conv 1x1 s1 (pointwise)', depthwise: false, xs: [n, 16, 16, 64], ws: [1, 1, 64, 128], strides: 1, pad: 'same' },
];

function kernelSection() {
  console.log(`\ngradient kernels on ${tf.getBackend()}, batch ${kernelBatch}: ms, before (wasm's own kernel, or the cpu fallback) -> after (ours)`);
  const warned = setCpuFallbackWarning(() => {});
  for (const c of KERNEL_CASES(kernelBatch)) {
    const info = tf.backend_util.computeConv2DInfo(c.xs, c.ws, c.strides, 1, c.pad, undefined, c.depthwise);
    const x = tf.randomNormal(c.xs) as tf.Tensor4D, w = tf.randomNormal(c.ws) as tf.Tensor4D;
    const dy = tf.randomNormal(info.outShape) as tf.Tensor4D;
    const macs = c.depthwise ? info.outShape.reduce((a, b) => a * b, 1) * c.ws[0] * c.ws[1] : info.outShape.reduce((a, b) => a * b, 1) * c.ws[0] * c.ws[1] * c.ws[2];
    const flops = 2 * macs;
    console.log(`\n${c.label}: x [${c.xs}] * w [${c.ws}] stride ${c.strides} ${c.pad}, ${(flops / 1e9).toFixed(3)} GFLOP per op`);
    const common = { strides: c.strides, pad: c.pad, dimRoundingMode: undefined };
    const fwd = c.depthwise ? 'DepthwiseConv2dNative' : 'Conv2D';
    const input = c.depthwise ? 'DepthwiseConv2dNativeBackpropInput' : 'Conv2DBackpropInput';
    const filter = c.depthwise ? 'DepthwiseConv2dNativeBackpropFilter' : 'Conv2DBackpropFilter';
    const attrs = c.depthwise ? { ...common, dilations: 1 } : { ...common, dataFormat: 'NHWC', dilations: 1 };
    const run = (name: string, inputs: tf.NamedTensorMap, a: object) => () => tf.engine().runKernel(name, inputs, a as never) as tf.Tensor;
    const cpuNote = () => `cpu ${lastCpuMs.toFixed(1)} ms`;
    row(`forward ${fwd}`, time(run(fwd, { x, filter: w }, attrs)), flops, cpuNote());
    for (const [name, inputs, a] of [
      [input, { dy, filter: w }, { ...attrs, inputShape: c.xs }],
      [filter, { x, dy }, { ...attrs, filterShape: c.ws }],
    ] as [string, tf.NamedTensorMap, object][]) {
      setDisabledFastPaths(['conv-backprop', 'depthwise-backprop']);
      resetCpuFallbacksRun();
      const before = time(run(name, inputs, a));
      const beforeCpu = lastCpuMs;
      const viaCpu = cpuFallbacksRun().some((r) => r.kernel === name);
      setDisabledFastPaths(null);
      const after = time(run(name, inputs, a));
      row(`${name}: before`, before, flops, `cpu ${beforeCpu.toFixed(1)} ms${viaCpu ? ' (cpu fallback)' : ' (wasm kernel)'}`);
      row(`${name}: after`, after, flops, `${cpuNote()}, ${(before / after).toFixed(1)}x faster (wall), ${(beforeCpu / lastCpuMs).toFixed(1)}x (cpu)`);
    }
    tf.dispose([x, w, dy]);
  }
  // Pooling gradients: wasm has its own MaxPoolGrad and AvgPoolGrad kernels (C++), timed next to the forward op.
  const xs: Shape4 = [kernelBatch, 32, 32, 32];
  const x = tf.randomNormal(xs) as tf.Tensor4D;
  const flops = xs.reduce((a, b) => a * b, 1);
  console.log(`\npooling 2x2 stride 2 on [${xs}] (GFLOP/s column: elements of x per ns)`);
  for (const kind of ['max', 'avg'] as const) {
    const pool = (a: tf.Tensor) => (kind === 'max' ? tf.maxPool(a as tf.Tensor4D, 2, 2, 'same') : tf.avgPool(a as tf.Tensor4D, 2, 2, 'same'));
    row(`${kind}Pool forward`, time(() => pool(x)), flops, `cpu ${lastCpuMs.toFixed(1)} ms`);
    row(`${kind}Pool forward + input gradient`, time(() => tf.tidy(() => tf.grad((a: tf.Tensor) => tf.sum(pool(a)))(x))), flops, `cpu ${lastCpuMs.toFixed(1)} ms`);
  }
  x.dispose();
  setCpuFallbackWarning(warned);
}

async function main() {
  const info = await initBackend(backendName);
  console.log(`backend ${info.name} (${info.provider}), tfjs ${info.tfjsVersion}, batch ${batch}, best of ${reps}`);
  if (only.includes('kernels')) kernelSection();
  for (const [name, cin, cout, side] of only.includes('layers') ? LAYERS : []) {
    const x = tf.randomNormal([batch, side, side, cin]) as tf.Tensor4D;
    const w = tf.randomNormal([K, K, cin, cout]) as tf.Tensor4D;
    const dy = tf.randomNormal([batch, side, side, cout]) as tf.Tensor4D;
    const flops = 2 * batch * side * side * K * K * cin * cout;
    console.log(`\n${name}: [${batch},${side},${side},${cin}] * [${K},${K},${cin},${cout}] 'same', ${(flops / 1e9).toFixed(3)} GFLOP per op`);
    row('forward tf.conv2d', time(() => tf.conv2d(x, w, 1, 'same')), flops);
    row('input grad: Conv2DBackpropInput', time(() => tf.conv2dTranspose(dy, w, x.shape, 1, 'same')), flops, 'original');
    row('input grad: ours', time(() => conv2dInputGradient(dy, w, SAME)), flops);
    row('filter grad: ours', time(() => conv2dFilterGradient(x, dy, SAME)), flops);
    if (alternatives) {
      row('filter grad: im2col + one matMul', time(() => im2colFilterGradient(x, dy)), flops, 'rejected');
      row('filter grad: nine matMuls', time(() => nineMatMulFilterGradient(x, dy)), flops, 'rejected');
    }
    row('transpose conv: tf.conv2dTranspose', time(() => tf.conv2dTranspose(dy, w, x.shape, 1, 'same')), flops, 'original');
    row('transpose conv: conv2dTransposeSame', time(() => conv2dTransposeSame(dy, w)), flops);

    const lossOf = (a: tf.Tensor, f: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, f as tf.Tensor4D, 1, 'same'), dy));
    unregisterFastConvGradients();
    const origInput = time(() => tf.tidy(() => tf.grad((a: tf.Tensor) => lossOf(a, w))(x)));
    // Checked rather than caught: a gradient that throws mid-tape leaks its saved tensors.
    const hasFilterKernel = tf.getKernel('Conv2DBackpropFilter', tf.getBackend()) !== undefined;
    const origBoth = hasFilterKernel ? time(() => tf.tidy(() => tf.grads(lossOf)([x, w]))) : null;
    registerFastConvGradients();
    const oursInput = time(() => tf.tidy(() => tf.grad((a: tf.Tensor) => lossOf(a, w))(x)));
    const oursBoth = time(() => tf.tidy(() => tf.grads(lossOf)([x, w])));
    row('tf.grad x (fwd+bwd): original', origInput, 2 * flops);
    row('tf.grad x (fwd+bwd): ours', oursInput, 2 * flops);
    row('tf.grads x,w (fwd+bwd): original', origBoth, 3 * flops, origBoth === null ? 'throws: no Conv2DBackpropFilter kernel' : '');
    row('tf.grads x,w (fwd+bwd): ours', oursBoth, 3 * flops);
    tf.dispose([x, w, dy]);
  }
  if (alternatives) matMulFlags();
  console.log(`\nlive tensors at exit: ${tf.memory().numTensors}`);
}

await main();
