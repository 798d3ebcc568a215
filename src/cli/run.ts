/**
 * `bench run --suite adversarial|corruption`: evaluates checkpoints under attacks or corruptions and
 * writes a run directory (run.json, cells/, probes/, sanity.json). Flags override config fields.
 */
import { availableParallelism } from 'node:os';
import type { Argv, CommandModule } from 'yargs';
import { handler, startBackend, withBackendOption } from './common.js';
import { executeRun, prepareRun, type RunRequest } from '../suite/runner.js';
import type { ConfigOverrides } from '../suite/config.js';

/** The parsed flags: the config overrides plus what selects, places and runs the run. */
export interface RunArgs extends ConfigOverrides {
  suite?: string;
  config?: string;
  out?: string;
  resume?: string;
  shard?: string;
  quiet: boolean;
  workers: number;
  backend?: string;
}

/** The request a command line makes (exported for tests). */
export function requestFromArgs(a: RunArgs): RunRequest {
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
  return { suite: a.suite, configFile: a.config, overrides, out: a.out, resume: a.resume, shard: a.shard, workers: a.workers };
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
        .option('workers', {
          type: 'number',
          default: DEFAULT_WORKERS,
          describe: 'processes computing cells in parallel (the wasm backend uses one core each); results do not depend on it',
        })
        .example('$0 run --suite adversarial', 'the default adversarial suite (configs/adversarial.json)')
        .example('$0 run --config configs/ci.json --limit 50', 'a config with fewer images')
        .example('$0 run --suite adversarial --models my-model/model.json --dataset folder:images --labels model', 'a TF.js model on an image folder')
        .example('$0 run --resume reports/adversarial-20250101-120000', 'finish an interrupted run'),
    ) as unknown as Argv<RunArgs>,
  handler: handler(async (a: RunArgs) => {
    // Every input problem surfaces before the backend starts.
    const prep = await prepareRun(requestFromArgs(a));
    const backend = await startBackend(a.backend, a.quiet);
    await executeRun(prep, { backend, quiet: a.quiet });
    return 0;
  }),
};
