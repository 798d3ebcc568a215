/**
 * Datasets stored as a pair of IDX files, the format of LeCun's MNIST distribution
 * (http://yann.lecun.com/exdb/mnist/, "FILE FORMATS FOR THE MNIST DATABASE"), reused by Fashion-MNIST and
 * Kuzushiji-MNIST: `<prefix>-images-idx3-ubyte` (magic 0x00000803, [N, H, W] unsigned bytes) and
 * `<prefix>-labels-idx1-ubyte` (magic 0x00000801, [N] unsigned bytes), each optionally gzip-compressed,
 * with prefix `t10k` for the test split and `train` for the training split. The byte-level reader is
 * src/data/idx.ts; this module pairs the files, checks them against each other and builds the dataset.
 */
import { InputError } from '../engine/errors.js';
import { parseIdx } from '../data/idx.js';
import { bytesToUnit, checkLabels, fileEntry, findMaybeGzipped, makeDataset, readInputFile, requireDirectory, sliceOf, type SliceOptions } from './common.js';
import type { ImageDataset, Split } from './types.js';

/** File name stems as distributed: t10k-* for the test split, train-* for the training split. */
export const IDX_FILE_PREFIX: Readonly<Record<Split, string>> = { test: 't10k', train: 'train' };

/** The stems of a split's two files (without `.gz`). */
export function idxFileNames(split: Split): { images: string; labels: string } {
  const prefix = IDX_FILE_PREFIX[split];
  return { images: `${prefix}-images-idx3-ubyte`, labels: `${prefix}-labels-idx1-ubyte` };
}

/** Paths of a split's images and labels files in `dir` (.gz preferred), or null when either is missing. */
export function findIdxSplitFiles(dir: string, split: Split): { images: string; labels: string } | null {
  const names = idxFileNames(split);
  const images = findMaybeGzipped(dir, names.images);
  const labels = findMaybeGzipped(dir, names.labels);
  return images && labels ? { images, labels } : null;
}

/** The one-line error for a directory lacking a split's files. */
export function missingIdxFilesError(dir: string, split: Split, spec: string): InputError {
  const names = idxFileNames(split);
  const missing = [names.images, names.labels].filter((n) => findMaybeGzipped(dir, n) === null);
  return new InputError(
    `${dir}: missing ${missing.map((n) => `${n}(.gz)`).join(' and ')} for the ${split} split of dataset ${spec} ` +
      `(expected files: ${names.images}(.gz), ${names.labels}(.gz))`,
  );
}

export interface IdxSplit {
  /** Format name and canonical source for the record. */
  name: string;
  source: string;
  split: Split;
  images: string;
  labels: string;
  classNames: readonly string[];
  /** Required [height, width] of the images, when the dataset defines it (Fashion-MNIST: 28 x 28). */
  expectSize?: [number, number];
}

/**
 * Loads the rows [offset, offset + limit) of an IDX image/label pair as 1-channel images in [0,1]
 * (byte / 255). Both files are read whole (their SHA-256 goes into the record) and checked: magic numbers
 * and lengths (src/data/idx.ts), equal counts, every label < classNames.length.
 */
export function loadIdxSplit(s: IdxSplit, opts: SliceOptions = {}): ImageDataset {
  const imageBytes = readInputFile(s.images, 'an IDX images file');
  const labelBytes = readInputFile(s.labels, 'an IDX labels file');
  const imagesIdx = parseIdx(imageBytes, s.images, { ndims: 3 });
  const labelsIdx = parseIdx(labelBytes, s.labels, { ndims: 1 });
  const [n, height, width] = imagesIdx.dims;
  if (s.expectSize && (height !== s.expectSize[0] || width !== s.expectSize[1]))
    throw new InputError(`${s.images}: images are ${height}x${width}, expected ${s.expectSize[0]}x${s.expectSize[1]}`);
  if (labelsIdx.dims[0] !== n)
    throw new InputError(`${s.labels}: ${labelsIdx.dims[0]} labels but ${s.images} holds ${n} images; the counts must match`);
  checkLabels(labelsIdx.data, s.classNames.length, s.labels);

  const { offset, count } = sliceOf(n, opts, s.split);
  const pixels = height * width;
  return makeDataset({
    name: s.name,
    source: s.source,
    split: s.split,
    files: [fileEntry(s.images, imageBytes), fileEntry(s.labels, labelBytes)],
    images: bytesToUnit(imagesIdx.data.subarray(offset * pixels, (offset + count) * pixels)),
    labels: Int32Array.from(labelsIdx.data.subarray(offset, offset + count)),
    count,
    height,
    width,
    channels: 1,
    classNames: s.classNames,
    imagesPath: s.images,
    labelsPath: s.labels,
    offset,
    total: n,
  });
}

/** Resolves `dir`'s files for `split` (refusing a missing directory or file) and loads them. */
export function loadIdxDirectory(
  dir: string,
  info: Omit<IdxSplit, 'images' | 'labels'> & { spec: string },
  opts: SliceOptions,
): ImageDataset {
  requireDirectory(dir, info.spec);
  const files = findIdxSplitFiles(dir, info.split);
  if (!files) throw missingIdxFilesError(dir, info.split, info.spec);
  return loadIdxSplit({ ...info, ...files }, opts);
}
