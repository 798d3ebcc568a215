// Throughput of the Wide-ResNet CNN-F (src/models/cnnfWrn) on one backend, in one process: the first
// feedforward pass, the full feedback inference, and one end-to-end PGD step (loss and input gradient
// through the unrolled feedback loop, then the signed L-inf step), in images/s and images x steps/s, with
// the analytic FLOP count of the network (scripts/perf/wrnFlops.ts) and the GFLOP/s that implies. The
// timed calls are those of `npm run perf` (scripts/perf/wrnModel.ts); weights are random.
//   npx tsx scripts/wrn-perf.ts [--backend wasm] [--batch 32] [--reps 3] [--depth 40] [--widen 2] [--ind 5] [--cycles 2]
//       [--only first,forward,e2e] [--profile]   (--profile: the kernel profile of one e2e step instead, scripts/perf/profile.ts)
import { tf } from '../src/engine/tf.js';
import { initBackend } from '../src/engine/backend.js';
import { countWrnFlops } from './perf/wrnFlops.js';
import { profileKernels } from './perf/profile.js';
import { buildWrnClassifier, wrnArch, wrnCall, wrnInputs, type WrnConfig } from './perf/wrnModel.js';
import { scriptArgs } from './lib/cliArgs.js';

const { values: flags } = scriptArgs(import.meta.url, {
  backend: { type: 'string', default: 'wasm' },
  batch: { type: 'string', default: '32' },
  reps: { type: 'string', default: '3' },
  depth: { type: 'string', default: '40' },
  widen: { type: 'string', default: '2' },
  ind: { type: 'string', default: '5' },
  cycles: { type: 'string', default: '2' },
  only: { type: 'string', default: 'first,forward,e2e' },
  profile: { type: 'boolean' },
});
const batch = Number(flags.batch);
const reps = Number(flags.reps);
const config: WrnConfig = { depth: Number(flags.depth), widen: Number(flags.widen), ind: Number(flags.ind), cycles: Number(flags.cycles) };
const arch = wrnArch(config);

/** Best and median wall time and median CPU time (ms) of `reps` runs after one warm-up; results are read back so the work is done. */
async function time(run: () => tf.Tensor): Promise<{ best: number; median: number; cpu: number }> {
  const times: number[] = [];
  const cpus: number[] = [];
  for (let r = 0; r <= reps; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const out = run();
    await out.data();
    tf.dispose(out);
    const c = process.cpuUsage(c0);
    if (r > 0) {
      times.push(performance.now() - t0);
      cpus.push((c.user + c.system) / 1000);
    }
  }
  times.sort((a, b) => a - b);
  cpus.sort((a, b) => a - b);
  return { best: times[0], median: times[Math.floor(times.length / 2)], cpu: cpus[Math.floor(cpus.length / 2)] };
}

async function main() {
  const info = await initBackend(flags.backend);
  const { classifier } = buildWrnClassifier(config);
  const { x, y } = wrnInputs(batch);
  const flops = countWrnFlops(arch);
  if (flags.profile) {
    const p = await profileKernels(classifier, x, y, 'e2e');
    process.stdout.write(`e2e loss-and-gradient, batch ${batch}: ${p.wallMs.toFixed(0)} ms wall, kernels ${p.kernelMs.toFixed(0)} ms (forward alone ${p.forwardKernelMs.toFixed(0)} ms)\n`);
    for (const k of p.kernels.filter((r) => !r.wrapper).slice(0, 25))
      process.stdout.write(`  ${k.name.padEnd(28)} ${k.ms.toFixed(0).padStart(7)} ms ${(100 * k.share).toFixed(1).padStart(5)}% ${String(k.calls).padStart(5)} calls (forward ${k.forwardMs.toFixed(0)} ms)\n`);
    for (const r of p.topShapes) process.stdout.write(`  ${r.name.padEnd(28)} ${r.ms.toFixed(0).padStart(7)} ms ${String(r.calls).padStart(4)} calls ${JSON.stringify(r.inputShapes)}\n`);
    return;
  }
  const only = flags.only.split(',');
  const rows: [string, { best: number; median: number; cpu: number }, number][] = [];
  if (only.includes('first')) rows.push(['forward, first pass (images/s)', await time(wrnCall(classifier, 'first', x, y)), flops.firstPassFlops]);
  if (only.includes('forward')) rows.push([`forward, ${arch.cycles} feedback cycles (images/s)`, await time(wrnCall(classifier, 'forward', x, y)), flops.forwardFlops]);
  if (only.includes('e2e')) rows.push(['PGD step, e2e path (images x steps/s)', await time(wrnCall(classifier, 'e2e', x, y)), 2 * flops.forwardFlops]);
  process.stdout.write(
    `WRN-${arch.depth}-${arch.widen} CNN-F ind ${arch.ind}, ${arch.cycles} cycles; backend ${info.name}; batch ${batch}; best of ${reps} after a warm-up\n` +
      `FLOP per image: first pass ${(flops.firstPassFlops / 1e6).toFixed(1)} M, full inference ${(flops.forwardFlops / 1e6).toFixed(1)} M, e2e step ${((2 * flops.forwardFlops) / 1e6).toFixed(1)} M\n`,
  );
  for (const [name, t, perImage] of rows) {
    const rate = (batch * 1000) / t.best;
    process.stdout.write(
      `  ${name.padEnd(42)} ${rate.toFixed(1).padStart(7)}  (best ${t.best.toFixed(0)} ms, median ${t.median.toFixed(0)} ms, median CPU ${t.cpu.toFixed(0)} ms per batch; ${((rate * perImage) / 1e9).toFixed(2)} GFLOP/s; per CPU-second ${((batch * 1000) / t.cpu).toFixed(1)})\n`,
    );
  }
  // The wasm heap only grows: its size after the runs is the process's peak (wasm's limit is 4 GiB).
  const memory = (tf.backend() as unknown as { wasm?: { asm?: { memory?: WebAssembly.Memory } } }).wasm?.asm?.memory;
  if (memory) process.stdout.write(`  wasm heap after the runs: ${(memory.buffer.byteLength / 2 ** 20).toFixed(0)} MiB\n`);
}

await main();
