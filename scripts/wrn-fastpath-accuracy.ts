// How close the WRN-40-2 CNN-F's outputs stay to the PyTorch original under each fast-path setting: the
// reference fixture (tests/fixtures/cnnf-reference/cnnf_wrn40-2_ind5_cycles2, 16 images, outputs of
// cnnf/model_cifar.py) compared by verifyAgainstReference with wasm's own convolution sums
// (convChannelChunk null, so the reordering fast paths are NOT held off), per case: median and max
// relative L2 error per image and the images beyond the README's tolerance (1e-4 logits, 1e-3 gradients).
//   npx tsx scripts/wrn-fastpath-accuracy.ts [--variants "winograd-wasm;;tile4"]
// --variants: `;`-separated lists of fast paths to disable (BENCH_DISABLE_FAST names; the pseudo-name
// `tile4` selects Winograd F(4x4,3x3), setWinogradTileSize).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../src/engine/backend.js';
import { setDisabledFastPaths } from '../src/engine/fastPaths.js';
import { setWinogradTileSize } from '../src/engine/kernels/winograd.js';
import { loadCheckpoint, saveCheckpoint } from '../src/models/checkpoint.js';
import { CIFAR10_CLASS_NAMES, wrnArchitecture } from '../src/models/cnnfWrn/architecture.js';
import { importReferenceFile } from '../src/models/importReference.js';
import { verifyAgainstReference } from '../src/models/verify.js';
import { scriptArgs } from './lib/cliArgs.js';

const { values: flags } = scriptArgs(import.meta.url, {
  variants: { type: 'string', default: 'winograd-wasm;;tile4' },
});

/** Applies a variant: the fast paths it names off, F(4x4,3x3) if it names the pseudo-path `tile4`. */
function select(v: string[]): void {
  setDisabledFastPaths(v.filter((name) => name !== 'tile4'));
  setWinogradTileSize(v.includes('tile4') ? 4 : 2);
}

function describe(v: string[]): string {
  const off = v.filter((name) => name !== 'tile4');
  return `${off.length ? `off: ${off.join(',')}` : 'all fast paths on'}${v.includes('tile4') ? ', Winograd F(4x4,3x3)' : ''}`;
}

async function main() {
  await initBackend('wasm');
  const folder = join(import.meta.dirname, '..', 'tests', 'fixtures', 'cnnf-reference', 'cnnf_wrn40-2_ind5_cycles2');
  const meta = JSON.parse(readFileSync(join(folder, 'meta.json'), 'utf8'));
  const architecture = wrnArchitecture(meta.depth, meta.widen_factor, meta.ind, meta.cycles, meta.res_param, meta.num_classes);
  const { weights } = await importReferenceFile(join(folder, 'state_dict.pt'), architecture);
  const dir = mkdtempSync(join(tmpdir(), 'bench-wrn-accuracy-'));
  await saveCheckpoint(dir, { name: 'cnnf_wrn40-2_ind5_cycles2', architecture, normalization: { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] }, classNames: [...CIFAR10_CLASS_NAMES], provenance: {} }, weights);
  const checkpoint = await loadCheckpoint(dir);
  const variants = flags.variants.split(';').map((v) => v.split(',').filter(Boolean));
  for (const v of variants) {
    select(v);
    const results = await verifyAgainstReference(checkpoint, join(folder, 'cases.safetensors'), { logitsTolerance: 1e-4, gradientTolerance: 1e-3, maxOutliers: 3, convChannelChunk: null });
    process.stdout.write(`${v.length ? `off: ${v.join(',')}` : 'all fast paths on'}\n`);
    for (const r of results)
      process.stdout.write(`  ${r.name.padEnd(18)} median ${r.medianRelativeError.toExponential(2)} max ${r.maxRelativeError.toExponential(2)} beyond ${r.outliers.length} ${JSON.stringify(r.outliers.map((o) => o.image))} class mismatches ${r.classMismatches.length}\n`);
  }
}

await main();
