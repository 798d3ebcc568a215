import { beforeAll, describe, expect, test } from 'vitest';
import { initBackend } from '../../src/engine/backend.js';
import { SampleStream } from '../../src/engine/rng.js';
import { brightness, fog, snow } from '../../corruptions/weather.js';
import { plasmaFractal } from '../../corruptions/plasma.js';
import { applyHost, constantImages, H, maxAbsDiff, PIXELS, syntheticImages, W } from './fixtures.js';

beforeAll(async () => {
  await initBackend('wasm');
});

const images = syntheticImages(4);

describe('brightness', () => {
  test.each([1, 2, 3, 4, 5])('severity %i: a grey pixel becomes min(x + delta, 1) (HSV value + delta)', (s) => {
    const { delta } = brightness.severities[s - 1];
    expect(maxAbsDiff(applyHost(brightness, images, s), images.map((v) => Math.min(v + delta, 1)))).toBeLessThan(1e-6);
  });
});

describe('plasma fractal', () => {
  test('spans exactly [0, 1], is reproducible from its stream and differs between streams', () => {
    const a = plasmaFractal(new SampleStream(1, 'p', 0), 32, 2);
    expect(Math.min(...a)).toBe(0);
    expect(Math.max(...a)).toBe(1);
    expect(plasmaFractal(new SampleStream(1, 'p', 0), 32, 2)).toEqual(a);
    expect(maxAbsDiff(plasmaFractal(new SampleStream(1, 'p', 1), 32, 2), a)).toBeGreaterThan(0.1);
  });

  test('a larger decay gives a smoother map (less energy in the fine octaves)', () => {
    const roughness = (decay: number) => {
      let total = 0;
      for (let k = 0; k < 20; k++) {
        const m = plasmaFractal(new SampleStream(2, 'r', k), 32, decay);
        for (let i = 0; i < 32; i++) for (let j = 0; j < 31; j++) total += Math.abs(m[i * 32 + j + 1] - m[i * 32 + j]);
      }
      return total;
    };
    expect(roughness(3)).toBeLessThan(roughness(2));
    expect(roughness(2)).toBeLessThan(roughness(1.75));
  });
});

describe('fog', () => {
  test.each([1, 2, 3, 4, 5])('severity %i: (x + s * haze) * max / (max + s) with a smooth haze in [0, 1]', (s) => {
    const { strength } = fog.severities[s - 1];
    const y = applyHost(fog, images, s);
    for (let k = 0; k < 4; k++) {
      const img = images.subarray(k * PIXELS, (k + 1) * PIXELS);
      const maxVal = Math.max(...img);
      // Never clipped: the largest value is (max + s) * max / (max + s) = max <= 1.
      const haze = Array.from(img, (v, p) => (y[k * PIXELS + p] * (maxVal + strength)) / maxVal - v).map((v) => v / strength);
      expect(Math.min(...haze)).toBeGreaterThan(-1e-4);
      expect(Math.max(...haze)).toBeLessThan(1 + 1e-4);
      let step = 0;
      let spread = 0;
      const mean = haze.reduce((a, b) => a + b, 0) / PIXELS;
      for (let i = 0; i < H; i++)
        for (let j = 0; j < W; j++) {
          spread += Math.abs(haze[i * W + j] - mean);
          if (j + 1 < W) step += Math.abs(haze[i * W + j + 1] - haze[i * W + j]);
        }
      // Neighbouring haze values differ much less than haze values differ from their mean.
      expect(step / (H * (W - 1))).toBeLessThan(0.5 * (spread / PIXELS));
    }
  });

  test('a black image stays black (max = 0)', () => {
    expect(applyHost(fog, constantImages(2, 0), 5).every((v) => v === 0)).toBe(true);
  });
});

describe('snow', () => {
  test.each([1, 2, 3, 4, 5])('severity %i on black: washed-out level plus flakes and their 180-degree rotation', (s) => {
    const { blend } = snow.severities[s - 1];
    const y = applyHost(snow, constantImages(3, 0), s);
    for (let k = 0; k < 3; k++) {
      let flakes = 0;
      for (let p = 0; p < PIXELS; p++) {
        const v = y[k * PIXELS + p];
        // Black washes out to (1 - blend) * 0.5; the flake layer is added twice, rotated by 180 degrees.
        expect(v).toBeGreaterThanOrEqual((1 - blend) * 0.5 - 1e-6);
        expect(Math.abs(v - y[k * PIXELS + PIXELS - 1 - p])).toBeLessThan(1e-6);
        if (v > (1 - blend) * 0.5 + 0.01) flakes++;
      }
      expect(flakes).toBeGreaterThan(0);
    }
  });

  test('brightens every pixel and leaves white white', () => {
    for (let s = 1; s <= 5; s++) {
      const y = applyHost(snow, images, s);
      for (let p = 0; p < y.length; p++) expect(y[p]).toBeGreaterThanOrEqual(images[p] - 1e-6);
      expect(applyHost(snow, constantImages(1, 1), s).every((v) => v === 1)).toBe(true);
    }
  });
});
