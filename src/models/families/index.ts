import { inputError } from '../../engine/errors.js';
import { cnnfFamily } from './cnnf.js';
import { tfjsGraphFamily } from './tfjsGraph.js';
import { tfjsLayersFamily } from './tfjsLayers.js';
import { readModelJson } from './tfjsFiles.js';
import type { FamilyName, LoadedModel, LoadOptions, ModelFamily } from './types.js';

export type { CostHints, FamilyName, LoadedModel, LoadOptions, ModelDescription, ModelFamily } from './types.js';
export { parseModelOptions, MODEL_OPTION_KEYS, HEAD_OPTIONS, type ModelOptions, type HeadOption } from './options.js';

/** Every model family bench reads, in detection order. */
export const MODEL_FAMILIES: readonly ModelFamily[] = [cnnfFamily, tfjsLayersFamily, tfjsGraphFamily];

export function modelFamily(name: string): ModelFamily {
  const family = MODEL_FAMILIES.find((f) => f.name === name);
  if (!family) throw inputError('model family', `unknown family ${JSON.stringify(name)}`, MODEL_FAMILIES.map((f) => f.name).join(', '));
  return family;
}

/**
 * The family whose files `path` holds (a checkpoint directory, a model.json, or a directory holding a TF.js
 * model.json). None: one InputError line naming the file and the formats bench reads.
 */
export async function detectFamily(path: string): Promise<ModelFamily> {
  for (const family of MODEL_FAMILIES) if (await family.detect(path)) return family;
  // Explain why not: readModelJson names a missing or unparsable file; otherwise the format is foreign.
  const { file, json } = await readModelJson(path);
  const format = json.format === undefined ? 'no "format" field and no Keras or GraphDef topology' : `format ${JSON.stringify(json.format)}`;
  throw inputError(file, `${format}: not a model bench reads`, 'a bench checkpoint directory (bench-checkpoint/1), a TF.js layers-model or graph-model model.json');
}

/** Detects the family of `path` and loads it (see each family's load for the options it takes). */
export async function loadModel(path: string, options: LoadOptions = {}): Promise<LoadedModel & { family: FamilyName }> {
  const family = await detectFamily(path);
  return { ...(await family.load(path, options)), family: family.name };
}
