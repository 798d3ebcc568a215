import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { InputError, inputError, showValue } from '../engine/errors.js';
import { didYouMean } from '../engine/suggest.js';
import { fmnistArchitecture, REFERENCE_NORMALIZATION, type ModelArchitecture, type Normalization } from '../models/architecture.js';
import { CIFAR10_CLASS_NAMES, CIFAR_REFERENCE_NORMALIZATION, MAX_WRN_DEPTH, MAX_WRN_WIDEN, wrnArchitecture } from '../models/cnnfWrn/architecture.js';
import { FASHION_MNIST_CLASS_NAMES, MANIFEST_FILE, saveCheckpoint, type CheckpointManifest } from '../models/checkpoint.js';
import { importReferenceFile } from '../models/importReference.js';
import { handler } from './common.js';

interface ArchitectureChoice {
  build: (args: ImportArgs, ind: number, resParam: number) => ModelArchitecture;
  /** The largest valid --ind of the built architecture. */
  maxInd: (a: ModelArchitecture) => number;
  classNames: readonly string[];
  normalization: Normalization;
}

/** The Wide-ResNet's --depth and --widen: required, checked here so a bad value is one line naming the flag. */
export function wrnSize(args: { depth?: number; widen?: number }): { depth: number; widen: number } {
  const { depth, widen } = args;
  if (depth === undefined || widen === undefined) throw inputError('--depth/--widen', 'required with --arch cnnf-wrn (the paper\'s network: --depth 40 --widen 2)');
  if (!Number.isInteger(depth) || depth < 10 || (depth - 4) % 6 !== 0 || depth > MAX_WRN_DEPTH)
    throw inputError('--depth', `${depth} is not a Wide-ResNet depth`, `6n + 4 with n >= 1, at most ${MAX_WRN_DEPTH} (e.g. 16, 28, 40)`);
  if (!Number.isInteger(widen) || widen < 1 || widen > MAX_WRN_WIDEN) throw inputError('--widen', `${widen} is not a widen factor`, `1..${MAX_WRN_WIDEN}`);
  return { depth, widen };
}

/** Reference architectures `--arch` accepts, with the class names and normalisation of their dataset. */
const ARCHITECTURES: Record<string, ArchitectureChoice> = {
  'cnnf-fmnist': {
    build: (args, ind, resParam) => fmnistArchitecture(ind, args.cycles, resParam),
    maxInd: (a) => (a.family === 'cnnf' ? a.convs.length - 1 : 0),
    classNames: FASHION_MNIST_CLASS_NAMES,
    normalization: REFERENCE_NORMALIZATION,
  },
  'cnnf-wrn': {
    build: (args, ind, resParam) => {
      const { depth, widen } = wrnSize(args);
      return wrnArchitecture(depth, widen, ind, args.cycles, resParam);
    },
    maxInd: (a) => (a.family === 'cnnf-wrn' ? (a.depth - 4) / 6 : 0),
    classNames: CIFAR10_CLASS_NAMES,
    normalization: CIFAR_REFERENCE_NORMALIZATION,
  },
};
export const IMPORT_ARCHITECTURES = Object.keys(ARCHITECTURES);

export interface ImportArgs {
  file: string;
  arch: string;
  ind?: number;
  cycles: number;
  /** Wide-ResNet depth and widen factor (--arch cnnf-wrn only). */
  depth?: number;
  widen?: number;
  resParam?: number;
  out: string;
  name?: string;
  force?: boolean;
}

export interface ImportResult {
  manifest: CheckpointManifest;
  summary: string;
}

