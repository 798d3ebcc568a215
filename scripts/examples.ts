// Writes the README's "Bring your own model" examples into examples/ (git-ignored; rerun to regenerate):
//
//   npm run build && npm run examples -- [--out DIR] [--epochs N] [--train-dir DIR]
//
//   examples/nsfwjs-mobilenet-v2/   a real third-party TF.js graph-model (model.json + .bin shards, NOTICE,
//                                   LICENSE, classes.txt), extracted from the nsfwjs devDependency
//   examples/fmnist-sepconv/        a small depthwise-separable TF.js layers-model for Fashion-MNIST, trained
//                                   here on wasm (1-3 minutes), with training.json saying on what
//   examples/data/fmnist-folder/    folder dataset: 20 PNGs per class from the vendored test set, index 5000 on
//   examples/data/fmnist-test.npz   npz dataset: 500 images + labels from the vendored test set, index 5000 on
//   examples/data/synthetic-rgb/    8 generated 96x96 RGB PNGs for the nsfwjs model (use --labels model)
//   examples/nsfwjs-adversarial.json, examples/nsfwjs-corruption.json   small run configs for the nsfwjs model
//
// The layers-model trains on the Fashion-MNIST training set when its IDX files are in --train-dir (default
// /usr/share/datasets/fashion-mnist, Debian package dataset-fashion-mnist), else on the first 5,000
// vendored test images; either way it is evaluated on test images 5,000..9,999, the ones the example
// datasets are cut from, so nothing it is benchmarked on was trained on.
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '../src/engine/backend.js';
import { packageRoot } from '../src/engine/packageRoot.js';
import { tf } from '../src/engine/tf.js';
import { findSplitFiles, loadFashionMnist, SYSTEM_FASHION_MNIST_DIR } from '../src/datasets/fashionMnist.js';
import type { ImageDataset } from '../src/datasets/types.js';
import { writeClassFolder, writeNpz, writeSyntheticRgbFolder, type Images } from './examples/datasets.js';
import { accuracy, buildSepConvNet, saveLayersModel, trainSepConvNet } from './examples/fmnistModel.js';
import { extractNsfwjsModel, NSFWJS_VERSION, nsfwjsPackageRoot } from './examples/nsfwjs.js';

/** Test images from this index on are the held-out half: evaluation, example datasets. */
const HELD_OUT_FROM = 5000;
const SEED = 1;

interface Options {
  out: string;
  epochs: number | null;
  trainDir: string;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { out: join(packageRoot(), 'examples'), epochs: null, trainDir: SYSTEM_FASHION_MNIST_DIR };
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--help' || flag === '-h') {
      console.log('npm run examples -- [--out DIR (default examples/)] [--epochs N] [--train-dir DIR (Fashion-MNIST training IDX files)]');
      process.exit(0);
    }
    if (value === undefined) fail(`${flag}: missing value`);
    if (flag === '--out') opts.out = resolve(value);
    else if (flag === '--train-dir') opts.trainDir = resolve(value);
    else if (flag === '--epochs') {
      opts.epochs = Number(value);
      if (!Number.isInteger(opts.epochs) || opts.epochs < 1) fail(`--epochs: ${value} is not an integer >= 1`);
    } else fail(`${flag}: unknown option (allowed: --out, --epochs, --train-dir)`);
    i++;
  }
  return opts;
}

function fail(message: string): never {
  console.error(`error: ${message}`);
  process.exit(2);
}

