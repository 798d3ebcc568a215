// What scoring with the gradient pass saves (Classifier.predictionPaths, attacks/define.ts lossGradAndScore):
// one attack on the same images, with the model's prediction paths declared and hidden, alternating in one
// process so machine load hits both alike. Checks that both give the same examples.
//   npx tsx scripts/shared-pass-cost.ts [--attack apgd-t] [--params '{"steps":20,"targets":3}']
//       [--checkpoint checkpoints/cnn-fmnist] [--path e2e] [--n 100] [--eps 0.03] [--reps 3] [--backend wasm]
// Prints CPU seconds per run (process.cpuUsage; wall time is meaningless on a shared machine) and the
// gradient and forward images each variant asked of the model.
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { initBackend } from '../src/engine/backend.js';
import { KeyedRng } from '../src/engine/rng.js';
import { loadFashionMnist, packageRoot } from '../src/data/fashionMnist.js';
import { toBatch } from '../src/data/batching.js';
import { loadSuiteModel } from '../src/suite/loadClassifier.js';
import { CountingClassifier } from '../src/suite/context.js';
import { getAttack } from '../attacks/registry.js';

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}
const attack = getAttack(option('attack', 'apgd-t'));
const params = attack.parseParams(JSON.parse(option('params', '{"steps":20,"targets":3}')), '--params');
const checkpoint = option('checkpoint', join(packageRoot(), 'checkpoints', 'cnn-fmnist'));
const path = option('path', 'e2e');
const n = Number(option('n', '100'));
const eps = Number(option('eps', '0.03'));
const reps = Number(option('reps', '3'));
const backend = await initBackend(option('backend', 'wasm'));

const data = await loadFashionMnist('test', { limit: n });
const model = await loadSuiteModel({ path: checkpoint, output: 'last', where: 'checkpoint' });
const { x, y, sampleIndices } = toBatch(data, Array.from({ length: n }, (_, i) => i));

async function run(shared: boolean) {
  const counting = new CountingClassifier(model.classifier);
  if (!shared) Object.defineProperty(counting, 'predictionPaths', { value: undefined });
  const cpu0 = process.cpuUsage();
  const res = await attack.run(counting, x, y, eps, new KeyedRng(0, 'shared-pass-cost', sampleIndices), { path, output: 'last', params });
  const cpu = process.cpuUsage(cpu0);
  const hash = createHash('sha256').update(Buffer.from((res.xAdv.dataSync() as Float32Array).buffer)).digest('hex').slice(0, 16);
  res.xAdv.dispose();
  return { cpu: (cpu.user + cpu.system) / 1e6, hash, gradients: counting.gradientImages, forwards: counting.forwardImages };
}

console.log(`${attack.name} ${JSON.stringify(params)} on ${n} images of ${checkpoint}, path ${path}, eps ${eps}, backend ${backend.name}`);
await run(true); // warm-up
const times: Record<string, number[]> = { shared: [], separate: [] };
const counts: Record<string, string> = {};
const hashes = new Set<string>();
for (let r = 0; r < reps; r++)
  for (const shared of r % 2 === 0 ? [true, false] : [false, true]) {
    const out = await run(shared);
    const key = shared ? 'shared' : 'separate';
    times[key].push(out.cpu);
    hashes.add(out.hash);
    counts[key] = `${out.gradients} gradient images, ${out.forwards} forward images`;
  }
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
for (const key of ['separate', 'shared'])
  console.log(`${key.padEnd(8)}: median ${median(times[key]).toFixed(1)} CPU-s (${times[key].map((t) => t.toFixed(1)).join(', ')}); ${counts[key]}`);
console.log(`speed-up ${(median(times.separate) / median(times.shared)).toFixed(2)}x; examples ${hashes.size === 1 ? 'identical' : 'DIFFER'}`);
x.dispose();
y.dispose();
model.dispose();
