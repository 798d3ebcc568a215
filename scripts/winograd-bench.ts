// Go/no-go measurement for Winograd F(2x2,3x3) (Lavin & Gray 2016) on the wasm backend: stride-1 3x3
// 'same' convolutions composed from TensorFlow.js ops against tf.conv2d, in process CPU time, on the
// layer shapes of WRN-40-2 (batch 32) and the Fashion-MNIST CNN (batch 250), forward and input gradient
// (an input gradient is the same convolution with Cin and Cout swapped).
//   npx tsx scripts/winograd-bench.ts [--reps 5] [--backend wasm] [--only wrn,cnn] [--tf-ops] [--alternatives]
//   npx tsx scripts/winograd-bench.ts --cnn-step [--batch 250] [--rounds 5] [--min-channels 64]
//   npx tsx scripts/winograd-bench.ts --wrn-step [--batch 32] [--rounds 5] [--min-channels 64]
// Columns: `conv2d` wasm's own kernel (fast path off), `composed` the fast path winograd-3x3 with its
// transforms composed from the backend's kernels (winograd-wasm off), `wasm F2` with the generated wasm
// transforms (the default), `wasm F4` the same with F(4x4,3x3) (setWinogradTileSize(4)), all forced on
// whatever the channel count and alternating within each repetition (median CPU ms); --tf-ops adds the same
// algorithm composed from tf ops (depthwise transforms, matMuls, adds, tf.stack interleave), --alternatives
// also the interleave by zero-padding and adding.
// --cnn-step: the Fashion-MNIST CNN's attack step (lossAndGrad, first path: forward and input gradient)
// at --batch on the first test images, fast path on and off interleaved over --rounds, median CPU ms,
// and how many convolutions ran by Winograd; --min-channels lowers the fast path's channel threshold.
// --wrn-step: the same for one e2e PGD step of the paper's WRN-40-2 CNN-F (random weights, as
// scripts/wrn-perf.ts), in one process: the machine's load drifts hit both variants alike.
import { tf } from '../src/engine/tf.js';
import { initBackend } from '../src/engine/backend.js';
import { setDisabledFastPaths } from '../src/engine/fastPaths.js';
import { setWinogradMinChannels, setWinogradTileSize, winogradCalls, WINOGRAD_MIN_CHANNELS } from '../src/engine/kernels/winograd.js';
import { scriptArgs } from './lib/cliArgs.js';

const { values: flags } = scriptArgs(import.meta.url, {
  reps: { type: 'string', default: '5' },
  backend: { type: 'string', default: 'wasm' },
  only: { type: 'string', default: 'wrn,cnn' },
  'tf-ops': { type: 'boolean' },
  alternatives: { type: 'boolean' },
  'cnn-step': { type: 'boolean' },
  'wrn-step': { type: 'boolean' },
  batch: { type: 'string' }, // default: 250 with --cnn-step, 32 with --wrn-step
  rounds: { type: 'string', default: '5' },
  'min-channels': { type: 'string' }, // default: the fast path's own threshold (WINOGRAD_MIN_CHANNELS)
});
const reps = Number(flags.reps);
const backendName = flags.backend;
const only = flags.only.split(',');
const alternatives = flags.alternatives;
const tfOps = flags['tf-ops'] || alternatives;

/** [label, batch, side, Cin, Cout] */
const SHAPES: [string, number, number, number, number][] = [];
if (only.includes('wrn'))
  SHAPES.push(
    ['wrn g1 16->32', 32, 32, 16, 32],
    ['wrn g1 32->32', 32, 32, 32, 32],
    ['wrn g1 grad 32->16', 32, 32, 32, 16],
    ['wrn g2 64->64', 32, 16, 64, 64],
    ['wrn g3 128->128', 32, 8, 128, 128],
  );
if (only.includes('cnn'))
  SHAPES.push(
    ['cnn conv1 1->16', 250, 28, 1, 16],
    ['cnn conv2 16->32', 250, 28, 16, 32],
    ['cnn grad conv2 32->16', 250, 28, 32, 16],
    ['cnn conv3 32->32', 250, 28, 32, 32],
    ['cnn conv4 32->64', 250, 14, 32, 64],
    ['cnn grad conv4 64->32', 250, 14, 64, 32],
  );

