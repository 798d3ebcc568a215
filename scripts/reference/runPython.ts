// Runs one of scripts/reference/*.py as a child process for the side-by-side cost scripts
// (scripts/square-cost.ts, scripts/model-cost.ts) and returns the JSON object its last stdout line holds.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../../src/data/fashionMnist.js';

/** glibc's trim and mmap thresholds raised to 4 GiB: PyTorch then keeps freed buffers instead of returning
 * them to the kernel and faulting them back in on the next call (docs/autoattack.md, "Correction"). */
export const LARGE_MALLOC_THRESHOLDS = { MALLOC_TRIM_THRESHOLD_: '4294967296', MALLOC_MMAP_THRESHOLD_: '4294967296' };

/**
 * Runs `python scripts/reference/<script> ...args` (the allocator's thresholds raised unless
 * `defaultMalloc`) and parses its last stdout line as JSON. When the interpreter cannot start or the
 * script fails, prints one line naming the command and the cause (its exit code and last stderr line) and
 * exits the process with code 2.
 */
export function runReferenceJson<T>(python: string, script: string, args: string[], defaultMalloc: boolean): T {
  const argv = [join(packageRoot(), 'scripts', 'reference', script), ...args];
  const env = defaultMalloc ? process.env : { ...process.env, ...LARGE_MALLOC_THRESHOLDS };
  const out = spawnSync(python, argv, { encoding: 'utf8', env });
  if (out.error || out.status !== 0) {
    const cause = out.error ? out.error.message : `exit ${out.status}: ${out.stderr.trim().split('\n').pop()}`;
    process.stderr.write(`error: ${python} ${argv.join(' ')} failed (${cause})\n`);
    process.exit(2);
  }
  return JSON.parse(out.stdout.trim().split('\n').pop()!) as T;
}
