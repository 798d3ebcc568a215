/**
 * `bench list --attacks | --corruptions | --checkpoints | --datasets | --models`: what a config can name.
 * With no flag, all of them.
 */
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { handler } from './common.js';
import { InputError } from '../engine/errors.js';
import { packageRoot } from '../data/fashionMnist.js';
import { listAttacks } from '../../attacks/registry.js';
import { formatSeverityTable, listCorruptions } from '../../corruptions/registry.js';
import { validateManifest, MANIFEST_FILE } from '../models/checkpoint.js';
import { findCheckpointDirs } from '../suite/loadClassifier.js';
import { describeDatasetFormats } from '../datasets/index.js';
import { MODEL_FAMILIES } from '../models/families/index.js';
import { epsilonRange } from '../../attacks/threatModels.js';

export interface ListArgs {
  attacks: boolean;
  corruptions: boolean;
  checkpoints: boolean;
  datasets: boolean;
  models: boolean;
  dir?: string;
}

/** The dataset formats `--dataset` and a config's `dataset` take. */
export function listDatasetsText(): string {
  return ['datasets (--dataset SPEC, config "dataset"; docs/datasets.md):', ...describeDatasetFormats().map((l) => `  ${l}`)].join('\n');
}

/** The model families `--models` / config `checkpoints` read, told apart by the files themselves. */
export function listModelFamiliesText(): string {
  return ['model families (--models PATH, config "checkpoints"):', ...MODEL_FAMILIES.map((f) => `  ${f.name.padEnd(12)}${f.description}`)].join('\n');
}

function formatValue(v: unknown): string {
  return v === undefined ? 'unset' : JSON.stringify(v);
}

export function listAttacksText(): string {
  const lines = ['Attacks (config: attacks[].name; params override the defaults shown):'];
  for (const a of listAttacks()) {
    const kind = a.usesGradient ? "gradient, through the model's gradient paths" : 'score-based, no gradient';
    // The L2 bound is the diagonal of the attacked model's input: shown for Fashion-MNIST's 28x28x1.
    const shape = { height: 28, width: 28, channels: 1 };
    // The attack kind (attacks/define.ts): a minimisation attack runs once and answers every eps of the sweep.
    const answers = a.kind === 'minimisation' ? 'minimisation: one run answers every eps' : 'fixed-epsilon: one run per eps';
    lines.push(`  ${a.name}  [${a.threatModel}, ${answers}, ${kind}; eps: ${epsilonRange(a.threatModel, shape)}${a.threatModel === 'l2' ? ' on 28x28x1 images' : ''}]`);
    lines.push(`    ${a.describe}`);
    const defaults = Object.entries(a.defaults as Record<string, unknown>).map(([k, v]) => `${k}=${formatValue(v)}`);
    // Every gradient attack takes eot from the template (attacks/define.ts EotParams).
    if (a.usesGradient) defaults.push('eot=1');
    lines.push(`    params: ${defaults.join(', ')}`);
  }
  return lines.join('\n');
}

export function listCorruptionsText(): string {
  const tables = listCorruptions().map((c) => formatSeverityTable(c).replace(/^/gm, '  '));
  return ['Corruptions (config: corruptions; severities 1..5):', ...tables].join('\n\n');
}

function accuracyText(metrics: Record<string, unknown>): string {
  const acc = metrics.cleanAccuracy as Record<string, number> | undefined;
  const partial = metrics.complete === false ? ' (training not finished)' : '';
  if ((!acc || typeof acc !== 'object') && typeof metrics.validationAccuracy === 'number')
    return `validation accuracy ${(100 * metrics.validationAccuracy).toFixed(2)}%${partial}`;
  if (!acc || typeof acc !== 'object') return 'no metrics';
  const parts = ['first', 'last', 'average'].filter((k) => typeof acc[k] === 'number').map((k) => `${k} ${(100 * acc[k]).toFixed(2)}%`);
  const n = typeof metrics.testImages === 'number' ? ` on ${metrics.testImages} test images` : '';
  return `clean accuracy ${parts.join(', ')}${n}`;
}

/** Checkpoints under `root` (default <package>/checkpoints) with their architecture and metrics. */
export function listCheckpointsText(root = join(packageRoot(), 'checkpoints')): string {
  const dirs = findCheckpointDirs(root);
  if (dirs.length === 0) return `Checkpoints: none under ${root}`;
  const lines = [`Checkpoints under ${root}:`];
  for (const dir of dirs) {
    const shown = relative(process.cwd(), dir) || dir;
    try {
      const m = validateManifest(JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8')), join(dir, MANIFEST_FILE));
      const a = m.architecture;
      const shape = a.cycles === 0 ? 'CNN (no feedback)' : `CNN-F ind ${a.ind}, ${a.cycles} cycle(s), res ${a.resParam}`;
      const epochs = m.provenance.epochs !== undefined ? `, ${m.provenance.epochs} epochs` : '';
      lines.push(`  ${m.name}  ${shown}  ${shape}${epochs}; ${accuracyText(m.metrics)}`);
    } catch (err) {
      lines.push(`  ${shown}  unreadable: ${err instanceof InputError ? err.message : (err as Error).message}`);
    }
  }
  return lines.join('\n');
}

export const listCommand: CommandModule<object, ListArgs> = {
  command: 'list',
  describe: 'list attacks (params, defaults), corruptions (severity tables), checkpoints (metrics), model families and dataset formats',
  builder: (y: Argv<object>) =>
    y
      .option('attacks', { type: 'boolean', default: false, describe: 'attacks with their params and defaults' })
      .option('corruptions', { type: 'boolean', default: false, describe: 'corruptions with their severity tables' })
      .option('checkpoints', { type: 'boolean', default: false, describe: 'checkpoints found under checkpoints/ with their metrics' })
      .option('datasets', { type: 'boolean', default: false, describe: 'dataset formats --dataset takes' })
      .option('models', { type: 'boolean', default: false, describe: 'model families --models reads (bench checkpoints, TF.js layers and graph models)' })
      .option('dir', { type: 'string', describe: 'where to look for checkpoints (default <package>/checkpoints)' }) as unknown as Argv<ListArgs>,
  handler: handler(async (a: ListArgs) => {
    const all = !a.attacks && !a.corruptions && !a.checkpoints && !a.datasets && !a.models;
    const sections: string[] = [];
    if (all || a.attacks) sections.push(listAttacksText());
    if (all || a.corruptions) sections.push(listCorruptionsText());
    if (all || a.checkpoints) sections.push(listCheckpointsText(a.dir));
    if (all || a.models) sections.push(listModelFamiliesText());
    if (all || a.datasets) sections.push(listDatasetsText());
    process.stdout.write(`${sections.join('\n\n')}\n`);
    return 0;
  }),
};
