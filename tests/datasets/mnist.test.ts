import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { loadDataset } from '../../src/datasets/registry.js';
import { KMNIST_CLASSES, MNIST_CLASSES } from '../../src/datasets/mnist.js';
import { expectInputError, idxBytes } from '../helpers/datasetFiles.js';

/** 5 test images of 3x4 with pixel (n, y, x) = 10n + 4y + x (so every byte is distinct and known). */
const N = 5;
const H = 3;
const W = 4;
const pixel = (n: number, y: number, x: number) => 10 * n + 4 * y + x;
const pixels = Array.from({ length: N * H * W }, (_, i) => pixel(Math.floor(i / (H * W)), Math.floor((i % (H * W)) / W), i % W));
const labels = [3, 0, 9, 1, 7];

let root: string;
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

function makeDir(name: string, files: Record<string, Buffer>): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  for (const [f, bytes] of Object.entries(files)) writeFileSync(join(dir, f), bytes);
  return dir;
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'ds-mnist-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('mnist:DIR and kmnist:DIR (IDX files)', () => {
  it('reads gzipped test files: NHWC pixels byte/255, labels, digit class names, sha256 of both files', async () => {
    const dir = makeDir('mnist-gz', {
      't10k-images-idx3-ubyte.gz': gzipSync(idxBytes([N, H, W], pixels)),
      't10k-labels-idx1-ubyte.gz': gzipSync(idxBytes([N], labels)),
    });
    const d = await loadDataset(`mnist:${dir}`);
    expect([d.count, d.height, d.width, d.channels]).toEqual([N, H, W, 1]);
    expect(d.images[2 * H * W + 1 * W + 3]).toBe(Math.fround(pixel(2, 1, 3) / 255));
    expect(Array.from(d.images)).toEqual(pixels.map((p) => Math.fround(p / 255)));
    expect(Array.from(d.labels)).toEqual(labels);
    expect(d.labelled).toBe(true);
    expect(d.classNames).toEqual(MNIST_CLASSES);
    const img = join(dir, 't10k-images-idx3-ubyte.gz');
    const lab = join(dir, 't10k-labels-idx1-ubyte.gz');
    expect(d.record).toMatchObject({
      name: 'mnist',
      source: `mnist:${dir}`,
      split: 'test',
      shape: [N, H, W, 1],
      total: N,
      offset: 0,
      numClasses: 10,
      labelled: true,
    });
    expect(d.record.files).toEqual([
      { path: img, bytes: readFileSync(img).length, sha256: sha(img) },
      { path: lab, bytes: readFileSync(lab).length, sha256: sha(lab) },
    ]);
  });

  it('reads uncompressed files, the train split, offset/limit, and the KMNIST hiragana classes', async () => {
    const dir = makeDir('kmnist-raw', {
      'train-images-idx3-ubyte': idxBytes([N, H, W], pixels),
      'train-labels-idx1-ubyte': idxBytes([N], labels),
    });
    const d = await loadDataset({ format: 'kmnist', path: dir, split: 'train' }, { offset: 1, limit: 3 });
    expect([d.count, d.offset, d.total]).toEqual([3, 1, N]);
    expect(Array.from(d.labels)).toEqual(labels.slice(1, 4));
    expect(d.images[0]).toBe(Math.fround(pixel(1, 0, 0) / 255));
    expect(d.classNames).toEqual(['お', 'き', 'す', 'つ', 'な', 'は', 'ま', 'や', 'れ', 'を']);
    expect(KMNIST_CLASSES.map((c) => `U+${c.codePointAt(0)!.toString(16).toUpperCase()}`)).toEqual([
      'U+304A', 'U+304D', 'U+3059', 'U+3064', 'U+306A', 'U+306F', 'U+307E', 'U+3084', 'U+308C', 'U+3092',
    ]);
    expect(d.record).toMatchObject({ name: 'kmnist', split: 'train', shape: [3, H, W, 1], offset: 1, total: N });
  });

  it('refuses a missing directory, and a directory missing a file, naming the expected names', async () => {
    await expectInputError(() => loadDataset(`mnist:${join(root, 'nope')}`), `${join(root, 'nope')}: directory not found`);
    const dir = makeDir('only-images', { 't10k-images-idx3-ubyte': idxBytes([N, H, W], pixels) });
    await expectInputError(
      () => loadDataset(`mnist:${dir}`),
      `${dir}: missing t10k-labels-idx1-ubyte(.gz) for the test split`,
      'expected files: t10k-images-idx3-ubyte(.gz), t10k-labels-idx1-ubyte(.gz)',
    );
  });

  it('refuses a truncated images file, naming it and the byte counts', async () => {
    const dir = makeDir('truncated', {
      't10k-images-idx3-ubyte': idxBytes([N, H, W], pixels).subarray(0, 16 + N * H * W - 5),
      't10k-labels-idx1-ubyte': idxBytes([N], labels),
    });
    await expectInputError(() => loadDataset(`mnist:${dir}`), `${join(dir, 't10k-images-idx3-ubyte')}: truncated payload: 55 bytes after the header, expected 60`);
  });

  it('refuses a wrong magic number (labels file where images are expected)', async () => {
    const dir = makeDir('swapped', {
      't10k-images-idx3-ubyte': idxBytes([N], labels),
      't10k-labels-idx1-ubyte': idxBytes([N], labels),
    });
    await expectInputError(() => loadDataset(`mnist:${dir}`), `${join(dir, 't10k-images-idx3-ubyte')}: wrong number of dimensions: 1 (magic 0x00000801)`, '0x00000803 (images)');
    const bad = makeDir('bad-magic', {
      't10k-images-idx3-ubyte': Buffer.concat([Buffer.from([0x1f, 0x00, 0x08, 0x03]), idxBytes([N, H, W], pixels).subarray(4)]),
      't10k-labels-idx1-ubyte': idxBytes([N], labels),
    });
    await expectInputError(() => loadDataset(`mnist:${bad}`), 'bad magic number 0x1f000803 (not an IDX file)');
  });

  it('refuses a label out of range, naming the file, index and allowed range', async () => {
    const dir = makeDir('label-range', {
      't10k-images-idx3-ubyte': idxBytes([N, H, W], pixels),
      't10k-labels-idx1-ubyte': idxBytes([N], [3, 0, 10, 1, 7]),
    });
    await expectInputError(() => loadDataset(`mnist:${dir}`), `${join(dir, 't10k-labels-idx1-ubyte')}: label 10 at index 2 is out of range (allowed: 0..9)`);
  });

  it('refuses label and image counts that differ', async () => {
    const dir = makeDir('counts', {
      't10k-images-idx3-ubyte': idxBytes([N, H, W], pixels),
      't10k-labels-idx1-ubyte': idxBytes([N - 1], labels.slice(1)),
    });
    await expectInputError(() => loadDataset(`mnist:${dir}`), '4 labels but', `holds ${N} images`);
  });
});

describe('fashion-mnist (default)', () => {
  it('the bare name loads the vendored test set with a record of its two files', async () => {
    const d = await loadDataset('fashion-mnist', { limit: 2 });
    expect(d.record.name).toBe('fashion-mnist');
    expect(d.record.source).toBe('fashion-mnist');
    expect(d.record.shape).toEqual([2, 28, 28, 1]);
    expect(d.record.total).toBe(10000);
    expect(d.record.classNames[9]).toBe('Ankle boot');
    for (const f of d.record.files) expect(f.sha256).toBe(sha(f.path));
    expect(d.record.files.map((f) => f.path.split('/').pop())).toEqual(['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']);
  });

  it('fashion-mnist:DIR reads IDX files from DIR and refuses images that are not 28x28', async () => {
    const dir = makeDir('fmnist-small', {
      't10k-images-idx3-ubyte': idxBytes([N, H, W], pixels),
      't10k-labels-idx1-ubyte': idxBytes([N], labels),
    });
    await expectInputError(() => loadDataset(`fashion-mnist:${dir}`), 'images are 3x4, expected 28x28');
    await expectInputError(() => loadDataset(`fashion-mnist:${join(root, 'nothing')}`), 'directory not found (dataset fashion-mnist:');
  });
});
