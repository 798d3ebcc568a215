import { beforeAll, describe, expect, test } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { contrast, jpegCompression, pixelate, pixelateTo } from '../../corruptions/digital.js';
import { applyHost, constantImages, H, maxAbsDiff, PIXELS, syntheticImages, W } from './fixtures.js';

beforeAll(async () => {
  await initBackend('wasm');
});

const images = syntheticImages(4);

describe('contrast', () => {
  test.each([1, 2, 3, 4, 5])('severity %i: (x - mean) * c + mean per image', (s) => {
    const { factor } = contrast.severities[s - 1];
    const expected = new Float32Array(images.length);
    for (let k = 0; k < 4; k++) {
      const img = images.subarray(k * PIXELS, (k + 1) * PIXELS);
      const mean = img.reduce((a, b) => a + b, 0) / PIXELS;
      img.forEach((v, p) => (expected[k * PIXELS + p] = (v - mean) * factor + mean));
    }
    expect(maxAbsDiff(applyHost(contrast, images, s), expected)).toBeLessThan(1e-6);
  });
});

describe('pixelate', () => {
  function pixelateHost(small: number): Float32Array {
    const x = tf.tensor4d(images, [4, H, W, 1]);
    const y = pixelateTo(x, small, small);
    const out = y.dataSync().slice() as Float32Array;
    tf.dispose([x, y]);
    return out;
  }

  test('to 14x14 and back is 2x2 block averaging then pixel repetition', () => {
    const expected = new Float32Array(images.length);
    for (let k = 0; k < 4; k++)
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          const by = y - (y % 2);
          const bx = x - (x % 2);
          const at = (dy: number, dx: number) => images[k * PIXELS + (by + dy) * W + bx + dx];
          expected[k * PIXELS + y * W + x] = (at(0, 0) + at(0, 1) + at(1, 0) + at(1, 1)) / 4;
        }
    expect(maxAbsDiff(pixelateHost(14), expected)).toBeLessThan(1e-6);
  });

  test('to 7x7 and back is 4x4 block averaging', () => {
    const y = pixelateHost(7);
    for (let k = 0; k < 4; k++) {
      let block = 0;
      for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) block += images[k * PIXELS + (8 + i) * W + 12 + j];
      for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) expect(y[k * PIXELS + (8 + i) * W + 12 + j]).toBeCloseTo(block / 16, 6);
    }
  });

  test.each([1, 2, 3, 4, 5])('severity %i: PIL BOX down to int(28 * factor), BOX (nearest) back up', (s) => {
    const small = Math.trunc(28 * pixelate.severities[s - 1].factor);
    // PIL's box filter on a shrink: output cell o averages the input pixels whose centres lie in
    // (o * 28/small, (o + 1) * 28/small]; on an enlargement output pixel j shows cell floor((j + 0.5) * small/28).
    const cellOf = (i: number) => Math.ceil(((i + 0.5) * small) / 28) - 1;
    const shown = (j: number) => Math.floor(((j + 0.5) * small) / 28);
    const expected = new Float32Array(images.length);
    for (let k = 0; k < 4; k++)
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          let sum = 0;
          let count = 0;
          for (let i = 0; i < H; i++)
            for (let j = 0; j < W; j++)
              if (cellOf(i) === shown(y) && cellOf(j) === shown(x)) {
                sum += images[k * PIXELS + i * W + j];
                count++;
              }
          expected[k * PIXELS + y * W + x] = sum / count;
        }
    expect(maxAbsDiff(applyHost(pixelate, images, s), expected)).toBeLessThan(1e-6);
  });
});

describe('jpeg_compression', () => {
  test('a flat image survives the round trip exactly and the output is 8-bit', () => {
    const flat = constantImages(2, 128 / 255);
    expect(maxAbsDiff(applyHost(jpegCompression, flat, 5), flat)).toBeLessThan(1e-6);
    const y = applyHost(jpegCompression, images, 3);
    for (const v of y) expect(Math.abs(v * 255 - Math.round(v * 255))).toBeLessThan(1e-3);
  });

  test('lower quality (higher severity) loses more: mean squared error grows', () => {
    const texture = syntheticImages(16);
    const mse = [1, 2, 3, 4, 5].map((s) => {
      const y = applyHost(jpegCompression, texture, s);
      return y.reduce((acc, v, i) => acc + (v - texture[i]) ** 2, 0) / y.length;
    });
    for (let s = 1; s < 5; s++) expect(mse[s]).toBeGreaterThan(mse[s - 1]);
    // Quality 80 on 28x28 images is a mild corruption: RMS error of a few grey levels.
    expect(Math.sqrt(mse[0])).toBeLessThan(0.05);
  });

  test('an image gives the same pixels alone and inside a large batch (each image owns its 8x8 blocks)', () => {
    const many = syntheticImages(30);
    const together = applyHost(jpegCompression, many, 4);
    const alone = applyHost(jpegCompression, many.subarray(17 * PIXELS, 18 * PIXELS), 4, { indices: [17] });
    expect(maxAbsDiff(alone, together.subarray(17 * PIXELS, 18 * PIXELS))).toBe(0);
  });
});
