/**
 * Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, arXiv:1708.07747): 28x28 grey images, 10 classes,
 * 60,000 training and 10,000 test images in IDX files. The test set is vendored under data/fashion-mnist/;
 * the training set is read from --data-dir or from the Debian package dataset-fashion-mnist.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError, inputError } from '../engine/errors.js';
import { readIdx } from './idx.js';
import { SampleStream } from '../engine/rng.js';

/** Class names in label order, from the dataset's README ("Labels" table). */
export const FASHION_MNIST_CLASSES: readonly string[] = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

export const FASHION_MNIST_HEIGHT = 28;
export const FASHION_MNIST_WIDTH = 28;

/** Where `apt-get install dataset-fashion-mnist` puts the four files. */
export const SYSTEM_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export type Split = 'test' | 'train';
export const SPLITS: readonly Split[] = ['test', 'train'];

/** File name stems as distributed: t10k-* for the test split, train-* for the training split. */
const FILE_PREFIX: Record<Split, string> = { test: 't10k', train: 'train' };

export interface LoadOptions {
  /** Directory holding the split's IDX files (.gz or raw). */
  dataDir?: string;
  /** At most this many images, starting at `offset`. */
  limit?: number;
  /** Index of the first image to load (default 0). */
  offset?: number;
}

/** A loaded split, or a contiguous slice of it. */
export interface ImageDataset {
  /** NHWC pixels in [0,1] (byte / 255), length count * height * width * channels. */
  images: Float32Array;
  /** Class indices in 0..classNames.length-1. */
  labels: Int32Array;
  count: number;
  height: number;
  width: number;
  channels: number;
  classNames: readonly string[];
  /** Path of the images file read. */
  source: string;
  /** Path of the labels file read. */
  labelsSource: string;
  /** Index in the whole split of images[0]: global sample index of row i is offset + i. */
  offset: number;
  /** Number of images in the whole split (before offset/limit). */
  total: number;
}

