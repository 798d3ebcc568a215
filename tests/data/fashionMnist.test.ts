import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { InputError } from '../../src/engine/errors.js';
import {
  FASHION_MNIST_CLASSES,
  loadFashionMnist,
  splitTrainValidation,
  vendoredFashionMnistDir,
} from '../../src/data/fashionMnist.js';
import { getDataset, loadDataset } from '../../src/data/datasets.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
// The reference fixtures are committed (tests/fixtures), so this check runs on every clone.
const fixturesDir = resolve(repoRoot, 'tests', 'fixtures', 'cnnf-reference');
const fixtureCases = ['cnn_feedforward', 'cnnf_ind2_cycles1'].map((d) => join(fixturesDir, d, 'cases.safetensors'));

/** Reads one tensor's raw bytes from a safetensors file: u64 LE header length, JSON header, data. */
function safetensor(path: string, name: string): { dtype: string; shape: number[]; bytes: Uint8Array } {
  const file = readFileSync(path);
  const headerLength = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.subarray(8, 8 + headerLength).toString('utf8'));
  const entry = header[name];
  const [from, to] = entry.data_offsets as [number, number];
  return { dtype: entry.dtype, shape: entry.shape, bytes: file.subarray(8 + headerLength + from, 8 + headerLength + to) };
}

/** IDX bytes built from the format description, independently of src/data/idx.ts. */
function idxBytes(dims: number[], payload: Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(payload)]);
}

describe('vendored Fashion-MNIST test set', () => {
  let test: Awaited<ReturnType<typeof loadFashionMnist>>;
  beforeAll(async () => {
    test = await loadFashionMnist('test');
  });

  it('is the 10,000-image test split, 28x28x1, read from data/fashion-mnist', () => {
    expect(test.count).toBe(10000);
    expect(test.total).toBe(10000);
    expect([test.height, test.width, test.channels]).toEqual([28, 28, 1]);
    expect(test.images.length).toBe(10000 * 28 * 28);
    expect(test.labels.length).toBe(10000);
    expect(test.source).toBe(join(repoRoot, 'data', 'fashion-mnist', 't10k-images-idx3-ubyte.gz'));
    expect(vendoredFashionMnistDir()).toBe(join(repoRoot, 'data', 'fashion-mnist'));
  });

  it('has 1,000 images of each of the 10 classes (published split composition)', () => {
    const perClass = new Array(10).fill(0);
    for (const l of test.labels) perClass[l]++;
    expect(perClass).toEqual(new Array(10).fill(1000));
  });

  it('pixels lie in [0,1] and span it (byte/255)', () => {
    let min = Infinity;
    let max = -Infinity;
    for (const v of test.images) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    expect(min).toBe(0);
    expect(max).toBe(1);
  });

  it('class names follow the dataset README; first labels are Ankle boot then Pullover', () => {
    expect(FASHION_MNIST_CLASSES).toEqual([
      'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
    ]);
    expect(test.labels[0]).toBe(9);
    expect(test.labels[1]).toBe(2);
  });

  it('the vendored files match the sha256 sums in data/README.md', () => {
    const readme = readFileSync(join(repoRoot, 'data', 'README.md'), 'utf8');
    for (const name of ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']) {
      const gz = readFileSync(join(repoRoot, 'data', 'fashion-mnist', name));
      expect(readme).toContain(createHash('sha256').update(gz).digest('hex'));
      expect(readme).toContain(createHash('sha256').update(gunzipSync(gz)).digest('hex'));
    }
  });

  it('first 16 images and labels equal the CNN-F reference fixtures byte for byte', () => {
    for (const path of fixtureCases) {
      const y = safetensor(path, 'y');
      expect(y.dtype).toBe('I32');
      const labels = Array.from(new Int32Array(y.bytes.buffer.slice(y.bytes.byteOffset, y.bytes.byteOffset + y.bytes.byteLength)));
      expect(Array.from(test.labels.subarray(0, 16))).toEqual(labels);

      const x = safetensor(path, 'x_uint8');
      expect(x.dtype).toBe('U8');
      expect(x.shape).toEqual([16, 28, 28]);
      const ours = Uint8Array.from(test.images.subarray(0, 16 * 784), (v) => Math.round(v * 255));
      expect(Buffer.compare(Buffer.from(ours), Buffer.from(x.bytes))).toBe(0);
      // byte/255 exactly as float32, not just after rounding back.
      for (let i = 0; i < 16 * 784; i++) expect(test.images[i]).toBe(Math.fround(x.bytes[i] / 255));
    }
  });

  it('limit and offset take a contiguous slice with the same values', async () => {
    const slice = await loadFashionMnist('test', { offset: 9990, limit: 100 });
    expect(slice.count).toBe(10);
    expect(slice.offset).toBe(9990);
    expect(Array.from(slice.labels)).toEqual(Array.from(test.labels.subarray(9990)));
    expect(Array.from(slice.images)).toEqual(Array.from(test.images.subarray(9990 * 784)));
    const head = await loadDataset('fashion-mnist', 'test', { limit: 3 });
    expect(Array.from(head.labels)).toEqual([9, 2, 1]);
  });

  it('rejects bad limit/offset and unknown datasets with InputErrors', async () => {
    await expect(loadFashionMnist('test', { limit: 0 })).rejects.toThrow(/--limit: 0 is not an integer >= 1/);
    await expect(loadFashionMnist('test', { offset: 10000 })).rejects.toThrow(/--offset: 10000 is past the end/);
    expect(() => getDataset('cifar-10')).toThrow(InputError);
    expect(() => getDataset('cifar-10')).toThrow(/unknown dataset "cifar-10" \(allowed: fashion-mnist\)/);
  });
});

