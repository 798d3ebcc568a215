import type { CommandModule } from 'yargs';
import { handler, startBackend, withBackendOption } from './common.js';
import { inputError } from '../engine/errors.js';
import { MAX_FEEDBACK_CYCLES } from '../models/architecture.js';
import { train, type TrainOptions } from '../train/trainer.js';
import { trainWrn, type WrnTrainOptions } from '../train/wrnTrainer.js';
import { wrnSize } from './import.js';

type Arch = 'cnn' | 'cnnf' | 'cnnf-wrn';

export interface TrainArgs {
  arch: Arch;
  depth?: number;
  widen?: number;
  ind?: number;
  cycles?: number;
  resParam: number;
  epochs?: number;
  batchSize: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  power: number;
  gradClip: number;
  mseWeight: number;
  seed?: number;
  validationSize: number;
  dataDir?: string;
  dataset?: string;
  augment: boolean;
  out: string;
  name?: string;
  resume: boolean;
  adv?: 'fgsm-rs' | 'pgd' | 'none';
  advEps?: number;
  advSteps: number;
  advStepSize?: number;
  cleanWeight?: number;
  trainLimit?: number;
  testLimit?: number;
  quiet: boolean;
  backend?: string;
}

/**
 * Defaults that differ by architecture. Fashion-MNIST (cnn, cnnf): this project's recipe (README,
 * Checkpoints). cnnf-wrn: the reference's CIFAR run, run_train_cifar.sh of yjhuangcd/CNNF, with eps 0.063
 * and step 0.02 on [-1,1] inputs expressed in [0,1] pixels (halved).
 */
const DEFAULTS = {
  fmnist: { ind: 2, cycles: 1, epochs: 5, seed: 1, adv: 'none', advEps: 0.1, cleanWeight: 0.1 },
  wrn: { depth: 40, widen: 2, ind: 5, cycles: 2, epochs: 500, seed: 0, adv: 'pgd', advEps: 0.063 / 2, advStepSize: 0.02 / 2, cleanWeight: 0.05 },
} as const;

function positive(name: string, v: number, integer = false): void {
  if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v)))
    throw inputError(`--${name}`, `${v} is not a positive ${integer ? 'integer' : 'number'}`);
}

function integerIn(name: string, v: number, lo: number, hi: number, what = ''): void {
  if (!Number.isInteger(v) || v < lo || v > hi) throw inputError(`--${name}`, `${v} is not an integer in ${lo}..${hi}${what}`, `${lo}..${hi}`);
}

/** The adversary of the run, or undefined for clean training; step size default: the recipe's step/eps ratio. */
function adversary(a: TrainArgs, wrn: boolean): TrainOptions['adv'] {
  const d = wrn ? DEFAULTS.wrn : DEFAULTS.fmnist;
  const kind = a.adv ?? d.adv;
  if (kind === 'none') return undefined;
  const eps = a.advEps ?? d.advEps;
  positive('adv-eps', eps);
  positive('adv-steps', a.advSteps, true);
  // fmnist: the paper's 0.071 / 0.2; wrn: the reference's 0.02 / 0.063 (0.01 at the default eps).
  const stepSize = a.advStepSize ?? (wrn ? (a.advEps === undefined ? DEFAULTS.wrn.advStepSize : eps * (0.02 / 0.063)) : eps * 0.355);
  positive('adv-step-size', stepSize);
  return { kind, eps, steps: a.advSteps, stepSize, cleanWeight: a.cleanWeight ?? d.cleanWeight };
}

const nameOf = (a: TrainArgs) => a.name ?? a.out.replace(/\/+$/, '').split('/').pop() ?? 'model';

