/**
 * Digital corruptions. Tables: CIFAR-10-C (Hendrycks & Dietterich 2019, ICLR), make_cifar_c.py functions
 * contrast, pixelate, jpeg_compression (elastic_transform is in elastic.ts).
 * Sizes come from the image: pixelate's reduced size is int(side * factor), the reference's int(32 * factor)
 * on 32x32 CIFAR-10 images and int(28 * factor) on Fashion-MNIST; contrast (one mean per image and
 * channel) and JPEG quality are size independent. saturate edits HSV saturation and needs RGB images.
 */
import jpeg from 'jpeg-js';
import { tf, type Tensor4D } from '../src/engine/tf.js';
import { cite, defineCorruption } from './define.js';
import { editHsv } from './hsv.js';
import { jpeg420RoundTrip } from './jpeg420.js';

/** (x - mean) * factor + mean, with the mean per image and channel. */
export const contrast = defineCorruption<{ factor: number }>({
  name: 'contrast',
  family: 'digital',
  describe: 'contrast reduction: (x - mean) * factor + mean per image',
  severities: [{ factor: 0.75 }, { factor: 0.5 }, { factor: 0.4 }, { factor: 0.3 }, { factor: 0.15 }],
  source: cite('contrast', { native: 'one mean per channel (axes 0, 1)', other: 'one mean per image' }),
  corrupt: (x, { factor }) =>
    tf.tidy(() => {
      const mean = tf.mean(x, [1, 2], true);
      return tf.add(tf.mul(tf.sub(x, mean), factor), mean) as Tensor4D;
    }),
});

/**
 * Weights of PIL's Image.resize(BOX) along one axis as an [outSize, inSize] matrix (Pillow's
 * precompute_coeffs with the box filter): shrinking averages the input pixels whose centres fall in the
 * output pixel's span (so blocks have 1 or 2 pixels when the factor is not an integer), enlarging picks
 * the input pixel under the output pixel's centre (nearest neighbour).
 */
export function boxResizeMatrix(inSize: number, outSize: number): Float32Array {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 0.5 * filterScale;
  const m = new Float32Array(outSize * inSize);
  for (let o = 0; o < outSize; o++) {
    const centre = (o + 0.5) * scale;
    const lo = Math.max(0, Math.trunc(centre - support + 0.5));
    const hi = Math.min(inSize, Math.trunc(centre + support + 0.5));
    let total = 0;
    for (let i = lo; i < hi; i++) {
      const t = (i - centre + 0.5) / filterScale;
      if (t > -0.5 && t <= 0.5) {
        m[o * inSize + i] = 1;
        total++;
      }
    }
    for (let i = lo; i < hi; i++) m[o * inSize + i] /= total || 1;
  }
  return m;
}

function matMulRows(a: Float32Array, rows: number, inner: number, b: Float32Array, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++)
    for (let k = 0; k < inner; k++) {
      const v = a[i * inner + k];
      if (v !== 0) for (let j = 0; j < cols; j++) out[i * cols + j] += v * b[k * cols + j];
    }
  return out;
}

/** The linear map "shrink to `small` with BOX, enlarge back to `size` with BOX" as a [size, size] matrix. */
export function pixelateMatrix(size: number, small: number): Float32Array {
  return matMulRows(boxResizeMatrix(small, size), size, small, boxResizeMatrix(size, small), size);
}

/** Applies y = R x C^T to every image and channel: R is [h, h] (rows), C is [w, w] (columns). */
function mixAxes(x: Tensor4D, rowMatrix: Float32Array, colMatrix: Float32Array): Tensor4D {
  const [n, h, w, c] = x.shape;
  return tf.tidy(() => {
    const byRow = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [n * c * h, w]);
    const colsMixed = tf.matMul(byRow, tf.tensor2d(colMatrix, [w, w]), false, true);
    const byCol = tf.reshape(tf.transpose(tf.reshape(colsMixed, [n * c, h, w]), [0, 2, 1]), [n * c * w, h]);
    const rowsMixed = tf.matMul(byCol, tf.tensor2d(rowMatrix, [h, h]), false, true);
    return tf.transpose(tf.reshape(rowsMixed, [n, c, w, h]), [0, 3, 2, 1]) as Tensor4D;
  });
}

