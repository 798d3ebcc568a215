/**
 * `bench preview`: a PNG contact sheet of one corruption, severities 0..5 across and test images down,
 * so a user can see what each severity does before trusting a robustness number.
 */
import type { Argv, CommandModule } from 'yargs';
import { tf } from '../engine/tf.js';
import { KeyedRng } from '../engine/rng.js';
import { InputError, inputError } from '../engine/errors.js';
import { DEFAULT_DATASET, loadDataset } from '../datasets/index.js';
import { imageGrid, writePng, type RasterImage } from '../report/png.js';
import { corruptionKey, getCorruption } from '../../corruptions/registry.js';
import { SEVERITIES, type AnyCorruption } from '../../corruptions/types.js';
import { handler, startBackend, withBackendOption } from './common.js';

export interface PreviewImages {
  /** NHWC pixels in [0,1]. */
  images: Float32Array;
  count: number;
  height: number;
  width: number;
  channels: number;
  /** Global test-set index of the first image (its rng stream is keyed by it). */
  firstIndex: number;
}

export interface PreviewGridOptions {
  seed: number;
  /** Magnification of each image (default 4). */
  scale?: number;
  /** Background pixels between images (default 2). */
  gap?: number;
}

/**
 * `corruption` at each of `severities` on each image: tiles[i][k] is image i (NHWC values, [0,1]) at
 * severities[k]. Image i uses rng KeyedRng(seed, corruptionKey(name, severity), [firstIndex + i]) like an
 * evaluation cell, so the tiles are exactly the images a run with that seed evaluates. Shared by
 * `bench preview` and the corruption panels a run writes (src/suite/images.ts).
 */
export function corruptionTiles(corruption: AnyCorruption, src: PreviewImages, seed: number, severities: readonly number[] = SEVERITIES): Float32Array[][] {
  const { count, height, width, channels } = src;
  if (channels !== 1 && channels !== 3) throw new Error(`preview: images must have 1 or 3 channels, got ${channels}`);
  const size = height * width * channels;
  const indices = Array.from({ length: count }, (_, i) => src.firstIndex + i);
  const tiles: Float32Array[][] = Array.from({ length: count }, () => new Array<Float32Array>(severities.length));
  const x = tf.tensor4d(src.images.subarray(0, count * size), [count, height, width, channels]);
  try {
    severities.forEach((severity, col) => {
      const y = corruption.apply(x, severity, new KeyedRng(seed, corruptionKey(corruption.name, severity), indices));
      const pixels = y.dataSync();
      y.dispose();
      for (let i = 0; i < count; i++) tiles[i][col] = pixels.slice(i * size, (i + 1) * size) as Float32Array;
    });
  } finally {
    x.dispose();
  }
  return tiles;
}

/** Grid of `corruption` at severities 0..5 (columns) on each image (rows); see corruptionTiles. */
export function buildPreviewGrid(corruption: AnyCorruption, src: PreviewImages, opts: PreviewGridOptions): RasterImage {
  const { count, height, width, channels } = src;
  const tiles = corruptionTiles(corruption, src, opts.seed, SEVERITIES);
  return imageGrid(tiles.flat(), {
    rows: count,
    cols: SEVERITIES.length,
    tileHeight: height,
    tileWidth: width,
    channels: channels as 1 | 3,
    scale: opts.scale ?? 4,
    gap: opts.gap ?? 2,
  });
}

export interface PreviewArgs {
  corruption: string;
  image: number;
  count: number;
  seed: number;
  /** Dataset spec as `bench run --dataset` takes it (default fashion-mnist); labels are not needed. */
  dataset?: string;
  out?: string;
  backend?: string;
}

const MAX_PREVIEW_IMAGES = 64;

/** The work of `bench preview` without yargs: returns the absolute path of the PNG written. */
export async function runPreview(args: PreviewArgs): Promise<string> {
  const corruption = getCorruption(args.corruption);
  if (!Number.isInteger(args.image) || args.image < 0) throw inputError('--image', `${args.image} is not a test image index`, 'an integer >= 0');
  if (!Number.isInteger(args.count) || args.count < 1 || args.count > MAX_PREVIEW_IMAGES)
    throw inputError('--count', `${args.count} is not a usable number of images`, `1..${MAX_PREVIEW_IMAGES}`);
  if (!Number.isInteger(args.seed) || args.seed < 0) throw inputError('--seed', `${args.seed} is not a seed`, 'an integer >= 0');
  // Labels are not shown: unlabelled data (folder:DIR without classes, npz without labels) previews too.
  const data = await loadDataset(args.dataset ?? DEFAULT_DATASET, { limit: args.count, offset: args.image, labels: 'model', where: '--dataset' }).catch((err: unknown) => {
    // The loader names its own option; here the user typed --image.
    if (err instanceof InputError && err.message.startsWith('--offset')) throw new InputError(err.message.replace('--offset', '--image'));
    throw err;
  });
  if (!corruption.channels.includes(data.channels))
    throw inputError(
      '--corruption',
      `${corruption.name} is not defined on ${data.channels}-channel images (${data.record.source})`,
      `a dataset with C in {${corruption.channels.join(', ')}} (--dataset), or a corruption for ${data.channels}-channel images`,
    );
  const grid = buildPreviewGrid(
    corruption,
    { images: data.images, count: data.count, height: data.height, width: data.width, channels: data.channels, firstIndex: data.offset },
    { seed: args.seed },
  );
  const out = args.out ?? `reports/preview/${corruption.name}${args.dataset ? `-${data.record.name}` : ''}-image${args.image}-count${data.count}-seed${args.seed}.png`;
  return writePng(out, grid);
}

export const previewCommand: CommandModule<object, PreviewArgs> = {
  command: 'preview',
  describe: 'Write a PNG of one corruption at severities 0..5 (columns) on test images (rows), magnified 4x',
  builder: (y: Argv<object>) =>
    withBackendOption(
      y
        .option('corruption', { type: 'string', demandOption: true, describe: 'corruption name (`bench list --corruptions`)' })
        .option('image', { type: 'number', default: 0, describe: 'index of the first test image' })
        .option('count', { type: 'number', default: 4, describe: `number of images (rows), 1..${MAX_PREVIEW_IMAGES}` })
        .option('seed', { type: 'number', default: 0, describe: 'seed of the corruption randomness (as in a run)' })
        .option('dataset', {
          type: 'string',
          describe: 'images to corrupt, as for bench run: fashion-mnist (default), mnist:DIR, kmnist:DIR, cifar10:DIR, cifar100:DIR, folder:DIR, npz:FILE',
        })
        .option('out', { type: 'string', describe: 'PNG path (default reports/preview/<corruption>-image<K>-count<N>-seed<S>.png)' }),
    ) as unknown as Argv<PreviewArgs>,
  handler: handler(async (args: PreviewArgs) => {
    getCorruption(args.corruption); // fail on a bad name before starting the backend
    await startBackend(args.backend);
    const path = await runPreview(args);
    process.stdout.write(`${path}\n`);
    return 0;
  }),
};
