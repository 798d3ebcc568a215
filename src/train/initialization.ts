import { SampleStream } from '../engine/rng.js';
import { weightSpecs, type ModelArchitecture } from '../models/architecture.js';
import type { WeightArrays } from '../models/weights.js';

/**
 * Initial weights as the reference initialises them (cnnf/layers.py): He-normal convolutions
 * (Conv2d: std sqrt(2 / (k*k*out))), PyTorch's default uniform(-1/sqrt(in), 1/sqrt(in)) for dense kernels
 * (nn.Linear's kaiming_uniform with a = sqrt(5)), zero biases (Bias zeroes its parameter). Convolution
 * kernels are the rank-4 `*.kernel` weights (HWIO), dense kernels the rank-2 ones, in both families
 * (Fashion-MNIST CNN-F and CIFAR Wide-ResNet). Drawn from the keyed generator so a seed fixes them on
 * every backend.
 */
export function initialWeights(arch: ModelArchitecture, seed: number): WeightArrays {
  const out: WeightArrays = {};
  for (const spec of weightSpecs(arch)) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    const s = new SampleStream(seed, `init/${spec.name}`, 0);
    if (spec.name.endsWith('.kernel') && spec.shape.length === 4) {
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