/**
 * Median process CPU ms (user + system) of `reps` calls after one warm-up. The wasm backend computes
 * synchronously, so no read-back is needed (a dataSync of the output would add its copy to the time).
 */
function cpuMs(run: () => tf.Tensor): number {
  const times: number[] = [];
  for (let r = 0; r <= reps; r++) {
    const c0 = process.cpuUsage();
    const out = run();
    if (backendName !== 'wasm') out.dataSync();
    const c = process.cpuUsage(c0);
    out.dispose();
    if (r > 0) times.push((c.user + c.system) / 1000);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** G g G^T per (cin, cout): [3,3,Cin,Cout] -> 16 filters [1,1,Cin,Cout], index 4i+j. */
function filterTransform(g: tf.Tensor4D): tf.Tensor4D[] {
  return tf.tidy(() => {
    const G = tf.tensor2d([1, 0, 0, 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0, 0, 1], [4, 3]);
    const [, , ci, co] = g.shape;
    const flat = g.reshape([3, 3 * ci * co]);
    const rows = tf.matMul(G, flat).reshape([4, 3, ci * co]).transpose([1, 0, 2]).reshape([3, 4 * ci * co]);
    const u = tf.matMul(G, rows).reshape([4, 4, ci, co]).transpose([1, 0, 2, 3]); // [j][i] -> [i][j]
    const out: tf.Tensor4D[] = [];
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) out.push(u.slice([i, j, 0, 0], [1, 1, ci, co]).clone() as tf.Tensor4D);
    return out;
  });
}

/** B^T rows (taps of the 4-wide input window per transformed index k). */
const BT = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]];
const dwFilters = new Map<string, tf.Tensor4D[]>();

/** Depthwise filters [4,1,C,1] (axis 'rows') or [1,4,C,1] ('cols') with taps BT[k] in every channel, made once per (C, axis). */
function transformFilters(c: number, axis: 'rows' | 'cols'): tf.Tensor4D[] {
  const key = `${c}/${axis}`;
  let f = dwFilters.get(key);
  if (!f) {
    f = BT.map((taps) => {
      const v = new Float32Array(4 * c);
      for (let t = 0; t < 4; t++) for (let ch = 0; ch < c; ch++) v[t * c + ch] = taps[t];
      return tf.keep(tf.tensor4d(v, axis === 'rows' ? [4, 1, c, 1] : [1, 4, c, 1]));
    });
    dwFilters.set(key, f);
  }
  return f;
}

/**
 * Winograd F(2x2,3x3) with the input transform as stride-2 depthwise convolutions (4 along rows, then 4
 * along columns of each: 20 per call), the 16 products as matMuls [N·T·U, Cin] x [Cin, Cout], the output
 * transform as adds, and the 2x2 interleave by stacks ('stack') or by zero-padding and adding ('pad').
 */
function winogradDepthwise(x: tf.Tensor4D, u2: tf.Tensor2D[], interleave: 'stack' | 'pad'): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    const th = Math.ceil(h / 2);
    const tw = Math.ceil(w / 2);
    const xp = tf.pad(x, [[0, 0], [1, 2 * th + 1 - h], [1, 2 * tw + 1 - w], [0, 0]]) as tf.Tensor4D;
    const fr = transformFilters(c, 'rows');
    const fc = transformFilters(c, 'cols');
    const co = u2[0].shape[1];
    const m: tf.Tensor[] = [];
    for (let i = 0; i < 4; i++) {
      const r = tf.depthwiseConv2d(xp, fr[i], [2, 1], 'valid');
      for (let j = 0; j < 4; j++) {
        const v = tf.depthwiseConv2d(r, fc[j], [1, 2], 'valid');
        m.push(tf.matMul(v.reshape([n * th * tw, c]), u2[4 * i + j]).reshape([n, th, tw, co]));
      }
    }
    const s0 = [0, 1, 2, 3].map((j) => tf.addN([m[j], m[4 + j], m[8 + j]]));
    const s1 = [0, 1, 2, 3].map((j) => tf.sub(tf.sub(m[4 + j], m[8 + j]), m[12 + j]));
    const y = [s0, s1].map((s) => [tf.addN([s[0], s[1], s[2]]), tf.sub(tf.sub(s[1], s[2]), s[3])]);
    let out: tf.Tensor4D;
    if (interleave === 'stack') {
      const rowsOut = y.map(([a, b]) => tf.stack([a, b], 3).reshape([n, th, 2 * tw, co]));
      out = tf.stack(rowsOut, 2).reshape([n, 2 * th, 2 * tw, co]) as tf.Tensor4D;
    } else {
      const rowsOut = y.map(([a, b]) =>
        tf.add(tf.pad(a.reshape([n, th, tw, 1, co]), [[0, 0], [0, 0], [0, 0], [0, 1], [0, 0]]), tf.pad(b.reshape([n, th, tw, 1, co]), [[0, 0], [0, 0], [0, 0], [1, 0], [0, 0]])).reshape([n, th, 1, 2 * tw, co]),
      );
      out = tf.add(tf.pad(rowsOut[0], [[0, 0], [0, 0], [0, 1], [0, 0], [0, 0]]), tf.pad(rowsOut[1], [[0, 0], [0, 0], [1, 0], [0, 0], [0, 0]])).reshape([n, 2 * th, 2 * tw, co]) as tf.Tensor4D;
    }
    if (2 * th !== h || 2 * tw !== w) out = out.slice([0, 0, 0, 0], [n, h, w, co]);
    return out;
  });
}

