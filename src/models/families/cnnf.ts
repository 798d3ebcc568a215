import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { inputError } from '../../engine/errors.js';
import { tf, type Tensor } from '../../engine/tf.js';
import type { ArchitectureSpec, ModelArchitecture } from '../architecture.js';
import { CHECKPOINT_FORMAT, loadCheckpoint, MANIFEST_FILE, type CheckpointManifest } from '../checkpoint.js';
import { OUTPUT_KINDS, type OutputKind } from '../classifier.js';
import { CnnfClassifier } from '../cnnfClassifier.js';
import { wrnFirstPassFlops } from '../cnnfWrn/flops.js';
import { buildNetwork } from '../network.js';
import { fastPath } from '../../engine/fastPaths.js';
import { registerConstantKernels, releaseConstantKernels } from '../../engine/kernels/index.js';
import { readClassNames } from './options.js';
import type { LoadedModel, LoadOptions, ModelFamily } from './types.js';

/** A CNN-F checkpoint loaded through the family registry; the manifest carries cycles, ind, provenance. */
export interface CnnfLoadedModel extends LoadedModel {
  classifier: CnnfClassifier;
  manifest: CheckpointManifest;
  /** The checkpoint directory. */
  dir: string;
}

/**
 * The checkpoint directory `path` names: the directory itself, or the directory of a bench model.json;
 * null when `path` holds no bench checkpoint manifest (format bench-checkpoint/1).
 */
export async function cnnfCheckpointDir(path: string): Promise<string | null> {
  const abs = resolve(path);
  let dir: string;
  try {
    const s = await stat(abs);
    if (s.isDirectory()) dir = abs;
    else if (basename(abs) === MANIFEST_FILE) dir = dirname(abs);
    else return null;
    const json = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8')) as { format?: unknown };
    return json !== null && typeof json === 'object' && json.format === CHECKPOINT_FORMAT ? dir : null;
  } catch {
    return null;
  }
}

/**
 * Forward FLOPs of one image through a CNN-F's first (feedforward) pass: 2 x multiply-adds of its 'same'
 * stride-1 convolutions (k x k x in x out per position; 2x2 pooling halves the size after a pooled block)
 * and dense layers (in x out).
 */
export function cnnfForwardFlops(a: ArchitectureSpec): number {
  let [h, w, c] = a.inputShape;
  let macs = 0;
  for (const block of a.convs) {
    macs += h * w * a.kernelSize * a.kernelSize * c * block.filters;
    c = block.filters;
    if (block.pool) {
      h = Math.floor(h / 2);
      w = Math.floor(w / 2);
    }
  }
  let width = h * w * c;
  for (const units of [...a.dense, a.numClasses]) {
    macs += width * units;
    width = units;
  }
  return 2 * macs;
}

/** First-pass FLOPs of one image for a checkpoint of either architecture family (cnnf, cnnf-wrn). */
export function checkpointForwardFlops(a: ModelArchitecture): number {
  return a.family === 'cnnf-wrn' ? wrnFirstPassFlops(a) : cnnfForwardFlops(a);
}

/**
 * Loads a bench CNN-F/CNN checkpoint directory (validated and sha256-checked by loadCheckpoint) of
 * either architecture family: `cnnf` (the Fashion-MNIST network) or `cnnf-wrn` (the CIFAR Wide-ResNet,
 * inputs [32, 32, 3]); both declare outputs first/last/average, gradient paths first/e2e/bpda, exact path e2e.
 * Options: `name` and `classNames` override the manifest's; `defaultOutput` is first, last (default) or
 * average; `output` may be auto or logits (CNN-F gives logits). `inputRange`, `mean`, `std` are refused:
 * the checkpoint carries its own normalisation.
 */
export async function loadCnnfModel(path: string, options: LoadOptions = {}): Promise<CnnfLoadedModel> {
  const dir = (await cnnfCheckpointDir(path)) ?? path;
  const where = options.where ?? path;
  for (const key of ['inputRange', 'mean', 'std'] as const)
    if (options[key] !== undefined) throw inputError(`${where}: ${key}`, 'a bench checkpoint carries its own normalisation; leave it out');
  if (options.output !== undefined && options.output !== 'auto' && options.output !== 'logits')
    throw inputError(`${where}: output`, `${JSON.stringify(options.output)} does not apply: a CNN-F checkpoint outputs logits`, 'auto, logits');
  const defaultOutput = (options.defaultOutput ?? 'last') as OutputKind;
  if (!OUTPUT_KINDS.includes(defaultOutput))
    throw inputError(`${where}: defaultOutput`, `${JSON.stringify(options.defaultOutput)} is not an output of a CNN-F`, OUTPUT_KINDS.join(', '));
  const { manifest, weights } = await loadCheckpoint(dir);
  const a = manifest.architecture;
  let classNames: string[] = manifest.classNames;
  if (options.classNames !== undefined) {
    classNames = typeof options.classNames === 'string' ? readClassNames(options.classNames, options.baseDir) : [...options.classNames];
    if (classNames.length !== a.numClasses)
      throw inputError(`${where}: classNames`, `lists ${classNames.length} class names, the model has ${a.numClasses} classes`, `${a.numClasses} names`);
  }
  const params: Record<string, Tensor> = {};
  for (const [name, w] of Object.entries(weights)) params[name] = tf.keep(tf.tensor(w.data, w.shape, 'float32'));
  // A loaded checkpoint's weights are constants (attacks differentiate w.r.t. the input only): make the
  // adjoint convolution kernels of the feedback and of every input gradient once.
  if (fastPath('constant-kernels')) registerConstantKernels(Object.values(params));
  const network = buildNetwork(a, manifest.normalization, params);
  const name = options.name ?? manifest.name;
  const classifier = new CnnfClassifier(name, network, defaultOutput, classNames.length === a.numClasses ? classNames : undefined);
  const channels = a.inputShape[2];
  const perChannel = (v: number[]) => (v.length === 1 ? new Array(channels).fill(v[0]) : [...v]);
  return {
    classifier,
    manifest,
    dir,
    description: {
      family: 'cnnf',
      source: path,
      weightsSha256: manifest.weights.sha256,
      inputShape: [...a.inputShape],
      numClasses: a.numClasses,
      outputKind: 'logits',
      inputRange: [0, 1],
      mean: perChannel(manifest.normalization.mean),
      std: perChannel(manifest.normalization.std),
    },
    cost: { forwardFlopsPerImage: checkpointForwardFlops(a), feedbackCycles: a.cycles },
    notices: [],
    dispose: () => {
      releaseConstantKernels(Object.values(params));
      tf.dispose(Object.values(params));
    },
  };
}

export const cnnfFamily: ModelFamily = {
  name: 'cnnf',
  description: `bench checkpoint directory (model.json with format "${CHECKPOINT_FORMAT}" and weights.safetensors): CNN-F or CNN (Fashion-MNIST or CIFAR Wide-ResNet)`,
  detect: async (path: string) => (await cnnfCheckpointDir(path)) !== null,
  load: loadCnnfModel,
};
