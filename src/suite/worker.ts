/**
 * A helper process of `bench run --workers N` (see workers.ts): `worker <run-dir> <backend>`.
 * It computes the units it claims in the run directory and exits; the main process prints the results.
 */
import { initBackend } from '../engine/backend.js';
import { executeRun, prepareRun } from './runner.js';

process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
const [runDir, backend] = process.argv.slice(2);
// The lead holds our stdin open; end of file means it exited or was killed. Stop then (at the next
// await, i.e. within a batch): an orphan would keep writing in a directory a new lead may own.
process.stdin.on('end', () => {
  process.stderr.write('the lead process is gone; stopping\n');
  process.exit(1);
});
process.stdin.on('error', () => undefined);
process.stdin.resume();
try {
  const info = await initBackend(backend);
  const prep = await prepareRun({ resume: runDir, helper: true });
  await executeRun(prep, { backend: info, quiet: true, helper: true });
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
} finally {
  process.stdin.destroy();
}
