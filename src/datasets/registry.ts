/**
 * The dataset registry: every source format, and the parsing of what a user writes for a dataset
 * (`--dataset SPEC` or the config's `dataset`) into a validated request for one format's loader.
 *
 *   spec string    FORMAT or FORMAT:PATH, e.g. `fashion-mnist`, `cifar10:data/cifar`, `npz:x.npz`
 *   config object  {"format": "npz", "path": "x.npz", "split": "test", "imagesKey": "x", "labelsKey": "y",
 *                   "layout": "NCHW", "classNames": ["cat", "dog"] | "names.txt", "imageSize": [32, 32]}
 *
 * Relative paths resolve against `baseDir` (the config file's directory) or the working directory.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { InputError, inputError, showValue } from '../engine/errors.js';
import { didYouMean } from '../engine/suggest.js';
import { cifar100Format, cifar10Format } from './cifar.js';
import { checkSliceOptions, type SliceOptions } from './common.js';
import { fashionMnistFormat } from './fashionMnist.js';
import { folderFormat } from './folder.js';
import { kmnistFormat, mnistFormat } from './mnist.js';
import { npzFormat } from './npz.js';
import { SPLITS, type DatasetFormat, type DatasetRequest, type ImageDataset, type Split } from './types.js';

/** Every source format, in the order `bench list` shows them. */
export const DATASET_FORMATS: readonly DatasetFormat[] = [fashionMnistFormat, mnistFormat, kmnistFormat, cifar10Format, cifar100Format, folderFormat, npzFormat];
export const DATASET_FORMAT_NAMES: readonly string[] = DATASET_FORMATS.map((f) => f.name);
/** The dataset used when none is given: the vendored Fashion-MNIST test set. */
export const DEFAULT_DATASET = 'fashion-mnist';

/** The config object form of a dataset. */
export interface DatasetConfig {
  format: string;
  path?: string;
  split?: Split;
  classNames?: string[] | string;
  imagesKey?: string;
  labelsKey?: string;
  layout?: 'NHWC' | 'NCHW';
  imageSize?: [number, number];
}

const CONFIG_FIELDS = ['format', 'path', 'split', 'classNames', 'imagesKey', 'labelsKey', 'layout', 'imageSize'] as const;

/** A parsed, validated dataset: its format and the request for its loader (without offset/limit). */
export interface ResolvedDataset {
  format: DatasetFormat;
  request: Omit<DatasetRequest, 'offset' | 'limit'>;
}

export interface ParseDatasetOptions {
  /** Names the flag or config field in errors (default `--dataset`). */
  where?: string;
  /** Directory relative paths resolve against (default: the working directory). */
  baseDir?: string;
  /** Split when the spec does not give one (default `test`). */
  split?: Split;
}

/** The format named `name`, or an InputError listing the allowed names. */
export function getDatasetFormat(name: string, where = '--dataset'): DatasetFormat {
  const format = DATASET_FORMATS.find((f) => f.name === name);
  if (!format) throw inputError(where, `unknown dataset format ${showValue(name)}${didYouMean(name, DATASET_FORMAT_NAMES)}`, DATASET_FORMATS.map((f) => f.usage).join(', '));
  return format;
}

