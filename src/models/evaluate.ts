import { tf } from '../engine/tf.js';
import type { ImageDataset } from '../data/fashionMnist.js';
import { batches, rangeIndices, toBatchTensor, toLabelTensor } from '../data/batching.js';
import type { CnnfNetwork } from './cnnf.js';

export interface CleanAccuracy {
  first: number;
  last: number;
  average: number;
  images: number;
}

/** Clean accuracy of every output on a dataset (or a subset of its rows), in batches. */
export async function cleanAccuracy(
  network: CnnfNetwork,
  data: ImageDataset,
  rows: ArrayLike<number> = rangeIndices(0, data.count),
  batchSize = 200,
): Promise<CleanAccuracy> {
  const correct = { first: 0, last: 0, average: 0 };
  const shape = [data.height, data.width, data.channels] as const;
  for (const batch of batches(rows, batchSize)) {
    const counts = tf.tidy(() => {
      const x = toBatchTensor(data.images, batch, shape);
      const y = toLabelTensor(data.labels, batch);
      const run = network.run(x);
      const hits = (logits: tf.Tensor) => tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), y), 'int32'));
      return tf.stack([hits(run.first), hits(run.last), hits(run.average)]);
    });
    const [f, l, a] = Array.from(await counts.data());
    counts.dispose();
    correct.first += f;
    correct.last += l;
    correct.average += a;
  }
  const n = rows.length;
  return { first: correct.first / n, last: correct.last / n, average: correct.average / n, images: n };
}
