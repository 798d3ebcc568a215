// A model call's cost per image side by side: bench (wasm, this process) and PyTorch running the same
// checkpoint as the reference network (scripts/reference/model_cost.py, a Python child process), for a
// forward pass and for a forward pass with the input gradient of the summed cross entropy (bench: lossAndGrad
// on --path, default e2e, the gradient through the whole feedback loop as the reference computes it; a
// feedforward CNN has one gradient). Random images in [0,1], batch --batch; runs alternate bench, PyTorch,
// PyTorch, bench, ... so that machine load hits both alike.
//   npx tsx scripts/model-cost.ts [--checkpoint checkpoints/cnn-fmnist] [--batch 250] [--reps 8]
//       [--rounds 2] [--path e2e] [--output last] [--python /usr/bin/python3] [--default-malloc]
// Prints CPU microseconds per image (user + system, so both sides pay for their memory traffic) and
// images per CPU-second. Both sides on one core: wasm runs one thread per process, PyTorch --threads 1 (its
// intra-op pool and the BLAS library's own pool, reference_env.limit_threads; the pools are printed).
// The Python process gets large glibc trim and mmap thresholds unless --default-malloc (PyTorch's cost at
// batch 250 swung 2-4x with the allocator's state on this machine; docs/autoattack.md, "Correction").
import { join } from 'node:path';
import { tf, type Tensor4D } from '../src/engine/tf.js';
import { initBackend } from '../src/engine/backend.js';
import { packageRoot } from '../src/data/fashionMnist.js';
import { loadSuiteModel } from '../src/suite/loadClassifier.js';
import { runReferenceJson } from './reference/runPython.js';
import { scriptArgs } from './lib/cliArgs.js';

const { values: flags } = scriptArgs(import.meta.url, {
  checkpoint: { type: 'string', default: join(packageRoot(), 'checkpoints', 'cnn-fmnist') },
  batch: { type: 'string', default: '250' },
  reps: { type: 'string', default: '8' },
  rounds: { type: 'string', default: '2' },
  path: { type: 'string', default: 'e2e' },
  output: { type: 'string', default: 'last' },
  python: { type: 'string', default: '/usr/bin/python3' },
  'default-malloc': { type: 'boolean' },
});
const checkpoint = flags.checkpoint;
const batch = Number(flags.batch);
const reps = Number(flags.reps);
const rounds = Number(flags.rounds);
const path = flags.path;
const output = flags.output;
const python = flags.python;
const defaultMalloc = flags['default-malloc'];

const backend = await initBackend('wasm');
const model = await loadSuiteModel({ path: checkpoint, output, where: 'checkpoint' });
const c = model.classifier;
const [h, w, ch] = c.inputShape;
const x = tf.randomUniform([batch, h, w, ch], 0, 1, 'float32', 0) as Tensor4D;
const y = tf.tensor1d(Array.from({ length: batch }, (_, i) => i % c.numClasses), 'int32');
const gradPath = c.gradientPaths.includes(path) ? path : c.gradientPaths[0];

interface Cost {
  cpu: number;
  system: number;
  images: number;
}

function timed(fn: () => void): Cost {
  for (let i = 0; i < 2; i++) fn();
  const before = process.cpuUsage();
  for (let i = 0; i < reps; i++) fn();
  const used = process.cpuUsage(before);
  return { cpu: (used.user + used.system) / 1e6, system: used.system / 1e6, images: reps * batch };
}

function bench(): { forward: Cost; gradient: Cost } {
  const forward = timed(() => tf.tidy(() => void c.logits(x, output).dataSync()));
  const gradient = timed(() =>
    tf.tidy(() => {
      const { loss, grad } = c.lossAndGrad(x, y, { path: gradPath, output, loss: 'ce' });
      loss.dataSync();
      grad.dataSync();
    }),
  );
  return { forward, gradient };
}

/** One of PyTorch's thread pools as model_cost.py reports it (threadpoolctl's description). */
interface ThreadPool {
  user_api: string;
  internal_api: string;
  num_threads: number;
}
let torchPools = '';

function torch(): { forward: Cost; gradient: Cost } {
  const args = ['--checkpoint', checkpoint, '--batch', String(batch), '--reps', String(reps), '--output', output, '--threads', '1'];
  type Costs = Record<'forward' | 'gradient', { cpuSeconds: number; systemSeconds: number; images: number }>;
  const r = runReferenceJson<Costs & { threadpools: ThreadPool[] }>(python, 'model_cost.py', args, defaultMalloc);
  torchPools = r.threadpools.map((p) => `${p.internal_api} ${p.num_threads}`).join(', ');
  const cost = (k: 'forward' | 'gradient') => ({ cpu: r[k].cpuSeconds, system: r[k].systemSeconds, images: r[k].images });
  return { forward: cost('forward'), gradient: cost('gradient') };
}

const us = (k: Cost) => (1e6 * k.cpu) / k.images;
console.log(`${checkpoint}, output ${output}, gradient path ${gradPath}; batch ${batch}, ${reps} calls per measurement; bench on ${backend.name}; PyTorch's allocator ${defaultMalloc ? 'default' : 'with large trim/mmap thresholds'}`);
console.log('| run | side | forward: CPU us per image (system) | gradient: CPU us per image (system) |\n|---|---|---|---|');
const all: Record<string, { forward: Cost; gradient: Cost }[]> = { bench: [], PyTorch: [] };
let run = 0;
for (let r = 0; r < rounds; r++)
  for (const side of r % 2 === 0 ? (['bench', 'PyTorch'] as const) : (['PyTorch', 'bench'] as const)) {
    const m = side === 'bench' ? bench() : torch();
    all[side].push(m);
    const cell = (k: Cost) => `${us(k).toFixed(0)} (${((1e6 * k.system) / k.images).toFixed(0)})`;
    console.log(`| ${++run} | ${side} | ${cell(m.forward)} | ${cell(m.gradient)} |`);
  }
const mean = (side: string, k: 'forward' | 'gradient') => all[side].reduce((t, m) => t + us(m[k]), 0) / all[side].length;
for (const k of ['forward', 'gradient'] as const) {
  const b = mean('bench', k);
  const p = mean('PyTorch', k);
  console.log(`${k}: bench ${b.toFixed(0)} us per image (${(1e6 / b).toFixed(0)} images per CPU-second), PyTorch ${p.toFixed(0)} us (${(1e6 / p).toFixed(0)}): PyTorch / bench = ${(p / b).toFixed(2)}x`);
}
console.log(`PyTorch's thread pools (threads): ${torchPools}`);
model.dispose();
tf.dispose([x, y]);
