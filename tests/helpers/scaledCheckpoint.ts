import { tf, type Tensor } from '../../src/engine/tf.js';
import { weightSpecs } from '../../src/models/architecture.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/models/checkpoint.js';
import { CnnfNetwork } from '../../src/models/cnnf.js';
import { CnnfClassifier } from '../../src/models/cnnfClassifier.js';
import type { WeightArrays } from '../../src/models/weights.js';

/**
 * A checkpoint's weights with the classifier layer (the last fc kernel and bias) multiplied by `scale`:
 * the logits become scale * logits (up to float32 rounding of the products), the predictions are unchanged.
 * Every weight stays finite as long as scale * |w| < 3.4e38, so the checkpoint still loads; with scale
 * 1e38 the logits overflow to +-Infinity.
 */
export async function scaledWeights(dir: string, scale: number) {
  const { manifest, weights } = await loadCheckpoint(dir);
  const specs = weightSpecs(manifest.architecture);
  const last = specs[specs.length - 1].name.split('.')[0];
  const out: WeightArrays = {};
  for (const [name, w] of Object.entries(weights))
    out[name] = { shape: w.shape, data: name.startsWith(`${last}.`) ? Float32Array.from(w.data, (v) => v * scale) : w.data };
  return { manifest, weights: out };
}

/** Writes the scaled checkpoint to `out` (named `<name>-x<scale>`) and returns `out`. */
export async function writeScaledCheckpoint(dir: string, out: string, scale: number): Promise<string> {
  const { manifest, weights } = await scaledWeights(dir, scale);
  await saveCheckpoint(out, { ...manifest, name: `${manifest.name}-x${scale}` }, weights);
  return out;
}

/** The scaled checkpoint as a classifier in memory; dispose() frees its weights. */
export async function scaledClassifier(dir: string, scale: number): Promise<{ classifier: CnnfClassifier; dispose: () => void }> {
  const { manifest, weights } = await scaledWeights(dir, scale);
  const params: Record<string, Tensor> = {};
  for (const [name, w] of Object.entries(weights)) params[name] = tf.keep(tf.tensor(w.data, w.shape, 'float32'));
  const network = new CnnfNetwork(manifest.architecture, manifest.normalization, params);
  return { classifier: new CnnfClassifier(manifest.name, network, 'last'), dispose: () => tf.dispose(Object.values(params)) };
}
