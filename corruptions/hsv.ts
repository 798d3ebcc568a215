/**
 * RGB <-> HSV as scikit-image 0.19 computes it (skimage.color.rgb2hsv / hsv2rgb), which CIFAR-10-C's
 * brightness and saturate call. The conversion runs on the host in float64, as skimage does on the
 * reference's float64 images (x / 255.), so an edit of the HSV channels reproduces the reference up to
 * the final float32 cast.
 */
import { tf, type Tensor4D } from '../src/engine/tf.js';

/** An HSV triple with every channel in [0, 1] (hue as a fraction of the full turn). */
export interface Hsv {
  h: number;
  s: number;
  v: number;
}

/**
 * skimage.color.rgb2hsv of one pixel (channels in [0,1]): V = max, S = (max - min) / V (0 where
 * max = min), hue from the channel holding the maximum, blue taking precedence over green over red when
 * they tie (skimage assigns in the order red, green, blue, each overwriting the last), then
 * (hue / 6) mod 1 with numpy's floating modulo (a negative hue wraps to hue + 1, which can round to 1).
 */
export function rgbToHsv(r: number, g: number, b: number): Hsv {
  const v = Math.max(r, g, b);
  const delta = v - Math.min(r, g, b);
  if (delta === 0) return { h: 0, s: 0, v };
  let sector: number;
  if (b === v) sector = 4 + (r - g) / delta;
  else if (g === v) sector = 2 + (b - r) / delta;
  else sector = (g - b) / delta;
  let h = (sector / 6) % 1; // C fmod, exact
  if (h < 0) h += 1; // numpy's remainder: the result takes the divisor's sign
  return { h, s: delta / v, v };
}

/**
 * skimage.color.hsv2rgb of one pixel: sector i = floor(6 h) mod 6, f = 6 h - floor(6 h),
 * p = v (1 - s), q = v (1 - f s), t = v (1 - (1 - f) s), and (v,t,p), (q,v,p), (p,v,t), (p,q,v),
 * (t,p,v), (v,p,q) for sectors 0..5. Returns [r, g, b].
 */
export function hsvToRgb({ h, s, v }: Hsv): [number, number, number] {
  const hi = Math.floor(h * 6);
  const f = h * 6 - hi;
  const p = v * (1 - s);
  const q = v * (1 - f * s);
  const t = v * (1 - (1 - f) * s);
  switch (((hi % 6) + 6) % 6) {
    case 0:
      return [v, t, p];
    case 1:
      return [q, v, p];
    case 2:
      return [p, v, t];
    case 3:
      return [p, q, v];
    case 4:
      return [t, p, v];
    default:
      return [v, p, q];
  }
}

/**
 * Converts every pixel of RGB images x [N, H, W, 3] (values in [0,1]) to HSV, lets `edit` change the
 * triple in place, and converts back: the reference's `hsv = rgb2hsv(x); hsv[..., k] = ...;
 * hsv2rgb(hsv)`. Returns a new float32 tensor of the same shape (not clipped). Throws for C != 3.
 */
export function editHsv(x: Tensor4D, edit: (hsv: Hsv) => void): Tensor4D {
  if (x.shape[3] !== 3) throw new Error(`editHsv: needs RGB images (3 channels), got ${x.shape[3]}`);
  const px = x.dataSync();
  const out = new Float32Array(px.length);
  for (let i = 0; i < px.length; i += 3) {
    const hsv = rgbToHsv(px[i], px[i + 1], px[i + 2]);
    edit(hsv);
    const [r, g, b] = hsvToRgb(hsv);
    out[i] = r;
    out[i + 1] = g;
    out[i + 2] = b;
  }
  return tf.tensor4d(out, x.shape);
}
