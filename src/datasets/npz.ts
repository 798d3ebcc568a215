/**
 * `npz:FILE`: a NumPy .npz archive (a zip of .npy files, as np.savez and np.savez_compressed write; zip
 * reading in src/models/torch/zip.ts, .npy parsing in npy.ts).
 *
 * Arrays used (the first present, unless the config names them with imagesKey / labelsKey):
 * - images: `x_test`, `x`, `images`, `X`, `arr_0` (test split); `x_train` (train split, Keras-style files
 *   like mnist.npz). dtype uint8 (|u1, pixels 0..255, divided by 255) or float32/float64 (<f4, <f8, values
 *   in [0,1]); shape [N, H, W] (grey), [N, H, W, C] (NHWC) or [N, C, H, W] (NCHW) with C = 1 or 3. A 4-d
 *   layout is read from the config's `layout`, else NHWC when the last axis is 1 or 3, else NCHW when the
 *   second is.
 * - labels (optional): `y_test`, `y`, `labels`, `Y`, `arr_1` (test); `y_train` (train). Any integer dtype,
 *   shape [N] or [N, 1], values in 0..K-1. Without labels the dataset is unlabelled (`--labels model`).
 * - class names (optional): `class_names`, a 1-d string array (<U or |S). Otherwise the config's
 *   `classNames`, else "0".."K-1" with K = largest label + 1.
 */
import { InputError } from '../engine/errors.js';
import { ZipArchive } from '../models/torch/zip.js';
import { checkLabels, fileEntry, makeDataset, readInputFile, sliceOf } from './common.js';
import { npyReader, npyStrings, parseNpy, type NpyArray } from './npy.js';
import type { DatasetFormat, DatasetRequest, ImageDataset, Split } from './types.js';

/** Array names tried for images and labels, in order, per split. */
export const NPZ_IMAGE_KEYS: Readonly<Record<Split, readonly string[]>> = { test: ['x_test', 'x', 'images', 'X', 'arr_0'], train: ['x_train'] };
export const NPZ_LABEL_KEYS: Readonly<Record<Split, readonly string[]>> = { test: ['y_test', 'y', 'labels', 'Y', 'arr_1'], train: ['y_train'] };
export const NPZ_CLASS_NAMES_KEY = 'class_names';

const IMAGE_DTYPES = ['u1', 'f4', 'f8'];
const LABEL_KINDS = ['i', 'u'];

/** Loads images (and labels, when present) from an .npz file; see the module comment for the rules. */
export function loadNpz(file: string, req: Omit<DatasetRequest, 'path'>): ImageDataset {
  const bytes = readInputFile(file, 'an .npz file (a zip archive of .npy arrays)');
  const zip = new ZipArchive(bytes, file);
  const arrays = [...zip.entries.keys()].filter((n) => n.endsWith('.npy')).map((n) => n.slice(0, -4));
  const pick = (given: string | undefined, candidates: readonly string[], what: string, required: boolean): string | null => {
    if (given !== undefined) {
      if (!arrays.includes(given)) throw new InputError(`${file}: no array '${given}' (${what}) in the archive (arrays: ${arrays.join(', ') || 'none'})`);
      return given;
    }
    const found = candidates.find((k) => arrays.includes(k)) ?? null;
    if (!found && required)
      throw new InputError(`${file}: no ${what} array for the ${req.split} split (looked for ${candidates.join(', ')}; arrays: ${arrays.join(', ') || 'none'}); name it with imagesKey`);
    return found;
  };
  const imagesKey = pick(req.imagesKey, NPZ_IMAGE_KEYS[req.split], 'images', true)!;
  const labelsKey = pick(req.labelsKey, NPZ_LABEL_KEYS[req.split], 'labels', false);
  const read = (key: string) => parseNpy(zip.read(`${key}.npy`), `${file}: ${key}.npy`);

  // Images: dtype, rank and layout.
  const x = read(imagesKey);
  const xWhere = `${file}: ${imagesKey}.npy`;
  if (!IMAGE_DTYPES.includes(`${x.kind}${x.itemSize}`))
    throw new InputError(`${xWhere}: dtype '${x.descr}' is not supported for images (allowed: |u1 uint8 0..255, <f4 float32 or <f8 float64 in [0,1])`);
  if (x.fortranOrder) throw new InputError(`${xWhere}: Fortran-ordered array (save np.ascontiguousarray(x) instead)`);
  const layout = imageLayout(x, xWhere, req.layout);
  const [n, height, width, channels] = layout.nhwc;

  // Labels.
  let allLabels: Int32Array | null = null;
  let labelsWhere = file;
  if (labelsKey !== null) {
    const y = read(labelsKey);
    labelsWhere = `${file}: ${labelsKey}.npy`;
    if (!LABEL_KINDS.includes(y.kind)) throw new InputError(`${labelsWhere}: dtype '${y.descr}' is not supported for labels (allowed: integer dtypes, e.g. <i8, |u1)`);
    if (!(y.shape.length === 1 || (y.shape.length === 2 && y.shape[1] === 1)))
      throw new InputError(`${labelsWhere}: shape (${y.shape.join(', ')}) is not supported for labels (allowed: (N,) or (N, 1))`);
    if (y.shape[0] !== n) throw new InputError(`${labelsWhere}: ${y.shape[0]} labels but ${imagesKey} holds ${n} images; the counts must match`);
    const get = npyReader(y, labelsWhere);
    allLabels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const v = get(i);
      if (v < 0 || v > 0x7fffffff) throw new InputError(`${labelsWhere}: label ${v} at index ${i} is out of range (allowed: 0..K-1)`);
      allLabels[i] = v;
    }
  }

  // Class names: config, then the file, then 0..K-1.
  let classNames: readonly string[];
  if (req.classNames) classNames = req.classNames;
  else if (arrays.includes(NPZ_CLASS_NAMES_KEY)) classNames = npyStrings(read(NPZ_CLASS_NAMES_KEY), `${file}: ${NPZ_CLASS_NAMES_KEY}.npy`);
  else if (allLabels) classNames = Array.from({ length: allLabels.reduce((m, v) => Math.max(m, v), -1) + 1 }, (_, i) => String(i));
  else classNames = [];
  if (allLabels) checkLabels(allLabels, classNames.length, labelsWhere);

  const { offset, count } = sliceOf(n, req, req.split);
  const images = toNhwcUnit(x, xWhere, layout, offset, count);
  return makeDataset({
    name: 'npz',
    source: req.source,
    split: req.split,
    files: [fileEntry(file, bytes)],
    images,
    labels: allLabels ? allLabels.slice(offset, offset + count) : null,
    count,
    height,
    width,
    channels,
    classNames,
    imagesPath: file,
    labelsPath: file,
    offset,
    total: n,
    notes: [`arrays: images ${imagesKey} (${x.descr}, ${layout.name}${layout.detected ? ', detected' : ''})${labelsKey ? `, labels ${labelsKey}` : ', no labels'}`],
  });
}

