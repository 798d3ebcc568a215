/**
 * `fashion-mnist` (the default) and `fashion-mnist:DIR`: Fashion-MNIST (Xiao, Rasul & Vollgraf 2017,
 * arXiv:1708.07747), 28x28 grey images, 10 classes, 60,000 training and 10,000 test images in IDX files.
 * The test set is vendored under data/fashion-mnist/; the training set is read from DIR or from the Debian
 * package dataset-fashion-mnist.
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InputError, inputError } from '../engine/errors.js';
import { packageRoot } from '../engine/packageRoot.js';
import { checkSliceOptions, requireDirectory, type SliceOptions } from './common.js';
import { findIdxSplitFiles, idxFileNames, loadIdxSplit, missingIdxFilesError } from './idx.js';
import { SPLITS, type DatasetFormat, type ImageDataset, type Split } from './types.js';

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

/** The vendored copy of the test set. */
export function vendoredFashionMnistDir(): string {
  return join(packageRoot(), 'data', 'fashion-mnist');
}

/** Paths of a split's images and labels files in `dir`, or null when either is missing. */
export function findSplitFiles(dir: string, split: Split): { images: string; labels: string } | null {
  return findIdxSplitFiles(dir, split);
}

function missingSplitError(split: Split, dir: string, dataDirGiven: boolean): InputError {
  const names = idxFileNames(split);
  const files = `${names.images}(.gz) and ${names.labels}(.gz)`;
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

export interface LoadOptions extends SliceOptions {
  /** Directory holding the split's IDX files (.gz or raw). */
  dataDir?: string;
}

/**
 * Loads a split of Fashion-MNIST (or the slice [offset, offset + limit) of it) from `opts.dataDir`, the
 * vendored test set, or the Debian package's directory (training split). Checks that the images are
 * [N, 28, 28], the labels [N] with the same N, and every label < 10. The record's name is `fashion-mnist`
 * and its source `fashion-mnist` (vendored/system directory) or `fashion-mnist:DIR`.
 */
export async function loadFashionMnist(split: Split, opts: LoadOptions = {}): Promise<ImageDataset> {
  checkSliceOptions(opts);
  const files = resolveSplitFiles(split, opts.dataDir);
  return loadIdxSplit(
    {
      name: 'fashion-mnist',
      source: opts.dataDir !== undefined ? `fashion-mnist:${resolve(opts.dataDir)}` : 'fashion-mnist',
      split,
      ...files,
      classNames: FASHION_MNIST_CLASSES,
      expectSize: [FASHION_MNIST_HEIGHT, FASHION_MNIST_WIDTH],
    },
    opts,
  );
}

export const fashionMnistFormat: DatasetFormat = {
  name: 'fashion-mnist',
  description:
    'Fashion-MNIST (Xiao et al. 2017), 28x28 grey, 10 classes: the vendored test set, or IDX files in DIR (training split default DIR /usr/share/datasets/fashion-mnist)',
  usage: 'fashion-mnist[:DIR]',
  path: 'optional',
  splits: SPLITS,
  options: [],
  load: (req) => {
    if (req.path !== undefined) {
      // Errors that name the dataset spec rather than --data-dir.
      requireDirectory(req.path, req.spec);
      if (!findSplitFiles(req.path, req.split)) throw missingIdxFilesError(req.path, req.split, req.spec);
    }
    return loadFashionMnist(req.split, { dataDir: req.path, offset: req.offset, limit: req.limit });
  },
};
