// scripts/autoattack-side-by-side.ts, the bench side of the comparison with the original AutoAttack, run for
// real on the committed CNN and a few images: --jobs 2 (batches in two worker processes) gives the same
// per-sample results as one process, and --resume refuses a record made with other settings.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const tmp = mkdtempSync(join(os.tmpdir(), 'bench-side-by-side-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const PARAMS = JSON.stringify({ 'apgd-ce': { steps: 3, restarts: 1 }, square: { queries: 10 } });
function sideBySide(args: string[]) {
  return spawnSync(
    process.execPath,
    ['--import', tsx, join(root, 'scripts', 'autoattack-side-by-side.ts'), '--n', '24', '--eps', '0.03', '--cascade', '--attacks', 'apgd-ce,square', '--params', PARAMS, '--batch', '8', ...args],
    { cwd: root, encoding: 'utf8', timeout: 120_000 },
  );
}
interface Run { attack: string; robust: boolean[]; cpuSeconds: number; batchesDone: number; doneBatches?: number[]; complete: boolean; machines?: string[] }
const runsOf = (file: string) => (JSON.parse(readFileSync(file, 'utf8')) as { runs: Run[] }).runs;

describe('autoattack-side-by-side.ts', () => {
  it('--jobs 2 records the same robust flags per stage as one process, every batch done and timed', () => {
    const one = join(tmp, 'one.json');
    const two = join(tmp, 'two.json');
    const a = sideBySide(['--out', one]);
    expect(a.status, a.stderr).toBe(0);
    const b = sideBySide(['--out', two, '--jobs', '2']);
    expect(b.status, b.stderr).toBe(0);
    const [ra, rb] = [runsOf(one), runsOf(two)];
    expect(rb.map((r) => r.attack)).toEqual(['apgd-ce', 'square']);
    rb.forEach((run, i) => {
      expect(run.robust).toEqual(ra[i].robust);
      expect(run.complete).toBe(true);
      expect(run.doneBatches).toEqual(Array.from({ length: run.batchesDone }, (_, k) => k));
      expect(run.cpuSeconds).toBeGreaterThan(0);
      expect(run.machines).toHaveLength(1);
    });
    // The attack broke something, so equal flags are not equal by default.
    expect(ra[0].robust.filter(Boolean).length).toBeLessThan(24);
  });

  it('--resume refuses a record made with another seed: one line, exit 2, the record untouched', () => {
    const file = join(tmp, 'one.json');
    const before = readFileSync(file, 'utf8');
    const r = sideBySide(['--out', file, '--resume', '--seed', '1']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([`${file}: recorded with seed 0; resume with the same settings or start a new --out`]);
    expect(readFileSync(file, 'utf8')).toBe(before);
  });
});
