/**
 * CIFAR-10-C at its native 32x32x3: the sizes the reference derives from its 32 px side, the reference
 * functions' outputs on a generated RGB image (brightness and saturate through skimage's HSV, per-channel
 * contrast, PIL's BOX pixelation, clipped_zoom, the defocus disk, Gaussian blur, snow's grey wash-out,
 * Pillow's 4:2:0 JPEG), and
 * every corruption at every severity on 32x32x3 images.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, test } from 'vitest';
import { tf, type Tensor4D } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { KeyedRng } from '../../src/engine/rng.js';
import { InputError } from '../../src/engine/errors.js';
import { numpyArange } from '../../src/engine/pyNumeric.js';
import { getCorruption, listCorruptions } from '../../corruptions/registry.js';
import { saturate } from '../../corruptions/digital.js';
import { snowWash } from '../../corruptions/weather.js';
import { clippedZoomSizes } from '../../corruptions/sampling.js';
import { elasticAnchors, elasticPixels } from '../../corruptions/elastic.js';
import type { AnyCorruption } from '../../corruptions/types.js';
import { maxAbsDiff, meanAbsDiff } from './fixtures.js';

beforeAll(async () => {
  await initBackend('wasm');
});

const SHAPE = [32, 32, 3] as const;
const SIZE = 32 * 32 * 3;
const FIXTURE = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'cifar-c-reference');

/** The image of tests/fixtures/cifar-c-reference/make_fixture.py (uint8): two grey rows, then colour. */
function referenceImage(): Uint8Array {
  const img = new Uint8Array(SIZE);
  for (let y = 0; y < 32; y++)
    for (let x = 0; x < 32; x++)
      for (let ch = 0; ch < 3; ch++)
        img[(y * 32 + x) * 3 + ch] = y < 2 ? (x * 8 + y * 4) % 256 : (37 * y + 11 * x * (ch + 1) + 53 * ch + ((x * y) % 17) * 5) % 256;
  return img;
}

/** n RGB 32x32 images with colour gradients, a grey band and black and white pixels. */
function rgbImages(n: number): Float32Array {
  const out = new Float32Array(n * SIZE);
  for (let k = 0; k < n; k++)
    for (let y = 0; y < 32; y++)
      for (let x = 0; x < 32; x++) {
        const grey = y >= 12 && y < 16;
        for (let ch = 0; ch < 3; ch++) {
          const v = grey ? x / 31 : 0.5 + 0.45 * Math.sin(0.3 * x * (ch + 1) + 0.2 * y - 0.7 * k + ch);
          out[k * SIZE + (y * 32 + x) * 3 + ch] = Math.min(1, Math.max(0, v));
        }
      }
  return out;
}

function apply(c: AnyCorruption, images: Float32Array, severity: number, indices?: number[]): Float32Array {
  const n = images.length / SIZE;
  const before = tf.memory().numTensors;
  const x = tf.tensor4d(images, [n, ...SHAPE]);
  const y = c.apply(x, severity, new KeyedRng(5, `test/${c.name}`, indices ?? Array.from({ length: n }, (_, i) => i)));
  expect(y.shape).toEqual([n, ...SHAPE]);
  const out = y.dataSync().slice() as Float32Array;
  tf.dispose([x, y]);
  expect(tf.memory().numTensors - before, `${c.name} leaks tensors`).toBe(0);
  return out;
}

describe('sizes CIFAR-10-C derives from its 32 px side', () => {
  // /usr/bin/python3 scripts/reference/params.py (numpy 1.24.2): keys zoom_sizes_32, pixelate_sizes_32,
  // elastic_32 and elastic_anchors_32, pasted as printed.
  test('zoom_blur: crop int(ceil(32 / z)) and zoomed size round(crop * z) for every numpy.arange factor', () => {
    const numpy: Record<string, [number, number]> = {
      '1.0': [32, 32], '1.01': [32, 32], '1.02': [32, 33], '1.03': [32, 33], '1.04': [31, 32], '1.05': [31, 33], '1.06': [31, 33],
      '1.07': [30, 32], '1.08': [30, 32], '1.09': [30, 33], '1.1': [30, 33], '1.11': [29, 32], '1.12': [29, 32],
      '1.1300000000000001': [29, 33], '1.1400000000000001': [29, 33], '1.1500000000000001': [28, 32], '1.1600000000000001': [28, 32],
      '1.1700000000000002': [28, 33], '1.1800000000000002': [28, 33], '1.1900000000000002': [27, 32], '1.2000000000000002': [27, 32],
      '1.2100000000000002': [27, 33], '1.2200000000000002': [27, 33], '1.2300000000000002': [27, 33], '1.2400000000000002': [26, 32],
      '1.2500000000000002': [26, 33],
    };
    const factors = numpyArange(1, 1.26, 0.01);
    expect(factors.map((z) => String(z).replace(/^1$/, '1.0'))).toEqual(Object.keys(numpy));
    expect(factors.map((z) => [clippedZoomSizes(32, z).crop, clippedZoomSizes(32, z).zoomed])).toEqual(Object.values(numpy));
  });

  test('pixelate: the table factors give the reference int(32 * c)', () => {
    const factors = getCorruption('pixelate').severities.map((p) => (p as { factor: number }).factor);
    expect(factors.map((c) => Math.trunc(32 * c))).toEqual([30, 28, 27, 24, 20]);
  });

  test('elastic_transform: IMSIZE * c per severity and the affine anchors of a 32x32 image', () => {
    const numpy = [
      [0.0, 0.0, 2.56],
      [1.6, 6.4, 2.24],
      [2.56, 1.92, 1.92],
      [3.2, 1.28, 1.6],
      [3.2, 0.96, 0.96],
    ];
    const ours = getCorruption('elastic_transform').severities.map((p) => {
      const px = elasticPixels(p, 32);
      return [px.alpha, px.sigma, px.affine];
    });
    expect(ours).toEqual(numpy); // bit-equal: the same float64 products
    // centre float32(32)//2 = 16, arm min(32, 32)//3 = 10.
    expect(elasticAnchors(32, 32)).toEqual([
      [26, 26],
      [26, 6],
      [6, 6],
    ]);
  });
});

