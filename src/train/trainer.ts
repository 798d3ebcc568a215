import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tf } from '../engine/tf.js';
import { inputError } from '../engine/errors.js';
import { ProgressBar, formatDuration } from '../engine/progress.js';
import { activeBackend } from '../engine/backend.js';
import { batches, shuffleIndices, toBatchTensor, toLabelTensor } from '../data/batching.js';
import { FASHION_MNIST_CLASSES, loadFashionMnist, splitTrainValidation, type ImageDataset } from '../data/fashionMnist.js';
import { fmnistArchitecture, REFERENCE_NORMALIZATION, type ArchitectureSpec, type ModelArchitecture, type Normalization } from '../models/architecture.js';
import { initialWeights } from './initialization.js';
import { CnnfNetwork } from '../models/cnnf.js';
import { cleanAccuracy, type CleanAccuracy } from '../models/evaluate.js';
import { saveCheckpoint } from '../models/checkpoint.js';
import { writeSafetensors } from '../models/safetensors.js';
import type { WeightArrays } from '../models/weights.js';
import { SgdMomentum, polyLearningRate } from './optimizer.js';
import { EpochTally, MOMENTUM_FILE, STATE_FILE, optimisationStep, resumeTrainingRun, trainableVariables, type EpochRecord, type TrainingRecipe, type TrainingState } from './loop.js';

export { MOMENTUM_FILE, STATE_FILE, type EpochRecord, type TrainingState };

/** Options of `bench train --arch cnn|cnnf` (Fashion-MNIST); see TrainingRecipe for the shared ones. */
export interface TrainOptions extends TrainingRecipe {
  arch: 'cnn' | 'cnnf';
  /** Folder of the Fashion-MNIST training IDX files (default /usr/share/datasets/fashion-mnist, Debian's dataset-fashion-mnist). */
  dataDir?: string;
}

/** The architecture a training run builds: a CNN is the CNN-F network with no feedback cycles. */
export function trainingArchitecture(o: Pick<TrainOptions, 'arch' | 'ind' | 'cycles' | 'resParam'>): ArchitectureSpec {
  return o.arch === 'cnn' ? fmnistArchitecture(0, 0, 0) : fmnistArchitecture(o.ind, o.cycles, o.resParam);
}

export async function toHost(vars: Record<string, tf.Variable>): Promise<WeightArrays> {
  const out: WeightArrays = {};
  for (const [name, v] of Object.entries(vars)) out[name] = { shape: v.shape, data: (await v.data()) as Float32Array };
  return out;
}

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFile(`${path}.tmp`, JSON.stringify(value, null, 2));
  await rename(`${path}.tmp`, path);
}

/**
 * Trains a CNN or CNN-F on Fashion-MNIST with the reference recipe: SGD with momentum and weight decay,
 * polynomial learning-rate decay stepped per batch, global gradient-norm clipping, the CNN-F objective
 * (cross entropy on every pass plus reconstruction losses). A checkpoint and the optimiser state are
 * written after every epoch; `resume` continues from the last one with the same result as an
 * uninterrupted run (the data order of epoch e depends only on the seed and e).
 */
