/**
 * `cifar10:DIR` and `cifar100:DIR`: the binary versions of CIFAR-10 and CIFAR-100 (Krizhevsky 2009,
 * "Learning Multiple Layers of Features from Tiny Images"; format described at
 * https://www.cs.toronto.edu/~kriz/cifar.html, "Binary version").
 *
 * - CIFAR-10 (`cifar-10-batches-bin/`): test_batch.bin, data_batch_1..5.bin; each record is 1 label byte
 *   (0..9) then 3072 pixel bytes: the 1024 red values, then green, then blue, each row-major 32x32 (CHW).
 *   Class names from batches.meta.txt (one per line) when present.
 * - CIFAR-100 (`cifar-100-binary/`): test.bin, train.bin; each record is a coarse label byte (0..19), a fine
 *   label byte (0..99), then the same 3072 pixel bytes. We use the fine labels; class names from
 *   fine_label_names.txt when present.
 *
 * DIR may be the directory holding the .bin files or its parent (the archive's top folder is then found).
 * Pixels become NHWC floats in [0,1] (byte / 255).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../engine/errors.js';
import { fileEntry, makeDataset, readInputFile, requireDirectory, sliceOf } from './common.js';
import { SPLITS, type DatasetFile, type DatasetFormat, type DatasetRequest, type ImageDataset, type Split } from './types.js';

const SIDE = 32;
const PIXELS = SIDE * SIDE;

/** CIFAR-10 class names in label order, as published in batches.meta.txt and on the dataset's page. */
export const CIFAR10_CLASSES: readonly string[] = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

/** CIFAR-100 fine class names in label order (alphabetical), as in the binary version's fine_label_names.txt. */
export const CIFAR100_CLASSES: readonly string[] = [
  'apple', 'aquarium_fish', 'baby', 'bear', 'beaver', 'bed', 'bee', 'beetle', 'bicycle', 'bottle',
  'bowl', 'boy', 'bridge', 'bus', 'butterfly', 'camel', 'can', 'castle', 'caterpillar', 'cattle',
  'chair', 'chimpanzee', 'clock', 'cloud', 'cockroach', 'couch', 'crab', 'crocodile', 'cup', 'dinosaur',
  'dolphin', 'elephant', 'flatfish', 'forest', 'fox', 'girl', 'hamster', 'house', 'kangaroo', 'keyboard',
  'lamp', 'lawn_mower', 'leopard', 'lion', 'lizard', 'lobster', 'man', 'maple_tree', 'motorcycle', 'mountain',
  'mouse', 'mushroom', 'oak_tree', 'orange', 'orchid', 'otter', 'palm_tree', 'pear', 'pickup_truck', 'pine_tree',
  'plain', 'plate', 'poppy', 'porcupine', 'possum', 'rabbit', 'raccoon', 'ray', 'road', 'rocket',
  'rose', 'sea', 'seal', 'shark', 'shrew', 'skunk', 'skyscraper', 'snail', 'snake', 'spider',
  'squirrel', 'streetcar', 'sunflower', 'sweet_pepper', 'table', 'tank', 'telephone', 'television', 'tiger', 'tractor',
  'train', 'trout', 'tulip', 'turtle', 'wardrobe', 'whale', 'willow_tree', 'wolf', 'woman', 'worm',
];

/** The layout of one CIFAR variant's binary files. */
export interface CifarVariant {
  name: 'cifar10' | 'cifar100';
  /** Folder the archive unpacks to, looked for inside DIR. */
  folder: string;
  files: Readonly<Record<Split, readonly string[]>>;
  /** Label bytes before the pixels, and which of them is the label used (CIFAR-100: coarse, fine). */
  labelBytes: number;
  labelIndex: number;
  /** Ranges of every label byte, in order (CIFAR-100's coarse labels are checked too). */
  labelRanges: readonly { what: string; classes: number }[];
  namesFile: string;
  classNames: readonly string[];
}

