// The example datasets scripts/examples writes read back through bench's own loaders (src/datasets) as
// the README's commands use them: the npz gives the same pixels (as bytes / 255), labels and class names;
// the folder keeps Fashion-MNIST's label order (its label-prefixed folder names sort in label order),
// so a model's class k is the folder's class k; the synthetic folder is RGB.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../../../src/datasets/registry.js';
import { FASHION_MNIST_CLASSES, loadFashionMnist } from '../../../src/datasets/fashionMnist.js';
import { writeClassFolder, writeNpz, writeSyntheticRgbFolder, type Images } from '../../../scripts/examples/datasets.js';

const tmp = mkdtempSync(join(tmpdir(), 'bench-examples-data-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function fashion(): Promise<Images> {
  const d = await loadFashionMnist('test', { offset: 5000, limit: 300 });
  return { pixels: d.images, labels: d.labels, height: 28, width: 28, channels: 1, classNames: d.classNames };
}

describe('example datasets', () => {
  it('npz: pixels, labels and class names read back by the npz loader', async () => {
    const data = await fashion();
    const file = join(tmp, 'f.npz');
    writeNpz(data, file, 10, 50);
    const back = await loadDataset(`npz:${file}`);
    expect([back.count, back.height, back.width, back.channels]).toEqual([50, 28, 28, 1]);
    expect(back.classNames).toEqual(FASHION_MNIST_CLASSES);
    expect(Array.from(back.labels)).toEqual(Array.from(data.labels.subarray(10, 60)));
    // The vendored pixels are bytes / 255, so they survive the uint8 round trip exactly.
    expect(Array.from(back.images)).toEqual(Array.from(data.pixels.subarray(10 * 784, 60 * 784)));
  });

  it('folder: 10 classes in label order, each image labelled with its own class', async () => {
    const data = await fashion();
    const dir = join(tmp, 'folder');
    expect(writeClassFolder(data, dir, 0, 3)).toBe(30);
    const back = await loadDataset(`folder:${dir}`);
    expect(back.classNames).toEqual(FASHION_MNIST_CLASSES.map((c, i) => `${i}-${c.replace('/', '-')}`));
    // Row k of the folder is image floor(k / 10) of class k mod 10: find it among the source rows.
    for (let k = 0; k < back.count; k++) {
      const pixels = Array.from(back.images.subarray(k * 784, (k + 1) * 784));
      const source = [...Array(data.labels.length).keys()].find((i) => Array.from(data.pixels.subarray(i * 784, (i + 1) * 784)).every((v, j) => v === pixels[j]));
      expect(source, `row ${k}`).toBeDefined();
      expect(back.labels[k]).toBe(data.labels[source!]);
    }
  });

  it('synthetic RGB folder: 96x96x3 PNGs in two classes', async () => {
    const dir = join(tmp, 'rgb');
    const files = writeSyntheticRgbFolder(dir, 96, 2, await fashion(), 0);
    expect(files).toHaveLength(4);
    expect(readdirSync(dir).sort()).toEqual(['patterns', 'tinted-fashion']);
    const back = await loadDataset(`folder:${dir}`, { labels: 'model' });
    expect([back.count, back.height, back.width, back.channels]).toEqual([4, 96, 96, 3]);
  });
});
