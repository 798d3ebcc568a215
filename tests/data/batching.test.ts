import { describe, expect, it, beforeAll } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { initBackend } from '../../src/engine/backend.js';
import { InputError } from '../../src/engine/errors.js';
import { batches, rangeIndices, shuffleIndices, toBatch, toBatchTensor, toLabelTensor } from '../../src/data/batching.js';
import type { ImageDataset } from '../../src/data/fashionMnist.js';

beforeAll(async () => {
  await initBackend('wasm');
});

// 5 images of 2x3x1; pixel (n, h, w) = n + h/10 + w/100, so each value says where it came from.
const shape = [2, 3, 1] as const;
const images = new Float32Array(5 * 6);
for (let n = 0; n < 5; n++) for (let h = 0; h < 2; h++) for (let w = 0; w < 3; w++) images[n * 6 + h * 3 + w] = n + h / 10 + w / 100;
const labels = Int32Array.from([3, 1, 4, 1, 5]);

describe('toBatchTensor / toLabelTensor', () => {
  it('gathers the chosen rows into an NHWC float32 tensor in the order given', () => {
    const before = tf.memory().numTensors;
    const x = toBatchTensor(images, [4, 0, 2], shape);
    expect(x.shape).toEqual([3, 2, 3, 1]);
    expect(x.dtype).toBe('float32');
    const v = x.arraySync();
    expect(v[0][1][2][0]).toBeCloseTo(4.12, 6);
    expect(v[1][0][1][0]).toBeCloseTo(0.01, 6);
    expect(v[2][1][0][0]).toBeCloseTo(2.1, 6);
    x.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('takes a range [start, end) and copies the data', () => {
    const copy = Float32Array.from(images);
    const x = toBatchTensor(copy, { start: 1, end: 3 }, shape);
    copy.fill(-1);
    expect(x.shape).toEqual([2, 2, 3, 1]);
    expect(Array.from(x.dataSync())).toEqual(Array.from(images.subarray(6, 18)));
    x.dispose();
  });

  it('labels are int32 [n]', () => {
    const y = toLabelTensor(labels, [4, 1]);
    expect(y.dtype).toBe('int32');
    expect(Array.from(y.dataSync())).toEqual([5, 1]);
    y.dispose();
    const r = toLabelTensor(labels, { start: 2, end: 5 });
    expect(Array.from(r.dataSync())).toEqual([4, 1, 5]);
    r.dispose();
  });

  it('rejects rows outside the data', () => {
    expect(() => toBatchTensor(images, [5], shape)).toThrow(RangeError);
    expect(() => toBatchTensor(images, { start: 3, end: 6 }, shape)).toThrow(RangeError);
  });

  it('toBatch reports global sample indices (offset + row) for keyed randomness', () => {
    const ds: ImageDataset = {
      images, labels, count: 5, height: 2, width: 3, channels: 1, classNames: [], source: '', labelsSource: '', offset: 100, total: 200,
    };
    const b = toBatch(ds, { start: 3, end: 5 });
    expect(b.rows).toEqual([3, 4]);
    expect(b.sampleIndices).toEqual([103, 104]);
    expect(Array.from(b.y.dataSync())).toEqual([1, 5]);
    expect(b.x.shape).toEqual([2, 2, 3, 1]);
    tf.dispose([b.x, b.y]);
  });
});

describe('batches', () => {
  it('chunks the indices in order, the last chunk shorter', () => {
    expect([...batches([7, 8, 9, 10, 11], 2)]).toEqual([[7, 8], [9, 10], [11]]);
    expect([...batches(rangeIndices(0, 4), 4)]).toEqual([[0, 1, 2, 3]]);
    expect([...batches([], 3)]).toEqual([]);
  });

  it('rejects a batch size that is not a positive integer', () => {
    expect(() => [...batches([1, 2], 0)]).toThrow(InputError);
    expect(() => [...batches([1, 2], 1.5)]).toThrow(/--batch-size/);
  });
});

describe('shuffleIndices', () => {
  it('is a permutation fixed by (seed, key)', () => {
    const idx = rangeIndices(0, 50);
    const a = shuffleIndices(idx, 1, 'epoch/0');
    expect(Array.from(a).sort((x, y) => x - y)).toEqual(Array.from(idx));
    expect(Array.from(shuffleIndices(idx, 1, 'epoch/0'))).toEqual(Array.from(a));
    expect(Array.from(shuffleIndices(idx, 1, 'epoch/1'))).not.toEqual(Array.from(a));
    expect(Array.from(a)).not.toEqual(Array.from(idx));
  });
});