const asImages = (d: ImageDataset): Images => ({ pixels: d.images, labels: d.labels, height: d.height, width: d.width, channels: d.channels, classNames: d.classNames });
const writeJson = (file: string, value: unknown) => writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
const seconds = (from: number) => Math.round((performance.now() - from) / 100) / 10;

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const root = packageRoot();
  const shown = (p: string) => relative(process.cwd(), p) || '.';
  const backend = await initBackend('wasm');
  const test = await loadFashionMnist('test');
  mkdirSync(opts.out, { recursive: true });

  // (a) The third-party graph-model.
  const nsfwDir = join(opts.out, 'nsfwjs-mobilenet-v2');
  const pkg = nsfwjsPackageRoot();
  if (pkg) {
    rmSync(nsfwDir, { recursive: true, force: true });
    const t = performance.now();
    const m = extractNsfwjsModel(pkg, nsfwDir);
    if (m.version !== NSFWJS_VERSION) console.warn(`warning: nsfwjs ${m.version} found; the examples were written for ${NSFWJS_VERSION}`);
    console.log(`${shown(m.modelJson)}: nsfwjs@${m.version} (${m.license}) MobileNetV2-mid graph-model, ${m.shardBytes.length} shards, ${m.shardBytes.reduce((a, b) => a + b, 0)} bytes (${seconds(t)} s)`);
  } else {
    console.warn(`warning: nsfwjs is not installed, ${shown(nsfwDir)} not written (npm install -D nsfwjs@${NSFWJS_VERSION}, or set BENCH_NSFWJS_DIR to an unpacked copy)`);
  }

  // (b) The layers-model, trained here.
  const modelDir = join(opts.out, 'fmnist-sepconv');
  rmSync(modelDir, { recursive: true, force: true });
  const haveTrainingSet = findSplitFiles(opts.trainDir, 'train') !== null;
  const train = haveTrainingSet ? await loadFashionMnist('train', { dataDir: opts.trainDir }) : test;
  const trainCount = haveTrainingSet ? 10_000 : HELD_OUT_FROM;
  const epochs = opts.epochs ?? 3;
  const trainedOn = haveTrainingSet
    ? `Fashion-MNIST training set, images 0..${trainCount - 1} of ${train.count} (${opts.trainDir})`
    : `Fashion-MNIST test set (vendored data/fashion-mnist), images 0..${trainCount - 1}: no training set in ${opts.trainDir} (apt-get install dataset-fashion-mnist, or --train-dir DIR)`;
  console.log(`training ${shown(modelDir)} on wasm: ${trainedOn}; ${epochs} epochs`);
  const t = performance.now();
  const model = buildSepConvNet(SEED);
  const hyper = { epochs, batchSize: 64, learningRate: 0.002, seed: SEED };
  const losses = await trainSepConvNet(model, train.images, train.labels, trainCount, {
    ...hyper,
    onEpoch: (e, loss, s) => console.log(`  epoch ${e + 1}/${epochs}: loss ${loss.toFixed(4)} (${s.toFixed(1)} s)`),
  });
  const trainSeconds = seconds(t);
  const evalCount = test.count - HELD_OUT_FROM;
  const size = test.height * test.width * test.channels;
  const heldOut = accuracy(model, test.images.subarray(HELD_OUT_FROM * size), test.labels.subarray(HELD_OUT_FROM), evalCount);
  const modelJson = await saveLayersModel(model, modelDir);
  model.dispose();
  writeFileSync(
    join(modelDir, 'training.json'),
    `${JSON.stringify(
      {
        written: 'scripts/examples.ts (npm run examples)',
        architecture: 'conv 3x3x16 stride 2 + ReLU, batch norm, separable conv 3x3 -> 32 + ReLU, max-pool 2, separable conv 3x3 -> 64 + ReLU, flatten, dense 10 softmax',
        trainedOn,
        trainingImages: trainCount,
        ...hyper,
        optimizer: 'adam',
        loss: 'categorical cross entropy',
        epochLosses: losses,
        evaluatedOn: `Fashion-MNIST test set images ${HELD_OUT_FROM}..${test.count - 1} (${evalCount} images, never trained on)`,
        heldOutAccuracy: heldOut,
        backend: backend.name,
        tfjsVersion: tf.version.tfjs,
        trainSeconds,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`${shown(modelJson)}: trained in ${trainSeconds} s; accuracy ${(heldOut * 100).toFixed(2)}% on test images ${HELD_OUT_FROM}..${test.count - 1}`);

  // (c) Datasets.
  const data = join(opts.out, 'data');
  rmSync(data, { recursive: true, force: true });
  const folder = join(data, 'fmnist-folder');
  const n = writeClassFolder(asImages(test), folder, HELD_OUT_FROM, 20);
  console.log(`${shown(folder)}: ${n} PNGs (20 per class) from test images ${HELD_OUT_FROM} on`);
  const npz = join(data, 'fmnist-test.npz');
  writeNpz(asImages(test), npz, HELD_OUT_FROM, 500);
  console.log(`${shown(npz)}: test images ${HELD_OUT_FROM}..${HELD_OUT_FROM + 499} with labels`);
  const rgb = join(data, 'synthetic-rgb');
  const files = writeSyntheticRgbFolder(rgb, 96, 4, asImages(test), HELD_OUT_FROM);
  console.log(`${shown(rgb)}: ${files.length} generated 96x96 RGB PNGs (no labels the nsfwjs model knows: --labels model)`);

  // (d) Configs for the nsfwjs model: per-model options (name, class names) and a small, fast plan.
  if (pkg) {
    const common = {
      checkpoints: [{ dir: relative(root, join(nsfwDir, 'model.json')), name: 'nsfwjs-mobilenet-v2-mid', classNames: 'nsfwjs-mobilenet-v2/classes.txt' }],
      dataset: 'folder:data/synthetic-rgb',
      labels: 'model',
      seed: 0,
    };
    writeJson(join(opts.out, 'nsfwjs-adversarial.json'), {
      suite: 'adversarial',
      description:
        'The nsfwjs MobileNetV2-mid graph-model (224x224x3, 5 classes) on 4 synthetic RGB images labelled by its own predictions: FGSM and PGD-5 at L-inf eps 1/255; sanity checks on 2 images. Sized for minutes on 2 cores (one gradient of 8 images at 224x224 costs seconds). Paths: checkpoints[].dir from the working directory, dataset and classNames from this file.',
      ...common,
      limit: 4,
      batchSize: 4,
      attacks: [{ name: 'fgsm' }, { name: 'pgd', params: { steps: 5 } }],
      epsilons: [0, 0.004],
      sanity: true,
      sanityLimit: 2,
    });
    writeJson(join(opts.out, 'nsfwjs-corruption.json'), {
      suite: 'corruption',
      description: 'The nsfwjs MobileNetV2-mid graph-model on 8 synthetic RGB images labelled by its own predictions, under five corruptions at severities 1, 3, 5.',
      ...common,
      limit: 8,
      batchSize: 8,
      corruptions: ['gaussian_noise', 'defocus_blur', 'brightness', 'contrast', 'jpeg_compression'],
      severities: [1, 3, 5],
    });
    console.log(`${shown(join(opts.out, 'nsfwjs-adversarial.json'))}, ${shown(join(opts.out, 'nsfwjs-corruption.json'))}: run configs for the nsfwjs model`);
  }
  if (!existsSync(join(root, 'dist'))) console.log('next: npm run build, then the README\'s "Bring your own model" commands');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) await main();
