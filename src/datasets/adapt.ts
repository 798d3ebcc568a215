/**
 * Adapting a dataset's images to a model's input shape [H, W, C]: bilinear resize and grey <-> RGB.
 *
 * - Resize: bilinear interpolation with half-pixel centres, i.e. the output pixel (r, c) samples the input
 *   at ((r + 0.5) * inH / outH - 0.5, (c + 0.5) * inW / outW - 0.5), coordinates clamped to the image, no
 *   antialiasing when shrinking. This is tf.image.resizeBilinear(x, size, alignCorners = false,
 *   halfPixelCenters = true) (TensorFlow's `half_pixel_centers`, the convention of tf.image.resize in TF 2
 *   without antialias, and of PyTorch's F.interpolate(mode='bilinear', align_corners=False) when enlarging).
 *   Arithmetic follows tfjs-backend-cpu's ResizeBilinear kernel (double precision, lerp along columns,
 *   then rows, stored as float32).
 * - Grey to RGB: the grey value replicated into R, G and B.
 * - RGB to grey: luma Y' = 0.299 R' + 0.587 G' + 0.114 B', the weights of Recommendation ITU-R BT.601-7
 *   (section 2.5.1; also PIL's "L" conversion). tf.image.rgb_to_grayscale uses 0.2989, 0.5870, 0.1140.
 * Any other channel change (2 or 4 channels on either side) is refused: there is no meaning-preserving map.
 */
import { InputError } from '../engine/errors.js';
import type { DatasetAdaptation, ImageDataset } from './types.js';
import { tf, type Tensor4D } from '../engine/tf.js';

/** Per-image shape [height, width, channels]. */
export type ImageShape = readonly [number, number, number];

/** BT.601 luma weights for R', G', B'. */
export const BT601_LUMA: readonly [number, number, number] = [0.299, 0.587, 0.114];

/** Largest adapted image array accepted (float32 elements): 2^30, i.e. 4 GiB. */
export const MAX_ADAPTED_ELEMENTS = 2 ** 30;

/**
 * Bilinear resize (half-pixel centres, see the module comment) of `count` NHWC images [inH, inW, c] to
 * [outH, outW, c]. Values are interpolated, never clipped: inputs in [0,1] stay in [0,1].
 */
export function resizeBilinear(src: Float32Array, count: number, inH: number, inW: number, c: number, outH: number, outW: number): Float32Array {
  const out = new Float32Array(count * outH * outW * c);
  const rowRatio = inH / outH;
  const colRatio = inW / outW;
  // Per output column: the two source columns and the weight (independent of the row and image).
  const col0 = new Int32Array(outW);
  const col1 = new Int32Array(outW);
  const colFrac = new Float64Array(outW);
  for (let x = 0; x < outW; x++) {
    const f = colRatio * (x + 0.5) - 0.5;
    col0[x] = Math.max(0, Math.floor(f));
    col1[x] = Math.min(inW - 1, Math.ceil(f));
    colFrac[x] = f - col0[x];
  }
  let o = 0;
  for (let b = 0; b < count; b++) {
    const img = b * inH * inW * c;
    for (let y = 0; y < outH; y++) {
      const f = rowRatio * (y + 0.5) - 0.5;
      const r0 = Math.max(0, Math.floor(f));
      const r1 = Math.min(inH - 1, Math.ceil(f));
      const rowFrac = f - r0;
      const top = img + r0 * inW * c;
      const bottom = img + r1 * inW * c;
      for (let x = 0; x < outW; x++) {
        const cf = colFrac[x];
        for (let ch = 0; ch < c; ch++) {
          const tl = src[top + col0[x] * c + ch];
          const tr = src[top + col1[x] * c + ch];
          const bl = src[bottom + col0[x] * c + ch];
          const br = src[bottom + col1[x] * c + ch];
          const t = tl + (tr - tl) * cf;
          const bo = bl + (br - bl) * cf;
          out[o++] = t + (bo - t) * rowFrac;
        }
      }
    }
  }
  return out;
}

/** 1-channel pixels to 3 channels, each the grey value. `pixels` = count * H * W. */
export function greyToRgb(src: Float32Array, pixels: number): Float32Array {
  const out = new Float32Array(pixels * 3);
  for (let p = 0; p < pixels; p++) out[3 * p] = out[3 * p + 1] = out[3 * p + 2] = src[p];
  return out;
}

/** 3-channel pixels to 1 channel, Y' = 0.299 R' + 0.587 G' + 0.114 B' (ITU-R BT.601). */
export function rgbToGrey(src: Float32Array, pixels: number): Float32Array {
  const out = new Float32Array(pixels);
  const [wr, wg, wb] = BT601_LUMA;
  for (let p = 0; p < pixels; p++) out[p] = wr * src[3 * p] + wg * src[3 * p + 1] + wb * src[3 * p + 2];
  return out;
}

const show = (s: ImageShape) => `${s[0]}x${s[1]}x${s[2]}`;