/**
 * The package root: the nearest ancestor of this module holding our package.json. Walking up (rather
 * than a fixed ../..) makes it work from src/data/ under vitest and from dist/src/data/ after build.
 */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if (JSON.parse(readFileSync(manifest, 'utf8')).name === 'bench') return dir;
      } catch {
        // Not our manifest; keep walking.
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`package root (package.json named "bench") not found above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

/** The vendored copy of the test set. */
export function vendoredFashionMnistDir(): string {
  return join(packageRoot(), 'data', 'fashion-mnist');
}

/** The .gz file if present, else the uncompressed one, else null. */
function findIdxFile(dir: string, stem: string): string | null {
  for (const name of [`${stem}.gz`, stem]) {
    const path = join(dir, name);
    if (existsSync(path) && statSync(path).isFile()) return path;
  }
  return null;
}

/** Paths of a split's images and labels files in `dir`, or null when either is missing. */
export function findSplitFiles(dir: string, split: Split): { images: string; labels: string } | null {
  const prefix = FILE_PREFIX[split];
  const images = findIdxFile(dir, `${prefix}-images-idx3-ubyte`);
  const labels = findIdxFile(dir, `${prefix}-labels-idx1-ubyte`);
  return images && labels ? { images, labels } : null;
}

function missingSplitError(split: Split, dir: string, dataDirGiven: boolean): InputError {
  const prefix = FILE_PREFIX[split];
  const files = `${prefix}-images-idx3-ubyte(.gz) and ${prefix}-labels-idx1-ubyte(.gz)`;
  if (split === 'train')
    return new InputError(
      `training set not found in ${dir}: pass --data-dir DIR with ${files}, or install the Debian package ` +
        `dataset-fashion-mnist (apt-get install dataset-fashion-mnist), which puts them in ${SYSTEM_FASHION_MNIST_DIR}`,
    );
  return new InputError(
    dataDirGiven
      ? `test set not found in ${dir}: --data-dir must hold ${files}; omit --data-dir to use the vendored copy`
      : `vendored test set not found in ${dir} (expected ${files}); the package is incomplete, pass --data-dir DIR`,
  );
}

/** Directory and file paths a split would be read from, with the errors a user would see. */
export function resolveSplitFiles(split: Split, dataDir?: string): { images: string; labels: string } {
  if (!SPLITS.includes(split)) throw inputError('split', `unknown split ${JSON.stringify(split)}`, SPLITS.join(', '));
  const dir = dataDir !== undefined ? resolve(dataDir) : split === 'test' ? vendoredFashionMnistDir() : SYSTEM_FASHION_MNIST_DIR;
  if (dataDir !== undefined && existsSync(dir) && !statSync(dir).isDirectory())
    throw inputError('--data-dir', `${dir} is not a directory`);
  const files = findSplitFiles(dir, split);
  if (!files) throw missingSplitError(split, dir, dataDir !== undefined);
  return files;
}

function checkCount(name: string, value: number | undefined, min: number): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || value < min) throw inputError(name, `${value} is not an integer >= ${min}`);
}

/**
 * Loads a split of Fashion-MNIST (or the slice [offset, offset + limit) of it). Checks that the images
 * are [N, 28, 28], the labels [N] with the same N, and every label < 10.
 */
export async function loadFashionMnist(split: Split, opts: LoadOptions = {}): Promise<ImageDataset> {
  checkCount('--limit', opts.limit, 1);
  checkCount('--offset', opts.offset, 0);
  const files = resolveSplitFiles(split, opts.dataDir);
  const [imagesIdx, labelsIdx] = await Promise.all([readIdx(files.images, { ndims: 3 }), readIdx(files.labels, { ndims: 1 })]);

  const [n, height, width] = imagesIdx.dims;
  if (height !== FASHION_MNIST_HEIGHT || width !== FASHION_MNIST_WIDTH)
    throw new InputError(`${files.images}: images are ${height}x${width}, expected ${FASHION_MNIST_HEIGHT}x${FASHION_MNIST_WIDTH}`);
  if (labelsIdx.dims[0] !== n)
    throw new InputError(`${files.labels}: ${labelsIdx.dims[0]} labels but ${files.images} holds ${n} images; the counts must match`);
  const numClasses = FASHION_MNIST_CLASSES.length;
  const bad = labelsIdx.data.findIndex((l) => l >= numClasses);
  if (bad >= 0)
    throw new InputError(`${files.labels}: label ${labelsIdx.data[bad]} at index ${bad} is out of range (allowed: 0..${numClasses - 1})`);

  const offset = opts.offset ?? 0;
  if (offset >= n) throw inputError('--offset', `${offset} is past the end of the ${split} split (${n} images)`, `0..${n - 1}`);
  const count = Math.min(opts.limit ?? n, n - offset);
  const pixels = height * width;
  const bytes = imagesIdx.data.subarray(offset * pixels, (offset + count) * pixels);
  const images = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) images[i] = bytes[i] / 255;
  const labels = Int32Array.from(labelsIdx.data.subarray(offset, offset + count));

  return {
    images,
    labels,
    count,
    height,
    width,
    channels: 1,
    classNames: FASHION_MNIST_CLASSES,
    source: files.images,
    labelsSource: files.labels,
    offset,
    total: n,
  };
}

/**
 * Splits indices 0..count-1 into training and held-out validation indices, deterministically from
 * `seed` (a partial Fisher-Yates shuffle drawn from one keyed stream). Both lists are ascending.
 */
export function splitTrainValidation(
  count: number,
  validationSize: number,
  seed: number,
): { train: Int32Array; validation: Int32Array } {
  if (!Number.isInteger(count) || count < 1) throw inputError('split', `dataset size ${count} is not a positive integer`);
  if (!Number.isInteger(validationSize) || validationSize < 0 || validationSize >= count)
    throw inputError('--validation-size', `${validationSize} is not an integer in 0..${count - 1}`, `0..${count - 1}`);
  const order = new Int32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  const stream = new SampleStream(seed, 'train-validation-split', 0);
  for (let i = 0; i < validationSize; i++) {
    const j = i + stream.int(count - i);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  const validation = order.slice(0, validationSize).sort();
  const train = order.slice(validationSize).sort();
  return { train, validation };
}
