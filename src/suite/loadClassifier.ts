import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_HEIGHT, FASHION_MNIST_WIDTH } from '../data/fashionMnist.js';
import { inputError } from '../engine/errors.js';
import { tf, type Tensor } from '../engine/tf.js';
import { loadCheckpoint, MANIFEST_FILE, type CheckpointManifest } from '../models/checkpoint.js';
import { buildNetwork } from '../models/network.js';
import { CnnfClassifier } from '../models/cnnfClassifier.js';
import type { OutputKind } from '../models/classifier.js';
import type { CheckpointRef } from './records.js';

/** A checkpoint loaded for evaluation: the classifier attacks see, and how run.json names it. */
export interface SuiteModel {
  ref: CheckpointRef;
  classifier: CnnfClassifier;
  manifest: CheckpointManifest;
  dispose(): void;
}

/** Loads a checkpoint directory (validated, sha256-checked by loadCheckpoint) into a classifier. */
export async function loadSuiteModel(dir: string, output: OutputKind): Promise<SuiteModel> {
  const { manifest, weights } = await loadCheckpoint(dir);
  checkFitsSuiteData(manifest, join(dir, MANIFEST_FILE));
  const params: Record<string, Tensor> = {};
  for (const [name, w] of Object.entries(weights)) params[name] = tf.keep(tf.tensor(w.data, w.shape, 'float32'));
  const network = buildNetwork(manifest.architecture, manifest.normalization, params);
  const classifier = new CnnfClassifier(manifest.name, network, output);
  const a = manifest.architecture;
  return {
    ref: {
      name: manifest.name,
      dir,
      weightsSha256: manifest.weights.sha256,
      family: a.family,
      cycles: a.cycles,
      ind: a.ind,
      output,
    },
    classifier,
    manifest,
    dispose: () => tf.dispose(Object.values(params)),
  };
}

/**
 * Suites evaluate on Fashion-MNIST (28x28x1, 10 classes): a checkpoint built for other images is refused
 * at load time, before a run directory exists, instead of failing inside the first matrix product.
 */
function checkFitsSuiteData(manifest: CheckpointManifest, where: string): void {
  const want = [FASHION_MNIST_HEIGHT, FASHION_MNIST_WIDTH, 1];
  const shape = manifest.architecture.inputShape;
  if (shape.length !== 3 || shape.some((n, i) => n !== want[i]))
    throw inputError(
      `${where}: architecture.inputShape`,
      `[${shape.join(', ')}] does not fit the suite's Fashion-MNIST images`,
      `[${want.join(', ')}]`,
    );
  if (manifest.architecture.numClasses !== FASHION_MNIST_CLASSES.length)
    throw inputError(
      `${where}: architecture.numClasses`,
      `${manifest.architecture.numClasses} does not fit the suite's Fashion-MNIST labels`,
      String(FASHION_MNIST_CLASSES.length),
    );
}

/** Checkpoint directories directly under `root` (those holding a model.json), sorted by name. */
export function findCheckpointDirs(root: string): string[] {
  if (!existsSync(root) || !statSync(root).isDirectory()) return [];
  return readdirSync(root)
    .filter((entry) => existsSync(join(root, entry, MANIFEST_FILE)))
    .sort()
    .map((entry) => join(root, entry));
}
