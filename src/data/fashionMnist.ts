/**
 * Fashion-MNIST for training and the existing callers. The dataset itself (classes, files, loader) lives in
 * src/datasets/fashionMnist.ts and the ImageDataset type in src/datasets/types.ts; they are re-exported here
 * so existing imports keep working. What stays here is training-only: the train/validation split.
 */
import { inputError } from '../engine/errors.js';
import { SampleStream } from '../engine/rng.js';

export {
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_HEIGHT,
  FASHION_MNIST_WIDTH,
  SYSTEM_FASHION_MNIST_DIR,
  findSplitFiles,
  loadFashionMnist,
  resolveSplitFiles,
  vendoredFashionMnistDir,
  type LoadOptions,
} from '../datasets/fashionMnist.js';
export { SPLITS, type ImageDataset, type Split } from '../datasets/types.js';
export { packageRoot } from '../engine/packageRoot.js';

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
