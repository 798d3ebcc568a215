/**
 * Example datasets in the formats `bench run --dataset` reads (docs/datasets.md), written from the
 * vendored Fashion-MNIST test set or generated: no download.
 * - `folder:`: one subfolder per class of 8-bit PNGs (grey for Fashion-MNIST, RGB for the synthetic set).
 * - `npz:`: `x` uint8 [N, 28, 28, 1], `y` int64 [N], `class_names` <U, as `np.savez` writes them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { SampleStream } from '../../src/engine/rng.js';
import { int64Bytes, npzFile, unicodeArray } from './npz.js';

/** Images as the datasets module loads them: NHWC float32 in [0,1]. */
export interface Images {
  pixels: Float32Array;
  labels: Int32Array;
  height: number;
  width: number;
  channels: number;
  classNames: readonly string[];
}

const toByte = (v: number) => Math.max(0, Math.min(255, Math.round(v * 255)));

/** PNG bytes of one image (rows of `channels` 0..255 values, channels 1 or 3), 8-bit grey or RGB. */
export function pngOf(bytes: Uint8Array, height: number, width: number, channels: 1 | 3): Buffer {
  const png = new PNG({ width, height, colorType: channels === 1 ? 0 : 2, inputColorType: channels === 1 ? 0 : 2, inputHasAlpha: false });
  png.data = Buffer.from(bytes);
  return PNG.sync.write(png, { colorType: channels === 1 ? 0 : 2, inputColorType: channels === 1 ? 0 : 2, inputHasAlpha: false });
}

/** A folder name for a class: path separators become '-' (e.g. 'T-shirt/top' -> 'T-shirt-top'). */
export const classFolderName = (name: string) => name.replace(/[/\\]/g, '-');

/**
 * Writes `dir/<label>-<class>/<sample index>.png` for the first `perClass` images of each class among rows
 * `from`.. of `data` (in row order), and returns how many it wrote. `folder:` datasets number their
 * classes in the sorted order of the folder names; the label prefix (one digit, for up to 10 classes)
 * makes that order the model's (Fashion-MNIST's names sorted alone would put 'Ankle boot' first).
 */
export function writeClassFolder(data: Images, dir: string, from: number, perClass: number): number {
  if (data.classNames.length > 10) throw new Error('writeClassFolder: one-digit label prefixes sort correctly for at most 10 classes');
  const counts = new Array(data.classNames.length).fill(0);
  const size = data.height * data.width * data.channels;
  let written = 0;
  for (let i = from; i < data.labels.length && counts.some((c) => c < perClass); i++) {
    const y = data.labels[i];
    if (counts[y] >= perClass) continue;
    counts[y]++;
    const sub = join(dir, `${y}-${classFolderName(data.classNames[y])}`);
    mkdirSync(sub, { recursive: true });
    const bytes = Uint8Array.from(data.pixels.subarray(i * size, (i + 1) * size), toByte);
    writeFileSync(join(sub, `${i}.png`), pngOf(bytes, data.height, data.width, data.channels as 1 | 3));
    written++;
  }
  return written;
}

/** Writes rows [from, from + count) of `data` as an .npz (x uint8 NHWC, y int64, class_names). */
export function writeNpz(data: Images, file: string, from: number, count: number): void {
  const size = data.height * data.width * data.channels;
  const x = Uint8Array.from(data.pixels.subarray(from * size, (from + count) * size), toByte);
  writeFileSync(
    file,
    npzFile({
      x: { descr: '|u1', shape: [count, data.height, data.width, data.channels], data: x },
      y: { descr: '<i8', shape: [count], data: int64Bytes(data.labels.subarray(from, from + count)) },
      class_names: unicodeArray(data.classNames),
    }),
  );
}

/**
 * Synthetic RGB images (no download, no real photographs), `size` x `size`, drawn from keyed random
 * streams (seed 0): class `patterns` holds colour gradients, stripes, checkerboards and discs; class
 * `tinted-fashion` holds Fashion-MNIST items (the given grey 28x28 images, nearest-neighbour enlarged)
 * coloured on a coloured background. They are not the nsfwjs model's classes: evaluate with
 * `--labels model`. Returns the files written.
 */
export function writeSyntheticRgbFolder(dir: string, size: number, perClass: number, fashion: Images, fashionFrom: number): string[] {
  const files: string[] = [];
  const rgb = (s: SampleStream) => [s.next(), s.next(), s.next()];
  const save = (cls: string, k: number, px: Uint8Array) => {
    mkdirSync(join(dir, cls), { recursive: true });
    const file = join(dir, cls, `${k}.png`);
    writeFileSync(file, pngOf(px, size, size, 3));
    files.push(file);
  };
  for (let k = 0; k < perClass; k++) {
    const s = new SampleStream(0, 'examples-patterns', k);
    const [a, b] = [rgb(s), rgb(s)];
    const kind = k % 4;
    const period = 6 + s.int(20);
    const [cx, cy, r] = [s.next() * size, s.next() * size, (0.15 + 0.3 * s.next()) * size];
    const px = new Uint8Array(size * size * 3);
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        const t =
          kind === 0 ? (x + y) / (2 * size - 2)
          : kind === 1 ? Math.floor(x / period) % 2
          : kind === 2 ? (Math.floor(x / period) + Math.floor(y / period)) % 2
          : Number((x - cx) ** 2 + (y - cy) ** 2 < r * r);
        for (let c = 0; c < 3; c++) px[(y * size + x) * 3 + c] = toByte(a[c] * (1 - t) + b[c] * t);
      }
    save('patterns', k, px);
  }
  const side = fashion.height;
  for (let k = 0; k < perClass; k++) {
    const s = new SampleStream(0, 'examples-tinted', k);
    const [fg, bg] = [rgb(s), rgb(s)];
    const row = fashionFrom + k;
    const px = new Uint8Array(size * size * 3);
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        const v = fashion.pixels[row * side * side + Math.floor((y * side) / size) * side + Math.floor((x * side) / size)];
        for (let c = 0; c < 3; c++) px[(y * size + x) * 3 + c] = toByte(bg[c] * (1 - v) + fg[c] * v);
      }
    save('tinted-fashion', k, px);
  }
  return files;
}
