import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { inputError } from '../engine/errors.js';
import { MANIFEST_FILE } from '../models/checkpoint.js';
import type { DeclaredClassifier } from '../models/classifier.js';
import { loadModel, type CostHints, type ModelDescription, type ModelOptions } from '../models/families/index.js';
import type { CnnfLoadedModel } from '../models/families/cnnf.js';
import type { CheckpointRef } from '../rundir/records.js';

/** A model loaded for evaluation: the classifier attacks see, and how run.json names it. */
export interface SuiteModel {
  ref: CheckpointRef;
  classifier: DeclaredClassifier;
  description: ModelDescription;
  cost: CostHints;
  /** One-line notices the family had about this model (printed once by the runner). */
  notices: string[];
  dispose(): void;
}

export interface SuiteModelRequest {
  /** Model path as resolved on disk (checkpoint directory or model.json). */
  path: string;
  /** The prediction output asked for (absent: the model's default). */
  output?: string;
  options?: ModelOptions;
  /** Names the config entry in errors, e.g. `configs/x.json: checkpoints[1]`. */
  where: string;
  /** Names where `output` was chosen when not the entry itself (e.g. `--output`); default `<where>: output`. */
  outputWhere?: string;
  /** Directory relative option files (classNames) resolve against. */
  baseDir?: string;
}

/**
 * Loads any model a family of src/models/families reads (a bench CNN-F/CNN checkpoint directory, a TF.js
 * layers-model or graph-model model.json), checks the requested prediction output against what the model
 * declares (one InputError line naming the model and its outputs), and describes it for run.json.
 */
export async function loadSuiteModel(req: SuiteModelRequest): Promise<SuiteModel> {
  const loaded = await loadModel(req.path, { ...(req.options ?? {}), where: req.where, ...(req.baseDir ? { baseDir: req.baseDir } : {}) });
  const classifier = loaded.classifier;
  const output = req.output ?? classifier.defaultOutput;
  if (!classifier.outputs.includes(output)) {
    loaded.dispose();
    throw inputError(req.outputWhere ?? `${req.where}: output`, `model ${JSON.stringify(classifier.name)} (${loaded.family}) has no output ${JSON.stringify(output)}`, classifier.outputs.join(', '));
  }
  const ref: CheckpointRef = {
    name: classifier.name,
    dir: req.path,
    weightsSha256: loaded.description.weightsSha256,
    family: loaded.family,
    output,
    inputShape: [...classifier.inputShape],
    numClasses: classifier.numClasses,
    outputs: [...classifier.outputs],
    gradientPaths: [...classifier.gradientPaths],
    scores: classifier.outputKind,
    ...(loaded.description.logProbabilities ? { logProbabilities: loaded.description.logProbabilities } : {}),
  };
  if (loaded.family === 'cnnf') {
    // CNN-F's architecture fields stay in the record (reports and the planner's cost model read them).
    const a = (loaded as unknown as CnnfLoadedModel).manifest.architecture;
    ref.family = a.family;
    ref.cycles = a.cycles;
    ref.ind = a.ind;
  } else {
    ref.cycles = loaded.cost.feedbackCycles;
  }
  return { ref, classifier, description: loaded.description, cost: loaded.cost, notices: loaded.notices, dispose: loaded.dispose };
}

/** Checkpoint directories directly under `root` (those holding a model.json), sorted by name. */
export function findCheckpointDirs(root: string): string[] {
  if (!existsSync(root) || !statSync(root).isDirectory()) return [];
  return readdirSync(root)
    .filter((entry) => existsSync(join(root, entry, MANIFEST_FILE)))
    .sort()
    .map((entry) => join(root, entry));
}
