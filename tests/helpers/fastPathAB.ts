import { tf } from '../../src/engine/tf.js';
import { SampleStream } from '../../src/engine/rng.js';
import { setDisabledFastPaths } from '../../src/engine/fastPaths.js';
import type { FastPath } from '../../src/engine/fastPaths.js';

/** `run()` with every fast path on, then with `path` off (TensorFlow.js's own formulation); the environment's setting is restored. */
export function fastAndPlain<T>(path: FastPath, run: () => T): { fast: T; plain: T } {
  try {
    setDisabledFastPaths([]);
    const fast = run();
    setDisabledFastPaths([path]);
    const plain = run();
    return { fast, plain };
  } finally {
    setDisabledFastPaths(null);
  }
}

/** A seeded tensor of `shape`: shift + scale * N(0, 1), drawn from SampleStream(seed, key). */
export function seededTensor(seed: number, shape: number[], key: string, scale = 1, shift = 0): tf.Tensor {
  const s = new SampleStream(seed, key, 0);
  return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => shift + scale * s.normal()), shape);
}