/**
 * Median CPU ms of `step` with the fast path on and off, interleaved in one process (one warm-up round,
 * then --rounds rounds, the order alternating), and the Winograd convolutions per step.
 */
function abStep(title: string, step: () => void) {
  const rounds = Number(flags.rounds);
  const cpu: Record<'on' | 'off', number[]> = { on: [], off: [] };
  const ran: Record<'on' | 'off', number> = { on: 0, off: 0 };
  for (let r = 0; r <= rounds; r++)
    for (const v of (r % 2 ? ['on', 'off'] : ['off', 'on']) as ('on' | 'off')[]) {
      setDisabledFastPaths(v === 'on' ? [] : ['winograd-3x3']);
      const calls = winogradCalls();
      const c0 = process.cpuUsage();
      step();
      const c = process.cpuUsage(c0);
      ran[v] = winogradCalls() - calls;
      if (r > 0) cpu[v].push((c.user + c.system) / 1000);
    }
  const med = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
  console.log(`${title}, ${rounds} interleaved rounds (${new Date().toISOString().slice(11, 16)} UTC)`);
  for (const v of ['off', 'on'] as const)
    console.log(`  winograd-3x3 ${v.padEnd(3)}: median ${med(cpu[v]).toFixed(0)} CPU ms per step [${cpu[v].map((t) => t.toFixed(0)).join(', ')}], ${ran[v]} convolutions by Winograd per step`);
  console.log(`  speed-up (median CPU): ${(med(cpu.off) / med(cpu.on)).toFixed(2)}x`);
}

/** The Fashion-MNIST CNN's attack step (lossAndGrad, first path) on the first test images. */
async function cnnStep() {
  const { join } = await import('node:path');
  const { loadFashionMnist, packageRoot } = await import('../src/data/fashionMnist.js');
  const { toBatch } = await import('../src/data/batching.js');
  const { loadSuiteModel } = await import('../src/suite/loadClassifier.js');
  const batch = Number(flags.batch ?? '250');
  setWinogradMinChannels(flags['min-channels'] !== undefined ? Number(flags['min-channels']) : null);
  const data = await loadFashionMnist('test', { limit: batch });
  const { x, y } = toBatch(data, Array.from({ length: batch }, (_, i) => i));
  const m = await loadSuiteModel({ path: join(packageRoot(), 'checkpoints/cnn-fmnist'), output: 'last', where: 'checkpoints/cnn-fmnist' });
  abStep(`CNN (checkpoints/cnn-fmnist) lossAndGrad first path, batch ${batch}, channel threshold ${flags['min-channels'] ?? String(WINOGRAD_MIN_CHANNELS)}`, () => {
    const { loss, grad } = m.classifier.lossAndGrad(x, y, { path: 'first' });
    grad.dataSync();
    tf.dispose([loss, grad]);
  });
}

