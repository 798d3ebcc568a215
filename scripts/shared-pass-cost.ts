// A/B cost of an exact optimisation: one attack on the same images, two ways, alternating in one process so
// machine load hits both alike, checking that both give the same examples.
// - by default, scoring with the gradient pass (Classifier.predictionPaths, attacks/define.ts
//   lossGradAndScore): the model's prediction paths declared ("shared") and hidden ("separate");
// - with --params-b B: the attack with --params ("A") and with --params overridden by B ("B"), the model as
//   it is (e.g. square's --params-b '{"evaluateNoOps":true}': proposals that change no pixel evaluated).
//   npx tsx scripts/shared-pass-cost.ts [--attack apgd-t] [--params '{"steps":20,"targets":3}'] [--params-b '{...}']
//       [--checkpoint checkpoints/cnn-fmnist] [--path e2e] [--n 100] [--correct] [--eps 0.03] [--reps 3] [--no-warm-up]
//       [--backend wasm]
// --correct: the first n test images the model classifies correctly (default: the first n).
// Prints CPU seconds per run (process.cpuUsage; wall time is meaningless on a shared machine) and the
// gradient and forward images each variant asked of the model.
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { tf } from '../src/engine/tf.js';
import { initBackend } from '../src/engine/backend.js';
import { KeyedRng } from '../src/engine/rng.js';
import { loadFashionMnist, packageRoot } from '../src/data/fashionMnist.js';
import { toBatch } from '../src/data/batching.js';
import { loadSuiteModel } from '../src/suite/loadClassifier.js';
import { CountingClassifier } from '../src/suite/context.js';
import { getAttack } from '../attacks/registry.js';
import { scriptArgs } from './lib/cliArgs.js';

const { values: flags } = scriptArgs(import.meta.url, {
  attack: { type: 'string', default: 'apgd-t' },
  params: { type: 'string', default: '{"steps":20,"targets":3}' },
  'params-b': { type: 'string' },
  checkpoint: { type: 'string', default: join(packageRoot(), 'checkpoints', 'cnn-fmnist') },
  path: { type: 'string', default: 'e2e' },
  n: { type: 'string', default: '100' },
  correct: { type: 'boolean' },
  eps: { type: 'string', default: '0.03' },
  reps: { type: 'string', default: '3' },
  'no-warm-up': { type: 'boolean' },
  backend: { type: 'string', default: 'wasm' },
});
const attack = getAttack(flags.attack);
const rawParams = JSON.parse(flags.params);
const params = attack.parseParams(rawParams, '--params');
const paramsB = flags['params-b'] !== undefined
  ? attack.parseParams({ ...rawParams, ...JSON.parse(flags['params-b']) }, '--params-b')
  : undefined;
const checkpoint = flags.checkpoint;
const path = flags.path;
const n = Number(flags.n);
const eps = Number(flags.eps);
const reps = Number(flags.reps);
const backend = await initBackend(flags.backend);

const model = await loadSuiteModel({ path: checkpoint, output: 'last', where: 'checkpoint' });
const data = await loadFashionMnist('test', flags.correct ? {} : { limit: n });
let rows = Array.from({ length: n }, (_, i) => i);
if (flags.correct) {
  // The first n test images the model classifies correctly, scored 500 at a time.
  rows = [];
  for (let start = 0; rows.length < n && start < data.labels.length; start += 500) {
    const chunk = Array.from({ length: Math.min(500, data.labels.length - start) }, (_, i) => start + i);
    const { x, y } = toBatch(data, chunk);
    const predicted = tf.tidy(() => tf.argMax(model.classifier.logits(x, 'last'), 1).dataSync());
    const labels = y.dataSync();
    tf.dispose([x, y]);
    for (let k = 0; k < chunk.length && rows.length < n; k++) if (predicted[k] === labels[k]) rows.push(chunk[k]);
  }
}
const { x, y, sampleIndices } = toBatch(data, rows);

/** Variant A: shared pass / --params; variant B: separate passes / --params-b. */
async function run(variant: 'A' | 'B') {
  const counting = new CountingClassifier(model.classifier);
  if (variant === 'B' && !paramsB) Object.defineProperty(counting, 'predictionPaths', { value: undefined });
  const cpu0 = process.cpuUsage();
  const res = await attack.run(counting, x, y, eps, new KeyedRng(0, 'shared-pass-cost', sampleIndices), {
    path,
    output: 'last',
    params: variant === 'B' && paramsB ? paramsB : params,
  });
  const cpu = process.cpuUsage(cpu0);
  const hash = createHash('sha256').update(Buffer.from((res.xAdv.dataSync() as Float32Array).buffer)).digest('hex').slice(0, 16);
  const fooled = res.fooled.filter(Boolean).length;
  res.xAdv.dispose();
  return { cpu: (cpu.user + cpu.system) / 1e6, hash, fooled, gradients: counting.gradientImages, forwards: counting.forwardImages };
}

const names = paramsB ? { A: 'A', B: 'B' } : { A: 'shared', B: 'separate' };
console.log(`${attack.name} ${JSON.stringify(params)} on ${rows.length} images${flags.correct ? ' (correctly classified)' : ''} of ${checkpoint}, path ${path}, eps ${eps}, backend ${backend.name}`);
if (paramsB) console.log(`A: ${JSON.stringify(params)}\nB: ${JSON.stringify(paramsB)}`);
if (!flags['no-warm-up']) await run('A'); // warm-up (a long attack can skip it: --no-warm-up)
const times: Record<string, number[]> = { A: [], B: [] };
const counts: Record<string, string> = {};
const hashes = new Set<string>();
for (let r = 0; r < reps; r++)
  for (const variant of r % 2 === 0 ? (['A', 'B'] as const) : (['B', 'A'] as const)) {
    const out = await run(variant);
    times[variant].push(out.cpu);
    hashes.add(out.hash);
    counts[variant] = `${out.gradients} gradient images, ${out.forwards} forward images; ${out.fooled} fooled; examples ${out.hash}`;
  }
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
for (const variant of ['B', 'A'] as const)
  console.log(`${names[variant].padEnd(8)}: median ${median(times[variant]).toFixed(1)} CPU-s (${times[variant].map((t) => t.toFixed(1)).join(', ')}); ${counts[variant]}`);
console.log(`speed-up ${(median(times.B) / median(times.A)).toFixed(2)}x (${names.B} / ${names.A}); examples ${hashes.size === 1 ? 'identical' : 'DIFFER'}`);
x.dispose();
y.dispose();
model.dispose();
