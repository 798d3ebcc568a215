// The Fashion-MNIST CNN (first-pass gradient) and CNN-F (end-to-end gradient) under several fast-path
// settings, alternating in one process so the machine's load drifts hit every variant alike: median
// process CPU ms per loss-and-gradient step and per forward (logits), and whether each variant's loss,
// input gradient and logits are bit-identical to the first variant's.
//   npx tsx scripts/fm-step-ab.ts [--batch 100] [--rounds 5] [--models cnn,cnnf]
//       [--variants "ada-pool-wasm,ins-norm-mean-wasm;ada-pool-wasm;ins-norm-mean-wasm;"]
// --variants: `;`-separated lists of fast paths to disable (BENCH_DISABLE_FAST names), the first the
// baseline; the default compares both AdaPool and InsNorm wasm kernels off, each one off, and all on.
import { join } from 'node:path';
import { tf, type Tensor1D, type Tensor4D } from '../src/engine/tf.js';
import { initBackend } from '../src/engine/backend.js';
import { setDisabledFastPaths } from '../src/engine/fastPaths.js';
import { loadFashionMnist, packageRoot } from '../src/data/fashionMnist.js';
import { toBatch } from '../src/data/batching.js';
import { loadSuiteModel } from '../src/suite/loadClassifier.js';
import type { GradientPath } from '../src/models/classifier.js';
import { scriptArgs } from './lib/cliArgs.js';

const { values: flags } = scriptArgs(import.meta.url, {
  batch: { type: 'string', default: '100' },
  rounds: { type: 'string', default: '5' },
  models: { type: 'string', default: 'cnn,cnnf' },
  variants: { type: 'string', default: 'ada-pool-wasm,ins-norm-mean-wasm;ada-pool-wasm;ins-norm-mean-wasm;' },
});

const MODELS: Record<string, { dir: string; path: GradientPath }> = {
  cnn: { dir: 'checkpoints/cnn-fmnist', path: 'first' },
  cnnf: { dir: 'checkpoints/cnnf-fmnist', path: 'e2e' },
};

async function main() {
  await initBackend('wasm');
  const batch = Number(flags.batch);
  const rounds = Number(flags.rounds);
  const names = flags.models.split(',');
  const variants = flags.variants.split(';').map((v) => v.split(',').filter(Boolean));
  const label = (v: string[]) => (v.length ? `off: ${v.join(',')}` : 'all fast paths on');
  const data = await loadFashionMnist('test', { limit: Math.max(batch, 256) });
  const { x, y } = toBatch(data, Array.from({ length: batch }, (_, i) => i)) as { x: Tensor4D; y: Tensor1D };
  process.stdout.write(`Fashion-MNIST, batch ${batch}, ${rounds} alternating rounds (${new Date().toISOString().slice(11, 16)} UTC)\n`);
  for (const name of names) {
    const { dir, path } = MODELS[name];
    const m = await loadSuiteModel({ path: join(packageRoot(), dir), output: 'last', where: dir });
    const clf = m.classifier;
    const step = () => clf.lossAndGrad(x, y, { path });
    const outs = variants.map((v) => {
      setDisabledFastPaths(v);
      const { loss, grad } = step();
      const logits = clf.logits(x);
      const r = [loss, grad, logits].map((t) => t.dataSync().slice());
      tf.dispose([loss, grad, logits]);
      return r;
    });
    const cpu = variants.map(() => ({ step: [] as number[], forward: [] as number[] }));
    for (let r = 0; r <= rounds; r++) {
      const order = variants.map((_, i) => i);
      if (r % 2) order.reverse();
      for (const i of order) {
        setDisabledFastPaths(variants[i]);
        let c0 = process.cpuUsage();
        const { loss, grad } = step();
        grad.dataSync();
        let c = process.cpuUsage(c0);
        tf.dispose([loss, grad]);
        if (r > 0) cpu[i].step.push((c.user + c.system) / 1000);
        c0 = process.cpuUsage();
        const logits = clf.logits(x);
        logits.dataSync();
        c = process.cpuUsage(c0);
        logits.dispose();
        if (r > 0) cpu[i].forward.push((c.user + c.system) / 1000);
      }
    }
    const med = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
    process.stdout.write(`${name} (${path} gradient):\n`);
    variants.forEach((v, i) => {
      const same = outs[i].every((a, k) => a.length === outs[0][k].length && a.every((u, j) => Object.is(u, outs[0][k][j])));
      process.stdout.write(
        `  [${i}] ${label(v)}: step median ${med(cpu[i].step).toFixed(0)} CPU ms [${cpu[i].step.map((t) => t.toFixed(0)).join(', ')}] (${(med(cpu[0].step) / med(cpu[i].step)).toFixed(2)}x of [0]), ` +
          `forward ${med(cpu[i].forward).toFixed(0)} ms [${cpu[i].forward.map((t) => t.toFixed(0)).join(', ')}] (${(med(cpu[0].forward) / med(cpu[i].forward)).toFixed(2)}x); ` +
          `loss, gradient, logits ${same ? 'bit-identical to [0]' : 'DIFFER from [0]'}\n`,
      );
    });
    m.dispose();
  }
  setDisabledFastPaths(null);
}

await main();