export const CIFAR10: CifarVariant = {
  name: 'cifar10',
  folder: 'cifar-10-batches-bin',
  files: { test: ['test_batch.bin'], train: [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`) },
  labelBytes: 1,
  labelIndex: 0,
  labelRanges: [{ what: 'label', classes: 10 }],
  namesFile: 'batches.meta.txt',
  classNames: CIFAR10_CLASSES,
};

export const CIFAR100: CifarVariant = {
  name: 'cifar100',
  folder: 'cifar-100-binary',
  files: { test: ['test.bin'], train: ['train.bin'] },
  labelBytes: 2,
  labelIndex: 1,
  labelRanges: [
    { what: 'coarse label', classes: 20 },
    { what: 'fine label', classes: 100 },
  ],
  namesFile: 'fine_label_names.txt',
  classNames: CIFAR100_CLASSES,
};

const isFile = (p: string) => existsSync(p) && statSync(p).isFile();

/** The directory holding the split's files: DIR itself or DIR/<archive folder>. */
function findDataDir(v: CifarVariant, dir: string, split: Split, spec: string): string {
  requireDirectory(dir, spec);
  for (const candidate of [dir, join(dir, v.folder)]) if (v.files[split].every((f) => isFile(join(candidate, f)))) return candidate;
  const base = [dir, join(dir, v.folder)].find((d) => v.files[split].some((f) => isFile(join(d, f)))) ?? dir;
  const missing = v.files[split].filter((f) => !isFile(join(base, f)));
  throw new InputError(
    `${base}: missing ${missing.join(', ')} for the ${split} split of dataset ${spec} (expected ${v.files[split].join(', ')} in DIR or DIR/${v.folder})`,
  );
}

/** Class names from the names file when present (one per line, blank lines ignored), else the published ones. */
function classNamesOf(v: CifarVariant, dataDir: string, files: DatasetFile[]): readonly string[] {
  const path = join(dataDir, v.namesFile);
  if (!isFile(path)) return v.classNames;
  const bytes = readFileSync(path);
  const names = bytes.toString('utf8').split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  if (names.length !== v.classNames.length)
    throw new InputError(`${path}: ${names.length} class names, expected ${v.classNames.length} (one per line)`);
  files.push(fileEntry(path, bytes));
  return names;
}

/**
 * Loads the rows [offset, offset + limit) of a CIFAR split from its binary files (concatenated in the
 * published order for the training split). Every file must be a whole number of records; every label
 * byte must be in range.
 */
export function loadCifar(v: CifarVariant, dir: string, req: Omit<DatasetRequest, 'path'>): ImageDataset {
  const dataDir = findDataDir(v, dir, req.split, req.spec);
  const recordSize = v.labelBytes + 3 * PIXELS;
  const files: DatasetFile[] = [];
  const parts: { path: string; bytes: Buffer }[] = [];
  for (const name of v.files[req.split]) {
    const path = join(dataDir, name);
    const bytes = readInputFile(path, `a ${v.name} binary batch`);
    if (bytes.length === 0 || bytes.length % recordSize !== 0)
      throw new InputError(
        `${path}: ${bytes.length} bytes is not a whole number of ${recordSize}-byte records ` +
          `(${v.labelBytes} label byte${v.labelBytes > 1 ? 's' : ''} + 3072 pixel bytes); truncated or not a ${v.name} binary file`,
      );
    for (let r = 0, at = 0; at < bytes.length; r++, at += recordSize)
      v.labelRanges.forEach(({ what, classes }, k) => {
        if (bytes[at + k] >= classes)
          throw new InputError(`${path}: ${what} ${bytes[at + k]} of record ${r} is out of range (allowed: 0..${classes - 1})`);
      });
    files.push(fileEntry(path, bytes));
    parts.push({ path, bytes });
  }
  const classNames = classNamesOf(v, dataDir, files);
  const total = parts.reduce((s, p) => s + p.bytes.length / recordSize, 0);
  const { offset, count } = sliceOf(total, req, req.split);

  const images = new Float32Array(count * PIXELS * 3);
  const labels = new Int32Array(count);
  let row = 0;
  let first = 0; // global index of the current file's first record
  for (const { bytes } of parts) {
    const n = bytes.length / recordSize;
    for (let i = Math.max(offset - first, 0); i < n && row < count; i++, row++) {
      const at = i * recordSize;
      labels[row] = bytes[at + v.labelIndex];
      const px = at + v.labelBytes;
      const out = row * PIXELS * 3;
      // CHW planes -> HWC interleaved.
      for (let p = 0; p < PIXELS; p++) {
        images[out + 3 * p] = bytes[px + p] / 255;
        images[out + 3 * p + 1] = bytes[px + PIXELS + p] / 255;
        images[out + 3 * p + 2] = bytes[px + 2 * PIXELS + p] / 255;
      }
    }
    first += n;
  }
  return makeDataset({
    name: v.name,
    source: req.source,
    split: req.split,
    files,
    images,
    labels,
    count,
    height: SIDE,
    width: SIDE,
    channels: 3,
    classNames,
    imagesPath: parts[0].path,
    labelsPath: parts[0].path,
    offset,
    total,
  });
}

function cifarFormat(v: CifarVariant, description: string): DatasetFormat {
  return {
    name: v.name,
    description,
    usage: `${v.name}:DIR`,
    path: 'required',
    splits: SPLITS,
    options: [],
    load: async (req) => loadCifar(v, req.path!, req),
  };
}

export const cifar10Format = cifarFormat(CIFAR10, 'CIFAR-10 binary version (Krizhevsky 2009), 32x32 RGB, 10 classes: test_batch.bin / data_batch_1..5.bin in DIR');
export const cifar100Format = cifarFormat(CIFAR100, 'CIFAR-100 binary version (Krizhevsky 2009), 32x32 RGB, 100 fine classes: test.bin / train.bin in DIR');
