import { describe, expect, it, beforeAll } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { adaptDataset, greyToRgb, planAdaptation, resizeBilinear, rgbToGrey } from '../../src/datasets/adapt.js';
import type { ImageDataset } from '../../src/datasets/types.js';
import { expectInputError } from '../helpers/datasetFiles.js';
import { mulberry32 } from '../helpers/mulberry32.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function random(n: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => r());
}

/** tf.image.resizeBilinear(alignCorners = false, halfPixelCenters = true) on the cpu backend. */
function tfResize(x: Float32Array, shape: [number, number, number, number], out: [number, number]): Float32Array {
  return tf.tidy(() => tf.image.resizeBilinear(tf.tensor4d(x, shape), out, false, true).dataSync() as Float32Array);
}

function dataset(images: Float32Array, count: number, h: number, w: number, c: number): ImageDataset {
  return {
    images,
    labels: new Int32Array(count),
    count,
    height: h,
    width: w,
    channels: c,
    classNames: ['a'],
    source: 's',
    labelsSource: 's',
    offset: 0,
    total: count,
    labelled: true,
    record: { name: 't', source: 't', split: 'test', files: [], shape: [count, h, w, c], total: count, offset: 0, numClasses: 1, classNames: ['a'], labelled: true },
  };
}

describe('resizeBilinear (half-pixel centres)', () => {
  it('matches tf.image.resizeBilinear(halfPixelCenters) on the cpu backend: up, down, non-integer ratios, RGB', () => {
    const cases: [number, number, number, number, number, number][] = [
      // count, inH, inW, c, outH, outW
      [2, 28, 28, 1, 32, 32],
      [2, 32, 32, 3, 28, 28],
      [1, 7, 5, 3, 13, 2],
      [3, 9, 11, 1, 4, 17],
      [1, 1, 1, 3, 3, 2],
    ];
    for (const [n, h, w, c, oh, ow] of cases) {
      const x = random(n * h * w * c, n * 1000 + h * 10 + ow);
      const ours = resizeBilinear(x, n, h, w, c, oh, ow);
      const ref = tfResize(x, [n, h, w, c], [oh, ow]);
      expect(ours.length).toBe(ref.length);
      let worst = 0;
      for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(ours[i] - ref[i]));
      // Same formula in the same order (double arithmetic, float32 store): identical up to float32 rounding.
      expect(worst, `${h}x${w}x${c} -> ${oh}x${ow}`).toBeLessThanOrEqual(1e-7);
    }
  });

  it('gives the known half-pixel values for 2x2 -> 4x4 (also PyTorch interpolate align_corners=False)', () => {
    const out = resizeBilinear(Float32Array.from([0, 1, 2, 3]), 1, 2, 2, 1, 4, 4);
    // Source coordinates of output 0..3: -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1).
    expect(Array.from(out)).toEqual([0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3]);
    // Halving an image averages 2x2 blocks exactly (sample points fall midway between pixels).
    const half = resizeBilinear(Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]), 1, 4, 4, 1, 2, 2);
    expect(Array.from(half)).toEqual([2.5, 4.5, 10.5, 12.5]);
    // Same size is the identity.
    const x = random(3 * 5 * 2, 9);
    expect(Array.from(resizeBilinear(x, 1, 3, 5, 2, 3, 5))).toEqual(Array.from(x));
  });
});

describe('channel conversion', () => {
  it('RGB to grey uses the ITU-R BT.601 luma weights 0.299, 0.587, 0.114', () => {
    const grey = rgbToGrey(Float32Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1, 0.5, 0.25, 1]), 5);
    expect(Array.from(grey)).toEqual([0.299, 0.587, 0.114, 1, 0.299 * 0.5 + 0.587 * 0.25 + 0.114].map(Math.fround));
  });

  it('grey to RGB replicates the value', () => {
    expect(Array.from(greyToRgb(Float32Array.from([0.5, 0.25]), 2))).toEqual([0.5, 0.5, 0.5, 0.25, 0.25, 0.25]);
  });
});

describe('adaptDataset', () => {
  it('28x28x1 -> 32x32x3: resize then replicate, equal to tf resize of the grey image; notice and record', () => {
    const x = random(2 * 28 * 28, 3);
    const { data, notice } = adaptDataset(dataset(x, 2, 28, 28, 1), [32, 32, 3]);
    expect([data.height, data.width, data.channels, data.images.length]).toEqual([32, 32, 3, 2 * 32 * 32 * 3]);
    const ref = tfResize(x, [2, 28, 28, 1], [32, 32]);
    for (let p = 0; p < ref.length; p++) for (let c = 0; c < 3; c++) expect(Math.abs(data.images[3 * p + c] - ref[p])).toBeLessThanOrEqual(1e-7);
    expect(notice).toBe(
      'dataset: 2 images of 28x28x1 adapted to the model input 32x32x3: bilinear resize (half-pixel centres, as tf.image.resizeBilinear halfPixelCenters), grey to RGB (value replicated)',
    );
    expect(data.record.adaptation).toEqual({ from: [28, 28, 1], to: [32, 32, 3], resized: true, channels: 'grey-to-rgb', notice });
    expect(data.record.shape).toEqual([2, 28, 28, 1]); // as read; the adaptation says what changed
  });

  it('32x32x3 -> 28x28x1: luma then resize, equal to tf resize of the BT.601 luma image', () => {
    const x = random(32 * 32 * 3, 4);
    const { data, notice } = adaptDataset(dataset(x, 1, 32, 32, 3), [28, 28, 1]);
    const luma = tf.tidy(() => {
      const t = tf.tensor4d(x, [1, 32, 32, 3]);
      const y = tf.sum(tf.mul(t, tf.tensor1d([0.299, 0.587, 0.114])), -1, true);
      return tf.image.resizeBilinear(y as tf.Tensor4D, [28, 28], false, true).dataSync() as Float32Array;
    });
    let worst = 0;
    for (let i = 0; i < luma.length; i++) worst = Math.max(worst, Math.abs(data.images[i] - luma[i]));
    expect(worst).toBeLessThanOrEqual(1e-6);
    expect(notice).toMatch(/RGB to grey \(ITU-R BT\.601 luma\)$/);
  });

  it('returns the same dataset and no notice when the shape already matches', () => {
    const d = dataset(random(4, 1), 1, 2, 2, 1);
    const r = adaptDataset(d, [2, 2, 1]);
    expect(r.data).toBe(d);
    expect(r.notice).toBeNull();
  });

  it('refuses channel counts other than 1 and 3 in one line, and a bad target', async () => {
    await expectInputError(
      () => adaptDataset(dataset(random(16, 1), 1, 2, 2, 4), [2, 2, 3], 'npz:x.npz'),
      'npz:x.npz: cannot adapt 2x2x4 images to the model input 2x2x3: no conversion from 4 to 3 channels (allowed: 1 grey <-> 3 RGB)',
    );
    await expectInputError(() => planAdaptation([2, 2, 3], [2, 2, 2]), 'no conversion from 3 to 2 channels');
    await expectInputError(() => planAdaptation([2, 2, 3], [0, 2, 3]), 'model input shape 0x2x3 is not a positive [height, width, channels]');
  });
});