/**
 * What adapting images of shape `from` to `to` would do, or null when they already match. Throws an
 * InputError (one line, naming `where`) when it cannot be done: a channel count other than 1 or 3, or a
 * non-positive size.
 */
export function planAdaptation(from: ImageShape, to: ImageShape, where = 'dataset'): Omit<DatasetAdaptation, 'notice'> | null {
  for (const [shape, what] of [
    [from, 'dataset images'],
    [to, 'model input'],
  ] as const)
    if (shape.some((d) => !Number.isInteger(d) || d < 1)) throw new InputError(`${where}: ${what} shape ${shape.join('x')} is not a positive [height, width, channels]`);
  const [, , fc] = from;
  const [, , tc] = to;
  if (fc !== tc && !((fc === 1 || fc === 3) && (tc === 1 || tc === 3)))
    throw new InputError(
      `${where}: cannot adapt ${show(from)} images to the model input ${show(to)}: no conversion from ${fc} to ${tc} channels (allowed: 1 grey <-> 3 RGB)`,
    );
  const resized = from[0] !== to[0] || from[1] !== to[1];
  const channels = fc === tc ? null : fc === 1 ? 'grey-to-rgb' : 'rgb-to-grey';
  if (!resized && channels === null) return null;
  return { from: [...from] as [number, number, number], to: [...to] as [number, number, number], resized, channels };
}

/** The one-line notice for an adaptation. */
export function adaptationNotice(a: Omit<DatasetAdaptation, 'notice'>, count: number): string {
  const steps: string[] = [];
  if (a.resized) steps.push('bilinear resize (half-pixel centres, as tf.image.resizeBilinear halfPixelCenters)');
  if (a.channels === 'grey-to-rgb') steps.push('grey to RGB (value replicated)');
  if (a.channels === 'rgb-to-grey') steps.push('RGB to grey (ITU-R BT.601 luma)');
  return `dataset: ${count} images of ${show(a.from)} adapted to the model input ${show(a.to)}: ${steps.join(', ')}`;
}

/**
 * Returns `data` with its images adapted to `target` [H, W, C] and the notice to print (null, and `data`
 * itself, when nothing changes). Channel reduction runs before the resize and replication after it (the
 * cheaper order; both are linear per pixel, so the result is the same). The record gains `adaptation`.
 * Throws an InputError when the adaptation cannot work (see planAdaptation) or would exceed
 * MAX_ADAPTED_ELEMENTS.
 */
export function adaptDataset(data: ImageDataset, target: ImageShape, where = 'dataset'): { data: ImageDataset; notice: string | null } {
  const plan = planAdaptation([data.height, data.width, data.channels], target, where);
  if (!plan) return { data, notice: null };
  const [th, tw, tc] = target;
  if (data.count * th * tw * Math.max(tc, data.channels) > MAX_ADAPTED_ELEMENTS)
    throw new InputError(`${where}: adapting ${data.count} images to ${show(target)} needs more than ${MAX_ADAPTED_ELEMENTS} values (4 GiB); lower --limit`);
  let images = data.images;
  let c = data.channels;
  if (plan.channels === 'rgb-to-grey') {
    images = rgbToGrey(images, data.count * data.height * data.width);
    c = 1;
  }
  if (plan.resized) images = resizeBilinear(images, data.count, data.height, data.width, c, th, tw);
  if (plan.channels === 'grey-to-rgb') images = greyToRgb(images, data.count * th * tw);
  const notice = adaptationNotice(plan, data.count);
  const adaptation: DatasetAdaptation = { ...plan, notice };
  return {
    data: { ...data, images, height: th, width: tw, channels: tc, record: { ...data.record, adaptation } },
    notice,
  };
}

/**
 * The tensor twin of adaptDataset for images made during a run (corrupted images, before each model sees
 * them): NHWC [N,H,W,C] in [0,1] to [N, to[0], to[1], to[2]] with the same steps (BT.601 luma for RGB to
 * grey, half-pixel bilinear resize as tf.image.resizeBilinear(halfPixelCenters = true), grey replicated
 * to RGB). Returns `x` itself when the shapes match (the caller owns both either way); throws the
 * InputError of planAdaptation when the conversion cannot work.
 */
export function adaptBatch(x: Tensor4D, to: ImageShape, where = 'dataset'): Tensor4D {
  const [, h, w, c] = x.shape;
  const plan = planAdaptation([h, w, c], to, where);
  if (!plan) return x;
  return tf.tidy(() => {
    let y: Tensor4D = x;
    if (plan.channels === 'rgb-to-grey') y = tf.sum(tf.mul(y, tf.tensor1d([...BT601_LUMA])), 3, true) as Tensor4D;
    if (plan.resized) y = tf.image.resizeBilinear(y, [to[0], to[1]], false, true);
    if (plan.channels === 'grey-to-rgb') y = tf.tile(y, [1, 1, 1, 3]) as Tensor4D;
    return y === x ? tf.clone(x) : y;
  });
}
