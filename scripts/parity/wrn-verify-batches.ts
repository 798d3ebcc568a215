// `bench verify`'s comparison of a WRN CNN-F checkpoint with a cases file of any number of images, in
// batches of 16 (the e2e gradient of one batch of 48 exceeds wasm's memory), with the summation order
// as an option: the 48-image table of the README ("Where the remaining WRN outliers come from").
//   npx tsx scripts/parity/wrn-verify-batches.ts CHECKPOINT_DIR CASES.safetensors [--backend wasm] [--conv-chunk 16] [--pairwise-sums]
// Prints per feedback case the images beyond tolerance (1e-4 logits, 1e-3 gradients) and their count.
import { initBackend } from '../../src/engine/backend.js';
import { TORCH_MATCHED_CONV_CHUNK } from '../../src/engine/kernels/index.js';
import { loadCheckpoint } from '../../src/models/checkpoint.js';
import { readSafetensors } from '../../src/models/safetensors.js';
import { verifyAgainstReference } from '../../src/models/verify.js';
import { setPairwiseSpatialSums } from '../../src/models/cnnfWrn/insNorm.js';
import { scriptArgs } from '../lib/cliArgs.js';

const {
  values: flags,
  positionals: [checkpointDir, casesPath],
} = scriptArgs(
  import.meta.url,
  {
    backend: { type: 'string', default: 'wasm' },
    'conv-chunk': { type: 'string', default: String(TORCH_MATCHED_CONV_CHUNK) },
    'pairwise-sums': { type: 'boolean' },
  },
  { positionals: ['CHECKPOINT_DIR', 'CASES.safetensors'] },
);
const backend = flags.backend;
await initBackend(backend);
const chunk = Number(flags['conv-chunk']);
const pairwise = flags['pairwise-sums'];
setPairwiseSpatialSums(pairwise);
const count = (await readSafetensors(casesPath)).tensors.get('y')!.shape[0];
const checkpoint = await loadCheckpoint(checkpointDir);
const cases = ['logits_last', 'logits_avg', 'grad_e2e_last', 'grad_e2e_avg'];
const beyond: Record<string, number[]> = Object.fromEntries(cases.map((c) => [c, []]));
const mismatches: number[] = [];
for (let start = 0; start < count; start += 16) {
  const images = Array.from({ length: Math.min(16, count - start) }, (_, i) => start + i);
  const results = await verifyAgainstReference(checkpoint, casesPath, {
    logitsTolerance: 1e-4, gradientTolerance: 1e-3, maxOutliers: images.length, convChannelChunk: chunk === 0 ? null : chunk, images, cases,
  });
  for (const r of results) {
    beyond[r.name].push(...r.outliers.map((o) => o.image));
    mismatches.push(...r.classMismatches);
  }
}
process.stdout.write(`${backend}, conv chunk ${chunk}, ${pairwise ? 'pairwise' : 'two-pass'} spatial sums, ${count} images: ` +
  `${cases.map((c) => beyond[c].length).join('/')} beyond tolerance (${cases.join('/')})\n`);
for (const c of cases) process.stdout.write(`  ${c}: ${JSON.stringify(beyond[c])}\n`);
process.stdout.write(`  predicted class differs: ${JSON.stringify([...new Set(mismatches)].sort((a, b) => a - b))}\n`);
