/**
 * The README's example layers-model: a small depthwise-separable convolutional network for Fashion-MNIST
 * (28x28 grey, 10 classes), built and trained with tfjs-layers, saved as a standard TF.js layers-model
 * (model.json + one .bin shard), the way a user's `model.save(...)` would write it.
 *
 * Architecture (NHWC, input pixels in [0,1]): conv 3x3x16 stride 2 + ReLU -> batch norm ->
 * separable conv 3x3 (depthwise 3x3, pointwise 32) + ReLU -> max-pool 2 -> separable conv 3x3
 * (pointwise 64) + ReLU -> flatten -> dense 10 softmax. Trained with Adam on cross entropy; every draw (initial
 * weights, data order) comes from a seed, so a run on the same backend and data is repeatable.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SampleStream } from '../../src/engine/rng.js';
import { tf } from '../../src/engine/tf.js';

export const INPUT_SHAPE = [28, 28, 1] as const;
export const NUM_CLASSES = 10;

/** The network described in the module comment, with weights initialised from `seed`. */
export function buildSepConvNet(seed: number): tf.LayersModel {
  let s = seed;
  const init = () => tf.initializers.glorotUniform({ seed: s++ });
  const input = tf.input({ shape: [...INPUT_SHAPE] });
  let h = tf.layers.conv2d({ filters: 16, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: init(), name: 'stem' }).apply(input) as tf.SymbolicTensor;
  h = tf.layers.batchNormalization({ momentum: 0.9, name: 'stem_bn' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.separableConv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu', depthwiseInitializer: init(), pointwiseInitializer: init(), name: 'sep1' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.maxPooling2d({ poolSize: 2, name: 'pool' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.separableConv2d({ filters: 64, kernelSize: 3, padding: 'same', activation: 'relu', depthwiseInitializer: init(), pointwiseInitializer: init(), name: 'sep2' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.flatten().apply(h) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: NUM_CLASSES, activation: 'softmax', kernelInitializer: init(), name: 'classifier' }).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: 'fmnist_sepconv' });
}

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  /** Called after each epoch with its mean training loss and the epoch's wall time in seconds. */
  onEpoch?(epoch: number, loss: number, seconds: number): void;
}

/**
 * Trains `model` in place on `count` images (NHWC [count, 28, 28, 1] in [0,1]) with integer labels, by
 * mini-batch Adam on categorical cross entropy. The order of epoch e is a Fisher-Yates shuffle drawn from
 * the keyed stream (seed, 'examples-order', e). Returns the mean loss of each epoch.
 */
export async function trainSepConvNet(model: tf.LayersModel, images: Float32Array, labels: Int32Array, count: number, opts: TrainOptions): Promise<number[]> {
  model.compile({ optimizer: tf.train.adam(opts.learningRate), loss: 'categoricalCrossentropy' });
  const pixels = INPUT_SHAPE[0] * INPUT_SHAPE[1] * INPUT_SHAPE[2];
  const losses: number[] = [];
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    const started = performance.now();
    const order = Int32Array.from({ length: count }, (_, i) => i);
    const stream = new SampleStream(opts.seed, 'examples-order', epoch);
    for (let i = count - 1; i > 0; i--) {
      const j = stream.int(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    let total = 0;
    for (let start = 0; start < count; start += opts.batchSize) {
      const rows = order.subarray(start, Math.min(count, start + opts.batchSize));
      const x = new Float32Array(rows.length * pixels);
      rows.forEach((r, k) => x.set(images.subarray(r * pixels, (r + 1) * pixels), k * pixels));
      const xs = tf.tensor4d(x, [rows.length, ...INPUT_SHAPE]);
      const ys = tf.oneHot(tf.tensor1d(Array.from(rows, (r) => labels[r]), 'int32'), NUM_CLASSES);
      const loss = (await model.trainOnBatch(xs, ys)) as number;
      tf.dispose([xs, ys]);
      total += loss * rows.length;
    }
    losses.push(total / count);
    opts.onEpoch?.(epoch, total / count, (performance.now() - started) / 1000);
  }
  return losses;
}

/** Accuracy (fraction of argmax = label) of `model` on `count` images, in batches of 500. */
export function accuracy(model: tf.LayersModel, images: Float32Array, labels: Int32Array, count: number): number {
  const pixels = INPUT_SHAPE[0] * INPUT_SHAPE[1] * INPUT_SHAPE[2];
  let correct = 0;
  for (let start = 0; start < count; start += 500) {
    const n = Math.min(500, count - start);
    const predicted = tf.tidy(() => (model.predict(tf.tensor4d(images.subarray(start * pixels, (start + n) * pixels), [n, ...INPUT_SHAPE])) as tf.Tensor).argMax(1).dataSync());
    for (let i = 0; i < n; i++) if (predicted[i] === labels[start + i]) correct++;
  }
  return correct / count;
}

/** Saves `model` as `dir/model.json` + `dir/weights.bin` (format layers-model); returns the model.json path. */
export async function saveLayersModel(model: tf.LayersModel, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weights = tf.io.CompositeArrayBuffer.join(artifacts.weightData!);
      const json = {
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
      };
      await writeFile(join(dir, 'model.json'), JSON.stringify(json));
      await writeFile(join(dir, 'weights.bin'), Buffer.from(weights));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return join(dir, 'model.json');
}
