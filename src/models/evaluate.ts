import { tf } from '../engine/tf.js';
import type { ImageDataset } from '../data/fashionMnist.js';
import { batches, rangeIndices, toBatchTensor } from '../data/batching.js';
import { predictClasses } from './decision.js';
import type { FeedbackNetwork } from './network.js';

export interface CleanAccuracy {
  first: number;
  last: number;
  average: number;
  images: number;
}

/** Clean accuracy of every output on a dataset (or a subset of its rows), in batches, by the shared decision rule. */
export async function cleanAccuracy(
  network: FeedbackNetwork,
  data: ImageDataset,
  rows: ArrayLike<number> = rangeIndices(0, data.count),
  batchSize = 200,
): Promise<CleanAccuracy> {
  const correct = { first: 0, last: 0, average: 0 };
  const shape = [data.height, data.width, data.channels] as const;
  for (const batch of batches(rows, batchSize)) {
    const stacked = tf.tidy(() => {
      const run = network.run(toBatchTensor(data.images, batch, shape));
      return tf.stack([run.first, run.last, run.average]);
    });
    const values = await stacked.data();
    stacked.dispose();
    const classes = network.arch.numClasses;
    const per = batch.length * classes;
    // The shared decision rule (src/models/decision.ts): a NaN row or a tie at the top is misclassified.
    const hits = (k: number) => {
      const predicted = predictClasses(values.subarray(k * per, (k + 1) * per), classes);
      return predicted.reduce((s, p, r) => s + (p === data.labels[batch[r]] ? 1 : 0), 0);
    };
    const [f, l, a] = [hits(0), hits(1), hits(2)];
    correct.first += f;
    correct.last += l;
    correct.average += a;
  }
  const n = rows.length;
  return { first: correct.first / n, last: correct.last / n, average: correct.average / n, images: n };
}
