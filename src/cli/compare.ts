/**
 * `bench compare <baseline-run> <candidate-run>`: paired comparison of two runs of one config; exit 1 when
 * a gated row shows a significant drop beyond --max-drop, 4 when no row fails but some row's sample is too
 * small to detect such a drop at --alpha (INCONCLUSIVE; 0 with --allow-inconclusive), 0 when every row
 * passes, 2 for unusable input.
 * `bench compare --baseline <checkpoint> --candidate <checkpoint> --config FILE` first runs the config on
 * each checkpoint (same images, same seed) and then compares the two runs.
 */
import { writeFile } from 'node:fs/promises';
import { createDirectory } from '../rundir/createDir.js';
import { dirname, join } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { handler, startBackend, withBackendOption } from './common.js';
import { inputError } from '../engine/errors.js';
import { readRun } from '../rundir/read.js';
import { executeRun, outcomeRun, prepareRun } from '../suite/runner.js';
import { terminalReporter } from '../report/reporters/terminal.js';
import { checkGates, compareRuns, DEFAULT_GATES, exitCodeOf, type Comparison } from '../compare/compareRuns.js';
import { renderJson, renderJunit, renderMarkdown, verdictLine } from '../compare/render.js';

export interface CompareArgs {
  baseline?: string;
  candidate?: string;
  config?: string;
  out?: string;
  maxDrop: number;
  alpha: number;
  allowInconclusive?: boolean;
  markdown?: string;
  json?: string;
  junit?: string;
  quiet: boolean;
  backend?: string;
}

async function writeOutput(file: string, text: string): Promise<void> {
  await createDirectory(dirname(file), 'the output directory');
  await writeFile(file, text);
}

function timestamp(d = new Date()): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
}

/** Runs the config on the baseline and the candidate checkpoint; returns the two run directories. */
async function runBoth(a: CompareArgs & { baseline: string; candidate: string; config: string }): Promise<[string, string]> {
  const workDir = a.out ?? join('reports', `compare-${timestamp()}`);
  const preps = [];
  // Validate both runs before any model is loaded.
  for (const [role, checkpoint] of [['baseline', a.baseline], ['candidate', a.candidate]] as const)
    preps.push(await prepareRun({ configFile: a.config, overrides: { checkpoints: checkpoint }, out: join(workDir, role) }));
  const backend = await startBackend(a.backend, a.quiet);
  // The runs' terminal tables go to stderr: stdout carries the comparison.
  const toStderr = (s: string) => void process.stderr.write(s);
  for (const prep of preps) await terminalReporter.write(outcomeRun(await executeRun(prep, { backend, quiet: a.quiet })), { print: toStderr });
  return [preps[0].runDir, preps[1].runDir];
}

/** The comparison and its outputs; returns the exit code (0 pass, 1 regression, 4 inconclusive unless allowed). */
export async function runCompare(a: CompareArgs, print: (s: string) => void = (s) => void process.stdout.write(s)): Promise<{ code: number; comparison: Comparison }> {
  if (!a.baseline || !a.candidate)
    throw inputError('bench compare', 'needs a baseline and a candidate', '<baseline-run> <candidate-run>, or --baseline DIR --candidate DIR --config FILE');
  const gates = { maxDrop: a.maxDrop, alpha: a.alpha, allowInconclusive: a.allowInconclusive ?? false };
  checkGates(gates);
  let dirs: [string, string] = [a.baseline, a.candidate];
  if (a.config !== undefined) dirs = await runBoth({ ...a, baseline: a.baseline, candidate: a.candidate, config: a.config });
  else if (a.out !== undefined) throw inputError('--out', 'only the one-step form (--config) writes runs', 'leave --out out, or add --config FILE');
  const [baseline, candidate] = [await readRun(dirs[0]), await readRun(dirs[1])];
  const comparison = compareRuns(baseline, candidate, gates);
  const markdown = renderMarkdown(comparison);
  if (a.markdown) await writeOutput(a.markdown, markdown);
  if (a.json) await writeOutput(a.json, renderJson(comparison));
  if (a.junit) await writeOutput(a.junit, renderJunit(comparison));
  const code = exitCodeOf(comparison.verdict, gates);
  // Quiet still says the verdict, in one line: a CI step that exits 1 or 4 must show why.
  print(a.quiet ? `${verdictLine(comparison, code)}\n` : markdown);
  return { code, comparison };
}

export const compareCommand: CommandModule<object, CompareArgs> = {
  command: 'compare [baseline] [candidate]',
  describe: 'paired comparison of a candidate run with a baseline run (exit 1 on a significant robustness drop, 4 when the sample cannot detect one)',
  builder: (y: Argv<object>) =>
    withBackendOption(
      y
        .positional('baseline', { type: 'string', describe: 'baseline run directory (with --config: baseline checkpoint directory)' })
        .positional('candidate', { type: 'string', describe: 'candidate run directory (with --config: candidate checkpoint directory)' })
        .option('config', { type: 'string', describe: 'one-step form: run this suite config on both checkpoints, then compare' })
        .option('out', { type: 'string', describe: 'one-step form: directory for the two runs (default reports/compare-<timestamp>)' })
        .option('max-drop', { type: 'number', default: DEFAULT_GATES.maxDrop, describe: 'accuracy points the candidate may lose before a significant drop fails' })
        .option('alpha', { type: 'number', default: DEFAULT_GATES.alpha, describe: 'significance level of the paired tests' })
        .option('allow-inconclusive', {
          type: 'boolean',
          default: false,
          describe: 'exit 0 instead of 4 when a row cannot detect a drop of --max-drop at --alpha (the verdict still says INCONCLUSIVE)',
        })
        .option('markdown', { type: 'string', describe: 'write the Markdown verdict and table to FILE' })
        .option('json', { type: 'string', describe: 'write every row as JSON to FILE' })
        .option('junit', { type: 'string', describe: 'write JUnit XML (one testcase per gated row) to FILE' })
        .option('quiet', { type: 'boolean', default: false, describe: 'print only the one-line verdict (not the Markdown) on stdout' })
        .example('$0 compare runs/main runs/pr --junit compare.xml', 'compare two runs of one config')
        .example('$0 compare --baseline checkpoints/cnnf-main --candidate checkpoints/cnnf-pr --config configs/ci.json', 'run both, then compare')
        .epilog(
          'Exit codes: 0 every gated row passes; 1 a regression (a drop beyond --max-drop with p < --alpha); ' +
            '2 unusable input; 3 a file could not be written; 4 INCONCLUSIVE: no row fails, but some row has too few samples ' +
            'to detect a drop beyond --max-drop at --alpha even if every changed sample went one way ' +
            '(the exact McNemar test needs 6 such samples at alpha 0.05; README lists the images a drop needs). ' +
            '--allow-inconclusive turns 4 into 0.',
        ),
    ) as unknown as Argv<CompareArgs>,
  handler: handler(async (a: CompareArgs) => (await runCompare(a)).code),
};
