import type { CommandModule } from 'yargs';
import { handler, startBackend, withBackendOption } from './common.js';
import { inputError } from '../engine/errors.js';
import { train, type TrainOptions } from '../train/trainer.js';

interface TrainArgs {
  arch: 'cnn' | 'cnnf';
  ind: number;
  cycles: number;
  resParam: number;
  epochs: number;
  batchSize: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  power: number;
  gradClip: number;
  mseWeight: number;
  seed: number;
  validationSize: number;
  dataDir?: string;
  out: string;
  name?: string;
  resume: boolean;
  adv?: 'fgsm-rs' | 'pgd';
  advEps: number;
  advSteps: number;
  advStepSize?: number;
  cleanWeight: number;
  trainLimit?: number;
  testLimit?: number;
  quiet: boolean;
  backend?: string;
}

function positive(name: string, v: number, integer = false): void {
  if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v)))
    throw inputError(`--${name}`, `${v} is not a positive ${integer ? 'integer' : 'number'}`);
}

export const trainCommand: CommandModule<object, TrainArgs> = {
  command: 'train',
  describe: 'train a CNN or CNN-F on Fashion-MNIST with the reference recipe (checkpoint every epoch, --resume)',
  builder: (y) =>
    withBackendOption(y)
      .option('arch', { choices: ['cnn', 'cnnf'] as const, default: 'cnnf' as const, describe: 'cnn = CNN-F with 0 cycles' })
      .option('ind', { type: 'number', default: 2, describe: 'layer the feedback reconstructs (cnnf)' })
      .option('cycles', { type: 'number', default: 1, describe: 'feedback cycles (cnnf)' })
      .option('res-param', { type: 'number', default: 0.1, describe: 'residual step of the feedback updates (cnnf)' })
      .option('epochs', { type: 'number', default: 5 })
      .option('batch-size', { type: 'number', default: 256 })
      .option('lr', { type: 'number', default: 0.05, describe: 'base learning rate, decayed polynomially per batch' })
      .option('momentum', { type: 'number', default: 0.9 })
      .option('weight-decay', { type: 'number', default: 5e-4 })
      .option('power', { type: 'number', default: 0.9, describe: 'power of the polynomial learning-rate decay' })
      .option('grad-clip', { type: 'number', default: 0.5, describe: 'global gradient-norm clip (0 = off)' })
      .option('mse-weight', { type: 'number', default: 0.1, describe: 'weight of the reconstruction losses (cnnf)' })
      .option('seed', { type: 'number', default: 1 })
      .option('validation-size', { type: 'number', default: 5000, describe: 'training images held out for validation' })
      .option('data-dir', { type: 'string', describe: 'folder with the training IDX files (default /usr/share/datasets/fashion-mnist)' })
      .option('out', { type: 'string', demandOption: true, describe: 'checkpoint directory to write' })
      .option('name', { type: 'string', describe: 'checkpoint name (default: the folder name)' })
      .option('resume', { type: 'boolean', default: false, describe: 'continue from the last epoch saved in --out' })
      .option('adv', { choices: ['fgsm-rs', 'pgd'] as const, describe: 'adversarial training through the first pass' })
      .option('adv-eps', { type: 'number', default: 0.1, describe: 'adversarial training L-inf eps in [0,1] pixel units (FGSM-RS and PGD are L-inf attacks)' })
      .option('adv-steps', { type: 'number', default: 7, describe: 'PGD steps (pgd)' })
      .option('adv-step-size', { type: 'number', describe: 'PGD step size (default eps * 0.355, the reference 0.071/0.2)' })
      .option('clean-weight', { type: 'number', default: 0.1, describe: 'weight of the clean loss in adversarial training' })
      .option('train-limit', { type: 'number', describe: 'use only the first N training images (quick runs)' })
      .option('test-limit', { type: 'number', describe: 'evaluate on only the first N test images at the end (quick runs)' })
      .option('quiet', { type: 'boolean', default: false }) as never,
  handler: handler(async (a: TrainArgs) => {
    positive('epochs', a.epochs, true);
    positive('batch-size', a.batchSize, true);
    positive('lr', a.lr);
    if (a.arch === 'cnnf') positive('cycles', a.cycles, true);
    if (a.adv) positive('adv-eps', a.advEps);
    await startBackend(a.backend, a.quiet);
    const options: TrainOptions = {
      arch: a.arch,
      ind: a.ind,
      cycles: a.cycles,
      resParam: a.resParam,
      epochs: a.epochs,
      batchSize: a.batchSize,
      lr: a.lr,
      momentum: a.momentum,
      weightDecay: a.weightDecay,
      power: a.power,
      gradClip: a.gradClip,
      mseWeight: a.mseWeight,
      seed: a.seed,
      validationSize: a.validationSize,
      dataDir: a.dataDir,
      out: a.out,
      name: a.name ?? a.out.replace(/\/+$/, '').split('/').pop() ?? 'model',
      resume: a.resume,
      adv: a.adv
        ? { kind: a.adv, eps: a.advEps, steps: a.advSteps, stepSize: a.advStepSize ?? a.advEps * 0.355, cleanWeight: a.cleanWeight }
        : undefined,
      trainLimit: a.trainLimit,
      testLimit: a.testLimit,
      quiet: a.quiet,
      command: `bench ${process.argv.slice(2).join(' ')}`,
    };
    const result = await train(options);
    process.stdout.write(`${result.checkpointDir}\n`);
  }),
};
