import { tf } from '../engine/tf.js';
import { inputError } from '../engine/errors.js';
import { ProgressBar, formatDuration } from '../engine/progress.js';
import { batches, shuffleIndices, toBatchTensor, toLabelTensor } from '../data/batching.js';
import { splitTrainValidation } from '../data/fashionMnist.js';
import { loadDataset, type ImageDataset } from '../datasets/index.js';
import { CIFAR_REFERENCE_NORMALIZATION, wrnArchitecture, type WrnArchitecture } from '../models/cnnfWrn/architecture.js';
import { WrnCnnfNetwork } from '../models/cnnfWrn/network.js';
import { cleanAccuracy } from '../models/evaluate.js';
import { initialWeights } from './initialization.js';
import { SgdMomentum, polyLearningRate } from './optimizer.js';
import { augmentBatch } from './augment.js';
import { saveTrainingState } from './trainer.js';
import { EpochTally, optimisationStep, resumeTrainingRun, trainableVariables, type EpochRecord, type TrainingRecipe, type TrainingState } from './loop.js';

/** Zero pixels added on each side before the random 32x32 crop (RandomCrop(32, padding=4)). */
export const CIFAR_CROP_PADDING = 4;

/**
 * Options of `bench train --arch cnnf-wrn`. Defaults (src/cli/train.ts) are the reference's CIFAR recipe,
 * run_train_cifar.sh of yjhuangcd/CNNF: WRN-40-2, ind 5, 2 cycles, res_param 0.1, mse 0.1, PGD-7
 * adversarial training at eps 0.063 / step 0.02 in [-1,1] units (0.0315 / 0.01 in our [0,1] pixels) with
 * clean-loss weight 0.05, SGD lr 0.05 momentum 0.9 weight decay 5e-4, poly decay power 0.9 per batch,
 * gradient-norm clip 0.5, batch 256, 500 epochs.
 */
export interface WrnTrainOptions extends TrainingRecipe {
  /** Wide-ResNet depth (6n + 4) and widening factor. */
  depth: number;
  widen: number;
  /** Dataset spec of the training data, e.g. `cifar10:/data/cifar-10-batches-bin` (train and test splits are read). */
  dataset: string;
  /** Random horizontal flips and 4-px padded random crops (the reference's train transform). */
  augment: boolean;
}


/** What a WRN training run measured about its speed (the last epoch's steps after the first). */
export interface WrnTrainResult {
  checkpointDir: string;
  history: EpochRecord[];
  /** Clean training images per second over the steps after the first (warm-up) of the last epoch; null with one step. */
  imagesPerSecond: number | null;
}

/** The training and test splits of `spec`, checked to be labelled 32x32x3 images (what the WRN takes). */
async function loadSplits(o: WrnTrainOptions): Promise<{ train: ImageDataset; test: ImageDataset }> {
  const opts = { where: '--dataset' } as const;
  const train = await loadDataset(o.dataset, { ...opts, split: 'train', ...(o.trainLimit !== undefined ? { limit: o.trainLimit } : {}) });
  const shape = [train.height, train.width, train.channels];
  if (shape.join('x') !== '32x32x3')
    throw inputError('--dataset', `${o.dataset} holds ${shape.join('x')} images; the Wide-ResNet CNN-F takes 32x32x3 (e.g. cifar10:DIR)`);
  const test = await loadDataset(o.dataset, { ...opts, split: 'test', ...(o.testLimit !== undefined ? { limit: o.testLimit } : {}) });
  return { train, test };
}

/**
 * Trains the CIFAR Wide-ResNet CNN-F (src/models/cnnfWrn) with the reference recipe of yjhuangcd/CNNF
 * (train.py, train_adv): per batch, optionally PGD examples crafted through the first pass, then the
 * CNN-F objective (src/train/objective.ts) on [clean; adversarial] with the group-output reconstruction
 * losses, SGD with momentum and weight decay, polynomial decay per batch, global gradient-norm clipping.
 * Training images are flipped and cropped (src/train/augment.ts) when `augment`. As in the reference, no
 * gradient reaches the classifier through the feedback's transposed linear layer.
 *
 * Writes a `cnnf-wrn` checkpoint (model.json + weights.safetensors, loadable by `bench run`) and the
 * optimiser state after every epoch; `resume` continues after the last saved epoch. A held-out validation
 * split of the training images is scored each epoch; the test split is scored once at the end.
 * Throws InputError for a dataset that is not labelled 32x32x3 with train and test splits, or a batch
 * larger than the training images.
 */
