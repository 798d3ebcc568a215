/**
 * `bench run --suite adversarial|corruption`: evaluates checkpoints under attacks or corruptions and
 * writes a run directory (run.json, cells/, probes/, sanity.json). Flags override config fields. The
 * executor returns the outcome; this command then runs the reporters `--reporter` names on it.
 */
import { availableParallelism } from 'node:os';
import type { Argv, CommandModule } from 'yargs';
import { handler, startBackend, withBackendOption } from './common.js';
import { executeRun, outcomeRun, prepareRun, PRESETS, type RunRequest } from '../suite/runner.js';
import type { ConfigOverrides } from '../suite/config.js';
import type { RunData } from '../rundir/read.js';
import { parseReporters, REPORTER_NAMES, RUN_REPORTERS, runReporters, type Reporter, type ReporterOptions } from '../report/reporters/index.js';

/** The parsed flags: the config overrides plus what selects, places and runs the run. */
export interface RunArgs extends ConfigOverrides {
  suite?: string;
  config?: string;
  preset?: string;
  out?: string;
  resume?: string;
  shard?: string;
  quiet: boolean;
  workers: number;
  backend?: string;
  /** Comma-separated reporter names (default RUN_REPORTERS). */
  reporter: string;
  /** github-summary's file (default $GITHUB_STEP_SUMMARY). */
  summary?: string;
}

/** Flag aliases whose use errors should echo: the option key and the alias as typed. */
const ALIASES: { key: 'checkpoints'; alias: string }[] = [{ key: 'checkpoints', alias: '--models' }];

/** The override flags `argv` (the command line after the program) gives under an alias, e.g. {checkpoints: '--models'}. */
export function typedAliases(argv: readonly string[]): RunRequest['typedFlags'] {
  const typed: NonNullable<RunRequest['typedFlags']> = {};
  for (const { key, alias } of ALIASES) if (argv.some((t) => t === alias || t.startsWith(`${alias}=`))) typed[key] = alias;
  return typed;
}

/** The request a command line makes (exported for tests); `argv` (default: this process's) tells which alias was typed. */
export function requestFromArgs(a: RunArgs, argv: readonly string[] = process.argv.slice(2)): RunRequest {
  const overrides: ConfigOverrides = {
    limit: a.limit,
    offset: a.offset,
    batchSize: a.batchSize,
    seed: a.seed,
    epsilons: a.epsilons,
    attacks: a.attacks,
    corruptions: a.corruptions,
    severities: a.severities,
    checkpoints: a.checkpoints,
    output: a.output,
    sanity: a.sanity,
    dataset: a.dataset,
    labels: a.labels,
  };
  return { suite: a.suite, configFile: a.config, ...(a.preset !== undefined ? { preset: a.preset } : {}), overrides, typedFlags: typedAliases(argv), out: a.out, resume: a.resume, shard: a.shard, workers: a.workers };
}

/**
 * Runs the reporters on a finished run, printing to `print` what each wrote: the terminal text, then
 * `report: <html>`, `step summary: <file>`; `run directory: <dir>` when the terminal reporter (which
 * prints it) is not among them. A reporter that fails prints `<name>: not written (<reason>)` and the
 * others still run: the cells are written, and `bench report DIR` can retry.
 */
export async function reportRun(run: RunData, reporters: readonly Reporter[], options: ReporterOptions, print: (s: string) => void): Promise<void> {
  if (!reporters.some((r) => r.name === 'terminal')) print(`\nrun directory: ${run.dir}\n`);
  await runReporters(run, reporters, { ...options, print }, {
    keepGoing: true,
    onResult: ({ reporter, files, error }) => {
      const label = reporter === 'html' ? 'report' : reporter;
      if (error) print(`${label}: not written (${error.message.split('\n')[0]})\n`);
      else if (reporter === 'html') print(`report: ${files[0]}\n`);
      else if (reporter === 'github-summary') print(`step summary: ${files[0]}\n`);
    },
  });
}

/** One process per core, at most 4 (each holds its own copy of the models and tfjs). */
const DEFAULT_WORKERS = Math.max(1, Math.min(4, availableParallelism()));

