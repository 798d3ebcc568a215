import { SampleStream } from '../engine/rng.js';
import type { ImageShape } from '../data/batching.js';

/**
 * The reference's CIFAR training augmentation (yjhuangcd/CNNF train.py, train_transform_cifar):
 * torchvision's RandomHorizontalFlip() (p = 0.5) then RandomCrop(32, padding=4), which pads every side
 * with `pad` zero pixels (black, before normalisation) and cuts a window of the original size whose
 * top-left corner is uniform over the (2 pad + 1)^2 positions (torch.randint(0, h + 2 pad - h + 1)).
 */
export interface CropFlip {
  flip: boolean;
  /** Top-left corner of the window in the padded image, each in 0..2 pad. */
  top: number;
  left: number;
}

/** Draws one image's flip and crop offsets from its stream (flip first, then top, then left). */
export function drawCropFlip(stream: SampleStream, pad: number): CropFlip {
  const flip = stream.next() < 0.5;
  const top = stream.int(2 * pad + 1);
  const left = stream.int(2 * pad + 1);
  return { flip, top, left };
}

/**
 * Writes the flipped, padded and cropped version of one HWC image (`src` from `srcOffset`) into `out` at
 * `outOffset`: out(y, x) = flipped(y + top - pad, x + left - pad), zero outside the image, where
 * flipped(u, v) = src(u, w - 1 - v) when `t.flip` (the flip comes before the crop, as in the reference).
 */
export function cropFlipImage(
  src: Float32Array,
  srcOffset: number,
  shape: ImageShape,
  pad: number,
  t: CropFlip,
  out: Float32Array,
  outOffset: number,
): void {
  const [h, w, c] = shape;
  for (let y = 0; y < h; y++) {
    const u = y + t.top - pad;
    for (let x = 0; x < w; x++) {
      const v = x + t.left - pad;
      const o = outOffset + (y * w + x) * c;
      if (u < 0 || u >= h || v < 0 || v >= w) {
        for (let k = 0; k < c; k++) out[o + k] = 0;
        continue;
      }
      const s = srcOffset + (u * w + (t.flip ? w - 1 - v : v)) * c;
      for (let k = 0; k < c; k++) out[o + k] = src[s + k];
    }
  }
}

/**
 * The augmented NHWC batch [rows.length, h, w, c] of dataset rows `rows` of `images` (rows of h*w*c
 * pixels in [0,1]). Each image's draw is keyed by (seed, epoch, its global sample index `offset + row`),
 * so a resumed run and a different batch size see the same augmentation of an image in an epoch.
 */
export function augmentBatch(
  images: Float32Array,
  rows: readonly number[],
  shape: ImageShape,
  pad: number,
  seed: number,
  epoch: number,
  offset = 0,
): Float32Array {
  const size = shape[0] * shape[1] * shape[2];
  const out = new Float32Array(rows.length * size);
  rows.forEach((row, i) => {
    const t = drawCropFlip(new SampleStream(seed, `augment/epoch-${epoch}`, offset + row), pad);
    cropFlipImage(images, row * size, shape, pad, t, out, i * size);
  });
  return out;
}
