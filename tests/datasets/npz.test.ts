import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { loadDataset } from '../../src/datasets/registry.js';
import { expectInputError, f32, i64, npyBytes, u8, ucs4, zipBytes } from '../helpers/datasetFiles.js';

const fixtures = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'datasets');
const expected = JSON.parse(readFileSync(join(fixtures, 'expected.json'), 'utf8'));
const npzFixture = (name: string) => join(fixtures, 'numpy', name);

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'ds-npz-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function writeNpz(name: string, arrays: Record<string, Buffer>, deflate = false): string {
  const path = join(root, name);
  writeFileSync(path, zipBytes(Object.entries(arrays).map(([k, data]) => ({ name: `${k}.npy`, data })), deflate));
  return path;
}

/** [N, H, W] -> NHWC-with-1-channel is the same flat order; NCHW [N, C, H, W] -> NHWC. */
function nchwToNhwc(x: number[], [n, c, h, w]: number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) for (let ch = 0; ch < c; ch++) out.push(x[((i * c + ch) * h + y) * w + xx]);
  return out;
}

describe('npz:FILE on files numpy wrote (np.savez, np.savez_compressed)', () => {
  it('uint8 NHWC under x, int64 labels under y, unicode class_names (np.savez, stored zip)', async () => {
    const e = expected.npz.nhwc_uint8;
    const d = await loadDataset(`npz:${npzFixture('nhwc_uint8.npz')}`);
    expect([d.count, d.height, d.width, d.channels]).toEqual(e.shape);
    expect(Array.from(d.images)).toEqual(e.x.map((v: number) => Math.fround(v / 255)));
    expect(Array.from(d.labels)).toEqual(e.y);
    expect(d.classNames).toEqual(['cat', 'dog', '\u3042bird']);
    const sha = createHash('sha256').update(readFileSync(npzFixture('nhwc_uint8.npz'))).digest('hex');
    expect(d.record).toMatchObject({ name: 'npz', shape: e.shape, numClasses: 3, labelled: true, files: [{ path: npzFixture('nhwc_uint8.npz'), sha256: sha }] });
    expect(d.record.notes).toEqual(['arrays: images x (|u1, NHWC, detected), labels y']);
  });

  it('float32 NCHW under images, int32 labels (np.savez_compressed, deflated zip), names 0..K-1', async () => {
    const e = expected.npz.nchw_float32;
    const d = await loadDataset({ format: 'npz', path: npzFixture('nchw_float32_compressed.npz') });
    expect([d.count, d.channels, d.height, d.width]).toEqual(e.shape);
    expect(Array.from(d.images)).toEqual(nchwToNhwc(e.x, e.shape).map(Math.fround));
    expect(Array.from(d.labels)).toEqual(e.y);
    expect(d.classNames).toEqual(['0', '1', '2']);
  });

  it('Keras-style x_test/y_test and x_train/y_train; grey [N, H, W]; offset/limit', async () => {
    const e = expected.npz.grey;
    const file = npzFixture('keras_style.npz');
    const test = await loadDataset(`npz:${file}`, { offset: 1, limit: 2 });
    expect([test.count, test.height, test.width, test.channels, test.total]).toEqual([2, e.shape[1], e.shape[2], 1, 4]);
    const per = e.shape[1] * e.shape[2];
    expect(Array.from(test.images)).toEqual(e.x.slice(per, 3 * per).map((v: number) => Math.fround(v / 255)));
    const train = await loadDataset({ format: 'npz', path: file, split: 'train' });
    expect(train.count).toBe(2);
    expect(train.record.notes).toEqual(['arrays: images x_train (|u1, NHW, detected), labels y_train']);
  });

  it('an archive without labels is unlabelled: refused for --labels dataset, loaded for --labels model', async () => {
    const file = npzFixture('unlabelled.npz');
    await expectInputError(() => loadDataset(`npz:${file}`), `${file}: dataset npz:${file} has no labels`, '--labels model');
    const d = await loadDataset(`npz:${file}`, { labels: 'model' });
    expect(d.labelled).toBe(false);
    expect(Array.from(d.labels)).toEqual([-1, -1, -1, -1]);
    expect(d.record).toMatchObject({ labelled: false, numClasses: 0, classNames: [] });
  });
});

