import { describe, expect, it } from 'vitest';
import { SampleStream } from '../../src/engine/rng.js';
import { augmentBatch, cropFlipImage, drawCropFlip, type CropFlip } from '../../src/train/augment.js';

/**
 * The reference's CIFAR augmentation (torchvision RandomHorizontalFlip then RandomCrop(32, padding=4)) on
 * hand-made images: a 2x3 image with two channels (channel 1 = 10 x channel 0), padding 1, expected outputs
 * written out by hand from the definition (pad with zeros, flip before crop, window at (top, left) of the
 * padded image).
 */
const H = 2;
const W = 3;
const C = 2;
// Channel 0: [[1, 2, 3], [4, 5, 6]]; channel 1: ten times that. HWC layout.
const image = Float32Array.from([1, 10, 2, 20, 3, 30, 4, 40, 5, 50, 6, 60]);

function apply(t: CropFlip): number[][] {
  const out = new Float32Array(H * W * C);
  cropFlipImage(image, 0, [H, W, C], 1, t, out, 0);
  const planes: number[][] = [[], []];
  for (let p = 0; p < H * W; p++) for (let k = 0; k < C; k++) planes[k].push(out[p * C + k]);
  return planes;
}

describe('flip and padded random crop', () => {
  it('the centred window without a flip is the image itself', () => {
    expect(apply({ flip: false, top: 1, left: 1 })).toEqual([[1, 2, 3, 4, 5, 6], [10, 20, 30, 40, 50, 60]]);
  });

  it('top-left window: one zero row above, one zero column on the left', () => {
    expect(apply({ flip: false, top: 0, left: 0 })[0]).toEqual([0, 0, 0, 0, 1, 2]);
  });

  it('bottom window: the second row moves up, zeros below', () => {
    expect(apply({ flip: false, top: 2, left: 1 })[0]).toEqual([4, 5, 6, 0, 0, 0]);
  });

  it('flip before crop: the mirrored image shifted left, zeros on the right', () => {
    // Mirrored: [[3, 2, 1], [6, 5, 4]]; window at top 1, left 2 of the padded mirror.
    expect(apply({ flip: true, top: 1, left: 2 })).toEqual([[2, 1, 0, 5, 4, 0], [20, 10, 0, 50, 40, 0]]);
  });

  it('draws flips with probability 1/2 and offsets uniform over 0..2 pad', () => {
    const counts = new Array(9).fill(0);
    let flips = 0;
    const n = 9000;
    for (let i = 0; i < n; i++) {
      const t = drawCropFlip(new SampleStream(1, 'augment-test', i), 4);
      counts[t.top]++;
      flips += t.flip ? 1 : 0;
      expect(t.left).toBeGreaterThanOrEqual(0);
      expect(t.left).toBeLessThanOrEqual(8);
    }
    // Binomial sd: sqrt(9000 / 4) = 47 for flips, sqrt(9000 * 8 / 81) = 30 per offset; 5 sd bounds.
    expect(Math.abs(flips - n / 2)).toBeLessThan(5 * 47);
    for (const c of counts) expect(Math.abs(c - n / 9)).toBeLessThan(5 * 30);
  });

  it('a batch: each image keyed by (seed, epoch, global index), so the same image gets the same draw in any batch', () => {
    const images = new Float32Array(3 * 32 * 32 * 3).map((_, i) => (i % 251) / 251);
    const a = augmentBatch(images, [0, 2], [32, 32, 3], 4, 5, 0, 100);
    const b = augmentBatch(images, [2], [32, 32, 3], 4, 5, 0, 100);
    expect(Array.from(a.subarray(32 * 32 * 3))).toEqual(Array.from(b));
    const t = drawCropFlip(new SampleStream(5, 'augment/epoch-0', 102), 4);
    const single = new Float32Array(32 * 32 * 3);
    cropFlipImage(images, 2 * 32 * 32 * 3, [32, 32, 3], 4, t, single, 0);
    expect(Array.from(b)).toEqual(Array.from(single));
    const nextEpoch = augmentBatch(images, [2], [32, 32, 3], 4, 5, 1, 100);
    expect(Array.from(nextEpoch)).not.toEqual(Array.from(b));
  });
});
