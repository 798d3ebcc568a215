import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { loadDataset } from '../../src/datasets/registry.js';
import { expectInputError } from '../helpers/datasetFiles.js';

const fixtures = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'datasets');
const expected = JSON.parse(readFileSync(join(fixtures, 'expected.json'), 'utf8'));

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'ds-folder-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** PNG bytes (pngjs) of an h x w image whose pixel (y, x) has value f(y, x, c); grey when `grey`. */
function png(h: number, w: number, f: (y: number, x: number, c: number) => number, opts: { grey?: boolean; alpha?: number } = {}): Buffer {
  const image = new PNG({ width: w, height: h });
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 4; c++) image.data[(y * w + x) * 4 + c] = c === 3 ? (opts.alpha ?? 255) : f(y, x, opts.grey ? 0 : c);
  return PNG.sync.write(image, { colorType: opts.grey ? 0 : opts.alpha !== undefined ? 6 : 2 });
}

function jpg(h: number, w: number, f: (y: number, x: number, c: number) => number): Buffer {
  const data = Buffer.alloc(h * w * 4);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 4; c++) data[(y * w + x) * 4 + c] = c === 3 ? 255 : f(y, x, c);
  return jpeg.encode({ data, width: w, height: h }, 100).data;
}

function makeTree(name: string, files: Record<string, Buffer | string | null>): string {
  const dir = join(root, name);
  for (const [path, bytes] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    if (bytes === null) mkdirSync(join(dir, path), { recursive: true });
    else writeFileSync(join(dir, path), bytes);
  }
  return dir;
}

