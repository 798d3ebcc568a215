/**
 * The 4:2:0 JPEG round trip against Pillow 9.4 (libjpeg-turbo) itself: 32x32 RGB at the five qualities of
 * jpeg_compression is in cifarC.test.ts; here sizes that are not multiples of 16 (edge replication,
 * cropping) and a chroma plane 2 samples wide (replicated, not filtered), plus the quality scaling.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { jpeg420RoundTrip, quantTable } from '../../corruptions/jpeg420.js';

const FIXTURE = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'cifar-c-reference');

/** The image of tests/fixtures/cifar-c-reference/make_fixture.py, top-left h x w, interleaved RGB. */
function crop(h: number, w: number): Uint8Array {
  const out = new Uint8Array(h * w * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let ch = 0; ch < 3; ch++)
        out[(y * w + x) * 3 + ch] = y < 2 ? (x * 8 + y * 4) % 256 : (37 * y + 11 * x * (ch + 1) + 53 * ch + ((x * y) % 17) * 5) % 256;
  return out;
}

describe('jpeg420RoundTrip', () => {
  const cases = JSON.parse(readFileSync(resolve(FIXTURE, 'jpeg_sizes.json'), 'utf8')) as { h: number; w: number; quality: number; jpeg: number[] }[];
  test.each(cases.map((c) => [`${c.h}x${c.w}`, c] as const))('%s equals Pillow byte for byte', (_name, c) => {
    expect(Array.from(jpeg420RoundTrip(crop(c.h, c.w), c.h, c.w, c.quality))).toEqual(c.jpeg);
  });
});

describe('quantTable', () => {
  test('IJG quality scaling: 5000 / q below 50, 200 - 2 q above, (base * scale + 50) / 100 clamped to 1..255', () => {
    const luma = [16, 11, 10, 16];
    // q 80: scale 40 -> 16 * 40 + 50 = 690 -> 6; 11 -> 490 -> 4; 10 -> 450 -> 4. q 40: scale 125 -> 20, 14, 13.
    expect(Array.from(quantTable([...luma, ...new Array(60).fill(1)], 80).subarray(0, 4))).toEqual([6, 4, 4, 6]);
    expect(Array.from(quantTable([...luma, ...new Array(60).fill(1)], 40).subarray(0, 4))).toEqual([20, 14, 13, 20]);
    expect(quantTable([255], 1)[0]).toBe(255); // scale 5000 clamps to the baseline maximum
    expect(quantTable([16], 100)[0]).toBe(1); // scale 0 clamps to 1
  });
});
