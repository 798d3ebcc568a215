import { describe, expect, test } from 'vitest';
import { InputError } from '../../src/engine/errors.js';
import {
  BENCHMARK_CORRUPTION_NAMES,
  CORRUPTION_NAMES,
  DEFAULT_CORRUPTION_NAMES,
  RGB_ONLY_CORRUPTION_NAMES,
  corruptionKey,
  editDistance,
  formatSeverityTable,
  getCorruption,
  listCorruptions,
} from '../../corruptions/registry.js';
import { CORRUPTION_FAMILIES } from '../../corruptions/types.js';

/**
 * The parameter lists of make_cifar_c.py (hendrycks/robustness, ImageNet-C/create_c, commit ca36008),
 * copied here a second time so an accidental edit of a table fails a test. Pixel-size and IMSIZE-relative
 * entries are as published; elastic is stored as the multiples of IMSIZE the script writes.
 */
const PUBLISHED: Record<string, unknown[]> = {
  gaussian_noise: [0.04, 0.06, 0.08, 0.09, 0.1],
  shot_noise: [500, 250, 100, 75, 50],
  impulse_noise: [0.01, 0.02, 0.03, 0.05, 0.07],
  speckle_noise: [0.06, 0.1, 0.12, 0.16, 0.2],
  gaussian_blur: [0.4, 0.6, 0.7, 0.8, 1],
  glass_blur: [[0.05, 1, 1], [0.25, 1, 1], [0.4, 1, 1], [0.25, 1, 2], [0.4, 1, 2]],
  defocus_blur: [[0.3, 0.4], [0.4, 0.5], [0.5, 0.6], [1, 0.2], [1.5, 0.1]],
  motion_blur: [[6, 1], [6, 1.5], [6, 2], [8, 2], [9, 2.5]],
  // np.arange(1, 1.06, 0.01) etc. have 7, 12, 16, 21, 26 elements (floating-point end points).
  zoom_blur: [[1, 1.06, 7], [1, 1.11, 12], [1, 1.15, 16], [1, 1.2, 21], [1, 1.25, 26]],
  fog: [[0.2, 3], [0.5, 3], [0.75, 2.5], [1, 2], [1.5, 1.75]],
  snow: [
    [0.1, 0.2, 1, 0.6, 8, 3, 0.95],
    [0.1, 0.2, 1, 0.5, 10, 4, 0.9],
    [0.15, 0.3, 1.75, 0.55, 10, 4, 0.9],
    [0.25, 0.3, 2.25, 0.6, 12, 6, 0.85],
    [0.3, 0.3, 1.25, 0.65, 14, 12, 0.8],
  ],
  contrast: [0.75, 0.5, 0.4, 0.3, 0.15],
  brightness: [0.05, 0.1, 0.15, 0.2, 0.3],
  jpeg_compression: [80, 65, 58, 50, 40],
  pixelate: [0.95, 0.9, 0.85, 0.75, 0.65],
  elastic_transform: [[0, 0, 0.08], [0.05, 0.2, 0.07], [0.08, 0.06, 0.06], [0.1, 0.04, 0.05], [0.1, 0.03, 0.03]],
  saturate: [[0.3, 0], [0.1, 0], [1.5, 0], [2, 0.1], [2.5, 0.2]],
};

function asPublished(name: string, p: Record<string, unknown>): unknown {
  if (name === 'zoom_blur') {
    const zooms = p.zooms as number[];
    // The published table gives numpy.arange's arguments; the exact float64 factors are tested in blur.test.ts.
    return [zooms[0], Number(zooms[zooms.length - 1].toFixed(12)), zooms.length];
  }
  const values = Object.values(p);
  return values.length === 1 ? values[0] : values;
}