export async function trainWrn(o: WrnTrainOptions): Promise<WrnTrainResult> {
  const { train: data, test: testSet } = await loadSplits(o);
  const arch: WrnArchitecture = wrnArchitecture(o.depth, o.widen, o.ind, o.cycles, o.resParam, data.classNames.length);
  const validationSize = Math.min(o.validationSize, Math.floor(data.count / 5));
  const split = splitTrainValidation(data.count, validationSize, o.seed);
  const stepsPerEpoch = Math.floor(split.train.length / o.batchSize);
  if (stepsPerEpoch < 1) throw inputError('--batch-size', `${o.batchSize} is larger than the ${split.train.length} training images`);
  const totalSteps = stepsPerEpoch * o.epochs;

  let weights = initialWeights(arch, o.seed);
  let state: TrainingState = { epochsDone: 0, step: 0, history: [], wallTimeSeconds: 0 };
  const optimizer = new SgdMomentum(o.momentum, o.weightDecay);
  if (o.resume) ({ state, weights } = await resumeTrainingRun(o.out, arch.family, optimizer, o.quiet));

  const variables = trainableVariables(weights);
  const network = new WrnCnnfNetwork(arch, CIFAR_REFERENCE_NORMALIZATION, variables);
  const varList = Object.values(variables);
  const shape = [data.height, data.width, data.channels] as const;
  let imagesPerSecond: number | null = null;

  try {
    for (let epoch = state.epochsDone; epoch < o.epochs; epoch++) {
      const started = Date.now();
      const order = shuffleIndices(split.train, o.seed, `epoch/${epoch}`);
      const bar = new ProgressBar(`epoch ${epoch + 1}/${o.epochs}`, stepsPerEpoch, { quiet: o.quiet });
      const tally = new EpochTally();
      let afterFirst: number | null = null;
      for (const rows of batches(order, o.batchSize)) {
        if (rows.length < o.batchSize) break; // drop_last
        const lr = polyLearningRate(o.lr, state.step, totalSteps, o.power);
        const stats = tf.tidy(() => {
          const xClean = o.augment
            ? tf.tensor4d(augmentBatch(data.images, rows, shape, CIFAR_CROP_PADDING, o.seed, epoch, data.offset), [rows.length, ...shape])
            : toBatchTensor(data.images, rows, shape);
          const y = toLabelTensor(data.labels, rows);
          // The feedback's transposed classifier reads a copy made here, outside the gradient tape.
          const step = new WrnCnnfNetwork(arch, CIFAR_REFERENCE_NORMALIZATION, variables, tf.clone(variables['fc.kernel']));
          const keys = rows.map((r) => data.offset + r);
          return optimisationStep(step, xClean, y, o, epoch, keys, optimizer, variables, lr);
        });
        const [loss, hitCount] = Array.from(await stats.data());
        stats.dispose();
        tally.add(loss, hitCount, rows.length, epoch);
        state.step++;
        if (tally.steps === 1) afterFirst = Date.now();
        else imagesPerSecond = ((tally.steps - 1) * o.batchSize) / ((Date.now() - afterFirst!) / 1000);
        bar.update(tally.steps, tally.progress(started, 2));
      }
      const validation = split.validation.length > 0 ? await cleanAccuracy(network, data, split.validation) : null;
      const seconds = (Date.now() - started) / 1000;
      const record: EpochRecord = {
        epoch: epoch + 1,
        loss: tally.loss,
        trainAccuracy: tally.accuracy,
        validationAccuracy: validation ? validation.last : Number.NaN,
        seconds,
      };
      state.history.push(record);
      state.epochsDone = epoch + 1;
      state.wallTimeSeconds += seconds;
      bar.done(
        `loss ${record.loss.toFixed(4)} train ${(100 * record.trainAccuracy).toFixed(2)}%` +
          (validation ? ` validation ${(100 * validation.last).toFixed(2)}%` : '') +
          (imagesPerSecond !== null ? ` (${imagesPerSecond.toFixed(2)} training img/s after the first step)` : ''),
      );
      await saveTrainingState(o, { architecture: arch, normalization: CIFAR_REFERENCE_NORMALIZATION, classNames: data.classNames }, variables, optimizer, state, null);
    }

    // Held-out evaluation on the test split, once, at the end: nothing is selected on it.
    const test = await cleanAccuracy(network, testSet);
    await saveTrainingState(o, { architecture: arch, normalization: CIFAR_REFERENCE_NORMALIZATION, classNames: data.classNames }, variables, optimizer, state, test);
    if (!o.quiet)
      process.stderr.write(
        `test accuracy (${test.images} images): first ${(100 * test.first).toFixed(2)}%, last ${(100 * test.last).toFixed(2)}%, average ${(100 * test.average).toFixed(2)}%; training time ${formatDuration(state.wallTimeSeconds)}\n`,
      );
    return { checkpointDir: o.out, history: state.history, imagesPerSecond };
  } finally {
    optimizer.dispose();
    for (const v of varList) v.dispose();
  }
}