/** One e2e PGD step of the paper's WRN-40-2 CNN-F (random weights; scripts/perf/wrnModel.ts, as wrn-perf.ts times it). */
async function wrnStep() {
  const { buildWrnClassifier, wrnCall, wrnInputs, PAPER_WRN } = await import('./perf/wrnModel.js');
  const batch = Number(flags.batch ?? '32');
  setWinogradMinChannels(flags['min-channels'] !== undefined ? Number(flags['min-channels']) : null);
  const { classifier } = buildWrnClassifier(PAPER_WRN);
  const { x, y } = wrnInputs(batch);
  const run = wrnCall(classifier, 'e2e', x, y);
  abStep(`WRN-40-2 CNN-F e2e PGD step, batch ${batch}, channel threshold ${flags['min-channels'] ?? String(WINOGRAD_MIN_CHANNELS)}`, () => {
    const out = run();
    out.dataSync();
    out.dispose();
  });
}

async function main() {
  await initBackend(backendName);
  if (flags['cnn-step']) return cnnStep();
  if (flags['wrn-step']) return wrnStep();
  console.log(`backend ${tf.getBackend()}, reps ${reps} (median CPU ms after a warm-up)`);
  const heads = ['conv2d', 'composed', 'wasm F2', 'wasm F4', ...(tfOps ? ['tf-ops'] : []), ...(alternatives ? ['tf-ops/pad'] : [])].map((h) => h.padStart(9)).join(' ');
  console.log(`${'shape (CPU ms)'.padEnd(24)} ${heads}  F2 speed-up  max rel err F2 / F4`);
  // Every shape through the kernel, whatever its channel count (the fast path's threshold is what this measures).
  setWinogradMinChannels(1);
  for (const [label, n, side, ci, co] of SHAPES) {
    const x = tf.randomNormal([n, side, side, ci]) as tf.Tensor4D;
    const g = tf.randomNormal([3, 3, ci, co], 0, Math.sqrt(2 / (9 * ci))) as tf.Tensor4D;
    const u = filterTransform(g);
    const u2 = u.map((t) => t.reshape([ci, co]) as tf.Tensor2D);
    setDisabledFastPaths(['winograd-3x3']);
    const ref = tf.conv2d(x, g, 1, 'same');
    // Each variant: fast paths off, output tile; its error against wasm's direct convolution.
    const variant = (disabled: string[], tile: 2 | 4) => {
      setDisabledFastPaths(disabled);
      setWinogradTileSize(tile);
    };
    const errOf = (disabled: string[], tile: 2 | 4) => {
      variant(disabled, tile);
      const calls = winogradCalls();
      const wy = tf.conv2d(x, g, 1, 'same');
      if (winogradCalls() !== calls + 1) throw new Error('the Winograd kernel did not run');
      const err = tf.tidy(() => tf.max(tf.abs(tf.sub(wy, ref))).dataSync()[0] / tf.max(tf.abs(ref)).dataSync()[0]);
      wy.dispose();
      return err;
    };
    const errF2 = errOf([], 2), errF4 = errOf([], 4);
    ref.dispose();
    // Interleaved: the variants alternate within each repetition, so load drifts hit them alike.
    const settings: [string[], 2 | 4][] = [[['winograd-3x3'], 2], [['winograd-wasm'], 2], [[], 2], [[], 4]];
    const samples: number[][] = settings.map(() => []);
    for (let r = 0; r <= reps; r++)
      settings.forEach(([d, t], i) => {
        variant(d, t);
        const c0 = process.cpuUsage();
        tf.conv2d(x, g, 1, 'same').dispose();
        const c = process.cpuUsage(c0);
        if (r > 0) samples[i].push((c.user + c.system) / 1000);
      });
    variant([], 2);
    const times = samples.map((v) => [...v].sort((a, b) => a - b)[v.length >> 1]);
    if (tfOps) times.push(cpuMs(() => winogradDepthwise(x, u2, 'stack')));
    if (alternatives) times.push(cpuMs(() => winogradDepthwise(x, u2, 'pad')));
    const cols = times.map((t) => t.toFixed(1).padStart(9)).join(' ');
    console.log(`${label.padEnd(24)} ${cols}  ${(times[0] / times[2]).toFixed(2).padStart(10)}x  ${errF2.toExponential(2)} / ${errF4.toExponential(2)}`);
    tf.dispose([x, g, ...u, ...u2]);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
