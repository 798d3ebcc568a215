/**
 * Registry of the datasets the harness can evaluate on. One entry today; a new dataset is one more
 * entry with its shape, class names and loader.
 */
import { inputError } from '../engine/errors.js';
import {
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_HEIGHT,
  FASHION_MNIST_WIDTH,
  loadFashionMnist,
  type ImageDataset,
  type LoadOptions,
  type Split,
} from './fashionMnist.js';

export interface DatasetSpec {
  name: string;
  description: string;
  height: number;
  width: number;
  channels: number;
  classNames: readonly string[];
  /** Number of images in each split of the published dataset. */
  splitSizes: Readonly<Record<Split, number>>;
  load(split: Split, opts?: LoadOptions): Promise<ImageDataset>;
}

export const DATASETS: Readonly<Record<string, DatasetSpec>> = {
  'fashion-mnist': {
    name: 'fashion-mnist',
    description: 'Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): 28x28 grey Zalando article images, 10 classes',
    height: FASHION_MNIST_HEIGHT,
    width: FASHION_MNIST_WIDTH,
    channels: 1,
    classNames: FASHION_MNIST_CLASSES,
    splitSizes: { train: 60000, test: 10000 },
    load: loadFashionMnist,
  },
};

export const DATASET_NAMES: readonly string[] = Object.keys(DATASETS);

/** Looks a dataset up by name; `where` names the config field or flag in the error. */
export function getDataset(name: string, where = '--dataset'): DatasetSpec {
  const spec = Object.prototype.hasOwnProperty.call(DATASETS, name) ? DATASETS[name] : undefined;
  if (!spec) throw inputError(where, `unknown dataset ${JSON.stringify(name)}`, DATASET_NAMES.join(', '));
  return spec;
}

/** Loads `split` of the named dataset. */
export function loadDataset(name: string, split: Split, opts?: LoadOptions): Promise<ImageDataset> {
  return getDataset(name).load(split, opts);
}

export type { ImageDataset, LoadOptions, Split };
