// One e2e PGD step of the WRN CNN-F (scripts/perf/wrnModel.ts, the call scripts/wrn-perf.ts times) under
// several fast-path settings, alternating in one process so the machine's load drifts hit every variant
// alike: median process CPU ms per step, and how far each variant's last logits and input gradient are
// from the first variant's (max |difference| / max |value|, and how many gradient signs differ).
//   npx tsx scripts/wrn-step-ab.ts [--batch 32] [--rounds 5] [--depth 40] [--widen 2] [--ind 5] [--cycles 2]
//       [--variants "winograd-wasm;;tile4"]
// --variants: `;`-separated lists of fast paths to disable (BENCH_DISABLE_FAST names; the pseudo-name
// `tile4` selects Winograd F(4x4,3x3), setWinogradTileSize; `min16` the channel threshold 16,
// setWinogradMinChannels), the first the baseline; the default compares
// the composed Winograd transforms (>= 64 channels, as before the wasm transforms), the wasm transforms
// (F(2x2,3x3), >= 16 channels, the default), and F(4x4,3x3).
import { tf } from '../src/engine/tf.js';
import { initBackend } from '../src/engine/backend.js';
import { setDisabledFastPaths } from '../src/engine/fastPaths.js';
import { setWinogradMinChannels, setWinogradTileSize } from '../src/engine/kernels/winograd.js';
import { winogradCalls } from '../src/engine/kernels/index.js';
import { buildWrnClassifier, wrnInputs, type WrnConfig } from './perf/wrnModel.js';
import { scriptArgs } from './lib/cliArgs.js';

const { values: flags } = scriptArgs(import.meta.url, {
  batch: { type: 'string', default: '32' },
  rounds: { type: 'string', default: '5' },
  depth: { type: 'string', default: '40' },
  widen: { type: 'string', default: '2' },
  ind: { type: 'string', default: '5' },
  cycles: { type: 'string', default: '2' },
  variants: { type: 'string', default: 'winograd-wasm;;tile4' },
});

const PSEUDO = ['tile4', 'min16'];

/**
 * Applies a variant: the fast paths it names off, F(4x4,3x3) if it names the pseudo-path `tile4`, the
 * Winograd channel threshold 16 (WRN group 1 included) if it names `min16`.
 */
function select(v: string[]): void {
  setDisabledFastPaths(v.filter((name) => !PSEUDO.includes(name)));
  setWinogradTileSize(v.includes('tile4') ? 4 : 2);
  setWinogradMinChannels(v.includes('min16') ? 16 : null);
}

function describe(v: string[]): string {
  const off = v.filter((name) => !PSEUDO.includes(name));
  return `${off.length ? `off: ${off.join(',')}` : 'all fast paths on'}${v.includes('tile4') ? ', Winograd F(4x4,3x3)' : ''}${v.includes('min16') ? ', Winograd from 16 channels' : ''}`;
}

async function main() {
  await initBackend('wasm');
  const batch = Number(flags.batch);
  const rounds = Number(flags.rounds);
  const config: WrnConfig = { depth: Number(flags.depth), widen: Number(flags.widen), ind: Number(flags.ind), cycles: Number(flags.cycles) };
  const variants = flags.variants.split(';').map((v) => v.split(',').filter(Boolean));
  const label = describe;
  const { classifier } = buildWrnClassifier(config);
  const { x, y } = wrnInputs(batch);
  const step = () =>
    tf.tidy(() => {
      const { grad } = classifier.lossAndGrad(x, y, { path: 'e2e', output: 'last', loss: 'ce' });
      const logits = classifier.logits(x, 'last');
      return [logits, grad];
    });
  // Outputs of each variant (logits of the full inference and the e2e input gradient).
  const outs = variants.map((v) => {
    select(v);
    const [logits, grad] = step();
    const r = { logits: logits.dataSync().slice(), grad: grad.dataSync().slice() };
    tf.dispose([logits, grad]);
    return r;
  });
  const rel = (a: ArrayLike<number>, b: ArrayLike<number>) => {
    let d = 0, m = 0;
    for (let i = 0; i < a.length; i++) {
      d = Math.max(d, Math.abs(a[i] - b[i]));
      m = Math.max(m, Math.abs(b[i]));
    }
    return d / m;
  };
  process.stdout.write(`WRN-${config.depth}-${config.widen} CNN-F ind ${config.ind}, ${config.cycles} cycles, batch ${batch}, ${rounds} alternating rounds (${new Date().toISOString().slice(11, 16)} UTC)\n`);
  variants.forEach((v, i) => {
    let signs = 0, identical = true;
    for (let k = 0; k < outs[i].grad.length; k++) {
      if (Math.sign(outs[i].grad[k]) !== Math.sign(outs[0].grad[k])) signs++;
      if (!Object.is(outs[i].grad[k], outs[0].grad[k])) identical = false;
    }
    for (let k = 0; k < outs[i].logits.length; k++) if (!Object.is(outs[i].logits[k], outs[0].logits[k])) identical = false;
    process.stdout.write(`  [${i}] ${label(v)}: against [0] logits ${rel(outs[i].logits, outs[0].logits).toExponential(2)}, gradient ${rel(outs[i].grad, outs[0].grad).toExponential(2)} (max |diff| / max |value|), ${signs} of ${outs[i].grad.length} gradient signs differ${identical ? ', bit-identical' : ''}\n`);
  });
  // Timed: the e2e step alone (loss and input gradient), as wrn-perf.ts's e2e case.
  const cpu: number[][] = variants.map(() => []);
  const convs: number[] = variants.map(() => 0);
  const memory = (tf.backend() as unknown as { wasm: { asm?: { memory?: WebAssembly.Memory } } }).wasm.asm?.memory;
  for (let r = 0; r <= rounds; r++) {
    const order = variants.map((_, i) => i);
    if (r % 2) order.reverse();
    for (const i of order) {
      select(variants[i]);
      const calls = winogradCalls();
      const c0 = process.cpuUsage();
      const { loss, grad } = classifier.lossAndGrad(x, y, { path: 'e2e', output: 'last', loss: 'ce' });
      grad.dataSync();
      const c = process.cpuUsage(c0);
      tf.dispose([loss, grad]);
      convs[i] = winogradCalls() - calls;
      if (r > 0) cpu[i].push((c.user + c.system) / 1000);
    }
  }
  const med = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
  variants.forEach((v, i) =>
    process.stdout.write(`  [${i}] ${label(v)}: median ${med(cpu[i]).toFixed(0)} CPU ms per step [${cpu[i].map((t) => t.toFixed(0)).join(', ')}], ${convs[i]} convolutions by Winograd, ${(med(cpu[0]) / med(cpu[i])).toFixed(2)}x of [0]\n`),
  );
  if (memory) process.stdout.write(`  wasm heap after the run: ${(memory.buffer.byteLength / 2 ** 20).toFixed(0)} MiB; tensors live: ${tf.memory().numTensors}\n`);
}

await main();