describe('npz:FILE on hand-built archives', () => {
  const x = u8(Array.from({ length: 2 * 2 * 3 * 3 }, (_, i) => i * 5));
  it('explicit keys and layout override detection', async () => {
    // [2, 3, 2, 3] read as NCHW: 3 channels of 2x3 images.
    const file = writeNpz('keys.npz', { pix: npyBytes('|u1', [2, 3, 2, 3], x), lab: npyBytes('<i8', [2, 1], i64([1, 0])) });
    const d = await loadDataset({ format: 'npz', path: file, imagesKey: 'pix', labelsKey: 'lab', layout: 'NCHW', classNames: ['no', 'yes'] });
    expect([d.height, d.width, d.channels]).toEqual([2, 3, 3]);
    expect(Array.from(d.images)).toEqual(nchwToNhwc(Array.from(x), [2, 3, 2, 3]).map((v) => Math.fround(v / 255)));
    expect(d.classNames).toEqual(['no', 'yes']);
    await expectInputError(() => loadDataset({ format: 'npz', path: file, imagesKey: 'img' }), `${file}: no array 'img' (images) in the archive (arrays: pix, lab)`);
    await expectInputError(() => loadDataset(`npz:${file}`), `${file}: no images array for the test split (looked for x_test, x, images, X, arr_0; arrays: pix, lab)`);
  });

  it('reads .npy version 2.0 headers and deflated entries', async () => {
    const file = writeNpz('v2.npz', { x: npyBytes('<f4', [1, 2, 2], f32([0, 0.25, 0.5, 1]), { version: 2 }) }, true);
    const d = await loadDataset(`npz:${file}`, { labels: 'model' });
    expect(Array.from(d.images)).toEqual([0, 0.25, 0.5, 1]);
  });

  it('refuses wrong dtypes and shapes, naming the array and the allowed values', async () => {
    const labels = npyBytes('<i8', [2], i64([0, 1]));
    const i16 = writeNpz('i16.npz', { x: npyBytes('<i2', [2, 2, 2], new Uint8Array(16)), y: labels });
    await expectInputError(() => loadDataset(`npz:${i16}`), `${i16}: x.npy: dtype '<i2' is not supported for images (allowed: |u1 uint8 0..255, <f4 float32 or <f8 float64 in [0,1])`);
    const floatLabels = writeNpz('flabels.npz', { x: npyBytes('|u1', [2, 2, 2], new Uint8Array(8)), y: npyBytes('<f4', [2], f32([0, 1])) });
    await expectInputError(() => loadDataset(`npz:${floatLabels}`), `${floatLabels}: y.npy: dtype '<f4' is not supported for labels (allowed: integer dtypes`);
    const rank5 = writeNpz('rank5.npz', { x: npyBytes('|u1', [2, 1, 2, 2, 1], new Uint8Array(8)), y: labels });
    await expectInputError(() => loadDataset(`npz:${rank5}`), 'images of shape (2, 1, 2, 2, 1) are not supported (allowed: [N, H, W], [N, H, W, C] or [N, C, H, W])');
    const rgba = writeNpz('rgba.npz', { x: npyBytes('|u1', [2, 2, 2, 4], new Uint8Array(32)), y: labels });
    await expectInputError(() => loadDataset(`npz:${rgba}`), 'cannot tell the channel axis of images (2, 2, 2, 4)', 'allowed channels: 1, 3');
    await expectInputError(() => loadDataset({ format: 'npz', path: rgba, layout: 'NHWC' }), '4 channels in layout NHWC (2, 2, 2, 4) (allowed: 1 grey, 3 RGB)');
    const count = writeNpz('count.npz', { x: npyBytes('|u1', [3, 2, 2], new Uint8Array(12)), y: labels });
    await expectInputError(() => loadDataset(`npz:${count}`), `${count}: y.npy: 2 labels but x holds 3 images`);
    const matrix = writeNpz('matrix.npz', { x: npyBytes('|u1', [2, 2, 2], new Uint8Array(8)), y: npyBytes('<i8', [2, 2], i64([0, 1, 1, 0])) });
    await expectInputError(() => loadDataset(`npz:${matrix}`), 'shape (2, 2) is not supported for labels (allowed: (N,) or (N, 1))');
    const fortran = writeNpz('fortran.npz', { x: npyBytes('|u1', [2, 2, 2], new Uint8Array(8), { fortran: true }), y: labels });
    await expectInputError(() => loadDataset(`npz:${fortran}`), 'Fortran-ordered array');
  });

  it('refuses float pixels outside [0,1] and labels out of range', async () => {
    const hot = writeNpz('hot.npz', { x: npyBytes('<f4', [1, 1, 2], f32([0.5, 255])) });
    await expectInputError(() => loadDataset(`npz:${hot}`, { labels: 'model' }), `${hot}: x.npy: value 255 at flat index 1 is outside [0, 1]`);
    const nan = writeNpz('nan.npz', { x: npyBytes('<f4', [1, 1, 2], f32([NaN, 0])) });
    await expectInputError(() => loadDataset(`npz:${nan}`, { labels: 'model' }), 'value NaN at flat index 0 is outside [0, 1]');
    const x2 = npyBytes('|u1', [2, 1, 1], u8([1, 2]));
    const neg = writeNpz('neg.npz', { x: x2, y: npyBytes('<i8', [2], i64([0, -1])) });
    await expectInputError(() => loadDataset(`npz:${neg}`), `${neg}: y.npy: label -1 at index 1 is out of range`);
    const named = writeNpz('named.npz', { x: x2, y: npyBytes('<i8', [2], i64([0, 2])), class_names: npyBytes('<U3', [2], ucs4(['cat', 'dog'], 3)) });
    await expectInputError(() => loadDataset(`npz:${named}`), `${named}: y.npy: label 2 at index 1 is out of range (allowed: 0..1)`);
  });

  it('refuses a truncated archive, a truncated .npy and a wrong .npy magic number', async () => {
    const good = zipBytes([{ name: 'x.npy', data: npyBytes('|u1', [1, 2, 2], u8([1, 2, 3, 4])) }]);
    const cut = join(root, 'cut.npz');
    writeFileSync(cut, good.subarray(0, good.length - 30));
    await expectInputError(() => loadDataset(`npz:${cut}`), `${cut}: corrupted zip archive`);
    const short = writeNpz('short.npz', { x: npyBytes('|u1', [2, 2, 2], new Uint8Array(8)).subarray(0, 128 + 5) });
    await expectInputError(() => loadDataset(`npz:${short}`), `${short}: x.npy: truncated data: 5 bytes, shape (2, 2, 2) of |u1 needs 8`);
    const magic = writeNpz('magic.npz', { x: Buffer.from('PK this is not npy at all') });
    await expectInputError(() => loadDataset(`npz:${magic}`), `${magic}: x.npy: bad magic number 50 4b 20 74 68 69, expected 93 4e 55 4d 50 59`);
    await expectInputError(() => loadDataset(`npz:${join(root, 'absent.npz')}`), `${join(root, 'absent.npz')}: file not found`);
  });
});