describe('registry', () => {
  test('names are unique, every family is used, and the benchmark set is CIFAR-10-C without frost', () => {
    expect(new Set(CORRUPTION_NAMES).size).toBe(CORRUPTION_NAMES.length);
    expect(new Set(listCorruptions().map((c) => c.family))).toEqual(new Set(CORRUPTION_FAMILIES));
    expect([...BENCHMARK_CORRUPTION_NAMES].sort()).toEqual(
      ['gaussian_noise', 'shot_noise', 'impulse_noise', 'defocus_blur', 'glass_blur', 'motion_blur', 'zoom_blur', 'snow', 'fog',
        'brightness', 'contrast', 'elastic_transform', 'pixelate', 'jpeg_compression'].sort(),
    );
  });

  test('"all" of a corruption suite is every corruption but the RGB-only saturate', () => {
    expect(RGB_ONLY_CORRUPTION_NAMES).toEqual(['saturate']);
    expect(DEFAULT_CORRUPTION_NAMES).toEqual(CORRUPTION_NAMES.filter((n) => n !== 'saturate'));
  });

  test.each(Object.keys(PUBLISHED))('%s: the severity table is the published one, with its source cited', (name) => {
    const c = getCorruption(name);
    expect(c.severities.map((p) => asPublished(name, p))).toEqual(PUBLISHED[name]);
    expect(c.source).toContain('Hendrycks & Dietterich 2019');
    expect(c.source).toContain('make_cifar_c.py');
  });

  test('one-parameter tables are strictly monotone in the direction that makes the corruption stronger', () => {
    const param = (name: string) => getCorruption(name).severities.map((p) => Object.values(p as object)[0] as number);
    const increasing = ['gaussian_noise', 'impulse_noise', 'speckle_noise', 'gaussian_blur', 'brightness'];
    const decreasing = ['shot_noise', 'contrast', 'jpeg_compression', 'pixelate']; // fewer photons, less contrast, quality, size
    for (const n of increasing) param(n).slice(1).forEach((v, i) => expect(v).toBeGreaterThan(param(n)[i]));
    for (const n of decreasing) param(n).slice(1).forEach((v, i) => expect(v).toBeLessThan(param(n)[i]));
    const zooms = getCorruption('zoom_blur').severities.map((p) => (p as { zooms: number[] }).zooms.length);
    zooms.slice(1).forEach((v, i) => expect(v).toBeGreaterThan(zooms[i]));
    const fogStrength = getCorruption('fog').severities.map((p) => (p as { strength: number }).strength);
    fogStrength.slice(1).forEach((v, i) => expect(v).toBeGreaterThan(fogStrength[i]));
  });

  test('every registered corruption has a published table here', () => {
    expect(CORRUPTION_NAMES.filter((n) => !(n in PUBLISHED))).toEqual([]);
  });

  test.each([
    ['gausian_noise', 'gaussian_noise'],
    ['Motion Blur', 'motion_blur'],
    ['jpeg', 'jpeg_compression'],
    ['elastic', 'elastic_transform'],
  ])('an unknown name %j is an InputError suggesting %s', (bad, suggestion) => {
    expect(() => getCorruption(bad)).toThrow(InputError);
    expect(() => getCorruption(bad)).toThrow(`did you mean "${suggestion}"?`);
    expect(() => getCorruption(bad, 'suite.json: corruptions[2]')).toThrow(/^suite\.json: corruptions\[2\]: unknown corruption/);
  });

  test('edit distance is Levenshtein distance', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('fog', 'fog')).toBe(0);
  });

  test('the severity table lists one row per severity with every parameter', () => {
    const text = formatSeverityTable(getCorruption('snow'));
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^snow \(weather\): /);
    expect(lines[1].split(/\s+/)).toEqual(['severity', 'mean', 'std', 'zoom', 'threshold', 'radius', 'sigma', 'blend']);
    expect(lines[6].split(/\s+/)).toEqual(['5', '0.3', '0.3', '1.25', '0.65', '14', '12', '0.8']);
    expect(lines[7]).toMatch(/^source: CIFAR-10-C/);
    expect(formatSeverityTable(getCorruption('zoom_blur'))).toContain('1..1.25 (26)');
  });

  test('corruption cells have distinct rng keys per corruption and severity', () => {
    const keys = CORRUPTION_NAMES.flatMap((n) => [1, 2, 3, 4, 5].map((s) => corruptionKey(n, s)));
    expect(new Set(keys).size).toBe(keys.length);
  });
});