/** The work of `bench import`, callable without yargs; throws InputError for bad input. */
export async function runImport(args: ImportArgs): Promise<ImportResult> {
  const family = Object.hasOwn(ARCHITECTURES, args.arch) ? ARCHITECTURES[args.arch] : undefined;
  if (!family)
    throw inputError('--arch', `unknown architecture ${showValue(args.arch)}${didYouMean(args.arch, IMPORT_ARCHITECTURES)}`, IMPORT_ARCHITECTURES.join(', '));
  if (!Number.isInteger(args.cycles) || args.cycles < 0) throw inputError('--cycles', `must be a non-negative integer, got ${args.cycles}`);
  // ind and res-param only matter with feedback; a feedforward CNN (cycles 0) may omit them.
  if (args.cycles > 0 && (args.ind === undefined || args.resParam === undefined))
    throw inputError('--ind/--res-param', 'required when --cycles > 0 (they are not stored in a state_dict; use the values the model was trained with)');
  const ind = args.ind ?? 0;
  const resParam = args.resParam ?? 0;
  const architecture = family.build(args, ind, resParam);
  const maxInd = family.maxInd(architecture);
  if (!Number.isInteger(ind) || ind < 0 || ind > maxInd) throw inputError('--ind', `must be an integer, got ${ind}`, `0..${maxInd}`);
  if (!(resParam >= 0 && resParam <= 1)) throw inputError('--res-param', `must be a number, got ${resParam}`, '0..1');

  if (!args.force) {
    const existing = await stat(join(args.out, MANIFEST_FILE)).catch(() => null);
    if (existing) throw new InputError(`${args.out}: already holds a checkpoint (pass --force to overwrite it)`);
  }

  const { weights, format } = await importReferenceFile(args.file, architecture);
  const sourceSha256 = createHash('sha256').update(await readFile(args.file)).digest('hex');
  const manifest = await saveCheckpoint(
    args.out,
    {
      name: args.name ?? basename(args.out),
      architecture,
      normalization: family.normalization,
      classNames: [...family.classNames],
      provenance: { source: args.file, sourceSha256, format, importedAt: new Date().toISOString(), importedFrom: 'yjhuangcd/CNNF state_dict' },
    },
    weights,
  );
  const parameters = Object.values(weights).reduce((n, w) => n + w.data.length, 0);
  const summary =
    `imported ${args.file} (${format}, ${Object.keys(weights).length} tensors, ${parameters} parameters) -> ${args.out} ` +
    `[${args.arch}${architecture.family === 'cnnf-wrn' ? ` WRN-${architecture.depth}-${architecture.widen}` : ''} ind=${ind} cycles=${args.cycles} resParam=${resParam}] sha256 ${manifest.weights.sha256.slice(0, 12)}`;
  return { manifest, summary };
}

export const importCommand: CommandModule<object, ImportArgs> = {
  command: 'import <file>',
  describe: 'Import a reference CNN-F (Fashion-MNIST or CIFAR Wide-ResNet) PyTorch state_dict (.pt, zip or legacy torch.save; or .safetensors) as a checkpoint',
  builder: (y: Argv<object>) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: 'state_dict .pt (never executed: an allow-listed reader) or .safetensors' })
      .option('arch', { type: 'string', demandOption: true, describe: `reference architecture (${IMPORT_ARCHITECTURES.join(', ')})` })
      .option('cycles', { type: 'number', demandOption: true, describe: 'feedback cycles the model runs (0 = feedforward CNN)' })
      .option('ind', { type: 'number', describe: 'layer the feedback reconstructs (required when cycles > 0): conv block (cnnf-fmnist) or BasicBlock of the first group, 0 = the image (cnnf-wrn)' })
      .option('depth', { type: 'number', describe: 'Wide-ResNet depth 6n+4 (cnnf-wrn; the paper: 40)' })
      .option('widen', { type: 'number', describe: 'Wide-ResNet widen factor (cnnf-wrn; the paper: 2)' })
      .option('res-param', { type: 'number', describe: 'feedback step size res_param in [0,1] (required when cycles > 0)' })
      .option('out', { type: 'string', demandOption: true, describe: 'checkpoint directory to write (model.json + weights.safetensors)' })
      .option('name', { type: 'string', describe: 'checkpoint name (default: the directory name)' })
      .option('force', { type: 'boolean', default: false, describe: 'overwrite an existing checkpoint in --out' }) as unknown as Argv<ImportArgs>,
  handler: handler(async (args: ImportArgs) => {
    const { summary } = await runImport(args);
    process.stdout.write(`${summary}\n`);
    return 0;
  }),
};
