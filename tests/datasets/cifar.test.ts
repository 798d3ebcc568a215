import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { loadDataset } from '../../src/datasets/registry.js';
import { CIFAR100_CLASSES, CIFAR10_CLASSES } from '../../src/datasets/cifar.js';
import { cifarRecords, expectInputError } from '../helpers/datasetFiles.js';

/** A distinct byte for every (image, channel, row, column). */
const pixel = (n: number, ch: number, y: number, x: number) => (n * 7 + ch * 50 + y * 3 + x * 5) % 256;

let root: string;
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
function makeDir(name: string, files: Record<string, Buffer | string>): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  for (const [f, bytes] of Object.entries(files)) writeFileSync(join(dir, f), bytes);
  return dir;
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'ds-cifar-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('cifar10:DIR', () => {
  it('turns CHW records into NHWC [0,1] pixels with their labels; DIR may be the archive parent', async () => {
    const labels = [6, 9, 0];
    const parent = join(root, 'c10');
    makeDir('c10/cifar-10-batches-bin', { 'test_batch.bin': cifarRecords(labels.map((l) => [l]), pixel) });
    const d = await loadDataset(`cifar10:${parent}`);
    expect([d.count, d.height, d.width, d.channels]).toEqual([3, 32, 32, 3]);
    expect(Array.from(d.labels)).toEqual(labels);
    // NHWC index of (n=2, y=5, x=17, c=1) holds the green-plane byte of that pixel.
    expect(d.images[((2 * 32 + 5) * 32 + 17) * 3 + 1]).toBe(Math.fround(pixel(2, 1, 5, 17) / 255));
    for (const [n, y, x] of [[0, 0, 0], [1, 31, 31], [2, 10, 3]])
      for (let c = 0; c < 3; c++) expect(d.images[((n * 32 + y) * 32 + x) * 3 + c]).toBe(Math.fround(pixel(n, c, y, x) / 255));
    expect(d.classNames).toEqual(CIFAR10_CLASSES);
    const file = join(parent, 'cifar-10-batches-bin', 'test_batch.bin');
    expect(d.record).toMatchObject({ name: 'cifar10', source: `cifar10:${parent}`, shape: [3, 32, 32, 3], numClasses: 10 });
    expect(d.record.files).toEqual([{ path: file, bytes: 3 * 3073, sha256: sha(file) }]);
  });

  it('reads class names from batches.meta.txt when present (and records its checksum)', async () => {
    const names = ['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 'a8', 'a9'];
    const dir = makeDir('c10-meta', { 'test_batch.bin': cifarRecords([[1]], pixel), 'batches.meta.txt': names.join('\n') + '\n\n' });
    const d = await loadDataset(`cifar10:${dir}`);
    expect(d.classNames).toEqual(names);
    expect(d.record.files.map((f) => f.path)).toEqual([join(dir, 'test_batch.bin'), join(dir, 'batches.meta.txt')]);
    const short = makeDir('c10-meta-short', { 'test_batch.bin': cifarRecords([[1]], pixel), 'batches.meta.txt': 'cat\ndog\n' });
    await expectInputError(() => loadDataset(`cifar10:${short}`), `${join(short, 'batches.meta.txt')}: 2 class names, expected 10`);
  });

  it('the train split concatenates data_batch_1..5 in order, and offset/limit cross file boundaries', async () => {
    const files: Record<string, Buffer> = {};
    for (let b = 1; b <= 5; b++) files[`data_batch_${b}.bin`] = cifarRecords([[b], [b + 1]], (n, ch, y, x) => pixel(2 * (b - 1) + n, ch, y, x));
    const dir = makeDir('c10-train', files);
    const d = await loadDataset({ format: 'cifar10', path: dir, split: 'train' }, { offset: 3, limit: 4 });
    expect([d.count, d.offset, d.total]).toEqual([4, 3, 10]);
    expect(Array.from(d.labels)).toEqual([3, 3, 4, 4]); // records 3..6: batch 2 #1, batch 3 #0, #1, batch 4 #0
    expect(d.images[0]).toBe(Math.fround(pixel(3, 0, 0, 0) / 255));
    expect(d.images[3 * 32 * 32 * 3 + 2]).toBe(Math.fround(pixel(6, 2, 0, 0) / 255));
    expect(d.record.files.map((f) => f.path.split('/').pop())).toEqual([1, 2, 3, 4, 5].map((b) => `data_batch_${b}.bin`));
  });

  it('refuses a truncated file, a label out of range and missing files, in one line each', async () => {
    const truncated = makeDir('c10-trunc', { 'test_batch.bin': cifarRecords([[1], [2]], pixel).subarray(0, 2 * 3073 - 100) });
    await expectInputError(() => loadDataset(`cifar10:${truncated}`), `${join(truncated, 'test_batch.bin')}: 6046 bytes is not a whole number of 3073-byte records`, 'truncated');
    const range = makeDir('c10-range', { 'test_batch.bin': cifarRecords([[1], [10]], pixel) });
    await expectInputError(() => loadDataset(`cifar10:${range}`), `${join(range, 'test_batch.bin')}: label 10 of record 1 is out of range (allowed: 0..9)`);
    const empty = makeDir('c10-empty', {});
    await expectInputError(() => loadDataset(`cifar10:${empty}`), `${empty}: missing test_batch.bin`, 'DIR/cifar-10-batches-bin');
    const partial = makeDir('c10-partial', { 'data_batch_1.bin': cifarRecords([[1]], pixel), 'data_batch_2.bin': cifarRecords([[1]], pixel) });
    await expectInputError(() => loadDataset({ format: 'cifar10', path: partial, split: 'train' }), `${partial}: missing data_batch_3.bin, data_batch_4.bin, data_batch_5.bin`);
  });
});