describe('folder:DIR', () => {
  it('decodes PNG and JPEG as Pillow does; sorted class names; grey images become RGB when the folder mixes', async () => {
    const dir = join(root, 'pillow');
    cpSync(join(fixtures, 'images'), dir, { recursive: true });
    const d = await loadDataset(`folder:${dir}`);
    expect(d.classNames).toEqual(['grey', 'rgb']);
    expect([d.count, d.height, d.width, d.channels]).toEqual([5, 6, 8, 3]);
    // Round-robin over classes: grey/a, rgb/a, grey/b, rgb/b-palette, rgb/c.
    const order = ['grey/a.png', 'rgb/a.png', 'grey/b.jpg', 'rgb/b-palette.png', 'rgb/c.jpg'];
    expect(Array.from(d.labels)).toEqual([0, 1, 0, 1, 1]);
    const per = 6 * 8 * 3;
    order.forEach((name, row) => {
      const e = expected.images[name];
      const rgb: number[] = e.mode === 'L' ? e.pixels.flatMap((v: number) => [v, v, v]) : e.pixels;
      const got = Array.from(d.images.subarray(row * per, (row + 1) * per), (v) => Math.round(v * 255));
      // PNG is lossless: exact. JPEG: jpeg-js and libjpeg may round IDCT/colour conversion differently.
      const tol = name.endsWith('.jpg') ? 3 : 0;
      const worst = Math.max(...got.map((v, i) => Math.abs(v - rgb[i])));
      expect(worst, name).toBeLessThanOrEqual(tol);
    });
    expect(d.record.notes?.[0]).toBe('2 grey images replicated to RGB (the folder mixes grey and colour images)');
  });

  it('a folder of grey images (grey PNG, 1-component JPEG) is 1-channel', async () => {
    const dir = join(root, 'grey-only');
    cpSync(join(fixtures, 'images', 'grey'), join(dir, 'only'), { recursive: true });
    const d = await loadDataset(`folder:${dir}`);
    expect(d.channels).toBe(1);
    expect(Array.from(d.images.subarray(0, 48), (v) => Math.round(v * 255))).toEqual(expected.images['grey/a.png'].pixels);
    const jpegGot = Array.from(d.images.subarray(48, 96), (v) => Math.round(v * 255));
    expect(Math.max(...jpegGot.map((v, i) => Math.abs(v - expected.images['grey/b.jpg'].pixels[i])))).toBeLessThanOrEqual(3);
  });

  it('interleaves classes so that --limit takes a class-balanced prefix; offset/limit and sizes from generated PNGs', async () => {
    const files: Record<string, Buffer> = {};
    for (const [cls, k] of [['b-cat', 3], ['a-dog', 2], ['c-eel', 1]] as const)
      for (let i = 0; i < k; i++) files[`${cls}/${i}.png`] = png(4, 5, (y, x, c) => 40 * i + 10 * c + y + x + cls.charCodeAt(0));
    const dir = makeTree('balanced', { ...files, 'README.txt': 'files directly in DIR are ignored', '.hidden/x.txt': 'ignored' });
    const d = await loadDataset(`folder:${dir}`, { limit: 4 });
    expect(d.classNames).toEqual(['a-dog', 'b-cat', 'c-eel']);
    expect(Array.from(d.labels)).toEqual([0, 1, 2, 0]);
    expect(d.total).toBe(6);
    const tail = await loadDataset(`folder:${dir}`, { offset: 4 });
    expect(Array.from(tail.labels)).toEqual([1, 1]);
    // Row 5 is b-cat/2.png: pixel (y=3, x=4, c=2) = 80 + 20 + 7 + 'b'.
    expect(tail.images[1 * 4 * 5 * 3 + (3 * 5 + 4) * 3 + 2]).toBe(Math.fround((80 + 20 + 7 + 98) / 255));
    expect(tail.record).toMatchObject({ name: 'folder', shape: [2, 4, 5, 3], offset: 4, total: 6, numClasses: 3, labelled: true });
  });

  it("records a digest that `sha256sum` reproduces from the documented command", async () => {
    const dir = makeTree('digest', { 'x/1.png': png(2, 2, () => 7), 'x/2.png': png(2, 2, () => 9), 'y/1.jpg': jpg(2, 2, () => 100) });
    const d = await loadDataset(`folder:${dir}`);
    const shell = `cd '${dir}' && find . -mindepth 2 -type f ! -name '.*' | sed 's|^\\./||' | LC_ALL=C sort | xargs -d '\\n' sha256sum | sha256sum`;
    const reference = execFileSync('bash', ['-c', shell], { encoding: 'utf8' }).split(' ')[0];
    expect(d.record.files).toHaveLength(1);
    expect(d.record.files[0].path).toBe(dir);
    expect(d.record.files[0].sha256).toBe(reference);
  });

  it('refuses images of mixed sizes naming two files and their sizes, unless imageSize asks for a resize', async () => {
    const dir = makeTree('mixed', { 'a/1.png': png(4, 4, () => 50), 'b/1.png': png(6, 3, () => 50), 'b/2.png': png(4, 4, () => 50) });
    await expectInputError(() => loadDataset(`folder:${dir}`), `${dir}: images of mixed sizes: a/1.png is 4x4 (HxW) but b/1.png is 6x3`, 'imageSize');
    const d = await loadDataset({ format: 'folder', path: dir, imageSize: [5, 5] });
    expect([d.height, d.width, d.channels]).toEqual([5, 5, 3]);
    // A constant image stays constant under bilinear resizing.
    expect(new Set(Array.from(d.images)).size).toBe(1);
    expect(d.images[0]).toBe(Math.fround(50 / 255));
    expect(d.record.notes).toContain('3 images resized to 5x5 (bilinear, half-pixel centres) as imageSize asks');
  });

  it('refuses a non-image file, an empty class folder, a nested folder, transparency and a damaged PNG', async () => {
    const text = makeTree('text', { 'a/1.png': png(2, 2, () => 1), 'a/notes.txt': 'hello' });
    await expectInputError(() => loadDataset(`folder:${text}`), `${join(text, 'a', 'notes.txt')}: not a PNG or JPEG image (first bytes 68 65 6c 6c; allowed: PNG, JPEG)`);
    const empty = makeTree('empty', { 'a/1.png': png(2, 2, () => 1), 'b': null });
    await expectInputError(() => loadDataset(`folder:${empty}`), `${join(empty, 'b')}: empty class folder`);
    const nested = makeTree('nested', { 'a/1.png': png(2, 2, () => 1), 'a/deeper/2.png': png(2, 2, () => 1) });
    await expectInputError(() => loadDataset(`folder:${nested}`), `${join(nested, 'a', 'deeper')}: a folder inside class folder a`);
    const alpha = makeTree('alpha', { 'a/1.png': png(2, 2, () => 1, { alpha: 128 }) });
    await expectInputError(() => loadDataset(`folder:${alpha}`), `${join(alpha, 'a', '1.png')}: transparent pixel at (0, 0) (alpha 128)`);
    const broken = makeTree('broken', { 'a/1.png': png(8, 8, (y, x) => x * y).subarray(0, 40) });
    await expectInputError(() => loadDataset(`folder:${broken}`), `${join(broken, 'a', '1.png')}: cannot decode PNG`);
    const flat = makeTree('flat', { '1.png': png(2, 2, () => 1) });
    await expectInputError(() => loadDataset(`folder:${flat}`), `${flat}: no class subfolders`);
    await expectInputError(() => loadDataset(`folder:${join(root, 'absent')}`), 'directory not found');
  });
});
