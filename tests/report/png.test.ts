import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { PNG } from 'pngjs';
import { encodePng, imageGrid, writePng } from '../../src/report/png.js';

describe('encodePng', () => {
  test('a grey image decodes (with an independent PNG decoder) to round(255 v), clipped', () => {
    const data = Float32Array.from([0, 0.5, 1, -0.2, 1.7, 0.25]);
    const buf = encodePng({ width: 3, height: 2, channels: 1, data });
    expect(buf.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    const png = PNG.sync.read(buf);
    expect([png.width, png.height]).toEqual([3, 2]);
    const grey = Array.from({ length: 6 }, (_, p) => png.data[p * 4]);
    expect(grey).toEqual([0, 128, 255, 0, 255, 64]);
    // IHDR colour type 0 (greyscale) at byte 25.
    expect(buf[25]).toBe(0);
  });

  test('an RGB image keeps its channels', () => {
    const png = PNG.sync.read(encodePng({ width: 1, height: 1, channels: 3, data: Float32Array.from([1, 0.5, 0]) }));
    expect(Array.from(png.data.subarray(0, 3))).toEqual([255, 128, 0]);
  });
});

describe('imageGrid', () => {
  test('places tile r*cols+c at row r, column c, magnified, with gaps of background', () => {
    const tiles = [Float32Array.of(0.1, 0.2, 0.3, 0.4), Float32Array.of(0.5, 0.6, 0.7, 0.8), null, Float32Array.of(0, 0, 0, 1)];
    const g = imageGrid(tiles, { rows: 2, cols: 2, tileHeight: 2, tileWidth: 2, channels: 1, scale: 3, gap: 1, background: 1 });
    expect([g.width, g.height]).toEqual([2 * 6 + 3, 2 * 6 + 3]);
    const at = (y: number, x: number) => g.data[y * g.width + x];
    expect(at(0, 0)).toBe(1); // gap
    expect(at(1, 1)).toBeCloseTo(0.1); // tile 0, pixel (0,0), magnified 3x
    expect(at(3, 3)).toBeCloseTo(0.1);
    expect(at(4, 4)).toBeCloseTo(0.4); // tile 0, pixel (1,1)
    expect(at(1, 8)).toBeCloseTo(0.5); // tile 1 starts at column 1 + 6 + 1
    expect(at(9, 2)).toBe(1); // tile 2 missing: background
    expect(at(13, 13)).toBe(1); // tile 3, pixel (1,1) = 1
    expect(at(8, 8)).toBe(0);
  });

  test('writePng writes a readable file and returns its absolute path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'png-'));
    const path = await writePng(join(dir, 'sub', 'x.png'), { width: 2, height: 1, channels: 1, data: Float32Array.of(0, 1) });
    expect(path.startsWith('/')).toBe(true);
    expect(PNG.sync.read(readFileSync(path)).width).toBe(2);
  });
});