/** Shrinks every image to small x small with PIL's BOX filter and enlarges it back (batched matmuls). */
export function pixelateTo(x: Tensor4D, smallH: number, smallW: number): Tensor4D {
  const [, h, w] = x.shape;
  return mixAxes(x, pixelateMatrix(h, smallH), pixelateMatrix(w, smallW));
}

export const pixelate = defineCorruption<{ factor: number }>({
  name: 'pixelate',
  family: 'digital',
  describe: 'pixelation: shrink to int(size * factor) with a box filter, enlarge back (PIL BOX both ways)',
  severities: [{ factor: 0.95 }, { factor: 0.9 }, { factor: 0.85 }, { factor: 0.75 }, { factor: 0.65 }],
  source: cite('pixelate', { native: 'reduced size int(32 * factor)', other: 'reduced size int(side * factor), int(28 * factor) on Fashion-MNIST' }),
  corrupt: (x, { factor }) => pixelateTo(x, Math.trunc(x.shape[1] * factor), Math.trunc(x.shape[2] * factor)),
});

/** JPEG codes 8x8 blocks: a tile padded to a multiple of 8 owns its blocks. */
const JPEG_BLOCK = 8;
/** Images per mosaic (a 32-tile-wide, 32-tile-high mosaic of 32x32 tiles is 1 megapixel). */
const JPEG_MOSAIC_IMAGES = 1024;

/**
 * JPEG round trip of images first..first+count-1 through one mosaic. Each image sits in its own tile,
 * padded to a multiple of 8 by repeating its last row and column, which is exactly how the encoder pads a
 * lone image; the quantised DCT coefficients of a block depend only on that block (DC prediction is
 * lossless), and the decoder does not filter across blocks (4:4:4, no smoothing). So every image decodes
 * as it would alone, and the encoder's setup (tens of ms) is paid once per mosaic instead of per image.
 */
function jpegRoundTrip(pixels: ArrayLike<number>, out: Float32Array, shape: number[], first: number, count: number, quality: number): void {
  const [, h, w, c] = shape;
  const tileH = Math.ceil(h / JPEG_BLOCK) * JPEG_BLOCK;
  const tileW = Math.ceil(w / JPEG_BLOCK) * JPEG_BLOCK;
  const cols = Math.ceil(Math.sqrt(count));
  const rows = Math.ceil(count / cols);
  const width = cols * tileW;
  const height = rows * tileH;
  const rgba = new Uint8Array(width * height * 4).fill(255);
  for (let k = 0; k < count; k++) {
    const base = (first + k) * h * w * c;
    const ox = (k % cols) * tileW;
    const oy = Math.floor(k / cols) * tileH;
    for (let y = 0; y < tileH; y++)
      for (let x = 0; x < tileW; x++) {
        const src = base + (Math.min(y, h - 1) * w + Math.min(x, w - 1)) * c;
        const dst = ((oy + y) * width + ox + x) * 4;
        for (let ch = 0; ch < 3; ch++) rgba[dst + ch] = Math.round(pixels[src + (c === 1 ? 0 : ch)] * 255);
      }
  }
  const encoded = jpeg.encode({ data: rgba, width, height }, quality);
  const decoded = jpeg.decode(encoded.data, { useTArray: true, formatAsRGBA: true }).data;
  for (let k = 0; k < count; k++) {
    const base = (first + k) * h * w * c;
    const ox = (k % cols) * tileW;
    const oy = Math.floor(k / cols) * tileH;
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const src = ((oy + y) * width + ox + x) * 4;
        const dst = base + (y * w + x) * c;
        if (c === 1) out[dst] = (decoded[src] + decoded[src + 1] + decoded[src + 2]) / (3 * 255);
        else for (let ch = 0; ch < c; ch++) out[dst + ch] = decoded[src + ch] / 255;
      }
  }
}

