import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { PNG } from 'pngjs';
import { tf } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { KeyedRng } from '../../src/engine/rng.js';
import { InputError } from '../../src/engine/errors.js';
import { buildPreviewGrid, runPreview } from '../../src/cli/preview.js';
import { corruptionKey, getCorruption } from '../../corruptions/registry.js';

beforeAll(async () => {
  await initBackend('wasm');
});

/** Three synthetic 28x28 images: diagonal ramps of different slopes. */
function synthetic(): Float32Array {
  const out = new Float32Array(3 * 784);
  for (let k = 0; k < 3; k++) for (let p = 0; p < 784; p++) out[k * 784 + p] = (((p % 28) + Math.floor(p / 28)) * (k + 1)) / 160;
  return out.map((v) => Math.min(v, 1));
}

describe('buildPreviewGrid', () => {
  test('severities 0..5 across, images down, magnified; each cell is the corruption of that image as a cell would compute it', () => {
    const images = synthetic();
    const c = getCorruption('gaussian_noise');
    const grid = buildPreviewGrid(c, { images, count: 3, height: 28, width: 28, channels: 1, firstIndex: 100 }, { seed: 9, scale: 2, gap: 1 });
    expect([grid.width, grid.height]).toEqual([6 * 56 + 7, 3 * 56 + 4]);
    const cell = (row: number, col: number, y: number, x: number) => grid.data[(1 + row * 57 + 2 * y) * grid.width + 1 + col * 57 + 2 * x];
    for (let row = 0; row < 3; row++)
      for (let severity = 0; severity <= 5; severity++) {
        // Image 100 + row alone, keyed like an evaluation cell.
        const x = tf.tensor4d(images.subarray(row * 784, (row + 1) * 784), [1, 28, 28, 1]);
        const y = c.apply(x, severity, new KeyedRng(9, corruptionKey(c.name, severity), [100 + row]));
        const expected = y.dataSync();
        tf.dispose([x, y]);
        for (const [py, px] of [[0, 0], [5, 20], [27, 27]]) expect(cell(row, severity, py, px)).toBeCloseTo(expected[py * 28 + px], 6);
      }
  });
});

describe('runPreview', () => {
  test('rejects bad arguments with InputError before loading data', async () => {
    await expect(runPreview({ corruption: 'fogg', image: 0, count: 4, seed: 0 })).rejects.toThrow('did you mean "fog"?');
    await expect(runPreview({ corruption: 'fog', image: -1, count: 4, seed: 0 })).rejects.toThrow(InputError);
    await expect(runPreview({ corruption: 'fog', image: 0, count: 0, seed: 0 })).rejects.toThrow(InputError);
    await expect(runPreview({ corruption: 'fog', image: 0, count: 4, seed: 1.5 })).rejects.toThrow(InputError);
  });

  test('writes a 6-column PNG of the vendored Fashion-MNIST test images and returns its path', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'preview-')), 'snow.png');
    const path = await runPreview({ corruption: 'snow', image: 5, count: 2, seed: 0, out });
    expect(path).toBe(out);
    const png = PNG.sync.read(readFileSync(path));
    expect([png.width, png.height]).toEqual([6 * 112 + 7 * 2, 2 * 112 + 3 * 2]);
  });

  test('--dataset previews an RGB-only corruption (saturate) on RGB images; on grey ones it says why not', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'preview-')), 'saturate.png');
    // 4 RGB images of 5x6 (H x W) in an npz, as bench run --dataset reads it.
    const path = await runPreview({ corruption: 'saturate', image: 1, count: 2, seed: 0, dataset: 'npz:tests/fixtures/datasets/numpy/nhwc_uint8.npz', out });
    const png = PNG.sync.read(readFileSync(path));
    expect([png.width, png.height]).toEqual([6 * (6 * 4) + 7 * 2, 2 * (5 * 4) + 3 * 2]);
    // Colour tiles: some pixel of the sheet has unequal R, G, B.
    let colour = false;
    for (let i = 0; i < png.data.length && !colour; i += 4) colour = png.data[i] !== png.data[i + 1] || png.data[i + 1] !== png.data[i + 2];
    expect(colour).toBe(true);
    await expect(runPreview({ corruption: 'saturate', image: 0, count: 1, seed: 0, out })).rejects.toThrow(/^--corruption: saturate is not defined on 1-channel images \(/);
  });

  test.runIf(existsSync('/proc/self'))('--out under /proc or under a file: one line naming the folder, no hang', { timeout: 20_000 }, async () => {
    await expect(runPreview({ corruption: 'fog', image: 0, count: 1, seed: 0, out: '/proc/bench-x/fog.png' })).rejects.toThrow(
      'cannot create the image folder /proc/bench-x: /proc does not take new directories (ENOENT although it exists: a virtual file system such as /proc)',
    );
    const file = join(mkdtempSync(join(tmpdir(), 'preview-')), 'a-file');
    writeFileSync(file, '');
    await expect(runPreview({ corruption: 'fog', image: 0, count: 1, seed: 0, out: join(file, 'fog.png') })).rejects.toThrow(
      `cannot create the image folder ${file}: ${file} is not a directory`,
    );
  });
});
