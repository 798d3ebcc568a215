/**
 * The example GitHub Actions workflow: valid YAML with the expected jobs, and every `bench` command line
 * in it accepted by our own CLI parser (strict mode: unknown flags fail).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import yargs, { type CommandModule } from 'yargs';
import { compareCommand } from '../../src/cli/compare.js';
import { mergeCommand } from '../../src/cli/merge.js';
import { runCommand } from '../../src/cli/run.js';
import { conclusiveMaxDrop, detectability } from '../../src/compare/power.js';
import { DEFAULT_GATES } from '../../src/compare/compareRuns.js';

const FILE = fileURLToPath(new URL('../../.github/workflows/robustness.yml', import.meta.url));
const text = readFileSync(FILE, 'utf8');

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  if?: string;
  id?: string;
}
interface Job {
  needs?: string | string[];
  if?: string;
  strategy?: { matrix: { shard: number[] } };
  steps: Step[];
}
const wf = parse(text) as { on: Record<string, unknown>; env: Record<string, string>; jobs: Record<string, Job> };
const runs = (job: Job) => job.steps.flatMap((s) => (s.run ? [s.run] : [])).join('\n');
const uses = (job: Job) => job.steps.flatMap((s) => (s.uses ? [s.uses.split('@')[0]] : []));
const needs = (job: Job) => (job.needs === undefined ? [] : Array.isArray(job.needs) ? job.needs : [job.needs]);

/** The `bench` invocations of a script, as argv arrays, with GitHub expressions given sample values. */
function benchCommands(script: string): string[][] {
  const joined = script
    .replace(/\\\n/g, ' ')
    .replace(/\$\{\{\s*matrix\.shard\s*\}\}/g, '2')
    .replace(/\$\{\{\s*strategy\.job-total\s*\}\}/g, '4')
    .replace(/"?\.\.\/\$CONFIG"?|"?\$CONFIG"?/g, 'configs/ci.json')
    .replace(/"?\$MAX_DROP"?/g, wf.env.MAX_DROP);
  const out: string[][] = [];
  for (const line of joined.split('\n')) {
    const m = /(?:npm run --silent bench --|node \S*main\.js)\s+(.*)$/.exec(line);
    if (m) out.push(m[1].trim().split(/\s+/));
  }
  return out;
}

/** Parses argv with the real command modules (handlers replaced), strict like main.ts; returns the error message or null. */
async function cliAccepts(argv: string[]): Promise<string | null> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const noop = (c: CommandModule<any, any>) => ({ ...c, handler: () => undefined });
  let failure: string | null = null;
  await yargs(argv)
    .command(noop(runCommand))
    .command(noop(mergeCommand))
    .command(noop(compareCommand))
    .strict()
    .demandCommand(1)
    .fail((msg, err) => {
      failure = msg ?? err?.message ?? 'failed';
    })
    .exitProcess(false)
    .parseAsync();
  return failure;
}

describe('.github/workflows/robustness.yml', () => {
  test('parses, and has the shard matrix, merge, baseline and compare jobs wired in order', () => {
    expect(Object.keys(wf.on)).toContain('pull_request');
    expect(Object.keys(wf.jobs).sort()).toEqual(['baseline', 'candidate', 'compare', 'merge']);
    for (const [name, job] of Object.entries(wf.jobs)) {
      for (const s of job.steps) expect(Boolean(s.uses) !== Boolean(s.run), `${name}: a step has exactly one of uses/run`).toBe(true);
      for (const n of needs(job)) expect(Object.keys(wf.jobs)).toContain(n);
    }
    const { candidate, merge, baseline, compare } = wf.jobs;
    expect(candidate.strategy!.matrix.shard).toEqual([1, 2, 3, 4]);
    expect(runs(candidate)).toMatch(/--shard \$\{\{ matrix\.shard \}\}\/\$\{\{ strategy\.job-total \}\}/);
    expect(runs(candidate)).toContain('--config "$CONFIG"');
    expect(wf.env.CONFIG).toBe('configs/ci.json');
    expect(uses(candidate)).toContain('actions/upload-artifact');

    expect(needs(merge)).toEqual(['candidate']);
    expect(uses(merge)).toContain('actions/download-artifact');
    expect(runs(merge)).toMatch(/bench -- merge shards\/\* --out runs\/candidate/);

    expect(runs(baseline)).toContain('git archive origin/main checkpoints');
    expect(uses(baseline)).toContain('actions/cache');

    expect(needs(compare).sort()).toEqual(['baseline', 'merge']);
    expect(runs(compare)).toMatch(/bench -- compare runs\/baseline runs\/candidate/);
    expect(runs(compare)).toContain('$GITHUB_STEP_SUMMARY');
    expect(uses(compare)).toContain('actions/github-script');
    const last = compare.steps[compare.steps.length - 1];
    expect(last.if).toBe("steps.compare.outputs.code != '0'");
    expect(last.run).toMatch(/exit "\$code"/);
  });

  test('every bench command line in it parses with our CLI', async () => {
    const commands = Object.values(wf.jobs).flatMap((j) => benchCommands(runs(j)));
    expect(commands.map((c) => c[0]).sort()).toEqual(['compare', 'merge', 'run', 'run']);
    for (const argv of commands) expect(await cliAccepts(argv), argv.join(' ')).toBeNull();
    expect(await cliAccepts(['merge', 'a', '--no-such-flag'])).not.toBeNull();
  });

  test('its --max-drop is one the images of configs/ci.json can detect (no INCONCLUSIVE by design), and the finest such', () => {
    const ci = JSON.parse(readFileSync(fileURLToPath(new URL('../../configs/ci.json', import.meta.url)), 'utf8')) as {
      limit: number;
      attacks: { limit?: number }[];
    };
    expect(runs(wf.jobs.compare)).toContain('--max-drop "$MAX_DROP"');
    const maxDrop = Number(wf.env.MAX_DROP);
    // The smallest row: an attack with its own limit (it also bounds the worst-case rows it joins).
    const n = Math.min(ci.limit, ...ci.attacks.map((a) => a.limit ?? ci.limit));
    expect(detectability(n, n, maxDrop, DEFAULT_GATES.alpha).conclusive).toBe(true);
    expect(maxDrop).toBe(conclusiveMaxDrop(n, n, DEFAULT_GATES.alpha));
  });

  const yamllint = spawnSync('yamllint', ['--version']).status === 0;
  test.skipIf(!yamllint)('yamllint (strict, default rules) finds nothing', () => {
    expect(() => execFileSync('yamllint', ['-s', FILE], { encoding: 'utf8' })).not.toThrow();
  });
});