interface Layout {
  name: 'NHW' | 'NHWC' | 'NCHW';
  detected: boolean;
  nhwc: [number, number, number, number];
}

/** Works out the image array's layout; refuses ranks, channel counts and layouts we cannot read. */
function imageLayout(x: NpyArray, where: string, given: 'NHWC' | 'NCHW' | undefined): Layout {
  const s = x.shape;
  const shape = `(${s.join(', ')})`;
  if (s.length === 3) {
    if (given) throw new InputError(`${where}: layout ${given} given but the images are 3-d ${shape}, i.e. [N, H, W] grey`);
    return { name: 'NHW', detected: true, nhwc: [s[0], s[1], s[2], 1] };
  }
  if (s.length !== 4) throw new InputError(`${where}: images of shape ${shape} are not supported (allowed: [N, H, W], [N, H, W, C] or [N, C, H, W])`);
  let name = given;
  const isChannels = (d: number) => d === 1 || d === 3;
  if (!name) {
    if (isChannels(s[3])) name = 'NHWC';
    else if (isChannels(s[1])) name = 'NCHW';
    else throw new InputError(`${where}: cannot tell the channel axis of images ${shape}: neither the last nor the second axis is 1 or 3 (allowed channels: 1, 3; set layout NHWC or NCHW)`);
  }
  const nhwc: [number, number, number, number] = name === 'NHWC' ? [s[0], s[1], s[2], s[3]] : [s[0], s[2], s[3], s[1]];
  if (!isChannels(nhwc[3])) throw new InputError(`${where}: ${nhwc[3]} channels in layout ${name} ${shape} (allowed: 1 grey, 3 RGB)`);
  if (nhwc[0] === 0 || nhwc[1] === 0 || nhwc[2] === 0) throw new InputError(`${where}: images of shape ${shape} are empty`);
  return { name, detected: given === undefined, nhwc };
}

/** Rows [offset, offset + count) as NHWC floats in [0,1]; float inputs outside [0,1] are refused. */
function toNhwcUnit(x: NpyArray, where: string, layout: Layout, offset: number, count: number): Float32Array {
  const [, h, w, c] = layout.nhwc;
  const per = h * w * c;
  const out = new Float32Array(count * per);
  const get = npyReader(x, where);
  const isFloat = x.kind === 'f';
  for (let r = 0; r < count; r++) {
    const base = (offset + r) * per;
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++)
        for (let ch = 0; ch < c; ch++) {
          const src = layout.name === 'NCHW' ? base + (ch * h + y) * w + xx : base + (y * w + xx) * c + ch;
          const v = get(src);
          if (isFloat && !(v >= 0 && v <= 1))
            throw new InputError(`${where}: value ${v} at flat index ${src} is outside [0, 1] (allowed: uint8 0..255, or floats in [0,1]; divide by 255 first)`);
          out[r * per + (y * w + xx) * c + ch] = isFloat ? v : v / 255;
        }
  }
  return out;
}

export const npzFormat: DatasetFormat = {
  name: 'npz',
  description: 'NumPy .npz file: images (uint8 or float32 in [0,1], NHWC or NCHW) under x/images/x_test, optional integer labels under y/labels/y_test',
  usage: 'npz:FILE',
  path: 'required',
  splits: ['test', 'train'],
  options: ['classNames', 'imagesKey', 'labelsKey', 'layout'],
  load: async (req) => loadNpz(req.path!, req),
};
