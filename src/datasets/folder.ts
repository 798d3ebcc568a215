/**
 * `folder:DIR`: one subfolder per class holding PNG or JPEG images (the layout of torchvision's
 * ImageFolder and Keras' image_dataset_from_directory).
 *
 * - Classes are the subfolder names sorted by code unit (JavaScript string order, locale-independent);
 *   class i is the i-th name. Files directly in DIR and names starting with '.' are ignored.
 * - Files are told apart by their bytes, not their names: a PNG signature (89 50 4e 47 0d 0a 1a 0a) or a
 *   JPEG start-of-image marker (ff d8 ff). Any other file, a nested folder, or an empty class folder is
 *   refused in one line. PNG is decoded with pngjs (16-bit samples reduced to 8 bits), JPEG with jpeg-js.
 * - Rows interleave the classes: row k is file floor(k / C) of class k mod C while every class still has
 *   files (then the remaining classes continue in turn), so `--limit N` takes a class-balanced prefix.
 * - Grey images (PNG colour types 0 and 4, 1-component JPEG) give a 1-channel dataset when every image is
 *   grey; otherwise grey images are replicated to RGB (noted in the record). Transparent pixels (alpha
 *   < 255) are refused: there is no background to compose them on.
 * - Every loaded image must have the size of the first one (checked over the rows loaded, since only those
 *   are decoded), unless `imageSize` [H, W] is given: then every image is resized to it (bilinear,
 *   half-pixel centres, adapt.ts).
 * - The record holds one entry for DIR whose sha256 is the SHA-256 of the listing `sha256sum` prints for
 *   the images (`<hex>  <class>/<file>\n`, sorted by path), i.e. reproducible with
 *   `cd DIR && find . -mindepth 2 -type f ! -name '.*' | sed 's|^\./||' | LC_ALL=C sort | xargs -d '\n' sha256sum | sha256sum`
 *   (for ASCII names; sorting is by UTF-16 code unit here).
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { InputError } from '../engine/errors.js';
import { resizeBilinear } from './adapt.js';
import { makeDataset, readInputFile, requireDirectory, sha256Hex, sliceOf } from './common.js';
import type { DatasetFormat, DatasetRequest, ImageDataset } from './types.js';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Largest image decoded, in megapixels (jpeg-js's guard against hostile headers; also applied to PNG). */
export const MAX_IMAGE_MEGAPIXELS = 64;

const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** A decoded image: 8-bit samples, `channels` (1 or 3) per pixel, row-major. */
export interface DecodedImage {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Uint8Array;
}

/** Number of colour components of a baseline/progressive JPEG, from its start-of-frame segment (ITU T.81 B.2.2). */
function jpegComponents(bytes: Uint8Array): number | null {
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) return null;
    const marker = bytes[at + 1];
    if (marker === 0xff) {
      at++;
      continue;
    }
    const length = (bytes[at + 2] << 8) | bytes[at + 3];
    // SOF0..SOF15 except DHT (c4), JPG (c8) and DAC (cc): P(1) Y(2) X(2) Nf(1).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) return at + 9 < bytes.length ? bytes[at + 9] : null;
    if (marker === 0xda || marker === 0xd9) return null;
    at += 2 + length;
  }
  return null;
}

/** 'png' or 'jpeg' by the file's first bytes; anything else is an InputError naming `path`. */
export function imageKind(bytes: Uint8Array, path: string): 'png' | 'jpeg' {
  if (bytes.length >= 8 && PNG_SIGNATURE.every((b, k) => bytes[k] === b)) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new InputError(`${path}: not a PNG or JPEG image (first bytes ${head || '(empty file)'}; allowed: PNG, JPEG)`);
}

/** Decodes a PNG or JPEG file's bytes; anything else, or a damaged image, is an InputError naming `path`. */
export function decodeImage(bytes: Uint8Array, path: string): DecodedImage {
  if (imageKind(bytes, path) === 'png') {
    // Size check from IHDR (bytes 16..23) before decoding.
    if (bytes.length >= 24) {
      const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      if ((v.getUint32(16) * v.getUint32(20)) / 1e6 > MAX_IMAGE_MEGAPIXELS)
        throw new InputError(`${path}: ${v.getUint32(16)}x${v.getUint32(20)} PNG is larger than ${MAX_IMAGE_MEGAPIXELS} megapixels`);
    }
    let png: PNG & { color?: boolean; alpha?: boolean };
    try {
      png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) as PNG & { color?: boolean; alpha?: boolean };
    } catch (err) {
      throw new InputError(`${path}: cannot decode PNG (${err instanceof Error ? err.message : String(err)})`);
    }
    const { width, height, data } = png;
    const pixels = width * height;
    for (let p = 0; p < pixels; p++)
      if (data[4 * p + 3] !== 255) throw new InputError(`${path}: transparent pixel at (${p % width}, ${Math.floor(p / width)}) (alpha ${data[4 * p + 3]}); flatten the image onto a background first`);
    const grey = png.color === false;
    const channels = grey ? 1 : 3;
    const out = new Uint8Array(pixels * channels);
    for (let p = 0; p < pixels; p++) for (let c = 0; c < channels; c++) out[p * channels + c] = data[4 * p + c];
    return { width, height, channels, data: out };
  }
  let decoded: { width: number; height: number; data: Uint8Array };
  try {
    decoded = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxResolutionInMP: MAX_IMAGE_MEGAPIXELS, maxMemoryUsageInMB: 1024 });
  } catch (err) {
    throw new InputError(`${path}: cannot decode JPEG (${err instanceof Error ? err.message : String(err)})`);
  }
  const { width, height, data } = decoded;
  if (jpegComponents(bytes) === 1) {
    // jpeg-js writes a 1-component image as R = G = B; keep one.
    const out = new Uint8Array(width * height);
    for (let p = 0; p < out.length; p++) out[p] = data[3 * p];
    return { width, height, channels: 1, data: out };
  }
  return { width, height, channels: 3, data };
}

