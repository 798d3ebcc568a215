import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmnistArchitecture, REFERENCE_NORMALIZATION } from '../../src/models/architecture.js';
import { FASHION_MNIST_CLASS_NAMES, saveCheckpoint } from '../../src/models/checkpoint.js';
import { importReferenceSafetensors } from '../../src/models/importReference.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/cnnf-reference/', import.meta.url));

/** The reference fixtures (random weights): a feedforward CNN and a CNN-F with one cycle. */
export const FIXTURE_MODELS = { cnn: 'cnn_feedforward', cnnf: 'cnnf_ind2_cycles1' } as const;

/**
 * Writes the fixture `kind` as a checkpoint named `name` into `dir` (once; later calls reuse it) and
 * returns the directory. The weights are the reference implementation's random initialisation, fine
 * for the mechanics of a sweep.
 */
export async function fixtureCheckpoint(kind: keyof typeof FIXTURE_MODELS, dir: string, name = `fixture-${kind}`): Promise<string> {
  if (existsSync(join(dir, 'model.json'))) return dir;
  const folder = join(FIXTURES, FIXTURE_MODELS[kind]);
  const meta = JSON.parse(readFileSync(join(folder, 'meta.json'), 'utf8')) as { ind: number; cycles: number; res_param: number };
  const architecture = fmnistArchitecture(meta.ind, meta.cycles, meta.res_param);
  const weights = await importReferenceSafetensors(join(folder, 'weights.safetensors'), architecture);
  await saveCheckpoint(
    dir,
    {
      name,
      architecture,
      normalization: REFERENCE_NORMALIZATION,
      classNames: [...FASHION_MNIST_CLASS_NAMES],
      provenance: { source: `tests/fixtures/cnnf-reference/${FIXTURE_MODELS[kind]}` },
    },
    weights,
  );
  return dir;
}
