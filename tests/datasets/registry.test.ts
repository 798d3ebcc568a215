import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DATASET_FORMAT_NAMES, describeDatasetFormats, loadDataset, parseDatasetSpec } from '../../src/datasets/registry.js';
import { loadFashionMnist } from '../../src/data/fashionMnist.js';
import { expectInputError, idxBytes } from '../helpers/datasetFiles.js';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'ds-registry-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('dataset registry', () => {
  it('lists every format with a usage and a one-line description', () => {
    expect(DATASET_FORMAT_NAMES).toEqual(['fashion-mnist', 'mnist', 'kmnist', 'cifar10', 'cifar100', 'folder', 'npz']);
    const lines = describeDatasetFormats();
    expect(lines).toHaveLength(7);
    expect(lines[0]).toMatch(/^fashion-mnist\[:DIR\] +Fashion-MNIST/);
    expect(lines[6]).toMatch(/^npz:FILE +NumPy \.npz file/);
    for (const l of lines) expect(l).not.toContain('\n');
  });

  it('parses FORMAT and FORMAT:PATH strings, resolving relative paths against baseDir', () => {
    const a = parseDatasetSpec('cifar10:data/c10', { baseDir: '/base' });
    expect(a.format.name).toBe('cifar10');
    expect(a.request).toMatchObject({ path: '/base/data/c10', split: 'test', spec: 'cifar10:data/c10', source: 'cifar10:/base/data/c10' });
    const b = parseDatasetSpec('fashion-mnist');
    expect(b.request).toMatchObject({ path: undefined, source: 'fashion-mnist' });
    const c = parseDatasetSpec('npz:/abs/x.npz', { split: 'train' });
    expect(c.request).toMatchObject({ path: '/abs/x.npz', split: 'train' });
    // A path may itself contain colons: only the first one separates.
    expect(parseDatasetSpec('folder:/a:b').request.path).toBe('/a:b');
  });

  it('parses config objects with per-format options and class names from a file', () => {
    const names = join(root, 'names.txt');
    writeFileSync(names, 'cat\n\ndog\r\n');
    const r = parseDatasetSpec({ format: 'npz', path: 'x.npz', imagesKey: 'a', labelsKey: 'b', layout: 'NCHW', classNames: 'names.txt' }, { baseDir: root, where: 'my.json: dataset' });
    expect(r.request).toMatchObject({ path: join(root, 'x.npz'), imagesKey: 'a', labelsKey: 'b', layout: 'NCHW', classNames: ['cat', 'dog'] });
    expect(parseDatasetSpec({ format: 'folder', path: '/f', imageSize: [32, 24] }).request.imageSize).toEqual([32, 24]);
  });

  it('refuses bad specs in one line naming the field and the allowed values', async () => {
    await expectInputError(
      () => parseDatasetSpec('cifar-10:/x'),
      '--dataset: unknown dataset format "cifar-10" (did you mean "cifar10"?) (allowed: fashion-mnist[:DIR], mnist:DIR, kmnist:DIR, cifar10:DIR, cifar100:DIR, folder:DIR, npz:FILE)',
    );
    await expectInputError(() => parseDatasetSpec('mnist'), '--dataset: dataset mnist needs a path (allowed: mnist:DIR)');
    await expectInputError(() => parseDatasetSpec('npz:'), 'npz path "" is empty or not a string (allowed: npz:FILE)');
    await expectInputError(() => parseDatasetSpec({ format: 'folder', path: '/f', split: 'train' }, { where: 'c.json: dataset' }), 'c.json: dataset.split: dataset folder has no train split (allowed: test)');
    await expectInputError(() => parseDatasetSpec({ format: 'mnist', path: '/m', split: 'val' }), '--dataset.split: unknown split "val" (allowed: test, train)');
    await expectInputError(() => parseDatasetSpec({ format: 'mnist', path: '/m', layout: 'NHWC' }), '--dataset.layout: dataset format mnist takes no layout (allowed: format, path, split)');
    await expectInputError(() => parseDatasetSpec({ format: 'npz', path: '/m', layuot: 'NHWC' }), '--dataset.layuot: unknown field (did you mean "layout"?)');
    await expectInputError(() => parseDatasetSpec({ format: 'npz', path: '/m', layout: 'CHW' }), 'unknown layout "CHW" (allowed: NHWC, NCHW)');
    await expectInputError(() => parseDatasetSpec({ format: 'folder', path: '/m', imageSize: [32] }), 'imageSize: [32] is not [height, width] (allowed: two integers in 1..4096)');
    await expectInputError(() => parseDatasetSpec({ format: 'npz', path: '/m', classNames: ['a', 'a'] }), 'class names repeat');
    await expectInputError(() => parseDatasetSpec(42), 'is neither a dataset spec string');
    await expectInputError(() => loadDataset('fashion-mnist', { limit: 0 }), '--limit: 0 is not an integer >= 1');
    await expectInputError(() => loadDataset('fashion-mnist', { offset: 10000 }), '--offset: 10000 is past the end of the test split (10000 images) (allowed: 0..9999)');
  });

  it('the default dataset through the registry equals loadFashionMnist', async () => {
    const a = await loadDataset('fashion-mnist', { offset: 5, limit: 3 });
    const b = await loadFashionMnist('test', { offset: 5, limit: 3 });
    expect(a.images).toEqual(b.images);
    expect(a.labels).toEqual(b.labels);
    expect(a.record).toEqual(b.record);
  });

  it('a resolved dataset can be loaded again (parse once, load per shard)', async () => {
    const dir = join(root, 'm');
    mkdirSync(dir);
    writeFileSync(join(dir, 't10k-images-idx3-ubyte'), idxBytes([2, 1, 1], [0, 255]));
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), idxBytes([2], [4, 2]));
    const resolved = parseDatasetSpec(`mnist:${dir}`);
    const d = await loadDataset(resolved, { offset: 1 });
    expect(Array.from(d.images)).toEqual([1]);
    expect(Array.from(d.labels)).toEqual([2]);
  });
});