/**
 * Encodes and decodes every image as a baseline JPEG at `quality` (IJG quality scaling of the standard
 * tables, as PIL's save(quality=...) uses), on the host. RGB images are rounded to 8 bits and coded as
 * Pillow does, with 4:2:0 chroma subsampling (jpeg420.ts). Grey images are encoded with jpeg-js as R=G=B,
 * which leaves only the luma channel carrying information, equivalent to a one-channel JPEG.
 */
export const jpegCompression = defineCorruption<{ quality: number }>({
  name: 'jpeg_compression',
  family: 'digital',
  describe: 'JPEG compression artefacts: encode and decode at `quality` (1-100)',
  severities: [{ quality: 80 }, { quality: 65 }, { quality: 58 }, { quality: 50 }, { quality: 40 }],
  source: cite('jpeg_compression', {
    native: 'coded as Pillow/libjpeg-turbo do (YCbCr 4:2:0, IJG tables, integer DCTs, fancy upsampling; jpeg420.ts), equal to Pillow byte for byte',
    other: 'RGB images of any size as at 32x32; grey images encoded with the jpeg-js package as R = G = B (4:4:4; the chroma is constant)',
  }),
  corrupt: (x, { quality }) => {
    if (x.shape[3] !== 1 && x.shape[3] !== 3) throw new Error(`jpeg_compression: needs 1 or 3 channels, got ${x.shape[3]}`);
    const pixels = x.dataSync();
    const out = new Float32Array(pixels.length);
    if (x.shape[3] === 3) {
      // RGB: Pillow's 4:2:0 coding (jpeg420.ts) on the 8-bit image, as the reference saves a PIL image.
      const [n, h, w] = x.shape;
      const size = h * w * 3;
      for (let r = 0; r < n; r++) {
        const bytes = Uint8Array.from(pixels.subarray(r * size, (r + 1) * size), (v) => Math.round(v * 255));
        const decoded = jpeg420RoundTrip(bytes, h, w, quality);
        for (let i = 0; i < size; i++) out[r * size + i] = decoded[i] / 255;
      }
      return tf.tensor4d(out, x.shape);
    }
    for (let first = 0; first < x.shape[0]; first += JPEG_MOSAIC_IMAGES)
      jpegRoundTrip(pixels, out, x.shape, first, Math.min(JPEG_MOSAIC_IMAGES, x.shape[0] - first), quality);
    return tf.tensor4d(out, x.shape);
  },
});

/**
 * Saturation change through HSV, as skimage.color.rgb2hsv / hsv2rgb (hsv.ts): S' = clip(S * scale + shift,
 * 0, 1). Defined for RGB images only: a grey image has no saturation to change, and the reference's
 * shift would tint it red (hue 0), which one channel cannot hold; apply() throws an InputError for C = 1
 * (channels [3]).
 */
export const saturate = defineCorruption<{ scale: number; shift: number }>({
  name: 'saturate',
  family: 'digital',
  describe: 'saturation change (RGB only): HSV saturation times `scale` plus `shift`, clipped to [0, 1]',
  severities: [
    { scale: 0.3, shift: 0 },
    { scale: 0.1, shift: 0 },
    { scale: 1.5, shift: 0 },
    { scale: 2, shift: 0.1 },
    { scale: 2.5, shift: 0.2 },
  ],
  source: cite('saturate', {
    native: 'through HSV as skimage.color.rgb2hsv/hsv2rgb',
    other: 'RGB images of any size alike; grey images are refused',
    always: 'one of the four held-out corruptions of the paper (not in the 15 of CIFAR-10-C)',
  }),
  channels: [3],
  corrupt: (x, { scale, shift }) =>
    editHsv(x, (p) => {
      p.s = Math.min(Math.max(p.s * scale + shift, 0), 1);
    }),
});

export const DIGITAL_CORRUPTIONS = [contrast, pixelate, jpegCompression] as const;
