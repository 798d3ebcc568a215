import type { CommandModule } from 'yargs';
import { handler, startBackend, withBackendOption } from './common.js';
import { inputError } from '../engine/errors.js';
import { loadCheckpoint } from '../models/checkpoint.js';
import { DEFAULT_VERIFY_OPTIONS, verifyAgainstReference } from '../models/verify.js';
import { TORCH_MATCHED_CONV_CHUNK } from '../engine/kernels/index.js';

interface VerifyArgs {
  checkpoint: string;
  reference: string;
  tolLogits: number;
  tolGrad: number;
  maxOutliers: number;
  convChunk: number;
  backend?: string;
}

const fmt = (v: number) => v.toExponential(2);

export const verifyCommand: CommandModule<object, VerifyArgs> = {
  command: 'verify <checkpoint>',
  describe: 'compare a checkpoint with outputs of the reference PyTorch CNN-F (exit 1 beyond tolerance)',
  builder: (y) =>
    withBackendOption(y)
      .positional('checkpoint', { type: 'string', demandOption: true, describe: 'checkpoint directory' })
      .option('reference', { type: 'string', demandOption: true, describe: 'cases.safetensors of the reference fixtures' })
      .option('tol-logits', { type: 'number', default: DEFAULT_VERIFY_OPTIONS.logitsTolerance, describe: 'relative L2 error per image, logits and features' })
      .option('tol-grad', { type: 'number', default: DEFAULT_VERIFY_OPTIONS.gradientTolerance, describe: 'relative L2 error per image, input gradients' })
      .option('max-outliers', {
        type: 'number',
        default: DEFAULT_VERIFY_OPTIONS.maxOutliers,
        describe: 'images per case allowed beyond tolerance (AdaReLU/AdaPool units can flip within float32 rounding)',
      })
      .option('conv-chunk', {
        type: 'number',
        default: TORCH_MATCHED_CONV_CHUNK,
        describe: "input channels per partial convolution, partials added pairwise (PyTorch's float32 precision); 0: one sequential sum (faster)",
      }) as never,
  handler: handler(async (a: VerifyArgs) => {
    for (const [flag, v] of [['--tol-logits', a.tolLogits], ['--tol-grad', a.tolGrad]] as const)
      if (!(v > 0)) throw inputError(flag, `${v} is not a positive number`);
    if (!Number.isInteger(a.maxOutliers) || a.maxOutliers < 0) throw inputError('--max-outliers', `${a.maxOutliers} is not a non-negative integer`);
    if (!Number.isInteger(a.convChunk) || a.convChunk < 0) throw inputError('--conv-chunk', `${a.convChunk} is not a non-negative integer`, '0 (off) or channels per partial convolution');
    await startBackend(a.backend);
    const checkpoint = await loadCheckpoint(a.checkpoint);
    const results = await verifyAgainstReference(checkpoint, a.reference, {
      logitsTolerance: a.tolLogits,
      gradientTolerance: a.tolGrad,
      maxOutliers: a.maxOutliers,
      convChannelChunk: a.convChunk === 0 ? null : a.convChunk,
    });
    const rows = [['case', 'max rel', 'median rel', 'max abs', 'tolerance', 'beyond', 'verdict']];
    for (const r of results)
      rows.push([r.name, fmt(r.maxRelativeError), fmt(r.medianRelativeError), fmt(r.maxAbsoluteError), fmt(r.tolerance), String(r.outliers.length), r.passed ? 'pass' : 'FAIL']);
    const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
    for (const row of rows) process.stdout.write(`${row.map((c, i) => c.padEnd(widths[i])).join('  ')}\n`);
    for (const r of results) {
      if (r.outliers.length > 0)
        process.stdout.write(`  ${r.name}: images beyond tolerance: ${r.outliers.map((o) => `#${o.image} (${fmt(o.relativeError)})`).join(', ')}\n`);
      if (r.classMismatches.length > 0) process.stdout.write(`  ${r.name}: predicted class differs on images ${r.classMismatches.join(', ')}\n`);
    }
    const failed = results.filter((r) => !r.passed);
    process.stdout.write(failed.length === 0 ? `verify: all ${results.length} cases pass\n` : `verify: ${failed.length} of ${results.length} cases FAIL\n`);
    return failed.length === 0 ? 0 : 1;
  }),
};