describe('the reference functions on a generated 32x32 RGB image', () => {
  // Fixture: tests/fixtures/cifar-c-reference/make_fixture.py (numpy 1.24.2, scikit-image 0.19.3,
  // OpenCV 4.6.0, Pillow 9.4.0, scipy 1.10.1), each case the reference's output / 255 before its uint8 cast.
  const index = JSON.parse(readFileSync(resolve(FIXTURE, 'cases.json'), 'utf8')) as { shape: number[]; image_sum: number; cases: string[] };
  const data = new Float32Array(readFileSync(resolve(FIXTURE, 'cases.f32')).buffer.slice(0));
  const img = referenceImage();
  const clean = Float32Array.from(img, (v) => v / 255);

  test('the fixture holds the image generated here', () => {
    expect(img.reduce((a, b) => a + b, 0)).toBe(index.image_sum);
    expect(data.length).toBe(index.cases.length * SIZE);
  });

  // float32 against the reference's float64. Measured maxima per pixel: brightness, saturate, snow_wash
  // 6e-8 (one float32 rounding); contrast 1.8e-7; pixelate 0; zoom_blur 2.4e-7; defocus_blur 1.2e-7;
  // gaussian_blur 1.8e-7.
  const TOLERANCE = 1e-6;
  // jpeg_compression equals Pillow byte for byte (0 difference); the jpeg-js 4:4:4 coding used before
  // differed from Pillow's 4:2:0 by 39-44 levels (of 255) on average on this image.

  test.each(index.cases.map((name, i) => [name, i] as const))('%s', (name, i) => {
    const [fn, sev] = name.split('/');
    const severity = Number(sev);
    const theirs = data.subarray(i * SIZE, (i + 1) * SIZE);
    let ours: Float32Array;
    if (fn === 'snow_wash') {
      const blend = (getCorruption('snow').severities[severity - 1] as { blend: number }).blend;
      const out = tf.tidy(() => tf.clipByValue(snowWash(tf.tensor4d(clean, [1, ...SHAPE]) as Tensor4D, blend), 0, 1));
      ours = out.dataSync().slice() as Float32Array;
      out.dispose();
    } else ours = apply(getCorruption(fn), clean, severity);
    expect(maxAbsDiff(ours, theirs)).toBeLessThan(TOLERANCE);
  });
});

describe('RGB steps', () => {
  test('saturate refuses grey images with an InputError naming the shape', () => {
    const x = tf.zeros([1, 32, 32, 1]) as Tensor4D;
    expect(() => saturate.apply(x, 3, new KeyedRng(1, 'k', [0]))).toThrow(InputError);
    expect(() => saturate.apply(x, 3, new KeyedRng(1, 'k', [0]))).toThrow('corruption saturate: image shape: [1, 32, 32, 1]: 1 channels (allowed: float32 NHWC images [N, H, W, C] with H, W >= 3 and C in {3})');
    expect(() => saturate.apply(x, 0, new KeyedRng(1, 'k', [0]))).toThrow(InputError);
    x.dispose();
  });

  test('brightness and saturate leave a grey RGB pixel grey below severity 4 and tint it red (hue 0) above', () => {
    const grey = new Float32Array(SIZE).fill(0.5);
    const b = apply(getCorruption('brightness'), grey, 5);
    expect(maxAbsDiff(b, new Float32Array(SIZE).fill(0.8))).toBeLessThan(1e-7);
    for (const s of [1, 2, 3]) expect(maxAbsDiff(apply(saturate, grey, s), grey)).toBe(0);
    // Severity 5: S = 0 * 2.5 + 0.2, H = 0, so (V, V (1 - S), V (1 - S)) = (0.5, 0.4, 0.4).
    const s5 = apply(saturate, grey, 5);
    expect(Array.from(s5.subarray(0, 3))).toEqual([0.5, Math.fround(0.4), Math.fround(0.4)]);
  });
});

describe.each(listCorruptions().map((c) => [c.name, c] as const))('%s at 32x32x3', (_name, c) => {
  test('every severity keeps the shape and [0,1], changes the images, and a row does not depend on its batch', () => {
    const batch = rgbImages(2);
    for (let s = 1; s <= 5; s++) {
      const y = apply(c, batch, s, [3, 4]);
      for (const v of y) expect(v >= 0 && v <= 1).toBe(true);
      expect(meanAbsDiff(y, batch), `severity ${s}`).toBeGreaterThan(1e-3);
      const alone = apply(c, batch.subarray(SIZE), s, [4]);
      expect(maxAbsDiff(alone, y.subarray(SIZE))).toBeLessThan(1e-6);
    }
  });
});
