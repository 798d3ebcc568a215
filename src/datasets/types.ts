/**
 * The dataset seam: what every source format (IDX, CIFAR binary, image folder, npz) produces, and the
 * record of it that a run writes into run.json. Attacks, corruptions and the runner see only these types.
 */

/** Which published split to read. Formats without splits (a folder, an npz file) answer only `test`. */
export type Split = 'test' | 'train';
export const SPLITS: readonly Split[] = ['test', 'train'];

/** One file read to build a dataset, with its size and SHA-256 (hex, of the bytes on disk). */
export interface DatasetFile {
  path: string;
  bytes: number;
  sha256: string;
}

/** How the images were changed to fit a model's input (adapt.ts); absent when they were used as read. */
export interface DatasetAdaptation {
  /** Per-image shape [height, width, channels] as read. */
  from: [number, number, number];
  /** Per-image shape after adaptation (the model's input shape). */
  to: [number, number, number];
  /** Bilinear resize with half-pixel centres (tf.image.resizeBilinear halfPixelCenters = true). */
  resized: boolean;
  /** Channel conversion applied, if any. */
  channels: 'grey-to-rgb' | 'rgb-to-grey' | null;
  /** The one-line notice printed for it. */
  notice: string;
}

/**
 * What run.json records about the evaluated data: enough to tell two runs' data apart (the files'
 * SHA-256) and to interpret the cells (shape, classes) without loading anything.
 */
export interface DatasetRecord {
  /** Source format name, e.g. `fashion-mnist`, `cifar10`, `folder`, `npz`. */
  name: string;
  /** The dataset as the user would give it again, path made absolute: `cifar10:/data/cifar`, `fashion-mnist`. */
  source: string;
  split: Split;
  /**
   * Every file read, in reading order. A folder dataset is recorded as one entry for the directory whose
   * sha256 is the digest of its `sha256sum`-style listing (see folder.ts), not one entry per image.
   */
  files: DatasetFile[];
  /** [N, H, W, C] of the images loaded (after offset/limit, before any adaptation). */
  shape: [number, number, number, number];
  /** Images in the whole split; the loaded rows are [offset, offset + N). */
  total: number;
  offset: number;
  /** Number of classes the labels index (classNames.length); 0 for unlabelled data without names. */
  numClasses: number;
  classNames: string[];
  /** False when the source holds no labels (an npz without a labels array). */
  labelled: boolean;
  /** Lines worth keeping about how the data was read (e.g. grey images replicated to RGB in a folder). */
  notes?: string[];
  adaptation?: DatasetAdaptation;
}

/** A loaded split, or a contiguous slice [offset, offset + count) of it. */
export interface ImageDataset {
  /** NHWC pixels in [0,1] (byte / 255 for 8-bit sources), length count * height * width * channels. */
  images: Float32Array;
  /**
   * Class indices in 0..classNames.length-1, length count. When `labelled` is false every entry is -1
   * and the caller must supply labels (e.g. the model's clean predictions, `--labels model`).
   */
  labels: Int32Array;
  count: number;
  height: number;
  width: number;
  channels: number;
  classNames: readonly string[];
  /** Path of the images file (or directory) read. */
  source: string;
  /** Path of the labels file read (the images file or directory when labels live in it). */
  labelsSource: string;
  /** Index in the whole split of images[0]: global sample index of row i is offset + i. */
  offset: number;
  /** Number of images in the whole split (before offset/limit). */
  total: number;
  /** Whether `labels` holds the source's labels. */
  labelled: boolean;
  /** The description of this data for run.json. */
  record: DatasetRecord;
}

/** What a format's loader is asked for (the registry resolves and validates it first). */
export interface DatasetRequest {
  /** Absolute path of the directory or file given after `FORMAT:`; undefined when none was given. */
  path?: string;
  split: Split;
  /** First row to load (default 0). */
  offset?: number;
  /** At most this many rows (default: all). */
  limit?: number;
  /** The dataset as the user wrote it, for error messages. */
  spec: string;
  /** Canonical spec recorded as DatasetRecord.source. */
  source: string;
  /** Class names given in the config (npz), overriding any in the file. */
  classNames?: readonly string[];
  /** npz: array names of the images and labels (defaults: see npz.ts). */
  imagesKey?: string;
  labelsKey?: string;
  /** npz: layout of 4-d image arrays (default: detected from which axis is 1 or 3). */
  layout?: 'NHWC' | 'NCHW';
  /** folder: resize every image to [height, width] (bilinear, adapt.ts); needed for mixed sizes. */
  imageSize?: [number, number];
}

/** One source format: a name, one line for `bench list`, and its loader. */
export interface DatasetFormat {
  name: string;
  /** One line: what it reads, where from. */
  description: string;
  /** How to write it: `cifar10:DIR`, `fashion-mnist[:DIR]`. */
  usage: string;
  /** Whether `FORMAT:PATH` needs its path. */
  path: 'required' | 'optional';
  /** Splits it can read. */
  splits: readonly Split[];
  /** Options of the config object it accepts beyond format/path/split. */
  options: readonly ('classNames' | 'imagesKey' | 'labelsKey' | 'layout' | 'imageSize')[];
  load(req: DatasetRequest): Promise<ImageDataset>;
}
