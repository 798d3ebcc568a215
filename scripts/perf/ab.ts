// Before/after of each fast path (src/engine/fastPaths.ts) in ONE process, interleaved: every round
// times one attack step (classifier.lossAndGrad, read back) under every variant, in a fresh shuffled
// order, so slow drifts of a shared machine's load hit all variants alike; medians over rounds are compared.
//   npm run build && node dist/scripts/perf/ab.js [--batch 100] [--rounds 15] [--cases cnn/first,cnnf/e2e,cnnf/bpda]
//       [--backend wasm]
// Variants: all fast paths on ("none off"), all off, and each one off alone.
import { join } from 'node:path';
import { tf } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { FAST_PATHS, setDisabledFastPaths } from '../../src/engine/fastPaths.js';
import { registerSharedIdentity, unregisterSharedIdentity } from '../../src/engine/kernels/index.js';
import { loadFashionMnist, packageRoot } from '../../src/data/fashionMnist.js';
import { toBatch } from '../../src/data/batching.js';
import { loadSuiteModel } from '../../src/suite/loadClassifier.js';
import type { GradientPath } from '../../src/models/classifier.js';
import { CHECKPOINT_DIRS, type ModelName } from './protocol.js';
import { scriptArgs } from '../lib/cliArgs.js';

const { values: flags } = scriptArgs(import.meta.url, {
  batch: { type: 'string', default: '100' },
  rounds: { type: 'string', default: '15' },
  cases: { type: 'string', default: 'cnn/first,cnnf/e2e,cnnf/bpda' },
  backend: { type: 'string', default: 'wasm' },
});
const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
const batch = Number(flags.batch);
const rounds = Number(flags.rounds);
const cases = flags.cases.split(',').map((c) => c.split('/') as [ModelName, GradientPath]);

const info = await initBackend(flags.backend);
const variants: { label: string; off: string[] }[] = [
  { label: 'all on', off: [] },
  { label: 'all off', off: [...FAST_PATHS] },
  ...FAST_PATHS.map((p) => ({ label: `${p} off`, off: [p] })),
];
function apply(off: string[]) {
  setDisabledFastPaths(off);
  if (info.name === 'wasm') {
    if (off.includes('shared-identity')) unregisterSharedIdentity();
    else registerSharedIdentity();
  }
}

const data = await loadFashionMnist('test', { limit: batch });
const { x, y } = toBatch(data, Array.from({ length: batch }, (_, i) => i));
console.log(`backend ${info.name}, batch ${batch}, ${rounds} interleaved rounds; ms per attack step (lossAndGrad + read back), median [cpu-time median]`);
for (const [model, path] of cases) {
  const m = await loadSuiteModel({ path: join(packageRoot(), CHECKPOINT_DIRS[model]), output: 'last', where: CHECKPOINT_DIRS[model] });
  const step = () => {
    const { loss, grad } = m.classifier.lossAndGrad(x, y, { path });
    grad.dataSync();
    tf.dispose([loss, grad]);
  };
  for (const v of variants) {
    apply(v.off);
    step(); // warm-up per variant
  }
  const wall = variants.map(() => [] as number[]);
  const cpu = variants.map(() => [] as number[]);
  // A fresh order every round (deterministic shuffle): no variant always runs first or after the same one.
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (let r = 0; r < rounds; r++) {
    const order = variants.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (const i of order) {
      const v = variants[i];
      apply(v.off);
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      step();
      wall[i].push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpu[i].push((c.user + c.system) / 1000);
    }
  }
  const base = median(wall[0]);
  console.log(`\n${model}/${path}`);
  variants.forEach((v, i) => {
    const w = median(wall[i]);
    console.log(`  ${v.label.padEnd(22)} ${w.toFixed(1).padStart(8)} ms  [${median(cpu[i]).toFixed(1).padStart(8)}]  x${(w / base).toFixed(2)} of all-on`);
  });
  m.dispose();
}
apply([]);
setDisabledFastPaths(null);
tf.dispose([x, y]);
