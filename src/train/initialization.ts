import { SampleStream } from '../engine/rng.js';
import { weightSpecs, type ArchitectureSpec } from '../models/architecture.js';
import type { WeightArrays } from '../models/weights.js';

/**
 * Initial weights as the reference initialises them: He-normal convolutions (std sqrt(2 / (k*k*out))),
 * PyTorch's default uniform(-1/sqrt(in), 1/sqrt(in)) for dense kernels, zero biases. Drawn from the
 * keyed generator so a seed fixes them on every backend.
 */
export function initialWeights(arch: ArchitectureSpec, seed: number): WeightArrays {
  const out: WeightArrays = {};
  for (const spec of weightSpecs(arch)) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    const s = new SampleStream(seed, `init/${spec.name}`, 0);
    if (spec.name.endsWith('.kernel') && spec.name.startsWith('conv')) {
      const [kh, kw, , outC] = spec.shape;
      const std = Math.sqrt(2 / (kh * kw * outC));
      for (let i = 0; i < size; i++) data[i] = std * s.normal();
    } else if (spec.name.endsWith('.kernel')) {
      const bound = 1 / Math.sqrt(spec.shape[0]);
      for (let i = 0; i < size; i++) data[i] = bound * (2 * s.next() - 1);
    }
    out[spec.name] = { shape: spec.shape, data };
  }
  return out;
}
