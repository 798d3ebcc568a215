import { beforeAll, describe, expect, test } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { KeyedRng } from '../../src/engine/rng.js';
import { InputError } from '../../src/engine/errors.js';
import { listCorruptions, RGB_ONLY_CORRUPTION_NAMES } from '../../corruptions/registry.js';
import { applyHost, maxAbsDiff, meanAbsDiff, PIXELS, syntheticImages } from './fixtures.js';

beforeAll(async () => {
  await initBackend('wasm');
});

/** Corruptions whose output does not depend on the random stream. */
const DETERMINISTIC = new Set(['gaussian_blur', 'defocus_blur', 'zoom_blur', 'brightness', 'contrast', 'pixelate', 'jpeg_compression']);
/**
 * Corruptions whose published table is not ordered in one parameter, so "more severe" is not "further
 * from the clean image": glass blur (severity 4 has a smaller sigma than 3 and two shuffle passes),
 * elastic (the affine range shrinks while the displacement field grows).
 */
const NOT_MONOTONE = new Set(['glass_blur', 'elastic_transform']);
/**
 * Pixelate's reduced sizes 26, 25, 23, 21, 18 are not divisors of 28, so adjacent severities alias
 * differently and one image can move either way between them; only the overall trend is checked.
 */
const TREND_ONLY = new Set(['pixelate']);

// On grey 28x28 images: every corruption defined on them (saturate needs RGB; see cifarC.test.ts).
const GREY = listCorruptions().filter((c) => !RGB_ONLY_CORRUPTION_NAMES.includes(c.name));

describe.each(GREY.map((c) => [c.name, c] as const))('%s', (_name, c) => {
  const batch = syntheticImages(3, 10);
  const indices = [10, 11, 12];

  test('every severity keeps the shape and [0,1], is deterministic for a seed, and a row does not depend on its batch', () => {
    for (let s = 1; s <= 5; s++) {
      const y = applyHost(c, batch, s, { indices });
      expect(y.length).toBe(batch.length);
      for (const v of y) expect(v >= 0 && v <= 1).toBe(true);
      expect(maxAbsDiff(applyHost(c, batch, s, { indices }), y)).toBe(0);
      // Row 1 (sample 11) alone, and in a different batch at another position: same pixels.
      const alone = applyHost(c, batch.subarray(PIXELS, 2 * PIXELS), s, { indices: [11] });
      expect(maxAbsDiff(alone, y.subarray(PIXELS, 2 * PIXELS))).toBeLessThan(1e-6);
      const other = new Float32Array(2 * PIXELS);
      other.set(batch.subarray(PIXELS, 2 * PIXELS));
      other.set(syntheticImages(1, 40), PIXELS);
      const moved = applyHost(c, other, s, { indices: [11, 40] });
      expect(maxAbsDiff(moved.subarray(0, PIXELS), y.subarray(PIXELS, 2 * PIXELS))).toBeLessThan(1e-6);
      // The corruption does something at every severity.
      expect(meanAbsDiff(y, batch)).toBeGreaterThan(1e-3);
    }
  });

  test('severity 0 is the identity (a new tensor)', () => {
    const x = tf.tensor4d(batch, [3, 28, 28, 1]);
    const y = c.apply(x, 0, new KeyedRng(1, 'k', indices));
    expect(y).not.toBe(x);
    expect(maxAbsDiff(y.dataSync(), batch)).toBe(0);
    tf.dispose([x, y]);
  });

  test('a severity outside 0..5 is an InputError', () => {
    const x = tf.tensor4d(batch, [3, 28, 28, 1]);
    for (const bad of [-1, 6, 1.5, Number.NaN]) expect(() => c.apply(x, bad, new KeyedRng(1, 'k', indices))).toThrow(InputError);
    x.dispose();
  });

  if (DETERMINISTIC.has(c.name))
    test('the seed does not change the result', () => {
      expect(maxAbsDiff(applyHost(c, batch, 3, { seed: 1, indices }), applyHost(c, batch, 3, { seed: 2, indices }))).toBe(0);
    });
  else
    test('the seed changes the result', () => {
      expect(meanAbsDiff(applyHost(c, batch, 3, { seed: 1, indices }), applyHost(c, batch, 3, { seed: 2, indices }))).toBeGreaterThan(1e-4);
    });

  if (!NOT_MONOTONE.has(c.name)) test('distance from the clean images grows with severity', () => {
    const images = syntheticImages(8);
    const distances = [1, 2, 3, 4, 5].map((s) => meanAbsDiff(applyHost(c, images, s), images));
    if (TREND_ONLY.has(c.name)) expect(Math.max(...distances.slice(0, 4))).toBeLessThan(distances[4]);
    else for (let s = 1; s < 5; s++) expect(distances[s]).toBeGreaterThanOrEqual(distances[s - 1]);
  });
});
