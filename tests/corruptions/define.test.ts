import { beforeAll, describe, expect, test } from 'vitest';
import { tf, type Tensor4D } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { KeyedRng } from '../../src/engine/rng.js';
import { InputError } from '../../src/engine/errors.js';
import { listCorruptions } from '../../corruptions/registry.js';
import { MIN_IMAGE_SIDE } from '../../corruptions/define.js';
import type { AnyCorruption } from '../../corruptions/types.js';

/**
 * The input contract every corruption gets from its template (corruptions/define.ts), checked over the
 * whole registry: what no corruption is defined on (images under 3 px on a side, no rows or columns,
 * channel counts other than grey and RGB, a tensor that is not NHWC, integer pixels, values outside
 * [0,1]) is one InputError naming the corruption, the field and the allowed values, never a plain error
 * from deep inside or a black image; the smallest accepted image (3 x 3) gives a real corrupted image.
 */
beforeAll(async () => {
  await initBackend('wasm');
});

/** Mid-grey with some texture, values in [0.3, 0.7]. */
function images(shape: number[]): Tensor4D {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, (_, i) => 0.3 + (0.4 * ((i * 7919) % 13)) / 12), shape) as Tensor4D;
}

const rows = (n: number) => new KeyedRng(3, 'define-test', Array.from({ length: n }, (_, i) => i));

/** The error `c.apply` throws at `severity` on images of `shape` (disposing everything). */
function refusal(c: AnyCorruption, shape: number[], severity: number, make: (shape: number[]) => tf.Tensor = images): unknown {
  const x = make(shape);
  try {
    const y = c.apply(x as Tensor4D, severity, rows(shape[0] ?? 0));
    const out = { shape: y.shape, max: y.size ? y.max().dataSync()[0] : null };
    y.dispose();
    return out;
  } catch (err) {
    return err;
  } finally {
    x.dispose();
  }
}

const DEGENERATE: number[][] = [
  [1, 2, 28, 1],
  [1, 28, 2, 1],
  [1, 1, 1, 1],
  [2, 2, 2, 3],
  [1, 0, 28, 1],
  [1, 28, 0, 1],
  [0, 0, 0, 1],
  [1, 28, 28, 2],
  [1, 28, 28, 4],
  [1, 28, 28, 0],
];

describe.each(listCorruptions().map((c) => [c.name, c] as const))('%s', (name, c) => {
  /** A channel count the corruption takes: grey where it can, RGB for the RGB-only ones. */
  const ch = c.channels[0];
  test('refuses images under 3 px on a side and channel counts other than 1 and 3, at every severity, naming corruption, field and allowed values', () => {
    for (const shape of DEGENERATE)
      for (const severity of [0, 1, 3, 5]) {
        const err = refusal(c, shape, severity);
        expect(err, `${name} [${shape}] severity ${severity}`).toBeInstanceOf(InputError);
        const message = (err as Error).message;
        expect(message).toContain(`corruption ${name}: image shape`);
        expect(message).toContain(`[${shape.join(', ')}]`);
        expect(message).toContain(`(allowed: float32 NHWC images [N, H, W, C] with H, W >= ${MIN_IMAGE_SIDE} and C in {${c.channels.join(', ')}})`);
      }
  });

  test('refuses tensors that are not NHWC batches, integer pixels, and values outside [0,1]', () => {
    for (const shape of [[28, 28, 1], [28, 28], [1, 1, 28, 28, 1]]) {
      const err = refusal(c, shape, 2, (s) => tf.zeros(s));
      expect(err).toBeInstanceOf(InputError);
      expect((err as Error).message).toMatch(new RegExp(`^corruption ${name}: image shape: .* is not a batch of images \\(rank ${shape.length}\\)`));
    }
    const ints = refusal(c, [1, 28, 28, ch], 2, (s) => tf.zeros(s, 'int32'));
    expect(ints).toBeInstanceOf(InputError);
    expect((ints as Error).message).toContain(`corruption ${name}: image dtype: int32`);
    for (const bad of [1.5, -0.25, Number.NaN, Number.POSITIVE_INFINITY]) {
      const err = refusal(c, [2, 5, 5, ch], 2, (s) => {
        const v = Float32Array.from({ length: 50 * ch }, () => 0.5);
        v[17] = bad;
        return tf.tensor(v, s);
      });
      expect(err, `value ${bad}`).toBeInstanceOf(InputError);
      expect((err as Error).message).toContain(`corruption ${name}: image values: 1 values outside [0,1] or not finite`);
    }
  });

  test('an rng with the wrong number of rows is an InputError', () => {
    const x = images([2, 5, 5, ch]);
    expect(() => c.apply(x, 2, rows(3))).toThrow(InputError);
    expect(() => c.apply(x, 2, rows(3))).toThrow(`corruption ${name}: rng.sampleIndices: 3 sample indices for a batch of 2 images`);
    x.dispose();
  });

  test('the smallest accepted images (3 x 3, grey and RGB) give a corrupted image in [0,1], not a black one', () => {
    for (const channels of c.channels)
      for (let severity = 1; severity <= 5; severity++) {
        const x = images([2, MIN_IMAGE_SIDE, MIN_IMAGE_SIDE, channels]);
        const y = c.apply(x, severity, rows(2));
        expect(y.shape).toEqual(x.shape);
        const v = y.dataSync();
        for (const p of v) expect(p >= 0 && p <= 1).toBe(true);
        const mean = v.reduce((a, b) => a + b, 0) / v.length;
        expect(mean, `severity ${severity}, ${channels} channels`).toBeGreaterThan(0.05);
        tf.dispose([x, y]);
      }
  });

  test('an empty batch is returned as an empty copy', () => {
    const x = images([0, 28, 28, ch]);
    const y = c.apply(x, 3, rows(0));
    expect(y.shape).toEqual([0, 28, 28, ch]);
    expect(y).not.toBe(x);
    tf.dispose([x, y]);
  });
});
