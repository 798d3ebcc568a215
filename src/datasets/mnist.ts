/**
 * `mnist:DIR` and `kmnist:DIR`: MNIST (LeCun, Cortes & Burges, http://yann.lecun.com/exdb/mnist/) and
 * Kuzushiji-MNIST (Clanuwat et al. 2018, "Deep Learning for Classical Japanese Literature",
 * arXiv:1812.01718, https://github.com/rois-codh/kmnist), both distributed as IDX files with the standard
 * names t10k-images-idx3-ubyte(.gz), t10k-labels-idx1-ubyte(.gz), train-images-idx3-ubyte(.gz),
 * train-labels-idx1-ubyte(.gz). The test split is read unless another is asked for.
 */
import { SPLITS, type DatasetFormat, type DatasetRequest } from './types.js';
import { loadIdxDirectory } from './idx.js';

/** MNIST's classes are the digits, label i is digit i. */
export const MNIST_CLASSES: readonly string[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

/**
 * Kuzushiji-MNIST's classes in label order: the hiragana of kmnist_classmap.csv (rois-codh/kmnist),
 * お き す つ な は ま や れ を (U+304A, U+304D, U+3059, U+3064, U+306A, U+306F, U+307E, U+3084, U+308C, U+3092).
 */
export const KMNIST_CLASSES: readonly string[] = ['\u304a', '\u304d', '\u3059', '\u3064', '\u306a', '\u306f', '\u307e', '\u3084', '\u308c', '\u3092'];

function idxFormat(name: string, title: string, classNames: readonly string[]): DatasetFormat {
  return {
    name,
    description: `${title} in IDX files (t10k-/train-images-idx3-ubyte, -labels-idx1-ubyte, gzipped or not) in DIR`,
    usage: `${name}:DIR`,
    path: 'required',
    splits: SPLITS,
    options: [],
    load: async (req: DatasetRequest) =>
      loadIdxDirectory(req.path!, { name, source: req.source, split: req.split, classNames, spec: req.spec }, req),
  };
}

export const mnistFormat: DatasetFormat = idxFormat('mnist', 'MNIST digits (LeCun et al.), 10 classes', MNIST_CLASSES);
export const kmnistFormat: DatasetFormat = idxFormat('kmnist', 'Kuzushiji-MNIST (Clanuwat et al. 2018), 10 hiragana classes', KMNIST_CLASSES);