/** Lines for `bench list --datasets`: usage, then the one-line description. */
export function describeDatasetFormats(): string[] {
  const width = Math.max(...DATASET_FORMATS.map((f) => f.usage.length));
  return DATASET_FORMATS.map((f) => `${f.usage.padEnd(width)}  ${f.description}`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parses a dataset spec string or config object into a format and loader request, checking every
 * field (one-line InputErrors naming `where`, the field and the allowed values). Does not touch the
 * files: a missing path is reported by the loader.
 */
export function parseDatasetSpec(value: unknown, opts: ParseDatasetOptions = {}): ResolvedDataset {
  const where = opts.where ?? '--dataset';
  const base = opts.baseDir ?? process.cwd();
  let config: DatasetConfig;
  if (typeof value === 'string') {
    const colon = value.indexOf(':');
    config = colon < 0 ? { format: value } : { format: value.slice(0, colon), path: value.slice(colon + 1) };
  } else if (isRecord(value)) {
    for (const key of Object.keys(value))
      if (!(CONFIG_FIELDS as readonly string[]).includes(key))
        throw inputError(`${where}.${key}`, `unknown field${didYouMean(key, CONFIG_FIELDS)}`, CONFIG_FIELDS.join(', '));
    if (typeof value.format !== 'string') throw inputError(`${where}.format`, `${showValue(value.format)} is not a format name`, DATASET_FORMAT_NAMES.join(', '));
    config = value as unknown as DatasetConfig;
  } else throw inputError(where, `${showValue(value)} is neither a dataset spec string (FORMAT or FORMAT:PATH) nor an object with a "format" field`);

  const format = getDatasetFormat(config.format, typeof value === 'string' ? where : `${where}.format`);
  const field = (name: string) => (typeof value === 'string' ? where : `${where}.${name}`);

  // Path.
  if (config.path !== undefined && (typeof config.path !== 'string' || config.path.length === 0))
    throw inputError(field('path'), `${format.name} path ${showValue(config.path)} is empty or not a string`, format.usage);
  if (config.path === undefined && format.path === 'required') throw inputError(field('path'), `dataset ${format.name} needs a path`, format.usage);
  const path = config.path === undefined ? undefined : isAbsolute(config.path) ? config.path : resolve(base, config.path);

  // Split.
  const split = config.split ?? opts.split ?? 'test';
  if (!SPLITS.includes(split)) throw inputError(field('split'), `unknown split ${showValue(split)}`, SPLITS.join(', '));
  if (!format.splits.includes(split)) throw inputError(field('split'), `dataset ${format.name} has no ${split} split`, format.splits.join(', '));

  // Format-specific options.
  const request: Omit<DatasetRequest, 'offset' | 'limit'> = {
    path,
    split,
    spec: typeof value === 'string' ? value : `${format.name}${config.path !== undefined ? `:${config.path}` : ''}`,
    source: `${format.name}${path !== undefined ? `:${path}` : ''}`,
  };
  for (const key of ['classNames', 'imagesKey', 'labelsKey', 'layout', 'imageSize'] as const)
    if (config[key] !== undefined && !format.options.includes(key))
      throw inputError(field(key), `dataset format ${format.name} takes no ${key}`, format.options.length > 0 ? format.options.join(', ') : 'format, path, split');
  for (const key of ['imagesKey', 'labelsKey'] as const)
    if (config[key] !== undefined) {
      if (typeof config[key] !== 'string' || config[key]!.length === 0) throw inputError(field(key), `${showValue(config[key])} is not an array name`);
      request[key] = config[key];
    }
  if (config.layout !== undefined) {
    if (config.layout !== 'NHWC' && config.layout !== 'NCHW') throw inputError(field('layout'), `unknown layout ${showValue(config.layout)}`, 'NHWC, NCHW');
    request.layout = config.layout;
  }
  if (config.imageSize !== undefined) {
    const s = config.imageSize as unknown;
    if (!Array.isArray(s) || s.length !== 2 || s.some((d) => !Number.isInteger(d) || d < 1 || d > 4096))
      throw inputError(field('imageSize'), `${showValue(s)} is not [height, width]`, 'two integers in 1..4096');
    request.imageSize = [s[0], s[1]];
  }
  if (config.classNames !== undefined) request.classNames = readClassNames(config.classNames, field('classNames'), base);
  return { format, request };
}

/** Class names from a list or from a text file (one name per line, blank lines ignored). */
function readClassNames(value: unknown, where: string, base: string): string[] {
  let names: unknown[];
  if (typeof value === 'string') {
    const file = isAbsolute(value) ? value : resolve(base, value);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      throw inputError(where, `cannot read class names file ${file}`);
    }
    names = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  } else if (Array.isArray(value)) names = value;
  else throw inputError(where, `${showValue(value)} is neither a list of class names nor a file of them`);
  if (names.length === 0 || names.some((n) => typeof n !== 'string' || n.length === 0)) throw inputError(where, 'class names must be a non-empty list of non-empty strings');
  if (new Set(names).size !== names.length) throw inputError(where, 'class names repeat');
  return names as string[];
}

export interface LoadDatasetOptions extends ParseDatasetOptions, SliceOptions {
  /**
   * Where labels come from: `dataset` (default) requires the data to be labelled; `model` accepts
   * unlabelled data (the caller replaces the labels with the model's clean predictions).
   */
  labels?: 'dataset' | 'model';
}

/**
 * Parses `value` (a spec string, a config object, or an already resolved dataset) and loads rows
 * [offset, offset + limit) of it. Throws an InputError (one line) for a bad spec, missing or malformed
 * files, or unlabelled data when `labels` is `dataset`.
 */
export async function loadDataset(value: unknown, opts: LoadDatasetOptions = {}): Promise<ImageDataset> {
  checkSliceOptions(opts);
  const resolved = isResolved(value) ? value : parseDatasetSpec(value, opts);
  const data = await resolved.format.load({ ...resolved.request, offset: opts.offset, limit: opts.limit });
  if ((opts.labels ?? 'dataset') === 'dataset' && !data.labelled)
    throw new InputError(`${data.source}: dataset ${resolved.request.spec} has no labels; give labels or run with --labels model (labels: the model's clean predictions)`);
  return data;
}

function isResolved(v: unknown): v is ResolvedDataset {
  return isRecord(v) && isRecord(v.format) && typeof (v.format as { load?: unknown }).load === 'function' && isRecord(v.request);
}