/** The class folders and their image files, sorted; refuses a missing DIR, stray entries and empty classes. */
export function listImageFolder(dir: string, spec: string): { classNames: string[]; files: string[][] } {
  requireDirectory(dir, spec);
  const visible = (name: string) => !name.startsWith('.');
  const classNames = readdirSync(dir)
    .filter(visible)
    .filter((name) => statSync(join(dir, name)).isDirectory())
    .sort(byCodeUnit);
  if (classNames.length === 0) throw new InputError(`${dir}: no class subfolders (dataset ${spec} needs one subfolder of images per class)`);
  const files = classNames.map((cls) => {
    const classDir = join(dir, cls);
    const names = readdirSync(classDir).filter(visible).sort(byCodeUnit);
    for (const name of names)
      if (statSync(join(classDir, name)).isDirectory())
        throw new InputError(`${join(classDir, name)}: a folder inside class folder ${cls} (allowed: image files only, one level of class folders)`);
    if (names.length === 0) throw new InputError(`${classDir}: empty class folder (every class folder must hold at least one PNG or JPEG image)`);
    return names.map((name) => join(cls, name));
  });
  return { classNames, files };
}

/** Interleaves the classes' file lists (round-robin) into rows: [relativePath, label]. */
function interleave(files: string[][]): { path: string; label: number }[] {
  const rows: { path: string; label: number }[] = [];
  const longest = Math.max(...files.map((f) => f.length));
  for (let i = 0; i < longest; i++) files.forEach((list, label) => i < list.length && rows.push({ path: list[i], label }));
  return rows;
}

/** Loads rows [offset, offset + limit) of an image folder; see the module comment for the rules. */
export function loadFolder(dir: string, req: Omit<DatasetRequest, 'path'>): ImageDataset {
  const { classNames, files } = listImageFolder(dir, req.spec);
  const rows = interleave(files);
  const { offset, count } = sliceOf(rows.length, req, req.split);

  // Every file is read for the directory digest; only the selected rows are decoded.
  const digests = new Map<string, string>();
  const contents = new Map<string, Buffer>();
  let totalBytes = 0;
  for (let i = 0; i < rows.length; i++) {
    const path = join(dir, rows[i].path);
    const bytes = readInputFile(path, 'a PNG or JPEG image');
    imageKind(bytes, path); // refuses a non-image file even outside the loaded rows
    digests.set(rows[i].path, sha256Hex(bytes));
    totalBytes += bytes.length;
    if (i >= offset && i < offset + count) contents.set(rows[i].path, bytes);
  }
  const listing = [...digests.keys()]
    .sort(byCodeUnit)
    .map((p) => `${digests.get(p)}  ${p.split('\\').join('/')}\n`)
    .join('');

  const decoded = rows.slice(offset, offset + count).map((r) => ({ ...r, image: decodeImage(contents.get(r.path)!, join(dir, r.path)) }));
  const size = req.imageSize;
  if (!size) {
    const first = decoded[0];
    const other = decoded.find((d) => d.image.width !== first.image.width || d.image.height !== first.image.height);
    if (other)
      throw new InputError(
        `${dir}: images of mixed sizes: ${first.path} is ${first.image.height}x${first.image.width} (HxW) but ${other.path} is ` +
          `${other.image.height}x${other.image.width}; give the dataset an imageSize [H, W] to resize them all, or resize the files`,
      );
  }
  const height = size ? size[0] : decoded[0].image.height;
  const width = size ? size[1] : decoded[0].image.width;
  const anyRgb = decoded.some((d) => d.image.channels === 3);
  const channels = anyRgb ? 3 : 1;
  const per = height * width * channels;
  const images = new Float32Array(count * per);
  const labels = new Int32Array(count);
  let replicated = 0;
  let resized = 0;
  decoded.forEach((d, r) => {
    labels[r] = d.label;
    let pixels: Float32Array = new Float32Array(d.image.data.length);
    for (let i = 0; i < pixels.length; i++) pixels[i] = d.image.data[i] / 255;
    let c = d.image.channels as number;
    if (c === 1 && channels === 3) {
      const rgb = new Float32Array(pixels.length * 3);
      for (let p = 0; p < pixels.length; p++) rgb[3 * p] = rgb[3 * p + 1] = rgb[3 * p + 2] = pixels[p];
      pixels = rgb;
      c = 3;
      replicated++;
    }
    if (d.image.height !== height || d.image.width !== width) {
      pixels = resizeBilinear(pixels, 1, d.image.height, d.image.width, c, height, width);
      resized++;
    }
    images.set(pixels, r * per);
  });
  const notes: string[] = [];
  if (replicated > 0) notes.push(`${replicated} grey images replicated to RGB (the folder mixes grey and colour images)`);
  if (resized > 0) notes.push(`${resized} images resized to ${height}x${width} (bilinear, half-pixel centres) as imageSize asks`);
  return makeDataset({
    name: 'folder',
    source: req.source,
    split: req.split,
    files: [{ path: dir, bytes: totalBytes, sha256: sha256Hex(listing) }],
    images,
    labels,
    count,
    height,
    width,
    channels,
    classNames,
    imagesPath: dir,
    labelsPath: dir,
    offset,
    total: rows.length,
    notes,
  });
}

export const folderFormat: DatasetFormat = {
  name: 'folder',
  description: 'a directory with one subfolder of PNG/JPEG images per class (class names = sorted folder names)',
  usage: 'folder:DIR',
  path: 'required',
  splits: ['test'],
  options: ['imageSize'],
  load: async (req) => loadFolder(req.path!, req),
};
