// FAB-T's minimal distances on a checkpoint: one run per batch, then accuracy at any eps from the distances.
//   npx tsx scripts/fab-distances.ts [--checkpoint checkpoints/cnn-fmnist] [--limit 100] [--batch 50]
//       [--attack fab-t|fab-t-l2] [--steps 100] [--targets 9] [--path e2e] [--output last] [--eps 0.01,0.03,0.1]
//       [--backend wasm]
// Prints per-eps robust accuracy (a sample is robust at eps iff FAB-T found nothing within eps), the
// distance quartiles of the samples broken, the wall time, and checks every example found: misclassified at
// its reported distance (the minimisation template's checks, attacks/define.ts minimiseWith).
import { join } from 'node:path';
import { tf } from '../src/engine/tf.js';
import { initBackend } from '../src/engine/backend.js';
import { KeyedRng } from '../src/engine/rng.js';
import { loadFashionMnist, packageRoot } from '../src/data/fashionMnist.js';
import { toBatch } from '../src/data/batching.js';
import { loadSuiteModel } from '../src/suite/loadClassifier.js';
import { getAttack } from '../attacks/registry.js';
import { scriptArgs } from './lib/cliArgs.js';

const { values: flags } = scriptArgs(import.meta.url, {
  checkpoint: { type: 'string', default: join(packageRoot(), 'checkpoints', 'cnn-fmnist') },
  limit: { type: 'string', default: '100' },
  batch: { type: 'string', default: '50' },
  attack: { type: 'string', default: 'fab-t' },
  steps: { type: 'string', default: '100' },
  targets: { type: 'string', default: '9' },
  path: { type: 'string', default: 'e2e' },
  output: { type: 'string', default: 'last' },
  eps: { type: 'string' }, // default: 0.01,0.02,0.03,0.05,0.1 for an L-inf attack, 0.5,1,1.5,2,3 for L2
  backend: { type: 'string', default: 'wasm' },
});
const checkpoint = flags.checkpoint;
const limit = Number(flags.limit);
const batch = Number(flags.batch);
const attack = getAttack(flags.attack);
const output = flags.output;
const path = flags.path;
const epsilons = (flags.eps ?? (attack.threatModel === 'linf' ? '0.01,0.02,0.03,0.05,0.1' : '0.5,1,1.5,2,3')).split(',').map(Number);
const params = attack.parseParams({ steps: Number(flags.steps), targets: Number(flags.targets) }, 'params');
const backend = await initBackend(flags.backend);

const data = await loadFashionMnist('test', { limit });
const model = await loadSuiteModel({ path: checkpoint, output, where: 'checkpoint' });
const distance: number[] = [];
const started = performance.now();
for (let start = 0; start < limit; start += batch) {
  const rows = Array.from({ length: Math.min(batch, limit - start) }, (_, i) => start + i);
  const { x, y } = toBatch(data, rows);
  const found = await attack.minimise!(model.classifier, x, y, new KeyedRng(0, attack.name, rows), { path, output, params });
  distance.push(...found.distance);
  tf.dispose([x, y, found.xAdv]);
}
const seconds = (performance.now() - started) / 1000;
const broken = distance.filter((d) => d > 0 && Number.isFinite(d)).sort((a, b) => a - b);
const q = (p: number) => broken[Math.min(broken.length - 1, Math.floor(p * broken.length))];
console.log(`${attack.name} ${JSON.stringify(params)} on ${checkpoint} (${limit} images, output ${output}, path ${path}, backend ${backend.name})`);
console.log(`clean accuracy ${((100 * distance.filter((d) => d > 0).length) / limit).toFixed(1)}%; none found for ${distance.filter((d) => d === Infinity).length}`);
for (const eps of epsilons) console.log(`eps ${eps}: robust accuracy ${((100 * distance.filter((d) => d > eps).length) / limit).toFixed(1)}%`);
if (broken.length > 0) console.log(`distance of the broken samples: min ${broken[0].toFixed(4)}, quartiles ${[0.25, 0.5, 0.75].map((p) => q(p).toFixed(4)).join(' / ')}, max ${broken.at(-1)!.toFixed(4)}`);
console.log(`wall time ${seconds.toFixed(1)} s`);
model.dispose();