describe('--data-dir layouts and their errors', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'fmnist-test-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function makeDir(name: string, files: Record<string, Uint8Array>): string {
    const d = join(dir, name);
    mkdirSync(d, { recursive: true });
    for (const [f, bytes] of Object.entries(files)) writeFileSync(join(d, f), bytes);
    return d;
  }

  const images = new Uint8Array(3 * 784).map((_, i) => (i * 7) % 256);

  it('reads uncompressed training files from --data-dir', async () => {
    const d = makeDir('raw-train', {
      'train-images-idx3-ubyte': idxBytes([3, 28, 28], images),
      'train-labels-idx1-ubyte': idxBytes([3], Uint8Array.from([4, 0, 9])),
    });
    const ds = await loadFashionMnist('train', { dataDir: d });
    expect(ds.count).toBe(3);
    expect(Array.from(ds.labels)).toEqual([4, 0, 9]);
    expect(ds.images[5]).toBe(Math.fround(35 / 255));
    expect(ds.source).toBe(join(d, 'train-images-idx3-ubyte'));
  });

  it('a missing training set names the directory and both ways to provide it', async () => {
    const d = makeDir('empty-train', {});
    const err = await loadFashionMnist('train', { dataDir: d }).catch((e) => e);
    expect(err).toBeInstanceOf(InputError);
    expect(err.message).toContain(`training set not found in ${d}`);
    expect(err.message).toContain('--data-dir DIR');
    expect(err.message).toContain('train-images-idx3-ubyte(.gz)');
    expect(err.message).toContain('apt-get install dataset-fashion-mnist');
    expect(err.message).toContain('/usr/share/datasets/fashion-mnist');
    expect(err.message).not.toContain('\n');
  });

  it('image and label counts must match', async () => {
    const d = makeDir('count-mismatch', {
      't10k-images-idx3-ubyte': idxBytes([3, 28, 28], images),
      't10k-labels-idx1-ubyte': idxBytes([2], Uint8Array.from([1, 2])),
    });
    await expect(loadFashionMnist('test', { dataDir: d })).rejects.toThrow(/2 labels but .* holds 3 images/);
  });

  it('labels must be < 10', async () => {
    const d = makeDir('bad-label', {
      't10k-images-idx3-ubyte': idxBytes([3, 28, 28], images),
      't10k-labels-idx1-ubyte': idxBytes([3], Uint8Array.from([1, 10, 2])),
    });
    await expect(loadFashionMnist('test', { dataDir: d })).rejects.toThrow(/label 10 at index 1 is out of range \(allowed: 0\.\.9\)/);
  });

  it('images must be 28x28', async () => {
    const d = makeDir('bad-size', {
      't10k-images-idx3-ubyte': idxBytes([1, 32, 32], new Uint8Array(1024)),
      't10k-labels-idx1-ubyte': idxBytes([1], Uint8Array.from([1])),
    });
    await expect(loadFashionMnist('test', { dataDir: d })).rejects.toThrow(/images are 32x32, expected 28x28/);
  });
});

describe('splitTrainValidation', () => {
  it('partitions 0..n-1 deterministically, depending on the seed', () => {
    const a = splitTrainValidation(1000, 100, 7);
    const b = splitTrainValidation(1000, 100, 7);
    const c = splitTrainValidation(1000, 100, 8);
    expect(a.validation.length).toBe(100);
    expect(a.train.length).toBe(900);
    expect(Array.from(a.validation)).toEqual(Array.from(b.validation));
    expect(Array.from(a.validation)).not.toEqual(Array.from(c.validation));
    const all = [...a.train, ...a.validation].sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    // Not simply the first or last block: drawn across the range.
    expect(a.validation[0]).toBeLessThan(100);
    expect(a.validation[99]).toBeGreaterThan(900);
  });

  it('rejects a validation size that leaves no training data', () => {
    expect(() => splitTrainValidation(10, 10, 1)).toThrow(InputError);
    expect(() => splitTrainValidation(10, -1, 1)).toThrow(InputError);
  });
});
