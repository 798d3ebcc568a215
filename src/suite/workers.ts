/**
 * Parallel runs on one machine. The wasm backend computes on one thread, so `--workers N` starts N-1
 * helper processes on the same run directory. Every process walks the plan's units (most expensive
 * first) and takes a unit only if it is the first to create its claim file (open with O_EXCL), so each
 * unit is computed once; results are identical whoever computes them (every draw is keyed by
 * (seed, cell id, sample index)). The main process then makes a final pass that reads every stored cell
 * and computes anything a failed helper left behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, open, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { PlanUnit } from './planner.js';

export const CLAIMS_DIR = 'claims';

// A part of a split cascade (cascadeParts.ts) is claimed on its own: the unit's id and its samples.
const claimName = (unit: PlanUnit) => `${unit.id.replace(/[^A-Za-z0-9._=-]+/g, '_')}${unit.samples ? `_samples_${unit.samples[0]}-${unit.samples[1]}` : ''}.claim`;

/** Removes stale claims (from an interrupted run) before the helpers start. */
export async function resetClaims(runDir: string): Promise<void> {
  await rm(join(runDir, CLAIMS_DIR), { recursive: true, force: true });
  await mkdir(join(runDir, CLAIMS_DIR), { recursive: true });
}

/** True when this process is the first to claim `unit` in `runDir`. */
export async function claimUnit(runDir: string, unit: PlanUnit): Promise<boolean> {
  try {
    const handle = await open(join(runDir, CLAIMS_DIR, claimName(unit)), 'wx');
    await handle.writeFile(`${process.pid}\n`);
    await handle.close();
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/**
 * Units in the order helpers take them: most expensive first, so the last ones to finish are short; but a
 * sanity probe that continues a main sweep or cascade (planner.ts PlannedCell.continues) after every other
 * unit, so that it starts from the stored cells or cascade parts instead of recomputing them on its images
 * (each process finishes a unit before claiming the next: by then the units claimed first are done).
 */
export function claimOrder(units: readonly PlanUnit[]): PlanUnit[] {
  const continues = (u: PlanUnit) => (u.kind === 'probe-attack' && u.cells.some((c) => c.continues) ? 1 : 0);
  return units
    .map((u, i) => ({ u, i }))
    .sort((a, b) => continues(a.u) - continues(b.u) || b.u.cost - a.u.cost || a.i - b.i)
    .map(({ u }) => u);
}

export interface Helper {
  child: ChildProcess;
  done: Promise<{ code: number | null; stderr: string }>;
}

/** Starts one helper process working on `runDir` with the given backend. */
export function startHelper(runDir: string, backend: string): Helper {
  const here = fileURLToPath(import.meta.url);
  const fromSource = here.endsWith('.ts');
  const script = join(dirname(here), fromSource ? 'worker.ts' : 'worker.js');
  // From source (tsx, vitest) the helper needs tsx's loader; the built package runs plain node.
  const loader = fromSource ? ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href] : [];
  // stdin stays open for the helper's life: when this process dies (even by SIGKILL) the helper sees end
  // of file and stops instead of running on as an orphan (worker.ts).
  const child = spawn(process.execPath, [...loader, script, runDir, backend], { stdio: ['pipe', 'ignore', 'pipe'] });
  child.stdin!.on('error', () => undefined);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += String(d)));
  const done = new Promise<{ code: number | null; stderr: string }>((resolveDone) => {
    child.on('close', (code) => {
      child.stdin!.destroy();
      resolveDone({ code, stderr });
    });
    child.on('error', (err) => resolveDone({ code: -1, stderr: `${stderr}${err.message}` }));
  });
  return { child, done };
}