export async function train(o: TrainOptions): Promise<{ checkpointDir: string; history: EpochRecord[] }> {
  const arch = trainingArchitecture(o);
  const trainSet = await loadFashionMnist('train', { dataDir: o.dataDir, limit: o.trainLimit });
  const split = splitTrainValidation(trainSet.count, Math.min(o.validationSize, Math.floor(trainSet.count / 5)), o.seed);
  const stepsPerEpoch = Math.floor(split.train.length / o.batchSize);
  if (stepsPerEpoch < 1)
    throw inputError('--batch-size', `${o.batchSize} is larger than the ${split.train.length} training images`);
  const totalSteps = stepsPerEpoch * o.epochs;

  let weights = initialWeights(arch, o.seed);
  let state: TrainingState = { epochsDone: 0, step: 0, history: [], wallTimeSeconds: 0 };
  const optimizer = new SgdMomentum(o.momentum, o.weightDecay);
  if (o.resume) ({ state, weights } = await resumeTrainingRun(o.out, arch.family, optimizer, o.quiet));

  const variables = trainableVariables(weights);
  const network = new CnnfNetwork(arch, REFERENCE_NORMALIZATION, variables);
  const varList = Object.values(variables);
  const shape = [trainSet.height, trainSet.width, trainSet.channels] as const;

  for (let epoch = state.epochsDone; epoch < o.epochs; epoch++) {
    const started = Date.now();
    const order = shuffleIndices(split.train, o.seed, `epoch/${epoch}`);
    const bar = new ProgressBar(`epoch ${epoch + 1}/${o.epochs}`, stepsPerEpoch, { quiet: o.quiet });
    const tally = new EpochTally();
    for (const rows of batches(order, o.batchSize)) {
      if (rows.length < o.batchSize) break; // drop_last, as the reference's loader
      const lr = polyLearningRate(o.lr, state.step, totalSteps, o.power);
      const stats = tf.tidy(() =>
        optimisationStep(network, toBatchTensor(trainSet.images, rows, shape), toLabelTensor(trainSet.labels, rows), o, epoch, rows, optimizer, variables, lr),
      );
      const [loss, hitCount] = Array.from(await stats.data());
      stats.dispose();
      tally.add(loss, hitCount, rows.length, epoch);
      state.step++;
      bar.update(tally.steps, tally.progress(started, 0));
    }
    const validation = await cleanAccuracy(network, trainSet, split.validation);
    const seconds = (Date.now() - started) / 1000;
    const record: EpochRecord = {
      epoch: epoch + 1,
      loss: tally.loss,
      trainAccuracy: tally.accuracy,
      validationAccuracy: validation.last,
      seconds,
    };
    state.history.push(record);
    state.epochsDone = epoch + 1;
    state.wallTimeSeconds += seconds;
    bar.done(
      `loss ${record.loss.toFixed(4)} train ${(100 * record.trainAccuracy).toFixed(2)}% validation ${(100 * record.validationAccuracy).toFixed(2)}%`,
    );
    await saveTrainingState(o, { architecture: arch, normalization: REFERENCE_NORMALIZATION, classNames: FASHION_MNIST_CLASSES }, variables, optimizer, state, null);
  }

  // Held-out evaluation on the test set, once, at the end: nothing is selected on it.
  const testSet = await loadFashionMnist('test', { limit: o.testLimit });
  const test = await cleanAccuracy(network, testSet);
  await saveTrainingState(o, { architecture: arch, normalization: REFERENCE_NORMALIZATION, classNames: FASHION_MNIST_CLASSES }, variables, optimizer, state, test);
  if (!o.quiet)
    process.stderr.write(
      `test accuracy (${test.images} images): first ${(100 * test.first).toFixed(2)}%, last ${(100 * test.last).toFixed(2)}%, average ${(100 * test.average).toFixed(2)}%; training time ${formatDuration(state.wallTimeSeconds)}\n`,
    );
  optimizer.dispose();
  for (const v of varList) v.dispose();
  return { checkpointDir: o.out, history: state.history };
}

/** The options every training run shares; the rest of a run's options are its recipe. */
interface TrainingRunOptions {
  out: string;
  name: string;
  seed: number;
  resume?: boolean;
  quiet?: boolean;
  command: string;
}

/**
 * Saves a training run to o.out, for `bench run` and for `--resume`: the checkpoint (model.json with the
 * model's architecture, input normalisation and class names; provenance: the command, the recipe (every
 * option but out, name, resume and quiet), seed, epochs, wall time, backend and history; metrics: the test
 * set's clean accuracies when `test` is given, else the last validation accuracy marked incomplete), then
 * the optimizer's momentum buffers and the training state, each written to a temporary file and renamed.
 */
export async function saveTrainingState(
  o: TrainingRunOptions,
  model: { architecture: ModelArchitecture; normalization: Normalization; classNames: readonly string[] },
  variables: Record<string, tf.Variable>,
  optimizer: SgdMomentum,
  state: TrainingState,
  test: CleanAccuracy | null,
): Promise<void> {
  const backend = activeBackend();
  const { command, out, name, resume, quiet, ...recipe } = o;
  void out;
  void resume;
  void quiet;
  await saveCheckpoint(
    o.out,
    {
      format: 'bench-checkpoint/1',
      name,
      architecture: model.architecture,
      normalization: model.normalization,
      classNames: [...model.classNames],
      provenance: {
        source: 'bench train',
        command,
        recipe,
        seed: o.seed,
        epochs: state.epochsDone,
        wallTimeSeconds: Math.round(state.wallTimeSeconds),
        backend: backend ? `${backend.name} (${backend.provider})` : 'unknown',
        date: new Date().toISOString(),
        history: state.history,
      },
      metrics: test
        ? { cleanAccuracy: { first: test.first, last: test.last, average: test.average }, testImages: test.images, split: 'test' }
        : { validationAccuracy: state.history.at(-1)?.validationAccuracy ?? null, split: 'validation', complete: false },
    },
    await toHost(variables),
  );
  const buffers = await optimizer.state();
  await writeSafetensors(join(o.out, `${MOMENTUM_FILE}.tmp`), buffers);
  await rename(join(o.out, `${MOMENTUM_FILE}.tmp`), join(o.out, MOMENTUM_FILE));
  await writeJsonAtomic(join(o.out, STATE_FILE), state);
}

export type { ImageDataset };
