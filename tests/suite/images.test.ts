/**
 * Example panels of `bench run` (src/suite/images.ts): small runs on the reference fixture models write
 * images/*.png + *.json; the PNGs are decoded with pngjs and checked against the grid they claim, the eps
 * ball, an independent re-run of the attack and the cells' correctness bits; the report embeds them.
 * Labels are replaced by the CNN-F's own clean predictions (as in runner.test.ts) so it is correct clean
 * and the attacks have something to break. The CNN-F's name is hostile (markup, a path) on purpose.
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/engine/tf.js';
import { initBackend, type BackendInfo } from '../../src/engine/backend.js';
import { KeyedRng } from '../../src/engine/rng.js';
import { loadFashionMnist, type ImageDataset } from '../../src/data/fashionMnist.js';
import { cellFileName } from '../../src/rundir/files.js';
import { decodeBits } from '../../src/rundir/records.js';
import { mergeShards } from '../../src/compare/mergeShards.js';
import { loadSuiteModel, type SuiteModel } from '../../src/suite/loadClassifier.js';
import { executeRun, prepareRun, type RunOutcome, type RunRequest } from '../../src/suite/runner.js';
import { ADVERSARIAL_ROWS, safeImageName, TILE_BORDER, TILE_GAP, TILE_SCALE, type ImageSidecar, type PanelGrid } from '../../src/suite/images.js';
import { escapeHtml } from '../../src/report/format.js';
import { writeReport } from '../../src/report/index.js';
import { getAttack } from '../../attacks/registry.js';
import { corruptionKey, getCorruption } from '../../corruptions/registry.js';
import { fixtureCheckpoint } from './fixtures.js';

const N = 8;
const SEED = 3;
const HOSTILE = 'cnnf <i>"F"</i> & /../../escape';
const EPSILONS = [0, 0.02, 0.05];
let root: string;
let backend: BackendInfo;
let labels: Int32Array;
/** A run's outcome and, when it was asked for, the path of its HTML report (the CLI's reporters, run here as `bench run` does). */
type Reported = RunOutcome & { reportPath?: string };
let adv: Reported;
let corr: Reported;
let cnnf: SuiteModel;

const relabel = (d: ImageDataset): ImageDataset => ({ ...d, labels: labels.slice(0, d.count) });

function writeConfig(name: string, config: Record<string, unknown>): string {
  const path = join(root, `${name}.json`);
  writeFileSync(path, JSON.stringify(config));
  return path;
}

async function run(req: RunRequest, report = false): Promise<Reported> {
  const outcome = await executeRun(await prepareRun(req), { backend, quiet: true, transformData: relabel });
  return report ? { ...outcome, reportPath: await writeReport(outcome.runDir) } : outcome;
}

const adversarialConfig = {
  suite: 'adversarial',
  checkpoints: [join(tmpdir(), 'placeholder')],
  attacks: [
    { name: 'fgsm', paths: ['first', 'e2e'] },
    { name: 'pgd', params: { steps: 2 }, paths: ['first', 'e2e', 'bpda'] },
    { name: 'square', params: { queries: 6 }, limit: 5 },
  ],
  epsilons: EPSILONS,
  limit: N,
  batchSize: 16,
  seed: SEED,
  sanity: false,
};

const files = (dir: string) => (existsSync(dir) ? readdirSync(dir).sort() : []);
const sidecar = (dir: string, name: string) => JSON.parse(readFileSync(join(dir, 'images', `${name}.json`), 'utf8')) as ImageSidecar;
const png = (dir: string, name: string) => PNG.sync.read(readFileSync(join(dir, 'images', `${name}.png`)));

/** Top-left pixel (in the PNG) of tile (r, c)'s image, inside its frame. */
function origin(g: PanelGrid, r: number, c: number): [number, number] {
  const cellH = (g.tileHeight + 2 * g.border) * g.scale;
  const cellW = (g.tileWidth + 2 * g.border) * g.scale;
  return [g.gap + r * (cellH + g.gap) + g.border * g.scale, g.gap + c * (cellW + g.gap) + g.border * g.scale];
}

