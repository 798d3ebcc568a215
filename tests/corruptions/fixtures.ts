/** Shared helpers for the corruption tests: synthetic images and a host-side apply. */
import { tf } from '../../src/engine/tf.js';
import { KeyedRng } from '../../src/engine/rng.js';
import type { AnyCorruption } from '../../corruptions/types.js';

export const H = 28;
export const W = 28;
export const PIXELS = H * W;

/**
 * n grey 28x28 images that look a little like Fashion-MNIST: a textured, shaded ellipse ("garment") on
 * black, different per image, with detail up to the border so border rules matter.
 */
export function syntheticImages(n: number, first = 0): Float32Array {
  const out = new Float32Array(n * PIXELS);
  for (let k = 0; k < n; k++) {
    const id = first + k;
    const cy = 13 + (id % 3);
    const cx = 12 + (id % 5);
    const ry = 8 + (id % 4);
    const rx = 6 + (id % 6);
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const inside = ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1;
        const texture = 0.15 * Math.sin(0.9 * x + 0.4 * id) * Math.cos(0.7 * y - 0.3 * id);
        const shade = 0.55 + 0.3 * ((y + x + id) % 7) / 7;
        const edge = x === 0 || y === H - 1 ? 0.35 : 0; // a lit border column/row
        out[k * PIXELS + y * W + x] = Math.min(1, Math.max(0, (inside ? shade + texture : 0) + edge));
      }
  }
  return out;
}

export function constantImages(n: number, value: number): Float32Array {
  return new Float32Array(n * PIXELS).fill(value);
}

export function range(n: number, start = 0): number[] {
  return Array.from({ length: n }, (_, i) => start + i);
}

/** Applies a corruption to host images [n, 28, 28, 1] and returns host pixels; checks for tensor leaks. */
export function applyHost(
  c: AnyCorruption,
  images: Float32Array,
  severity: number,
  opts: { seed?: number; key?: string; indices?: number[] } = {},
): Float32Array {
  const n = images.length / PIXELS;
  const before = tf.memory().numTensors;
  const x = tf.tensor4d(images, [n, H, W, 1]);
  const y = c.apply(x, severity, new KeyedRng(opts.seed ?? 7, opts.key ?? `test/${c.name}`, opts.indices ?? range(n)));
  const out = y.dataSync().slice() as Float32Array;
  tf.dispose([x, y]);
  const leaked = tf.memory().numTensors - before;
  if (leaked !== 0) throw new Error(`${c.name} severity ${severity} leaked ${leaked} tensors`);
  return out;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export function meanAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

export function meanAndVariance(values: ArrayLike<number>): { mean: number; variance: number } {
  let mean = 0;
  for (let i = 0; i < values.length; i++) mean += values[i];
  mean /= values.length;
  let v = 0;
  for (let i = 0; i < values.length; i++) v += (values[i] - mean) ** 2;
  return { mean, variance: v / (values.length - 1) };
}

/** Reads pixel (y, x) of image k from host NHWC (C = 1) data, clamping out-of-range indices (edge). */
export function pixelEdge(data: ArrayLike<number>, k: number, y: number, x: number): number {
  const yy = Math.min(Math.max(y, 0), H - 1);
  const xx = Math.min(Math.max(x, 0), W - 1);
  return data[k * PIXELS + yy * W + xx];
}