export const runCommand: CommandModule<object, RunArgs> = {
  command: 'run',
  describe: 'run a robustness suite (adversarial attacks or corruptions) on checkpoints; writes a run directory',
  builder: (y: Argv<object>) =>
    withBackendOption(
      y
        .option('suite', { type: 'string', choices: ['adversarial', 'corruption'], describe: 'suite to run (default config configs/<suite>.json)' })
        .option('config', { type: 'string', describe: 'suite config JSON (see configs/*.schema.json)' })
        .option('preset', {
          type: 'string',
          describe: `a shipped config by name: ${Object.entries(PRESETS).map(([k, v]) => `${k} (${v})`).join('; ')}`,
        })
        .option('limit', { type: 'number', describe: 'number of test images' })
        .option('offset', { type: 'number', describe: 'index of the first test image' })
        .option('batch-size', { type: 'number', describe: 'images per batch (results do not depend on it)' })
        .option('seed', { type: 'number', describe: 'seed of every random draw' })
        .option('epsilons', { type: 'string', describe: "comma-separated radii in [0,1] pixel units, in each attack's norm, for every attack (replacing attacks' own epsilons): L-inf in [0,1], e.g. 0,0.01,0.03; L2 (pgd-l2) in [0,28] for 28x28 images, e.g. 0,0.5,1.5,3" })
        .option('attacks', { type: 'string', describe: 'comma-separated attack labels/names (`bench list --attacks`)' })
        .option('corruptions', { type: 'string', describe: 'comma-separated corruption names, or all (`bench list --corruptions`)' })
        .option('severities', { type: 'string', describe: 'comma-separated severities 1..5' })
        .option('checkpoints', {
          type: 'string',
          alias: 'models',
          describe: 'comma-separated models: bench checkpoint directories, or TF.js layers-model / graph-model model.json files',
        })
        .option('output', { type: 'string', describe: 'prediction output every model must offer (CNN-F: first, last, average; default: each model\'s own)' })
        .option('dataset', {
          type: 'string',
          describe: 'evaluated images: fashion-mnist (default), mnist:DIR, kmnist:DIR, cifar10:DIR, cifar100:DIR, folder:DIR, npz:FILE',
        })
        .option('labels', { type: 'string', choices: ['dataset', 'model'], describe: "labels from the dataset, or each model's clean predictions (unlabelled data)" })
        .option('sanity', { type: 'boolean', describe: 'gradient-masking sanity checks (--no-sanity to skip)' })
        .option('out', { type: 'string', describe: 'run directory (default reports/<suite>-<timestamp>)' })
        .option('resume', { type: 'string', describe: 'finish the run in this directory (only missing cells are computed)' })
        .option('shard', { type: 'string', describe: 'run shard i of n (i/n) of the cells, balanced by estimated cost' })
        .option('quiet', { type: 'boolean', default: false, describe: 'no progress bars (CI)' })
        .option('reporter', {
          type: 'string',
          default: RUN_REPORTERS,
          describe: `comma-separated reporters run on the finished run: ${REPORTER_NAMES.join(', ')}`,
        })
        .option('summary', { type: 'string', describe: 'file the github-summary reporter appends to (default $GITHUB_STEP_SUMMARY)' })
        .option('workers', {
          type: 'number',
          default: DEFAULT_WORKERS,
          describe: 'processes computing cells in parallel (the wasm backend uses one core each; a cascade such as --preset autoattack is split by samples, 250 per part); results do not depend on it',
        })
        .example('$0 run --suite adversarial', 'the default adversarial suite (configs/adversarial.json)')
        .example('$0 run --config configs/ci.json --limit 50', 'a config with fewer images')
        .example('$0 run --preset autoattack --limit 1000', "AutoAttack's standard ensemble (L-inf) on the default checkpoints")
        .example('$0 run --suite adversarial --models my-model/model.json --dataset folder:images --labels model', 'a TF.js model on an image folder')
        .example('$0 run --config configs/ci.json --reporter terminal,github-summary', 'in a GitHub workflow: the table in the log, the headline in the job summary')
        .example('$0 run --resume reports/adversarial-20250101-120000', 'finish an interrupted run'),
    ) as unknown as Argv<RunArgs>,
  handler: handler(async (a: RunArgs) => {
    // Every input problem surfaces before the backend starts.
    const reporterOptions: ReporterOptions = { summaryFile: a.summary };
    const reporters = parseReporters(a.reporter, reporterOptions);
    const prep = await prepareRun(requestFromArgs(a));
    const backend = await startBackend(a.backend, a.quiet);
    const outcome = await executeRun(prep, { backend, quiet: a.quiet });
    await reportRun(outcomeRun(outcome), reporters, reporterOptions, (s) => void process.stdout.write(s));
    return 0;
  }),
};