/** Options of the Wide-ResNet run, flags checked (one line naming the flag, exit 2). */
export function wrnOptions(a: TrainArgs): WrnTrainOptions {
  if (a.dataDir !== undefined) throw inputError('--data-dir', 'reads Fashion-MNIST (--arch cnn/cnnf); give the CIFAR training data as --dataset cifar10:DIR');
  if (a.dataset === undefined)
    throw inputError('--dataset', 'required with --arch cnnf-wrn', 'cifar10:DIR (DIR holds data_batch_1..5.bin and test_batch.bin of the CIFAR-10 binary version)');
  const { depth, widen } = wrnSize({ depth: a.depth ?? DEFAULTS.wrn.depth, widen: a.widen ?? DEFAULTS.wrn.widen });
  const ind = a.ind ?? DEFAULTS.wrn.ind;
  const cycles = a.cycles ?? DEFAULTS.wrn.cycles;
  integerIn('ind', ind, 0, (depth - 4) / 6, ` (BasicBlocks of the first group of WRN-${depth}; 0 = the image)`);
  integerIn('cycles', cycles, 0, MAX_FEEDBACK_CYCLES);
  if (!(a.resParam >= 0 && a.resParam <= 1)) throw inputError('--res-param', `${a.resParam} is not a number in 0..1`, '0..1');
  return {
    depth,
    widen,
    ind,
    cycles,
    resParam: a.resParam,
    epochs: a.epochs ?? DEFAULTS.wrn.epochs,
    batchSize: a.batchSize,
    lr: a.lr,
    momentum: a.momentum,
    weightDecay: a.weightDecay,
    power: a.power,
    gradClip: a.gradClip,
    mseWeight: a.mseWeight,
    seed: a.seed ?? DEFAULTS.wrn.seed,
    validationSize: a.validationSize,
    dataset: a.dataset,
    augment: a.augment,
    out: a.out,
    name: nameOf(a),
    resume: a.resume,
    adv: adversary(a, true),
    trainLimit: a.trainLimit,
    testLimit: a.testLimit,
    quiet: a.quiet,
    command: `bench ${process.argv.slice(2).join(' ')}`,
  };
}