describe('cifar100:DIR', () => {
  it('uses the fine label (second byte) and the 100 published fine class names', async () => {
    const dir = makeDir('c100/cifar-100-binary', { 'test.bin': cifarRecords([[19, 99], [0, 42], [7, 0]], pixel) });
    const d = await loadDataset(`cifar100:${join(root, 'c100')}`);
    expect(Array.from(d.labels)).toEqual([99, 42, 0]);
    expect(d.images[((1 * 32 + 4) * 32 + 9) * 3 + 2]).toBe(Math.fround(pixel(1, 2, 4, 9) / 255));
    expect(d.classNames).toHaveLength(100);
    // The published list is in alphabetical order, with no repeats.
    expect([...CIFAR100_CLASSES].sort()).toEqual(CIFAR100_CLASSES);
    expect(new Set(CIFAR100_CLASSES).size).toBe(100);
    expect([d.classNames[0], d.classNames[42], d.classNames[99]]).toEqual(['apple', 'leopard', 'worm']);
    expect(d.record.files[0].path).toBe(join(dir, 'test.bin'));
  });

  it('reads fine_label_names.txt when present, and refuses 3073-byte (CIFAR-10) records and bad labels', async () => {
    const names = Array.from({ length: 100 }, (_, i) => `c${i}`);
    const dir = makeDir('c100-names', { 'test.bin': cifarRecords([[1, 5]], pixel), 'fine_label_names.txt': names.join('\n') });
    expect((await loadDataset(`cifar100:${dir}`)).classNames[5]).toBe('c5');
    const c10 = makeDir('c100-as-c10', { 'test.bin': cifarRecords([[1], [2], [3]], pixel) });
    await expectInputError(() => loadDataset(`cifar100:${c10}`), '9219 bytes is not a whole number of 3074-byte records (2 label bytes + 3072 pixel bytes)');
    const fine = makeDir('c100-fine', { 'test.bin': cifarRecords([[1, 100]], pixel) });
    await expectInputError(() => loadDataset(`cifar100:${fine}`), 'fine label 100 of record 0 is out of range (allowed: 0..99)');
    const coarse = makeDir('c100-coarse', { 'test.bin': cifarRecords([[20, 1]], pixel) });
    await expectInputError(() => loadDataset(`cifar100:${coarse}`), 'coarse label 20 of record 0 is out of range (allowed: 0..19)');
  });
});
