// The parts of a training loop that the Fashion-MNIST trainer (trainer.ts) and the Wide-ResNet trainer
// (wrnTrainer.ts) share: resuming a saved run, one optimisation step of the CNN-F objective, and the
// per-epoch running loss and accuracy.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tf, type Tensor, type Tensor1D, type Tensor4D } from '../engine/tf.js';
import { inputError } from '../engine/errors.js';
import type { FeedbackNetwork } from '../models/network.js';
import { loadCheckpoint } from '../models/checkpoint.js';
import { readSafetensors } from '../models/safetensors.js';
import type { WeightArrays } from '../models/weights.js';
import { clipByGlobalNorm, type SgdMomentum } from './optimizer.js';
import { cnnfTrainingLoss, type TrainableNetwork } from './objective.js';
import { adversarialBatch, type AdversarialTraining } from './adversarial.js';

/** What `--resume` continues from (training-state.json next to the checkpoint). */
export interface TrainingState {
  epochsDone: number;
  step: number;
  history: EpochRecord[];
  wallTimeSeconds: number;
}

/** One finished epoch: mean training loss, training and validation accuracy (fractions), wall seconds. */
export interface EpochRecord {
  epoch: number;
  loss: number;
  trainAccuracy: number;
  validationAccuracy: number;
  seconds: number;
}

export const STATE_FILE = 'training-state.json';
export const MOMENTUM_FILE = 'training-momentum.safetensors';

/**
 * Reads the run saved in `out` by saveTrainingState (trainer.ts) for `--resume`: the training state, the
 * checkpoint's weights, and the momentum buffers, which are restored into `optimizer`. Unless `quiet`,
 * writes one line to stderr saying after which epoch and step the run continues.
 * Throws InputError naming `out` when there is no training-state.json, when the checkpoint is of another
 * architecture family than `family`, or when model.json and the state disagree on the epochs done (a
 * save interrupted between the two files); loadCheckpoint's and readSafetensors' InputErrors pass through
 * (a damaged model.json or weights file, a missing training-momentum.safetensors).
 */
export async function resumeTrainingRun(
  out: string,
  family: string,
  optimizer: SgdMomentum,
  quiet?: boolean,
): Promise<{ state: TrainingState; weights: WeightArrays }> {
  const statePath = join(out, STATE_FILE);
  if (!existsSync(statePath)) throw inputError(out, `--resume: no ${STATE_FILE} here; start without --resume`);
  const state = JSON.parse(await readFile(statePath, 'utf8')) as TrainingState;
  const saved = await loadCheckpoint(out);
  if (saved.manifest.architecture.family !== family)
    throw inputError(out, `--resume: the checkpoint here is a ${saved.manifest.architecture.family} network, not ${family}`);
  // The state file is written last; a crash between files leaves them disagreeing, which we refuse.
  if (saved.manifest.provenance.epochs !== state.epochsDone)
    throw inputError(out, `--resume: model.json is from epoch ${saved.manifest.provenance.epochs} but ${STATE_FILE} says ${state.epochsDone}; the last save was interrupted`);
  const momentum = await readSafetensors(join(out, MOMENTUM_FILE));
  const buffers: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [name, t] of momentum.tensors) buffers[name] = { shape: t.shape, data: t.data as Float32Array };
  optimizer.restore(buffers);
  if (!quiet) process.stderr.write(`resuming after epoch ${state.epochsDone} (step ${state.step})\n`);
  return { state, weights: saved.weights };
}

/** Trainable variables named after the weights, in the weights' order. */
export function trainableVariables(weights: WeightArrays): Record<string, tf.Variable> {
  const variables: Record<string, tf.Variable> = {};
  for (const [name, w] of Object.entries(weights)) variables[name] = tf.variable(tf.tensor(w.data, w.shape), true, name);
  return variables;
}

/**
 * What every training run takes, the Fashion-MNIST trainer (trainer.ts TrainOptions) and the Wide-ResNet one
 * (wrnTrainer.ts WrnTrainOptions) alike: the CNN-F shape (ind, cycles, resParam), the reference's SGD recipe
 * (learning rate lr decayed polynomially with exponent `power` per batch, momentum, weight decay, global
 * gradient-norm clip gradClip, reconstruction-loss weight mseWeight), the split and seed, and where the run is
 * written. Defaults are each CLI's (src/cli/train.ts).
 */
