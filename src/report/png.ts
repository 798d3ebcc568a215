/**
 * PNG output for image previews. Encoding uses pngjs (a maintained pure-JS codec with no native parts);
 * writing our own chunk writer would be small but would need a CRC-32 that node:zlib only offers from
 * Node 22, and pngjs also lets the tests decode what we wrote.
 */
import { createDirectory } from '../rundir/createDir.js';
import { writeFileAtomic } from '../rundir/atomic.js';
import { dirname, resolve } from 'node:path';
import { PNG } from 'pngjs';

/** A float image, row-major with interleaved channels, values in [0,1] (clipped when encoded). */
export interface RasterImage {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Float32Array;
}

export interface GridOptions {
  rows: number;
  cols: number;
  tileHeight: number;
  tileWidth: number;
  channels: 1 | 3;
  /** Integer nearest-neighbour magnification of every tile (default 1). */
  scale?: number;
  /** Pixels of background between tiles and around the grid, after scaling (default 0). */
  gap?: number;
  /** Background grey level in [0,1] (default 1, white). */
  background?: number;
}

/**
 * Lays out tiles (row-major: tile r*cols + c goes to row r, column c; each tileHeight*tileWidth*channels
 * values) into one image; missing tiles stay background.
 */
export function imageGrid(tiles: readonly (ArrayLike<number> | null | undefined)[], opts: GridOptions): RasterImage {
  const { rows, cols, tileHeight, tileWidth, channels } = opts;
  const scale = opts.scale ?? 1;
  const gap = opts.gap ?? 0;
  if (!Number.isInteger(scale) || scale < 1) throw new Error(`imageGrid: scale must be a positive integer, got ${scale}`);
  if (tiles.length > rows * cols) throw new Error(`imageGrid: ${tiles.length} tiles do not fit ${rows}x${cols}`);
  const cellH = tileHeight * scale;
  const cellW = tileWidth * scale;
  const width = cols * cellW + (cols + 1) * gap;
  const height = rows * cellH + (rows + 1) * gap;
  const data = new Float32Array(width * height * channels).fill(opts.background ?? 1);
  const tileSize = tileHeight * tileWidth * channels;
  tiles.forEach((tile, k) => {
    if (!tile) return;
    if (tile.length !== tileSize) throw new Error(`imageGrid: tile ${k} has ${tile.length} values, expected ${tileSize}`);
    const top = gap + Math.floor(k / cols) * (cellH + gap);
    const left = gap + (k % cols) * (cellW + gap);
    for (let y = 0; y < cellH; y++)
      for (let x = 0; x < cellW; x++) {
        const src = (Math.floor(y / scale) * tileWidth + Math.floor(x / scale)) * channels;
        const dst = ((top + y) * width + left + x) * channels;
        for (let c = 0; c < channels; c++) data[dst + c] = tile[src + c];
      }
  });
  return { width, height, channels, data };
}

/** 8-bit PNG (grey or RGB) of a float image: value v becomes round(255 * clip(v, 0, 1)). */
export function encodePng(img: RasterImage): Buffer {
  const { width, height, channels, data } = img;
  if (data.length !== width * height * channels) throw new Error(`encodePng: ${data.length} values for ${width}x${height}x${channels}`);
  const png = new PNG({ width, height });
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) {
      const v = data[p * channels + (channels === 1 ? 0 : c)];
      png.data[p * 4 + c] = Math.round(255 * Math.min(1, Math.max(0, Number.isFinite(v) ? v : 0)));
    }
    png.data[p * 4 + 3] = 255;
  }
  return PNG.sync.write(png, { colorType: channels === 1 ? 0 : 2, inputColorType: 6, bitDepth: 8 });
}

/**
 * Writes the PNG (creating the folder; atomically) and returns the absolute path. Throws a StorageError
 * (one line naming the folder or file and the reason) when either cannot be written.
 */
export async function writePng(path: string, img: RasterImage): Promise<string> {
  const full = resolve(path);
  await createDirectory(dirname(full), 'the image folder');
  await writeFileAtomic(full, encodePng(img));
  return full;
}
