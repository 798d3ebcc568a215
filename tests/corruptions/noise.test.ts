import { beforeAll, describe, expect, test } from 'vitest';
import { initBackend } from '../../src/engine/backend.js';
import { SampleStream } from '../../src/engine/rng.js';
import { gaussianNoise, impulseNoise, shotNoise, speckleNoise } from '../../corruptions/noise.js';
import { logFactorial, samplePoisson } from '../../corruptions/poisson.js';
import { applyHost, constantImages, meanAndVariance } from './fixtures.js';

beforeAll(async () => {
  await initBackend('wasm');
});

// Mid-grey images: with a noise std of at most 0.1, clipping at 0 or 1 needs a 5-sigma draw (p ~ 6e-7 per pixel),
// so the statistics of x' - x are those of the noise before clipping.
const GREY = 0.5;
const N_IMAGES = 20; // 15,680 pixels
const grey = constantImages(N_IMAGES, GREY);

function differences(y: Float32Array): Float32Array {
  return y.map((v) => v - GREY);
}

describe('gaussian_noise', () => {
  test.each([1, 2, 3, 4, 5])('severity %i: x\' - x has mean 0 and the table std', (s) => {
    const std = gaussianNoise.severities[s - 1].std;
    const y = applyHost(gaussianNoise, grey, s);
    expect(y.some((v) => v === 0 || v === 1)).toBe(false);
    const { mean, variance } = meanAndVariance(differences(y));
    expect(Math.abs(mean)).toBeLessThan((4 * std) / Math.sqrt(y.length));
    // The sample std has relative standard error 1/sqrt(2n) = 0.56%; allow 3%.
    expect(Math.sqrt(variance) / std).toBeGreaterThan(0.97);
    expect(Math.sqrt(variance) / std).toBeLessThan(1.03);
  });
});

describe('speckle_noise', () => {
  test.each([1, 2, 3, 4, 5])('severity %i: x\' - x has std x * c', (s) => {
    const std = GREY * speckleNoise.severities[s - 1].std;
    const { mean, variance } = meanAndVariance(differences(applyHost(speckleNoise, grey, s)));
    expect(Math.abs(mean)).toBeLessThan((4 * std) / Math.sqrt(grey.length));
    expect(Math.sqrt(variance) / std).toBeGreaterThan(0.97);
    expect(Math.sqrt(variance) / std).toBeLessThan(1.03);
  });
});

describe('shot_noise', () => {
  test.each([1, 2, 3, 4, 5])('severity %i: Poisson(x * rate) / rate, so mean x and variance x / rate', (s) => {
    const { rate } = shotNoise.severities[s - 1];
    const y = applyHost(shotNoise, grey, s);
    for (const v of y.subarray(0, 2000)) expect(Math.abs(v * rate - Math.round(v * rate))).toBeLessThan(1e-3);
    const { mean, variance } = meanAndVariance(y);
    const expectedVariance = GREY / rate;
    expect(Math.abs(mean - GREY)).toBeLessThan(4 * Math.sqrt(expectedVariance / y.length));
    expect(variance / expectedVariance).toBeGreaterThan(0.95);
    expect(variance / expectedVariance).toBeLessThan(1.05);
  });

  test('a black pixel stays black (no photons)', () => {
    expect(applyHost(shotNoise, constantImages(2, 0), 5).every((v) => v === 0)).toBe(true);
  });
});

describe('Poisson sampler', () => {
  test('logFactorial matches the direct sum', () => {
    let direct = 0;
    for (let k = 0; k <= 300; k++) {
      if (k > 0) direct += Math.log(k);
      expect(Math.abs(logFactorial(k) - direct)).toBeLessThan(1e-9 * Math.max(1, direct));
    }
  });

  test.each([0.3, 4, 9.9, 10, 30, 250, 500])('lambda %f: mean and variance are lambda', (lambda) => {
    const s = new SampleStream(3, `poisson/${lambda}`, 0);
    const draws = Float64Array.from({ length: 20000 }, () => samplePoisson(s, lambda));
    const { mean, variance } = meanAndVariance(draws);
    expect(Math.abs(mean - lambda)).toBeLessThan(4 * Math.sqrt(lambda / draws.length));
    expect(variance / lambda).toBeGreaterThan(0.95);
    expect(variance / lambda).toBeLessThan(1.05);
  });

  test.each([3, 25, 100])('lambda %i: histogram fits the Poisson pmf (chi-square)', (lambda) => {
    const n = 40000;
    const s = new SampleStream(5, `pmf/${lambda}`, 0);
    const counts = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const k = samplePoisson(s, lambda);
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    let chi2 = 0;
    let bins = 0;
    for (let k = 0; k < 4 * lambda + 20; k++) {
      const expected = n * Math.exp(-lambda + k * Math.log(lambda) - logFactorial(k));
      if (expected < 10) continue; // tails pooled out; they hold < 1% of the mass here
      chi2 += ((counts.get(k) ?? 0) - expected) ** 2 / expected;
      bins++;
    }
    // Under the null chi2 ~ bins -1 +- sqrt(2 bins); 6 standard deviations above is a real misfit.
    expect(chi2).toBeLessThan(bins + 6 * Math.sqrt(2 * bins));
  });
});

describe('impulse_noise', () => {
  test.each([1, 2, 3, 4, 5])('severity %i: a fraction `amount` of pixels becomes 0 or 1, half each', (s) => {
    const { amount } = impulseNoise.severities[s - 1];
    const y = applyHost(impulseNoise, grey, s);
    let salt = 0;
    let pepper = 0;
    for (const v of y) {
      if (v === 1) salt++;
      else if (v === 0) pepper++;
      else expect(v).toBe(GREY);
    }
    const changed = (salt + pepper) / y.length;
    expect(Math.abs(changed - amount)).toBeLessThan(4 * Math.sqrt((amount * (1 - amount)) / y.length));
    const hits = salt + pepper;
    expect(Math.abs(salt / hits - 0.5)).toBeLessThan(4 * Math.sqrt(0.25 / hits));
  });
});