export const trainCommand: CommandModule<object, TrainArgs> = {
  command: 'train',
  describe: 'train a CNN / CNN-F on Fashion-MNIST, or the CIFAR Wide-ResNet CNN-F (--arch cnnf-wrn --dataset cifar10:DIR), with the reference recipe (checkpoint every epoch, --resume)',
  builder: (y) =>
    withBackendOption(y)
      .option('arch', {
        choices: ['cnn', 'cnnf', 'cnnf-wrn'] as const,
        default: 'cnnf' as const,
        describe: 'cnn / cnnf: Fashion-MNIST (cnn = CNN-F with 0 cycles); cnnf-wrn: the CIFAR Wide-ResNet CNN-F (--dataset cifar10:DIR)',
      })
      .option('depth', { type: 'number', describe: 'Wide-ResNet depth 6n+4 (cnnf-wrn; default 40)' })
      .option('widen', { type: 'number', describe: 'Wide-ResNet widen factor (cnnf-wrn; default 2)' })
      .option('ind', { type: 'number', describe: 'layer the feedback reconstructs (cnnf: default 2; cnnf-wrn: BasicBlock of group 1, default 5, 0 = the image)' })
      .option('cycles', { type: 'number', describe: 'feedback cycles (cnnf: default 1; cnnf-wrn: default 2, 0 = the CNN baseline)' })
      .option('res-param', { type: 'number', default: 0.1, describe: 'residual step of the feedback updates' })
      .option('epochs', { type: 'number', describe: 'default 5 (Fashion-MNIST), 500 (cnnf-wrn, the reference)' })
      .option('batch-size', { type: 'number', default: 256 })
      .option('lr', { type: 'number', default: 0.05, describe: 'base learning rate, decayed polynomially per batch' })
      .option('momentum', { type: 'number', default: 0.9 })
      .option('weight-decay', { type: 'number', default: 5e-4 })
      .option('power', { type: 'number', default: 0.9, describe: 'power of the polynomial learning-rate decay' })
      .option('grad-clip', { type: 'number', default: 0.5, describe: 'global gradient-norm clip (0 = off)' })
      .option('mse-weight', { type: 'number', default: 0.1, describe: 'weight of the reconstruction losses (cnnf)' })
      .option('seed', { type: 'number', describe: 'default 1 (Fashion-MNIST), 0 (cnnf-wrn, the reference)' })
      .option('validation-size', { type: 'number', default: 5000, describe: 'training images held out for validation' })
      .option('data-dir', { type: 'string', describe: 'cnn/cnnf: folder with the training IDX files (default /usr/share/datasets/fashion-mnist)' })
      .option('dataset', { type: 'string', describe: 'cnnf-wrn: training data, cifar10:DIR (data_batch_1..5.bin for training, test_batch.bin scored at the end)' })
      .option('augment', { type: 'boolean', default: true, describe: 'cnnf-wrn: random horizontal flips and 4-px padded random crops (--no-augment: off)' })
      .option('out', { type: 'string', demandOption: true, describe: 'checkpoint directory to write' })
      .option('name', { type: 'string', describe: 'checkpoint name (default: the folder name)' })
      .option('resume', { type: 'boolean', default: false, describe: 'continue from the last epoch saved in --out' })
      .option('adv', {
        choices: ['fgsm-rs', 'pgd', 'none'] as const,
        describe: 'adversarial training through the first pass (default none; cnnf-wrn: pgd, as the reference)',
      })
      .option('adv-eps', { type: 'number', describe: 'adversarial training L-inf eps in [0,1] pixel units (default 0.1; cnnf-wrn 0.0315 = the reference 0.063 on [-1,1])' })
      .option('adv-steps', { type: 'number', default: 7, describe: 'PGD steps (pgd)' })
      .option('adv-step-size', { type: 'number', describe: 'PGD step size (default eps * 0.355, the paper 0.071/0.2; cnnf-wrn eps * 0.02/0.063, 0.01 at the default eps)' })
      .option('clean-weight', { type: 'number', describe: 'weight of the clean loss in adversarial training (default 0.1; cnnf-wrn 0.05, the reference)' })
      .option('train-limit', { type: 'number', describe: 'use only the first N training images (quick runs)' })
      .option('test-limit', { type: 'number', describe: 'evaluate on only the first N test images at the end (quick runs)' })
      .option('quiet', { type: 'boolean', default: false }) as never,
  handler: handler(async (a: TrainArgs) => {
    positive('batch-size', a.batchSize, true);
    positive('lr', a.lr);
    if (a.epochs !== undefined) positive('epochs', a.epochs, true);
    if (a.arch === 'cnnf-wrn') {
      const options = wrnOptions(a);
      await startBackend(a.backend, a.quiet);
      const result = await trainWrn(options);
      if (!a.quiet && result.imagesPerSecond !== null)
        process.stderr.write(`training speed: ${result.imagesPerSecond.toFixed(2)} images/s (batch ${a.batchSize}, steps after the first of the last epoch)\n`);
      process.stdout.write(`${result.checkpointDir}\n`);
      return;
    }
    for (const flag of ['dataset', 'depth', 'widen'] as const)
      if (a[flag] !== undefined) throw inputError(`--${flag}`, `only with --arch cnnf-wrn (Fashion-MNIST training reads --data-dir)`);
    const cycles = a.cycles ?? DEFAULTS.fmnist.cycles;
    if (a.arch === 'cnnf') positive('cycles', cycles, true);
    const options: TrainOptions = {
      arch: a.arch,
      ind: a.ind ?? DEFAULTS.fmnist.ind,
      cycles,
      resParam: a.resParam,
      epochs: a.epochs ?? DEFAULTS.fmnist.epochs,
      batchSize: a.batchSize,
      lr: a.lr,
      momentum: a.momentum,
      weightDecay: a.weightDecay,
      power: a.power,
      gradClip: a.gradClip,
      mseWeight: a.mseWeight,
      seed: a.seed ?? DEFAULTS.fmnist.seed,
      validationSize: a.validationSize,
      dataDir: a.dataDir,
      out: a.out,
      name: nameOf(a),
      resume: a.resume,
      adv: adversary(a, false),
      trainLimit: a.trainLimit,
      testLimit: a.testLimit,
      quiet: a.quiet,
      command: `bench ${process.argv.slice(2).join(' ')}`,
    };
    await startBackend(a.backend, a.quiet);
    const result = await train(options);
    process.stdout.write(`${result.checkpointDir}\n`);
  }),
};
