// Throughput of the Wide-ResNet CNN-F (src/models/cnnfWrn) on one backend: the first feedforward pass,
// the full feedback inference, and one end-to-end PGD step (loss and input gradient through the
// unrolled feedback loop, then the signed L-inf step), in images/s and images x steps/s, with the
// analytic FLOP count of the network (scripts/perf/wrnFlops.ts) and the GFLOP/s that implies.
// Weights are random (He-normal convolutions as the reference initialises them, biases N(0, 0.1)):
// the arithmetic does not depend on the values.
//   npx tsx scripts/wrn-perf.ts [--backend wasm] [--batch 32] [--reps 3] [--depth 40] [--widen 2] [--ind 5] [--cycles 2]
import { tf } from '../src/engine/tf.js';
import { initBackend } from '../src/engine/backend.js';
import { SampleStream } from '../src/engine/rng.js';
import { wrnArchitecture, wrnWeightSpecs } from '../src/models/cnnfWrn/architecture.js';
import { CnnfClassifier } from '../src/models/cnnfClassifier.js';
import { buildNetwork } from '../src/models/network.js';
import { countWrnFlops } from './perf/wrnFlops.js';

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}
const batch = Number(option('batch', '32'));
const reps = Number(option('reps', '3'));
const arch = wrnArchitecture(Number(option('depth', '40')), Number(option('widen', '2')), Number(option('ind', '5')), Number(option('cycles', '2')), 0.1);

/** Best and median wall time (ms) of `reps` runs after one warm-up; results are read back so the work is done. */
async function time(run: () => tf.Tensor | tf.Tensor[]): Promise<{ best: number; median: number }> {
  const times: number[] = [];
  for (let r = 0; r <= reps; r++) {
    const t0 = performance.now();
    const out = run();
    const list = Array.isArray(out) ? out : [out];
    for (const t of list) await t.data();
    tf.dispose(list);
    if (r > 0) times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { best: times[0], median: times[Math.floor(times.length / 2)] };
}

async function main() {
  const info = await initBackend(option('backend', 'wasm'));
  const params: Record<string, tf.Tensor> = {};
  for (const spec of wrnWeightSpecs(arch)) {
    const s = new SampleStream(1, `perf/${spec.name}`, 0);
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const std = spec.shape.length === 4 ? Math.sqrt(2 / (spec.shape[0] * spec.shape[1] * spec.shape[3])) : spec.name === 'fc.kernel' ? 1 / Math.sqrt(spec.shape[0]) : 0.1;
    params[spec.name] = tf.tensor(Float32Array.from({ length: size }, () => std * s.normal()), spec.shape);
  }
  const classifier = new CnnfClassifier('wrn', buildNetwork(arch, { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] }, params), 'last');
  const x = tf.randomUniform([batch, 32, 32, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
  const y = tf.tensor1d(Array.from({ length: batch }, (_, i) => i % arch.numClasses), 'int32');
  const eps = 8 / 255;
  const step = 2 / 255;
  const pgdStep = () =>
    tf.tidy(() => {
      const { grad } = classifier.lossAndGrad(x, y, { path: 'e2e', output: 'last', loss: 'ce' });
      const moved = tf.add(x, tf.mul(step, tf.sign(grad)));
      return tf.clipByValue(tf.minimum(tf.maximum(moved, tf.sub(x, eps)), tf.add(x, eps)), 0, 1);
    });
  const flops = countWrnFlops(arch);
  const rows: [string, { best: number; median: number }, number][] = [
    ['forward, first pass (images/s)', await time(() => classifier.logits(x, 'first')), flops.firstPassFlops],
    [`forward, ${arch.cycles} feedback cycles (images/s)`, await time(() => classifier.logits(x, 'last')), flops.forwardFlops],
    ['PGD step, e2e path (images x steps/s)', await time(pgdStep), 2 * flops.forwardFlops],
  ];
  process.stdout.write(
    `WRN-${arch.depth}-${arch.widen} CNN-F ind ${arch.ind}, ${arch.cycles} cycles; backend ${info.name}; batch ${batch}; best of ${reps} after a warm-up\n` +
      `FLOP per image: first pass ${(flops.firstPassFlops / 1e6).toFixed(1)} M, full inference ${(flops.forwardFlops / 1e6).toFixed(1)} M, e2e step ${((2 * flops.forwardFlops) / 1e6).toFixed(1)} M\n`,
  );
  for (const [name, t, perImage] of rows) {
    const rate = (batch * 1000) / t.best;
    process.stdout.write(`  ${name.padEnd(42)} ${rate.toFixed(1).padStart(7)}  (best ${t.best.toFixed(0)} ms, median ${t.median.toFixed(0)} ms per batch; ${((rate * perImage) / 1e9).toFixed(2)} GFLOP/s)\n`);
  }
}

await main();
