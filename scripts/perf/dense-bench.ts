// Micro benchmark of the dense-layer products of the Fashion-MNIST CNN-F on the active backend
// (fc1: [N,3136] x [3136,1000] and its transposed use), to see what XNNPACK's operator cache and
// explicit transposes cost. wasm's BatchMatMul caches a packed XNNPACK operator per right-hand
// operand (by tensor id) and packs again for every new right-hand tensor.
//   npx tsx scripts/perf/dense-bench.ts [--batch 100] [--reps 5] [--backend wasm] [--split]
// --split also times [N,3136] x [3136,1000] with the shared dimension split into kept chunks, and the
// output split into column blocks.
import { tf } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { scriptArgs } from '../lib/cliArgs.js';

const { values: flags } = scriptArgs(import.meta.url, {
  batch: { type: 'string', default: '100' },
  reps: { type: 'string', default: '5' },
  backend: { type: 'string', default: 'wasm' },
  split: { type: 'boolean' },
});
const batch = Number(flags.batch);
const reps = Number(flags.reps);

/** Median wall time (ms) of `reps` runs after one warm-up; results read back outside any tidy. */
function time(run: () => tf.Tensor): number {
  const times: number[] = [];
  for (let r = 0; r <= reps; r++) {
    const t0 = performance.now();
    const out = run();
    out.dataSync();
    const dt = performance.now() - t0;
    out.dispose();
    if (r > 0) times.push(dt);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

function row(label: string, ms: number, flops: number) {
  console.log(`  ${label.padEnd(58)} ${ms.toFixed(1).padStart(7)} ms  ${(flops / ms / 1e6).toFixed(2).padStart(6)} GFLOP/s`);
}

const info = await initBackend(flags.backend);
console.log(`backend ${info.name}, batch ${batch}, median of ${reps}`);
for (const [K, N] of [[3136, 1000], [1000, 128]]) {
  const x = tf.randomNormal([batch, K]) as tf.Tensor2D;
  const dy = tf.randomNormal([batch, N]) as tf.Tensor2D;
  const W = tf.randomNormal([K, N]) as tf.Tensor2D;
  const Wt = tf.transpose(W) as tf.Tensor2D;
  const flops = 2 * batch * K * N;
  console.log(`\nW [${K},${N}]`);
  row('x.W, same W every call (cached operator)', time(() => tf.matMul(x, W)), flops);
  row('x.W, a fresh copy of W every call (packs each call)', time(() => tf.tidy(() => tf.matMul(x, tf.clone(W)))), flops);
  row('dy.Wt, Wt kept (cached operator)', time(() => tf.matMul(dy, Wt)), flops);
  row('dy.Wt, explicit transpose every call', time(() => tf.tidy(() => tf.matMul(dy, tf.transpose(W)))), flops);
  row('dy.W^T via transposeB flag', time(() => tf.matMul(dy, W, false, true)), flops);
  row('(W.dy^T)^T: transpose dy, multiply, transpose back', time(() => tf.tidy(() => tf.transpose(tf.matMul(W, tf.transpose(dy) as tf.Tensor2D)))), flops);
  row('transpose of W alone', time(() => tf.transpose(W)), flops);
  row('clone of W alone (Identity kernel)', time(() => tf.clone(W)), flops);
  tf.dispose([x, dy, W, Wt]);
}

if (flags.split) {
  const K = 3136, N = 1000;
  const x = tf.randomNormal([batch, K]) as tf.Tensor2D;
  const W = tf.randomNormal([K, N]) as tf.Tensor2D;
  const flops = 2 * batch * K * N;
  console.log('\nsplitting the shared dimension of [N,3136] x [3136,1000] into kept chunks');
  for (const parts of [1, 2, 4, 7, 14]) {
    const k = K / parts;
    const ws = Array.from({ length: parts }, (_, i) => tf.slice(W, [i * k, 0], [k, N]) as tf.Tensor2D);
    const xs = Array.from({ length: parts }, (_, i) => tf.slice(x, [0, i * k], [batch, k]) as tf.Tensor2D);
    row(`${parts} chunks of ${k}`, time(() => tf.tidy(() => tf.addN(ws.map((w, i) => tf.matMul(xs[i], w))))), flops);
    row(`${parts} chunks of ${k}, slicing x per call`, time(() => tf.tidy(() => tf.addN(ws.map((w, i) => tf.matMul(tf.slice(x, [0, i * k], [batch, k]) as tf.Tensor2D, w))))), flops);
    tf.dispose([...ws, ...xs]);
  }
  for (const n of [250, 500]) {
    const ws = Array.from({ length: N / n }, (_, i) => tf.slice(W, [0, i * n], [K, n]) as tf.Tensor2D);
    row(`${N / n} output blocks of ${n}, concat`, time(() => tf.tidy(() => tf.concat(ws.map((w) => tf.matMul(x, w)), 1))), flops);
    tf.dispose(ws);
  }
}