/** Grey levels 0..255 of tile (r, c), one per image pixel (the red channel; the tiles are grey). */
function tile(image: PNG, g: PanelGrid, r: number, c: number): Uint8Array {
  const [top, left] = origin(g, r, c);
  const out = new Uint8Array(g.tileHeight * g.tileWidth);
  for (let y = 0; y < g.tileHeight; y++)
    for (let x = 0; x < g.tileWidth; x++) {
      const p = ((top + y * g.scale) * image.width + left + x * g.scale) * 4;
      expect(image.data[p + 1]).toBe(image.data[p]); // grey
      out[y * g.tileWidth + x] = image.data[p];
    }
  return out;
}

/** RGB of the frame of tile (r, c) (its top-left corner). */
function frame(image: PNG, g: PanelGrid, r: number, c: number): number[] {
  const [top, left] = origin(g, r, c);
  const p = ((top - g.border * g.scale) * image.width + left - g.border * g.scale) * 4;
  return [image.data[p], image.data[p + 1], image.data[p + 2]];
}

const maxDiff = (a: Uint8Array, b: Uint8Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

beforeAll(async () => {
  backend = await initBackend('wasm');
  root = mkdtempSync(join(tmpdir(), 'bench-images-'));
  await fixtureCheckpoint('cnn', join(root, 'cnn'), 'cnn-fmnist');
  await fixtureCheckpoint('cnnf', join(root, 'cnnf'), HOSTILE);
  cnnf = await loadSuiteModel({ path: join(root, 'cnnf'), output: 'last', where: 'cnnf' });
  const data = await loadFashionMnist('test', { limit: N });
  const x = tf.tensor4d(data.images, [N, 28, 28, 1]);
  const logits = cnnf.classifier.logits(x, 'last');
  const pred = tf.argMax(logits, 1);
  labels = Int32Array.from(pred.dataSync());
  tf.dispose([x, logits, pred]);
  adv = await run({ configFile: writeConfig('adv', { ...adversarialConfig, checkpoints: [join(root, 'cnn'), join(root, 'cnnf')] }), out: join(root, 'adv') }, true);
  corr = await run(
    {
      configFile: writeConfig('corr', {
        suite: 'corruption',
        checkpoints: [join(root, 'cnn'), join(root, 'cnnf')],
        corruptions: ['gaussian_noise', 'brightness', 'contrast'],
        severities: [1, 3, 5],
        limit: 4,
        batchSize: 4,
        seed: SEED,
      }),
      out: join(root, 'corr'),
    },
    true,
  );
}, 300_000);

afterAll(() => {
  cnnf?.dispose();
  if (root) rmSync(root, { recursive: true, force: true });
});

/** The panels the adversarial run must write: per checkpoint and attack, one computed path (e2e first). */
const ADV_PANELS = [
  ['cnn-fmnist', 'fgsm', 'first'],
  ['cnn-fmnist', 'pgd', 'first'],
  ['cnn-fmnist', 'square', 'none'],
  [HOSTILE, 'fgsm', 'e2e'],
  [HOSTILE, 'pgd', 'e2e'],
  [HOSTILE, 'square', 'none'],
].map(([c, a, p]) => ({ checkpoint: c, attack: a, path: p, name: safeImageName(['adversarial', c, a, p]) }));

describe('adversarial panels', () => {
  it('one PNG + sidecar per checkpoint and attack, with safe names, all inside images/', () => {
    expect(files(join(adv.runDir, 'images'))).toEqual(ADV_PANELS.flatMap((p) => [`${p.name}.json`, `${p.name}.png`]).sort());
    for (const name of files(join(adv.runDir, 'images'))) expect(name).toMatch(/^adversarial-[A-Za-z0-9._-]+\.(png|json)$/);
    // The hostile name's "/../../escape" wrote nothing outside the run's images/.
    expect(files(adv.runDir).filter((f) => !['cells', 'images', 'run.json', 'report.html', 'tables', 'charts', 'checksums.json'].includes(f))).toEqual([]);
    expect(existsSync(join(root, 'escape'))).toBe(false);
    expect(safeImageName(['adversarial', HOSTILE, 'pgd', 'e2e'])).not.toBe(safeImageName(['adversarial', HOSTILE.replace('&', '+'), 'pgd', 'e2e']));
  });

  it('each PNG is rows x columns of framed, magnified tiles: clean, one per eps > 0, the perturbation', () => {
    for (const p of ADV_PANELS) {
      const s = sidecar(adv.runDir, p.name);
      const rows = Math.min(ADVERSARIAL_ROWS, p.attack === 'square' ? 5 : N);
      expect(s.grid).toEqual({ rows, cols: 4, tileHeight: 28, tileWidth: 28, channels: 3, scale: TILE_SCALE, gap: TILE_GAP, border: TILE_BORDER });
      expect(s.columns).toEqual(['clean', 'L∞ ε=0.02', 'L∞ ε=0.05', 'perturbation (L∞ ε=0.05)']);
      const image = png(adv.runDir, p.name);
      const cell = (28 + 2 * TILE_BORDER) * TILE_SCALE;
      expect([image.width, image.height]).toEqual([4 * cell + 5 * TILE_GAP, rows * cell + (rows + 1) * TILE_GAP]);
      expect(s.details.cells).toEqual([0.02, 0.05].map((eps) => `${p.checkpoint}|${p.attack}|${p.path}|${eps}`));
    }
  });

  it('adversarial tiles stay within eps of the clean tile (L-inf, to 1/255) and differ from it where the clean image was correct', () => {
    let changed = 0;
    for (const p of ADV_PANELS) {
      const s = sidecar(adv.runDir, p.name);
      const image = png(adv.runDir, p.name);
      const cleanPred = s.details.cleanPredictions as number[];
      const truth = s.details.labels as number[];
      for (let r = 0; r < s.grid.rows; r++) {
        const clean = tile(image, s.grid, r, 0);
        [0.02, 0.05].forEach((eps, k) => {
          const d = maxDiff(tile(image, s.grid, r, k + 1), clean);
          expect(d / 255, `${p.name} row ${r} eps ${eps}`).toBeLessThanOrEqual(eps + 1 / 255 + 1e-9);
          if (cleanPred[r] === truth[r]) {
            expect(d, `${p.name} row ${r} eps ${eps}`).toBeGreaterThan(0);
            changed++;
          }
        });
      }
    }
    expect(changed).toBeGreaterThanOrEqual(3 * 2 * 5); // the CNN-F is correct on every (relabelled) image
  });

  it('tiles are the examples the cells classified: the cell\'s attack re-run on its batch of survivors, with its rng, gives the same pixels', async () => {
    const data = relabel(await loadFashionMnist('test', { limit: N }));
    const p = ADV_PANELS.find((q) => q.checkpoint === HOSTILE && q.attack === 'pgd')!;
    const s = sidecar(adv.runDir, p.name);
    const image = png(adv.runDir, p.name);
    const attack = getAttack('pgd');
    const attacked = s.details.attacked as boolean[][];
    let survivors = [...Array(N).keys()]; // the CNN-F is correct on every (relabelled) image
    let checked = 0;
    for (const [k, eps] of [0.02, 0.05].entries()) {
      expect(attacked[k]).toEqual([...Array(ADVERSARIAL_ROWS).keys()].map((r) => survivors.includes(r)));
      const x = tf.tensor4d(data.images.filter((_, i) => survivors.includes(Math.floor(i / 784))), [survivors.length, 28, 28, 1]);
      const y = tf.tensor1d(survivors.map((r) => data.labels[r]), 'int32');
      const id = `${HOSTILE}|pgd|e2e|${eps}`;
      const res = await attack.run(cnnf.classifier, x, y, eps, new KeyedRng(SEED, id, survivors), {
        path: 'e2e',
        output: 'last',
        params: attack.parseParams({ steps: 2 }, 'test'),
      });
      const pixels = res.xAdv.dataSync();
      tf.dispose([x, y, res.xAdv]);
      survivors.forEach((r, j) => {
        if (r >= ADVERSARIAL_ROWS) return;
        const expected = Uint8Array.from(pixels.slice(j * 784, (j + 1) * 784), (v) => Math.round(255 * Math.min(1, Math.max(0, v))));
        expect(maxDiff(tile(image, s.grid, r, k + 1), expected), `row ${r} eps ${eps}`).toBe(0);
        checked++;
      });
      // Rows not attacked keep the previous column's image.
      for (let r = 0; r < ADVERSARIAL_ROWS; r++)
        if (!attacked[k][r]) expect(maxDiff(tile(image, s.grid, r, k + 1), tile(image, s.grid, r, k)), `kept row ${r}`).toBe(0);
      const bits = decodeBits(adv.cells.find((c) => c.id === id)!.correctBits, N);
      survivors = survivors.filter((r) => bits[r]);
    }
    expect(checked).toBeGreaterThan(ADVERSARIAL_ROWS);
  });

  it('predictions in the sidecar agree with the cells (per-sample AND over eps) and with the frame colours', () => {
    for (const p of ADV_PANELS) {
      const s = sidecar(adv.runDir, p.name);
      const image = png(adv.runDir, p.name);
      const truth = s.details.labels as number[];
      const clean = s.details.cleanPredictions as number[];
      const preds = s.details.predictions as number[][];
      for (let r = 0; r < s.grid.rows; r++) {
        let ok = clean[r] === truth[r];
        [0.02, 0.05].forEach((eps, k) => {
          ok &&= preds[k][r] === truth[r];
          const c = adv.cells.find((x) => x.id === `${p.checkpoint}|${p.attack}|${p.path}|${eps}`)!;
          expect(decodeBits(c.correctBits, c.samples)[r], `${p.name} row ${r} eps ${eps}`).toBe(ok);
          const [R, , B] = frame(image, s.grid, r, k + 1);
          expect(preds[k][r] === truth[r] ? B > R : R > B, `${p.name} frame ${r},${k + 1}`).toBe(true);
          expect(s.tiles![r][k + 1].marked === true).toBe(preds[k][r] !== truth[r]);
        });
      }
    }
  });

  it('the report embeds every panel as a data: URI, with its title and caption escaped', () => {
    const html = readFileSync(adv.reportPath!, 'utf8');
    const section = html.slice(html.indexOf('<section id="images">'), html.indexOf('<section id="metadata">'));
    for (const p of ADV_PANELS) {
      const bytes = readFileSync(join(adv.runDir, 'images', `${p.name}.png`));
      // (a boolean, not toContain: a failure would print the whole page)
      expect(section.includes(`src="data:image/png;base64,${bytes.toString('base64')}"`), p.name).toBe(true);
      const s = sidecar(adv.runDir, p.name);
      expect(section.includes(escapeHtml(s.title)), s.title).toBe(true);
      expect(section.includes(escapeHtml(s.caption)), s.caption).toBe(true);
      for (const row of s.rows) expect(section.includes(`<th>${escapeHtml(row)}</th>`), row).toBe(true);
    }
    expect(section.includes('<h3 id="images-adversarial">Clean vs adversarial examples</h3>')).toBe(true);
    expect(section.includes('<i>"F"</i>')).toBe(false);
    expect(section.includes('cnnf &lt;i&gt;&quot;F&quot;&lt;/i&gt; &amp; /../../escape')).toBe(true);
    expect(section.includes('class="marked"')).toBe(true);
  });

  it('--resume writes missing panels (and only those), recomputing uncaptured examples exactly: the bytes of the first run', async () => {
    const dir = join(root, 'resumed');
    cpSync(adv.runDir, dir, { recursive: true });
    // One panel alone, and one with its last cell (recomputed and captured; the first eps is recomputed for the panel).
    const [alone, withCell, kept] = [ADV_PANELS[4], ADV_PANELS[1], ADV_PANELS[0]];
    for (const q of [alone, withCell]) rmSync(join(dir, 'images', `${q.name}.png`));
    rmSync(join(dir, 'cells', cellFileName(`${withCell.checkpoint}|${withCell.attack}|${withCell.path}|0.05`)));
    const keptMtime = statSync(join(dir, 'images', `${kept.name}.png`)).mtimeMs;
    await run({ resume: dir });
    expect(files(join(dir, 'images'))).toEqual(files(join(adv.runDir, 'images')));
    for (const name of files(join(adv.runDir, 'images')))
      expect(readFileSync(join(dir, 'images', name)).equals(readFileSync(join(adv.runDir, 'images', name))), name).toBe(true);
    expect(statSync(join(dir, 'images', `${kept.name}.png`)).mtimeMs).toBe(keptMtime);
  });

  it('sharded: each shard writes the panels of its own sweeps; merged, they are the unsharded run\'s bytes', async () => {
    const config = writeConfig('shard', { ...adversarialConfig, checkpoints: [join(root, 'cnn'), join(root, 'cnnf')] });
    const tensors = tf.memory().numTensors;
    const a = await run({ configFile: config, out: join(root, 'shard1'), shard: '1/2' });
    const b = await run({ configFile: config, out: join(root, 'shard2'), shard: '2/2' });
    expect(tf.memory().numTensors).toBe(tensors); // drawing the panels leaks no tensor
    const [inA, inB] = [files(join(a.runDir, 'images')), files(join(b.runDir, 'images'))];
    expect(inA.length).toBeGreaterThan(0);
    expect(inB.length).toBeGreaterThan(0);
    expect([...inA, ...inB].sort()).toEqual(files(join(adv.runDir, 'images')));
    const merged = join(root, 'merged');
    await mergeShards([a.runDir, b.runDir], { out: merged });
    expect(files(join(merged, 'images'))).toEqual(files(join(adv.runDir, 'images')));
    for (const name of files(join(adv.runDir, 'images')))
      expect(readFileSync(join(merged, 'images', name)).equals(readFileSync(join(adv.runDir, 'images', name))), name).toBe(true);
  });
});

describe('parallel runs', () => {
  it('--workers 2: panels written by the helper process and the lead are the bytes of a single process', async () => {
    // (no relabelling: it applies to this process only)
    const config = writeConfig('workers', {
      ...adversarialConfig,
      checkpoints: [join(root, 'cnn'), join(root, 'cnnf')],
      attacks: [{ name: 'fgsm', paths: ['first', 'e2e'] }, { name: 'pgd', params: { steps: 2 }, paths: ['first', 'bpda'] }],
    });
    const opts = { backend, quiet: true };
    const single = await executeRun(await prepareRun({ configFile: config, out: join(root, 'single') }), opts);
    const parallel = await executeRun(await prepareRun({ configFile: config, out: join(root, 'parallel'), workers: 2 }), opts);
    const names = files(join(single.runDir, 'images'));
    expect(names.length).toBe(2 * 4);
    expect(files(join(parallel.runDir, 'images'))).toEqual(names);
    for (const name of names)
      expect(readFileSync(join(parallel.runDir, 'images', name)).equals(readFileSync(join(single.runDir, 'images', name))), name).toBe(true);
  });
});

describe('corruption panels', () => {
  const NAMES = ['gaussian_noise', 'brightness', 'contrast'];
  it('one grid per image for the first two images: rows = corruptions, columns = clean + each severity', () => {
    expect(files(join(corr.runDir, 'images'))).toEqual(['corruption-image0.json', 'corruption-image0.png', 'corruption-image1.json', 'corruption-image1.png']);
    const s = sidecar(corr.runDir, 'corruption-image0');
    expect(s.grid).toEqual({ rows: 3, cols: 4, tileHeight: 28, tileWidth: 28, channels: 1, scale: TILE_SCALE, gap: TILE_GAP, border: 0 });
    expect(s.columns).toEqual(['clean', 'severity 1', 'severity 3', 'severity 5']);
    expect(s.rows).toEqual(['gaussian_noise (noise)', 'brightness (weather)', 'contrast (digital)']);
    const image = png(corr.runDir, 'corruption-image0');
    expect([image.width, image.height]).toEqual([4 * 28 * TILE_SCALE + 5 * TILE_GAP, 3 * 28 * TILE_SCALE + 4 * TILE_GAP]);
  });

  it('severity columns differ from the clean column, which is the test image; tiles are the cells\' corrupted images', async () => {
    const data = await loadFashionMnist('test', { limit: 2 });
    for (const i of [0, 1]) {
      const s = sidecar(corr.runDir, `corruption-image${i}`);
      const image = png(corr.runDir, `corruption-image${i}`);
      const original = Uint8Array.from(data.images.subarray(i * 784, (i + 1) * 784), (v) => Math.round(255 * v));
      NAMES.forEach((name, r) => {
        expect(maxDiff(tile(image, s.grid, r, 0), original)).toBe(0);
        for (let c = 1; c <= 3; c++) expect(maxDiff(tile(image, s.grid, r, c), original), `${name} col ${c}`).toBeGreaterThan(2);
      });
    }
    // Gaussian noise at severity 3 on image 1, keyed as its cell: the same pixels.
    const x = tf.tensor4d(data.images.subarray(784, 1568), [1, 28, 28, 1]);
    const y = getCorruption('gaussian_noise').apply(x, 3, new KeyedRng(SEED, corruptionKey('gaussian_noise', 3), [1]));
    const expected = Uint8Array.from(y.dataSync(), (v) => Math.round(255 * Math.min(1, Math.max(0, v))));
    tf.dispose([x, y]);
    expect(maxDiff(tile(png(corr.runDir, 'corruption-image1'), sidecar(corr.runDir, 'corruption-image1').grid, 0, 2), expected)).toBe(0);
  });

  it('sharded: shard 1 writes the corruption panels; merged, they are the unsharded run\'s bytes', async () => {
    const config = writeConfig('corr-shard', {
      suite: 'corruption',
      checkpoints: [join(root, 'cnn'), join(root, 'cnnf')],
      corruptions: ['impulse_noise', 'fog'],
      severities: [2],
      limit: 2,
      seed: SEED,
    });
    const whole = await run({ configFile: config, out: join(root, 'corr-whole') });
    const a = await run({ configFile: config, out: join(root, 'corr-shard1'), shard: '1/2' });
    const b = await run({ configFile: config, out: join(root, 'corr-shard2'), shard: '2/2' });
    expect(files(join(a.runDir, 'images'))).toEqual(files(join(whole.runDir, 'images')));
    expect(files(join(whole.runDir, 'images'))).toHaveLength(4);
    expect(files(join(b.runDir, 'images'))).toEqual([]);
    const merged = join(root, 'corr-merged');
    await mergeShards([a.runDir, b.runDir], { out: merged });
    for (const name of files(join(whole.runDir, 'images')))
      expect(readFileSync(join(merged, 'images', name)).equals(readFileSync(join(whole.runDir, 'images', name))), name).toBe(true);
  });

  it('the table\'s predictions agree with the corruption cells and the clean cells', () => {
    for (const i of [0, 1]) {
      const s = sidecar(corr.runDir, `corruption-image${i}`);
      const predictions = s.details.predictions as number[][];
      const checkpoints = s.details.checkpoints as string[];
      expect(checkpoints).toEqual(['cnn-fmnist', HOSTILE]);
      const bit = (id: string) => decodeBits(corr.cells.find((c) => c.id === id)!.correctBits, 4)[i];
      checkpoints.forEach((ckpt, m) => {
        NAMES.forEach((name, r) => {
          expect(predictions[m][r * 4] === labels[i], `${ckpt} clean`).toBe(bit(`${ckpt}|clean`));
          [1, 3, 5].forEach((severity, k) =>
            expect(predictions[m][r * 4 + k + 1] === labels[i], `${ckpt} ${name} ${severity}`).toBe(bit(`${ckpt}|corruption|${name}|${severity}`)),
          );
        });
      });
      expect(s.tiles!.length).toBe(3);
      expect(s.tiles!.every((row) => row.length === 4)).toBe(true);
    }
  });

  it('the corruption report embeds both grids under "Corruption previews" with their captions', () => {
    const html = readFileSync(corr.reportPath!, 'utf8');
    const section = html.slice(html.indexOf('<section id="images">'), html.indexOf('<section id="metadata">'));
    expect(section.includes('<h3 id="images-corruption">Corruption previews</h3>')).toBe(true);
    expect(section.match(/<img src="data:image\/png;base64,/g)).toHaveLength(2);
    for (const i of [0, 1]) {
      const s = sidecar(corr.runDir, `corruption-image${i}`);
      expect(section.includes(escapeHtml(s.caption))).toBe(true);
      expect(section.includes(`<th>${escapeHtml(s.rows[0])}</th><td${s.tiles![0][0].marked ? ' class="marked"' : ''}>${escapeHtml(s.tiles![0][0].text)}</td>`)).toBe(true);
    }
  });
});