export interface TrainingRecipe {
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
  /** Training images held out for validation each epoch (at most a fifth of them). */
  validationSize: number;
  out: string;
  name: string;
  resume: boolean;
  /** Adversarial training; absent: the clean objective. */
  adv?: AdversarialTraining;
  /** Train on only this many training images (tests, quick experiments). */
  trainLimit?: number;
  /** Evaluate on only this many test images at the end (tests). */
  testLimit?: number;
  quiet?: boolean;
  /** The command line, recorded in the checkpoint's provenance. */
  command: string;
}

/** The recipe fields one optimisation step reads. */
export interface StepRecipe {
  mseWeight: number;
  gradClip: number;
  seed: number;
  adv?: AdversarialTraining;
}

/**
 * One SGD step of the CNN-F objective (objective.ts) on a batch, to be called inside tf.tidy.
 * x: [batch, height, width, channels] clean images in [0,1]; y: [batch] int32 labels. With `recipe.adv`
 * the batch becomes [clean; adversarial], the adversarial half crafted through the first pass
 * (adversarial.ts) with its random start keyed by `keys` (the images' global indices) and `epoch`.
 * Gradients are clipped to a global norm of `recipe.gradClip` (none when 0) before `optimizer.step`
 * with learning rate `lr` updates `variables` in place.
 * Returns a [2] tensor: the loss before the step, and how many clean images the last pass classified
 * correctly.
 */
export function optimisationStep(
  network: TrainableNetwork & Pick<FeedbackNetwork, 'firstPassLogits'>,
  x: Tensor4D,
  y: Tensor1D,
  recipe: StepRecipe,
  epoch: number,
  keys: readonly number[],
  optimizer: SgdMomentum,
  variables: Record<string, tf.Variable>,
  lr: number,
): Tensor {
  const cleanCount = recipe.adv ? x.shape[0] : undefined;
  let xAll = x;
  let yAll = y;
  if (recipe.adv) {
    xAll = tf.concat([x, adversarialBatch(network, x, y, recipe.adv, recipe.seed, epoch, keys)]);
    yAll = tf.concat([y, y]);
  }
  let hits: Tensor | null = null;
  const { value, grads } = tf.variableGrads(() => {
    const { loss, lastLogits } = cnnfTrainingLoss(network, xAll, yAll, recipe.mseWeight, cleanCount, recipe.adv?.cleanWeight);
    const clean = cleanCount ? tf.slice(lastLogits, [0, 0], [cleanCount, -1]) : lastLogits;
    hits = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(clean, 1), y), 'float32')));
    return loss;
  }, Object.values(variables));
  const clipped = recipe.gradClip > 0 ? clipByGlobalNorm(grads, recipe.gradClip).grads : grads;
  optimizer.step(variables, clipped, lr);
  return tf.stack([value, hits as unknown as Tensor]);
}

/** An epoch's running mean loss and training accuracy over the steps taken so far. */
export class EpochTally {
  private lossSum = 0;
  private correct = 0;
  private images = 0;
  private stepCount = 0;

  /** Clean training images counted so far. */
  get seen(): number {
    return this.images;
  }

  /** Steps added so far. */
  get steps(): number {
    return this.stepCount;
  }

  /**
   * Adds a step's mean loss and correct count over `images` clean images. Throws (naming the 1-based
   * epoch and step) when the loss is not finite: training diverged.
   */
  add(loss: number, correct: number, images: number, epoch: number): void {
    if (!Number.isFinite(loss)) throw new Error(`training diverged at epoch ${epoch + 1}, step ${this.stepCount + 1}: loss ${loss}`);
    this.stepCount++;
    this.lossSum += loss * images;
    this.correct += correct;
    this.images += images;
  }

  /** Mean loss per image over the steps so far (NaN before the first add). */
  get loss(): number {
    return this.lossSum / this.images;
  }

  /** Fraction of the clean images classified correctly by the last pass (0..1; NaN before the first add). */
  get accuracy(): number {
    return this.correct / this.images;
  }

  /** The progress bar's text: running loss, accuracy in percent, and images per second since `started` (ms). */
  progress(started: number, rateDigits: number): string {
    const rate = this.seen / ((Date.now() - started) / 1000);
    return `loss ${this.loss.toFixed(4)} acc ${(100 * this.accuracy).toFixed(1)}% ${rate.toFixed(rateDigits)} img/s`;
  }
}
