// Square's cost side by side: bench's `square` (attacks/square.ts, in this process) and AutoAttack's
// SquareAttack (scripts/reference/square_cost.py, a Python child process) on the same first --n vendored
// Fashion-MNIST test images with the same settings (L-inf, p_init 0.8, the schedule not rescaled, as in
// AutoAttack's standard ensemble), alternating bench, AutoAttack, AutoAttack, bench, ... so that machine
// load hits both alike. Square is forward passes only, so this isolates the model call's cost per image.
//   npx tsx scripts/square-cost.ts [--checkpoint checkpoints/cnn-fmnist] [--n 250] [--queries 100]
//       [--eps 0.03] [--reps 2] [--python /usr/bin/python3] [--default-malloc]
// Prints per run the CPU seconds (user + system; wall time is meaningless on a shared machine), the images
// the model calls saw, and CPU microseconds per image. Both sides run on one core (wasm runs one thread per
// process; PyTorch with --threads 1). Each side counts its clean check too; `fooled` counts samples correct
// clean that the attack's images misclassify.
// The Python process gets large glibc trim and mmap thresholds (MALLOC_TRIM_THRESHOLD_, MALLOC_MMAP_THRESHOLD_)
// unless --default-malloc: without them PyTorch's CPU time for the same run swung 2-3x on this machine with
// the allocator's state (28 to 89 CPU-s, a third of it system time returning and re-faulting freed memory),
// and the AutoAttack runs of docs/autoattack.md ran at the fast end (about 1 ms per image in Square).
import { join } from 'node:path';
import { tf } from '../src/engine/tf.js';
import { initBackend } from '../src/engine/backend.js';
import { KeyedRng } from '../src/engine/rng.js';
import { loadFashionMnist, packageRoot } from '../src/data/fashionMnist.js';
import { toBatch } from '../src/data/batching.js';
import { loadSuiteModel } from '../src/suite/loadClassifier.js';
import { CountingClassifier } from '../src/suite/context.js';
import { getAttack } from '../attacks/registry.js';
import { runReferenceJson } from './reference/runPython.js';
import { scriptArgs } from './lib/cliArgs.js';

const { values: flags } = scriptArgs(import.meta.url, {
  checkpoint: { type: 'string', default: join(packageRoot(), 'checkpoints', 'cnn-fmnist') },
  n: { type: 'string', default: '250' },
  queries: { type: 'string', default: '100' },
  eps: { type: 'string', default: '0.03' },
  reps: { type: 'string', default: '2' },
  python: { type: 'string', default: '/usr/bin/python3' },
  'default-malloc': { type: 'boolean' },
});
const checkpoint = flags.checkpoint;
const n = Number(flags.n);
const queries = Number(flags.queries);
const eps = Number(flags.eps);
const reps = Number(flags.reps);
const python = flags.python;
const defaultMalloc = flags['default-malloc'];

const backend = await initBackend('wasm');
const model = await loadSuiteModel({ path: checkpoint, output: 'last', where: 'checkpoint' });
const data = await loadFashionMnist('test', { limit: n });
const { x, y, sampleIndices } = toBatch(data, Array.from({ length: n }, (_, i) => i));
const square = getAttack('square');
const params = square.parseParams({ queries, pInit: 0.8, rescaleSchedule: false }, 'square');

interface Cost {
  cpu: number;
  system: number;
  images: number;
  fooled: number;
}

const cleanPredictions = tf.tidy(() => tf.argMax(model.classifier.logits(x, 'last'), 1).dataSync());
const labels = y.dataSync();
const cleanCorrect = Array.from(labels, (label, i) => cleanPredictions[i] === label);

async function bench(): Promise<Cost> {
  const counting = new CountingClassifier(model.classifier);
  const before = process.cpuUsage();
  const res = await square.run(counting, x, y, eps, new KeyedRng(0, 'square-cost', sampleIndices), { path: 'none', output: 'last', params });
  const used = process.cpuUsage(before);
  res.xAdv.dispose();
  return { cpu: (used.user + used.system) / 1e6, system: used.system / 1e6, images: counting.forwardImages, fooled: res.fooled.filter((f, i) => f && cleanCorrect[i]).length };
}

function autoAttack(): Cost {
  const args = ['--checkpoint', checkpoint, '--n', String(n), '--queries', String(queries), '--eps', String(eps), '--threads', '1'];
  const r = runReferenceJson<{ forwardImages: number; userSeconds: number; systemSeconds: number; fooled: number }>(python, 'square_cost.py', args, defaultMalloc);
  return { cpu: r.userSeconds + r.systemSeconds, system: r.systemSeconds, images: r.forwardImages, fooled: r.fooled };
}

console.log(`Square (L-inf, ${queries} queries, p_init 0.8, schedule not rescaled) on the first ${n} test images of ${checkpoint}, eps ${eps}; bench on ${backend.name}; AutoAttack's allocator ${defaultMalloc ? 'default' : 'with large trim/mmap thresholds'}`);
console.log('| run | side | CPU s (of it system) | model images | CPU us per image | fooled |\n|---|---|---|---|---|---|');
const totals: Record<string, Cost[]> = { bench: [], AutoAttack: [] };
let run = 0;
for (let r = 0; r < reps; r++)
  for (const side of r % 2 === 0 ? (['bench', 'AutoAttack'] as const) : (['AutoAttack', 'bench'] as const)) {
    const c = side === 'bench' ? await bench() : autoAttack();
    totals[side].push(c);
    console.log(`| ${++run} | ${side} | ${c.cpu.toFixed(1)} (${c.system.toFixed(1)}) | ${c.images} | ${((1e6 * c.cpu) / c.images).toFixed(0)} | ${c.fooled} |`);
  }
const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const cpuB = mean(totals.bench.map((c) => c.cpu));
const cpuA = mean(totals.AutoAttack.map((c) => c.cpu));
console.log(`\nmean CPU: bench ${cpuB.toFixed(1)} s, AutoAttack ${cpuA.toFixed(1)} s: AutoAttack / bench = ${(cpuA / cpuB).toFixed(2)}x`);
const perImage = (cs: Cost[]) => mean(cs.map((c) => (1e6 * c.cpu) / c.images));
console.log(`per model image: bench ${perImage(totals.bench).toFixed(0)} us, AutoAttack ${perImage(totals.AutoAttack).toFixed(0)} us`);
model.dispose();
x.dispose();
y.dispose();
