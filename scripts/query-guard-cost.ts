// Cost of the query check the runner puts around every model (src/models/queryGuard.ts): PGD steps on
// the committed checkpoints, with and without the guard, alternating so machine load hits both alike.
//   npx tsx scripts/query-guard-cost.ts [--checkpoint checkpoints/cnn-fmnist] [--batch 100] [--steps 10]
//       [--reps 5] [--path first] [--backend wasm]
// Prints seconds per run, images x steps per second, and the guard's own time per query measured alone.
import { join } from 'node:path';
import { tf, type Tensor4D } from '../src/engine/tf.js';
import { initBackend } from '../src/engine/backend.js';
import { KeyedRng } from '../src/engine/rng.js';
import { loadFashionMnist, packageRoot } from '../src/data/fashionMnist.js';
import { toBatch } from '../src/data/batching.js';
import { loadSuiteModel } from '../src/suite/loadClassifier.js';
import { checkPixels, guardQueries } from '../src/models/queryGuard.js';
import type { Classifier, GradientPath } from '../src/models/classifier.js';
import { pgd } from '../attacks/pgd.js';
import { scriptArgs } from './lib/cliArgs.js';

const { values: flags } = scriptArgs(import.meta.url, {
  checkpoint: { type: 'string', default: join(packageRoot(), 'checkpoints', 'cnn-fmnist') },
  batch: { type: 'string', default: '100' },
  steps: { type: 'string', default: '10' },
  reps: { type: 'string', default: '5' },
  path: { type: 'string', default: 'first' },
  backend: { type: 'string', default: 'wasm' },
});
const checkpoint = flags.checkpoint;
const batch = Number(flags.batch);
const steps = Number(flags.steps);
const reps = Number(flags.reps);
const path = flags.path as GradientPath;
const backend = await initBackend(flags.backend);

const data = await loadFashionMnist('test', { limit: batch });
const model = await loadSuiteModel({ path: checkpoint, output: 'last', where: 'checkpoint' });
const { x, y } = toBatch(data, Array.from({ length: batch }, (_, i) => i));
// No early stop: every step queries the whole batch, so both variants do identical work.
const params = pgd.parseParams({ steps, earlyStop: false }, 'params');

async function timeRun(classifier: Classifier): Promise<number> {
  const started = performance.now();
  const res = await pgd.run(classifier, x, y, 0.1, new KeyedRng(1, 'cost', [...Array(batch).keys()]), { path, output: 'last', params });
  res.xAdv.dispose();
  return (performance.now() - started) / 1000;
}

const guarded = guardQueries(model.classifier, { who: 'cost measurement' });
await timeRun(model.classifier); // warm-up (kernel compilation, allocation)
await timeRun(guarded);
const plain: number[] = [];
const checked: number[] = [];
for (let r = 0; r < reps; r++) {
  plain.push(await timeRun(model.classifier));
  checked.push(await timeRun(guarded));
}
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

// The check alone, on the same batch: one comparison, one sum, one min/max, one 3-value read.
const probe: Tensor4D = x;
checkPixels(probe);
const started = performance.now();
const n = 50;
for (let i = 0; i < n; i++) checkPixels(probe);
const perCheck = (performance.now() - started) / n / 1000;

const queriesPerRun = guarded.queries / (reps + 1);
console.log(`backend ${backend.name}; ${model.ref.name} path ${path}; batch ${batch}, ${steps} PGD steps, eps 0.1, ${reps} reps (median)`);
console.log(`  without guard: ${median(plain).toFixed(3)} s/run = ${((batch * steps) / median(plain)).toFixed(1)} images*steps/s  [${plain.map((s) => s.toFixed(3)).join(', ')}]`);
console.log(`  with guard:    ${median(checked).toFixed(3)} s/run = ${((batch * steps) / median(checked)).toFixed(1)} images*steps/s  [${checked.map((s) => s.toFixed(3)).join(', ')}]`);
console.log(`  overhead: ${(100 * (median(checked) / median(plain) - 1)).toFixed(2)}% of a run; ${queriesPerRun} checked queries per run`);
console.log(`  one check of a [${x.shape}] batch alone: ${(1000 * perCheck).toFixed(3)} ms; x ${queriesPerRun} queries = ${((100 * perCheck * queriesPerRun) / median(plain)).toFixed(2)}% of a run without guard`);
tf.dispose([x, y]);
model.dispose();
