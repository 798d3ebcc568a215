/**
 * skimage.color.rgb2hsv / hsv2rgb semantics, hand-computed: hue sectors and their tie order, the wrap of a
 * negative hue by numpy's floating modulo, black and grey pixels, and the round trip. (The full images
 * are compared with scikit-image itself in cifarC.test.ts.)
 */
import { beforeAll, describe, expect, test } from 'vitest';
import { tf, type Tensor4D } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { editHsv, hsvToRgb, rgbToHsv } from '../../corruptions/hsv.js';

beforeAll(async () => {
  await initBackend('wasm');
});

describe('rgbToHsv', () => {
  test.each([
    // [r, g, b] -> [h, s, v]
    [[1, 0, 0], [0, 1, 1]], // red
    [[0, 1, 0], [2 / 6, 1, 1]], // green: 2 + 0
    [[0, 0, 1], [4 / 6, 1, 1]], // blue: 4 + 0
    [[1, 1, 0], [(2 + (0 - 1)) / 6, 1, 1]], // red and green tie: green's formula wins, 1/6
    [[1, 0, 1], [(4 + (1 - 0)) / 6, 1, 1]], // red and blue tie: blue's formula wins, 5/6
    [[0.5, 0.25, 0], [(0.25 / 0.5) / 6, 1, 0.5]], // orange
    [[0, 0, 0], [0, 0, 0]], // black: 0/0 saturation and hue set to 0
    [[0.3, 0.3, 0.3], [0, 0, 0.3]], // grey
  ])('%j -> %j', (rgb, hsv) => {
    const { h, s, v } = rgbToHsv(rgb[0], rgb[1], rgb[2]);
    expect([h, s, v]).toEqual(hsv);
  });

  test('a negative hue wraps as numpy\'s % does: (-0.5 / 6) % 1 = 1 - 1/12', () => {
    // red is max, (g - b) / delta = -0.5; skimage.color.rgb2hsv([1, 0, 0.5]) gives hue 0.9166666666666666.
    expect(rgbToHsv(1, 0, 0.5).h).toBe(0.9166666666666666);
    // A hue just below 0 rounds to exactly 1 (as numpy: -1e-17 % 1.0 == 1.0), which hsv2rgb maps to sector 0.
    expect((-1e-17 % 1) + 1).toBe(1);
    expect(hsvToRgb({ h: 1, s: 0.5, v: 0.8 })).toEqual(hsvToRgb({ h: 0, s: 0.5, v: 0.8 }));
  });
});

describe('hsvToRgb', () => {
  // skimage.color.hsv2rgb (0.19.3) of [[(0 + 0.5) / 6, 0.8, 0.8], [(1 + 0.25) / 6, 0.8, 0.8]], printed by
  // /usr/bin/python3: sector 0 is (v, t, p), sector 1 is (q, v, p) with p = v (1 - s), q = v (1 - f s),
  // t = v (1 - (1 - f) s).
  test.each([
    [(0 + 0.5) / 6, [0.8, 0.48, 0.15999999999999998]],
    [(1 + 0.25) / 6, [0.6400000000000001, 0.8, 0.15999999999999998]],
  ])('h = %f', (h, expected) => {
    expect(hsvToRgb({ h, s: 0.8, v: 0.8 })).toEqual(expected);
  });

  test('the round trip returns every pixel of a colour wheel to within 1e-15', () => {
    for (let i = 0; i < 360; i += 7)
      for (const s of [0, 0.3, 1])
        for (const v of [0, 0.5, 1]) {
          const rgb = hsvToRgb({ h: i / 360, s, v });
          const back = hsvToRgb(rgbToHsv(...rgb));
          for (let k = 0; k < 3; k++) expect(Math.abs(back[k] - rgb[k])).toBeLessThan(1e-15);
        }
  });
});

describe('editHsv', () => {
  test('an identity edit keeps RGB images, and grey images are refused', () => {
    const px = Float32Array.from({ length: 2 * 4 * 4 * 3 }, (_, i) => ((i * 37) % 101) / 100);
    const x = tf.tensor4d(px, [2, 4, 4, 3]);
    const y = editHsv(x, () => undefined);
    const out = y.dataSync();
    for (let i = 0; i < px.length; i++) expect(Math.abs(out[i] - px[i])).toBeLessThan(1e-7);
    const grey = tf.zeros([1, 4, 4, 1]) as Tensor4D;
    expect(() => editHsv(grey, () => undefined)).toThrow('editHsv: needs RGB images (3 channels), got 1');
    tf.dispose([x, y, grey]);
  });
});
