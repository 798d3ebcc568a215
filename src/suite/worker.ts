/**
 * A helper process of `bench run --workers N` (see workers.ts): `worker <run-dir> <backend>`.
 * It computes the units it claims in the run directory and exits; the main process prints the results.
 */
import { initBackend } from '../engine/backend.js';
import { executeRun, prepareRun } from './runner.js';

process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
const [runDir, backend] = process.argv.slice(2);
try {
  const info = await initBackend(backend);
  const prep = await prepareRun({ resume: runDir });
  await executeRun(prep, { backend: info, quiet: true, helper: true, stdout: () => undefined, noReport: true });
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
