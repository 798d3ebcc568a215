import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { loadFashionMnist } from '../../src/data/fashionMnist.js';
import { encodeIdx, parseIdx } from '../../src/data/idx.js';
import type { ArchitectureSpec } from '../../src/models/architecture.js';
import { weightSpecs } from '../../src/models/architecture.js';
import { loadCheckpoint, saveCheckpoint, validateManifest } from '../../src/models/checkpoint.js';
import { parseTorchFile, type TorchStateDict } from '../../src/models/torch/load.js';
import { numElements } from '../../src/models/torch/binary.js';
import type { WeightArrays } from '../../src/models/weights.js';
import { applyOverrides, readJsonFile, validateConfig, type ConfigOverrides } from '../../src/suite/config.js';
import { concat, keyListPickle, le, legacyPreamble, makeZip, P, stateDictPickle, tensorPickle } from '../models/torchPickle.helpers.js';
import { messageProblems, mutateBytesRepeatedly, mutateJson, outcomeOf, Rand, sameBytes, type Outcome } from './mutate.js';

/**
 * Fuzzing of every parser and validator that reads user input: suite configs (and the flags that
 * override them), IDX files, checkpoints (model.json + weights.safetensors) and PyTorch files (zip and
 * legacy). Each case is a seeded mutation of a valid input; the contract is that the result is either
 * a valid value or an InputError with a one-line message, never another exception, never a hang.
 * Where the format carries a checksum (checkpoint sha256, gzip and zip CRC-32) a mutation that changes
 * the protected bytes must be refused; where it does not (IDX pixels, legacy .pt storages) a mutation
 * of plain data is valid input and must be accepted.
 *
 * BENCH_FUZZ_SEED picks another seed (to explore); BENCH_FUZZ_SCALE multiplies the case counts.
 */
const SEED = Number(process.env.BENCH_FUZZ_SEED ?? 20261127);
const SCALE = Number(process.env.BENCH_FUZZ_SCALE ?? 1);
const cases = (n: number) => Math.max(1, Math.round(n * SCALE));
/** A single case taking longer than this is a hang for our purposes (inputs are a few kB). */
const MAX_CASE_MS = 3000;

const ROOT = join(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'bench-fuzz-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Tally {
  accepted: number;
  refused: number;
  slowestMs: number;
}
const tally = (): Tally => ({ accepted: 0, refused: 0, slowestMs: 0 });

/** Checks the InputError contract and counts; returns the outcome for case-specific assertions. */
function check<T>(t: Tally, what: string, o: Outcome<T>): Outcome<T> {
  t.slowestMs = Math.max(t.slowestMs, o.ms);
  expect(o.ms, `${what}: took ${o.ms.toFixed(0)} ms`).toBeLessThan(MAX_CASE_MS);
  if (o.ok) t.accepted++;
  else {
    t.refused++;
    expect(messageProblems(o.message), `${what}: ${o.message}`).toEqual([]);
  }
  return o;
}

function report(name: string, t: Tally) {
  // Visible with --reporter=verbose; keeps the mix of accepted and refused cases honest.
  console.log(`${name}: ${t.accepted} accepted, ${t.refused} refused, slowest ${t.slowestMs.toFixed(1)} ms`);
  expect(t.refused).toBeGreaterThan(0);
}

// ---- suite configs -----------------------------------------------------------------------------

const RICH_ADVERSARIAL = {
  suite: 'adversarial',
  description: 'fuzz base',
  checkpoints: ['checkpoints/cnn-fmnist', { dir: 'checkpoints/cnnf-fmnist', output: 'average' }],
  attacks: [
    'fgsm',
    { name: 'pgd', params: { steps: 5, stepSize: 0.01, loss: 'margin' }, paths: ['first', 'e2e'], label: 'pgd5' },
    { name: 'square', params: { queries: 20 }, limit: 10 },
    { name: 'pgd', transferFrom: 'checkpoints/cnn-fmnist' },
  ],
  epsilons: [0, 0.03, 0.1],
  output: 'last',
  limit: 20,
  offset: 3,
  batchSize: 10,
  seed: 3,
  sanity: true,
  sanityLimit: 5,
  sanityEps: 0.1,
};
const RICH_CORRUPTION = {
  suite: 'corruption',
  checkpoints: [{ dir: 'checkpoints/cnn-fmnist' }, 'checkpoints/cnnf-fmnist'],
  corruptions: ['gaussian_noise', 'fog', 'jpeg_compression'],
  severities: [1, 3, 5],
  baseline: 'cnn-fmnist',
  limit: 50,
};
const SHIPPED = ['adversarial.json', 'corruption.json', 'ci.json', 'paper-fmnist.json', 'paper-cifar10.json'].map((f) => JSON.parse(readFileSync(join(ROOT, 'configs', f), 'utf8')));
const CONFIG_BASES = [RICH_ADVERSARIAL, RICH_CORRUPTION, ...SHIPPED];

/** What --resume relies on: a validated config validates again to itself. */
function expectStable(what: string, config: unknown) {
  const again = validateConfig(JSON.parse(JSON.stringify(config)), 'again.json');
  expect(again, what).toEqual(config);
}

describe('fuzz: suite configs', () => {
  it('structural mutations (deleted fields, swapped types, hostile values, unknown keys, empty lists)', async () => {
    const t = tally();
    for (let i = 0; i < cases(250); i++) {
      const r = new Rand(SEED, 'config-structure', i);
      const base = r.pick(CONFIG_BASES);
      let m = mutateJson(base, r, true);
      if (r.chance(0.3)) {
        const second = mutateJson(m.value, r, true);
        m = { value: second.value, what: `${m.what}; ${second.what}`, mustRefuse: false };
      }
      const what = `config case ${i} (${m.what})`;
      // Through JSON text, as the CLI reads it ("__proto__" stays an own key).
      const o = check(t, what, await outcomeOf(what, () => validateConfig(JSON.parse(JSON.stringify(m.value)), 'fuzz.json')));
      if (m.mustRefuse) expect(o.ok, `${what} was accepted`).toBe(false);
      if (o.ok) expectStable(what, o.value);
      else expect(o.message.startsWith('fuzz.json'), `${what}: ${o.message}`).toBe(true);
    }
    report('configs (structure)', t);
  });

  it('targeted mutations the issue lists: eps outside [0,1], severities outside 1..5, unknown names, empty lists', async () => {
    const t = tally();
    const r = new Rand(SEED, 'config-targeted', 0);
    const bad: [string, unknown, RegExp][] = [];
    for (let i = 0; i < cases(40); i++) {
      const eps = r.pick([-1e-9, -0.1, 1.0000001, 2, 255, -Infinity, Number.NaN]);
      bad.push([`eps ${eps}`, { ...RICH_ADVERSARIAL, epsilons: [0, eps] }, /epsilons\[1\]: invalid epsilon .*allowed: finite numbers in \[0, 1\]/]);
      const sev = r.pick([0, -1, 6, 2.5, 100]);
      bad.push([`severity ${sev}`, { ...RICH_CORRUPTION, severities: [1, sev] }, /severities\[1\]: invalid severity .*allowed: integers 1\.\.5/]);
    }
    for (const [name, suggestion] of [['pgg', 'pgd'], ['fgm', 'fgsm'], ['sqare', 'square'], ['PGD', 'pgd'], ['apgd_ce', 'apgd-ce']])
      bad.push([`attack ${name}`, { ...RICH_ADVERSARIAL, attacks: [name] }, new RegExp(`unknown attack "${name}" \\(did you mean "${suggestion}"\\?\\) \\(allowed: fgsm, pgd,`)]);
    for (const [name, suggestion] of [['gausian_noise', 'gaussian_noise'], ['fogg', 'fog'], ['jpeg', 'jpeg_compression'], ['Motion Blur', 'motion_blur']])
      bad.push([`corruption ${name}`, { ...RICH_CORRUPTION, corruptions: [name] }, new RegExp(`unknown corruption "${name}" \\(did you mean "${suggestion}"\\?\\)`)]);
    bad.push(['path e2d', { ...RICH_ADVERSARIAL, attacks: [{ name: 'pgd', paths: ['e2d'] }] }, /invalid path "e2d" \(did you mean "e2e"\?\) \(allowed: first, e2e, bpda \(CNN-F\), direct \(TF\.js models\), exact /]);
    bad.push(['output lst', { ...RICH_ADVERSARIAL, output: 'lst' }, /output: invalid value "lst" \(did you mean "last"\?\) \(allowed: first, last, average \(CNN-F\), logits \(TF\.js models\)\)/]);
    for (const key of ['checkpoints', 'attacks', 'epsilons'])
      bad.push([`empty ${key}`, { ...RICH_ADVERSARIAL, [key]: [] }, new RegExp(`${key}: must be a non-empty list`)]);
    for (const key of ['checkpoints', 'corruptions', 'severities'])
      bad.push([`empty ${key}`, { ...RICH_CORRUPTION, [key]: [] }, new RegExp(`${key}: must be a non-empty list`)]);
    for (const [what, raw, expected] of bad) {
      const o = check(t, what, await outcomeOf(what, () => validateConfig(raw, 'fuzz.json')));
      expect(o.ok, `${what} was accepted`).toBe(false);
      if (!o.ok) expect(o.message, what).toMatch(expected);
    }
    expect(t.accepted).toBe(0);
  });

  it('text mutations of the JSON file', async () => {
    const t = tally();
    for (let i = 0; i < cases(120); i++) {
      const r = new Rand(SEED, 'config-text', i);
      const text = new TextEncoder().encode(JSON.stringify(r.pick(CONFIG_BASES), null, 2));
      const m = mutateBytesRepeatedly(text, r);
      const what = `config text case ${i} (${m.what})`;
      const file = join(work, 'fuzz.json');
      writeFileSync(file, m.bytes);
      const o = check(t, what, await outcomeOf(what, () => validateConfig(readJsonFile(file), file)));
      if (o.ok) expectStable(what, o.value);
      else expect(o.message.startsWith(file), `${what}: ${o.message}`).toBe(true);
    }
    report('configs (text)', t);
  });

  it('flag values overriding a config (--epsilons, --severities, --attacks, --corruptions, --checkpoints, --output, numbers)', async () => {
    const t = tally();
    const texts = ['0,0.03,0.1', '1,3,5', 'fgsm,pgd5,square', 'gaussian_noise,fog', 'checkpoints/cnn-fmnist', 'last'];
    for (let i = 0; i < cases(150); i++) {
      const r = new Rand(SEED, 'config-flags', i);
      const adversarial = r.chance(0.5);
      const key = r.pick(
        adversarial
          ? (['epsilons', 'attacks', 'checkpoints', 'output', 'limit', 'seed'] as const)
          : (['severities', 'corruptions', 'checkpoints', 'output', 'batchSize', 'offset'] as const),
      );
      const m = mutateBytesRepeatedly(new TextEncoder().encode(r.pick(texts)), r);
      const text = new TextDecoder().decode(m.bytes);
      const overrides: ConfigOverrides = {};
      if (['limit', 'seed', 'batchSize', 'offset'].includes(key)) (overrides as Record<string, number>)[key] = Number(text);
      else (overrides as Record<string, string>)[key] = text;
      const what = `flag case ${i} (--${key} ${JSON.stringify(text)})`;
      const o = check(
        t,
        what,
        await outcomeOf(what, () => {
          const { raw, origins } = applyOverrides(adversarial ? RICH_ADVERSARIAL : RICH_CORRUPTION, overrides);
          return validateConfig(raw, 'fuzz.json', origins);
        }),
      );
      if (o.ok) expectStable(what, o.value);
    }
    report('config flags', t);
  });
});

// ---- IDX ---------------------------------------------------------------------------------------

const IMAGE_DIMS = [6, 28, 28];
const imagePixels = Uint8Array.from({ length: numElements(IMAGE_DIMS) }, (_, i) => (i * 37) % 256);
const IMAGES_IDX = encodeIdx(IMAGE_DIMS, imagePixels);
const LABELS_IDX = encodeIdx([6], Uint8Array.from([9, 0, 3, 3, 7, 1]));
const IMAGE_HEADER = 4 + 4 * IMAGE_DIMS.length;

describe('fuzz: IDX files', () => {
  it('raw IDX: header damage and truncation are refused, pixel changes are valid images', async () => {
    const t = tally();
    for (let i = 0; i < cases(250); i++) {
      const r = new Rand(SEED, 'idx-raw', i);
      const m = mutateBytesRepeatedly(IMAGES_IDX, r);
      const what = `idx case ${i} (${m.what})`;
      const o = check(t, what, await outcomeOf(what, () => parseIdx(m.bytes, 'fuzz-idx3-ubyte', { ndims: 3 })));
      if (o.ok) {
        // The size contract: header + product of dims, exactly.
        expect(o.value.dims.length).toBe(3);
        expect(m.bytes.length, what).toBe(IMAGE_HEADER + numElements(o.value.dims));
        expect(o.value.data.length).toBe(numElements(o.value.dims));
      } else expect(o.message.startsWith('fuzz-idx3-ubyte: '), o.message).toBe(true);
      const headerChanged = !sameBytes(m.bytes.subarray(0, IMAGE_HEADER), IMAGES_IDX.subarray(0, IMAGE_HEADER));
      if (m.inPlace && headerChanged) expect(o.ok, `${what}: a damaged header was accepted`).toBe(false);
      if (m.inPlace && !headerChanged) {
        expect(o.ok, `${what}: a pixel change was refused`).toBe(true);
        if (o.ok) expect(o.value.dims).toEqual(IMAGE_DIMS);
      }
      if (m.bytes.length < IMAGES_IDX.length && sameBytes(m.bytes, IMAGES_IDX.subarray(0, m.bytes.length)))
        expect(o.ok, `${what}: a truncated file was accepted`).toBe(false);
    }
    report('IDX (raw)', t);
  });

  it('gzip IDX: anything the gzip CRC-32 protects is refused when changed', async () => {
    const t = tally();
    const gz = new Uint8Array(gzipSync(IMAGES_IDX));
    for (let i = 0; i < cases(150); i++) {
      const r = new Rand(SEED, 'idx-gzip', i);
      const m = mutateBytesRepeatedly(gz, r);
      const what = `idx.gz case ${i} (${m.what})`;
      const o = check(t, what, await outcomeOf(what, () => parseIdx(m.bytes, 'fuzz.gz', { ndims: 3 })));
      // Accepted means the inflated bytes are the original ones (the damage hit the gzip header's
      // unprotected mtime/OS fields, or trailing bytes gunzip ignores).
      if (o.ok) expect(sameBytes(o.value.data, imagePixels), `${what}: accepted with different pixels`).toBe(true);
    }
    report('IDX (gzip)', t);
  });

  it('a gzip bomb is refused at the inflation cap (256 MiB), not inflated to its full size', async () => {
    // 300 gzip members of 1 MiB of zeros each (gunzip concatenates members): 300 kB that inflate to
    // 300 MiB, after a header that declares a single image.
    const header = gzipSync(encodeIdx([1, 28, 28], new Uint8Array(784)));
    const member = gzipSync(Buffer.alloc(1024 * 1024));
    const bomb = Buffer.concat([header, ...Array.from({ length: 300 }, () => member)]);
    const o = await outcomeOf('bomb', () => parseIdx(bomb, 'bomb.gz', { ndims: 3 }));
    expect(o.ok).toBe(false);
    if (!o.ok) expect(o.message).toMatch(/^bomb\.gz: inflates to more than \d+ bytes/);
  });

  it('the dataset loader: label range, counts and image size are checked on top of the format', async () => {
    const t = tally();
    const dir = join(work, 'idx-data');
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < cases(80); i++) {
      const r = new Rand(SEED, 'idx-dataset', i);
      const mutateLabels = r.chance(0.5);
      const gz = r.chance(0.3);
      const m = mutateBytesRepeatedly(mutateLabels ? LABELS_IDX : IMAGES_IDX, r);
      const images = mutateLabels ? IMAGES_IDX : m.bytes;
      const labels = mutateLabels ? m.bytes : LABELS_IDX;
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir);
      writeFileSync(join(dir, `train-images-idx3-ubyte${gz ? '.gz' : ''}`), gz ? gzipSync(images) : images);
      writeFileSync(join(dir, `train-labels-idx1-ubyte${gz ? '.gz' : ''}`), gz ? gzipSync(labels) : labels);
      const what = `dataset case ${i} (${mutateLabels ? 'labels' : 'images'}${gz ? '.gz' : ''}: ${m.what})`;
      const o = check(t, what, await outcomeOf(what, () => loadFashionMnist('train', { dataDir: dir })));
      if (mutateLabels && m.inPlace && (m.first ?? 0) >= 8) {
        // Only label values changed: valid exactly when every label is a class index.
        const valid = [...m.bytes.subarray(8)].every((l) => l < 10);
        expect(o.ok, `${what}: ${o.ok ? 'accepted' : o.message}`).toBe(valid);
      }
      if (o.ok) {
        expect(o.value.count).toBe(6);
        expect(o.value.images.length).toBe(6 * 28 * 28);
      }
    }
    report('IDX (dataset loader)', t);
  });
});

// ---- checkpoints -------------------------------------------------------------------------------

/** A tiny CNN-F: 8x8x1 input, conv 2, conv 3 + pool (-> 4x4x3), fc 4, classifier 3. */
const TINY: ArchitectureSpec = {
  family: 'cnnf',
  inputShape: [8, 8, 1],
  numClasses: 3,
  kernelSize: 3,
  convs: [
    { filters: 2, pool: false },
    { filters: 3, pool: true },
  ],
  dense: [4],
  ind: 0,
  cycles: 1,
  resParam: 0.1,
  insNormEpsilon: 1e-8,
};

function tinyWeights(): WeightArrays {
  const w: WeightArrays = {};
  let k = 0;
  for (const spec of weightSpecs(TINY)) w[spec.name] = { shape: spec.shape, data: Float32Array.from({ length: numElements(spec.shape) }, () => Math.sin(++k) * 0.5) };
  return w;
}

async function tinyCheckpoint(): Promise<{ manifest: Uint8Array; weights: Uint8Array; arrays: WeightArrays }> {
  const dir = join(work, 'tiny-good');
  const arrays = tinyWeights();
  await saveCheckpoint(dir, { name: 'tiny', architecture: TINY, normalization: { mean: [0.5], std: [0.5] }, classNames: ['a', 'b', 'c'], provenance: { source: 'fuzz' } }, arrays);
  // Plain Uint8Array copies (a Buffer's slice() is a view into a shared pool).
  return { manifest: new Uint8Array(readFileSync(join(dir, 'model.json'))), weights: new Uint8Array(readFileSync(join(dir, 'weights.safetensors'))), arrays };
}

function expectSameWeights(what: string, got: WeightArrays, want: WeightArrays) {
  expect(Object.keys(got).sort(), what).toEqual(Object.keys(want).sort());
  for (const [name, w] of Object.entries(want)) {
    expect(got[name].shape, `${what}: ${name}`).toEqual(w.shape);
    expect(sameBytes(new Uint8Array(got[name].data.buffer, got[name].data.byteOffset, got[name].data.byteLength), new Uint8Array(w.data.buffer)), `${what}: ${name}`).toBe(true);
  }
}

describe('fuzz: checkpoints', () => {
  it('weights.safetensors: any change is refused (sha256), model.json: refused or loads the same weights', async () => {
    const good = await tinyCheckpoint();
    const dir = join(work, 'tiny-fuzz');
    mkdirSync(dir, { recursive: true });
    const t = tally();
    for (let i = 0; i < cases(200); i++) {
      const r = new Rand(SEED, 'checkpoint', i);
      const target = r.pick(['weights', 'weights', 'manifest-bytes', 'manifest-structure'] as const);
      let weights = good.weights;
      let manifest = good.manifest;
      let what = `checkpoint case ${i} (${target}: `;
      let mustRefuse = false;
      if (target === 'weights') {
        const m = mutateBytesRepeatedly(good.weights, r);
        weights = m.bytes;
        mustRefuse = !sameBytes(weights, good.weights);
        what += m.what;
      } else if (target === 'manifest-bytes') {
        const m = mutateBytesRepeatedly(good.manifest, r);
        manifest = m.bytes;
        what += m.what;
      } else {
        const m = mutateJson(JSON.parse(new TextDecoder().decode(good.manifest)), r, false);
        manifest = new TextEncoder().encode(JSON.stringify(m.value));
        what += m.what;
      }
      what += ')';
      writeFileSync(join(dir, 'model.json'), manifest);
      writeFileSync(join(dir, 'weights.safetensors'), weights);
      const o = check(t, what, await outcomeOf(what, () => loadCheckpoint(dir)));
      if (mustRefuse) expect(o.ok, `${what} was accepted`).toBe(false);
      if (o.ok) expectSameWeights(what, o.value.weights, good.arrays);
      else expect(o.message.startsWith(dir), `${what}: ${o.message}`).toBe(true);
    }
    report('checkpoints', t);
  });

  it('weights.safetensors with the sha256 updated: header, shape, dtype, NaN/Inf and size damage reach the parser', async () => {
    const good = await tinyCheckpoint();
    const dir = join(work, 'tiny-resealed');
    mkdirSync(dir, { recursive: true });
    const manifest = JSON.parse(new TextDecoder().decode(good.manifest));
    const t = tally();
    for (let i = 0; i < cases(200); i++) {
      const r = new Rand(SEED, 'checkpoint-resealed', i);
      const m = mutateBytesRepeatedly(good.weights, r);
      manifest.weights.sha256 = createHash('sha256').update(m.bytes).digest('hex');
      writeFileSync(join(dir, 'model.json'), JSON.stringify(manifest));
      writeFileSync(join(dir, 'weights.safetensors'), m.bytes);
      const what = `resealed checkpoint case ${i} (${m.what})`;
      const o = check(t, what, await outcomeOf(what, () => loadCheckpoint(dir)));
      if (o.ok) {
        // Whatever was accepted is exactly what the architecture needs, and finite.
        for (const spec of weightSpecs(TINY)) {
          const w = o.value.weights[spec.name];
          expect(w.shape, what).toEqual(spec.shape);
          expect(w.data.every(Number.isFinite), what).toBe(true);
        }
        expect(Object.keys(o.value.weights).length).toBe(weightSpecs(TINY).length);
      }
    }
    report('checkpoints (resealed)', t);
  });

  it('safetensors header JSON mutated structurally (offsets, shapes, dtypes, names), resealed: refused or exactly right', async () => {
    const good = await tinyCheckpoint();
    const dir = join(work, 'tiny-header');
    mkdirSync(dir, { recursive: true });
    const manifest = JSON.parse(new TextDecoder().decode(good.manifest));
    const headerLength = Number(new DataView(good.weights.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(good.weights.subarray(8, 8 + headerLength)));
    const data = good.weights.subarray(8 + headerLength);
    const t = tally();
    for (let i = 0; i < cases(150); i++) {
      const r = new Rand(SEED, 'checkpoint-header', i);
      const m = mutateJson(header, r, false);
      const json = new TextEncoder().encode(JSON.stringify(m.value));
      const bytes = new Uint8Array(8 + json.length + data.length);
      new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
      bytes.set(json, 8);
      bytes.set(data, 8 + json.length);
      manifest.weights.sha256 = createHash('sha256').update(bytes).digest('hex');
      writeFileSync(join(dir, 'model.json'), JSON.stringify(manifest));
      writeFileSync(join(dir, 'weights.safetensors'), bytes);
      const what = `header case ${i} (${m.what})`;
      const o = check(t, what, await outcomeOf(what, () => loadCheckpoint(dir)));
      // The data bytes are the original ones, so anything accepted must be the original weights.
      if (o.ok) expectSameWeights(what, o.value.weights, good.arrays);
    }
    report('checkpoints (header structure)', t);
  });

  it('an oversized safetensors header length is refused before any allocation', async () => {
    const good = await tinyCheckpoint();
    const dir = join(work, 'tiny-oversized');
    mkdirSync(dir, { recursive: true });
    for (const length of [2n ** 64n - 1n, 2n ** 53n, 2n ** 31n, BigInt(good.weights.length)]) {
      const bytes = good.weights.slice();
      new DataView(bytes.buffer).setBigUint64(0, length, true);
      const manifest = JSON.parse(new TextDecoder().decode(good.manifest));
      manifest.weights.sha256 = createHash('sha256').update(bytes).digest('hex');
      writeFileSync(join(dir, 'model.json'), JSON.stringify(manifest));
      writeFileSync(join(dir, 'weights.safetensors'), bytes);
      const before = process.memoryUsage().arrayBuffers;
      const o = await outcomeOf(`length ${length}`, () => loadCheckpoint(dir));
      expect(o.ok).toBe(false);
      if (!o.ok) expect(o.message).toContain(`oversized header: declares ${length} bytes`);
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024);
    }
  });

  it("the committed checkpoints' model.json: structural mutations are refused or validate", async () => {
    const t = tally();
    const manifests = ['cnn-fmnist', 'cnnf-fmnist']
      .map((name) => join(ROOT, 'checkpoints', name, 'model.json'))
      .filter(existsSync)
      .map((path) => JSON.parse(readFileSync(path, 'utf8')));
    expect(manifests.length).toBeGreaterThan(0);
    for (let i = 0; i < cases(150); i++) {
      const r = new Rand(SEED, 'committed-manifest', i);
      const m = mutateJson(r.pick(manifests), r, false);
      const what = `manifest case ${i} (${m.what})`;
      check(t, what, await outcomeOf(what, () => validateManifest(JSON.parse(JSON.stringify(m.value)), 'model.json')));
    }
    report('committed model.json', t);
  });
});

// ---- PyTorch files -----------------------------------------------------------------------------

const FLOATS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const ZIP_PICKLE = stateDictPickle([
  ['conv.weight', tensorPickle('zip', { type: 'FloatStorage', key: '0', count: 12 }, 0, [2, 3, 2], [6, 2, 1])],
  ['linear_t.weight', tensorPickle('zip', { type: 'FloatStorage', key: '0', count: 12 }, 0, [3, 4], [1, 3], true)],
  ['bias', tensorPickle('zip', { type: 'DoubleStorage', key: '1', count: 3 }, 0, [3], [1])],
  ['steps', tensorPickle('zip', { type: 'LongStorage', key: '2', count: 1 }, 0, [], [])],
]);
const zipFile = (pickle: Uint8Array, method: 0 | 8) =>
  makeZip(
    [
      ['archive/data.pkl', pickle],
      ['archive/byteorder', new TextEncoder().encode('little')],
      ['archive/data/0', le.f32(FLOATS)],
      ['archive/data/1', le.f64([0.5, -1.5, 2.25])],
      ['archive/data/2', le.i64([42])],
      ['archive/version', new TextEncoder().encode('3\n')],
    ],
    method,
  );
const LEGACY_PICKLE = stateDictPickle([
  ['a', tensorPickle('legacy', { type: 'FloatStorage', key: '0', count: 12 }, 0, [4, 3], [3, 1])],
  ['b', tensorPickle('legacy', { type: 'FloatStorage', key: '0', count: 12, view: ['v', 4, 6] }, 1, [2], [2])],
  ['c', tensorPickle('legacy', { type: 'DoubleStorage', key: '1', count: 3 }, 0, [3], [1])],
]);
const legacyFile = (pickle: Uint8Array) =>
  concat(legacyPreamble(), pickle, keyListPickle(['0', '1']), le.u64(12), le.f32(FLOATS), le.u64(3), le.f64([0.5, -1.5, 2.25]));
const LEGACY = legacyFile(LEGACY_PICKLE);
const LEGACY_DATA_START = LEGACY.length - (8 + 48 + 8 + 24);

/** A parse that fell into parseTorchFile's catch-all hides a bug: every refusal should be deliberate. */
function expectDeliberate(what: string, o: Outcome<TorchStateDict>, where: string) {
  if (!o.ok) {
    expect(o.message.startsWith(`${where}: `), `${what}: ${o.message}`).toBe(true);
    expect(o.message, `${what}: reached the catch-all`).not.toMatch(/corrupted checkpoint \(/);
  }
}

function expectWellFormed(what: string, sd: TorchStateDict) {
  for (const [name, tensor] of sd.tensors) expect(tensor.data.length, `${what}: ${name}`).toBe(numElements(tensor.shape));
}

function expectSameTensors(what: string, got: TorchStateDict, want: TorchStateDict) {
  expect([...got.tensors.keys()], what).toEqual([...want.tensors.keys()]);
  for (const [name, w] of want.tensors) {
    const g = got.tensors.get(name)!;
    expect(g.shape, `${what}: ${name}`).toEqual(w.shape);
    expect([...g.data], `${what}: ${name}`).toEqual([...w.data]);
  }
}

const FORBIDDEN = [
  ['os', 'system'],
  ['posix', 'system'],
  ['subprocess', 'Popen'],
  ['builtins', 'eval'],
  ['builtins', 'exec'],
  ['builtins', 'getattr'],
  ['__builtin__', 'eval'],
  ['torch', 'load'],
  ['torch.storage', '_load_from_bytes'],
  ['numpy.core.multiarray', '_reconstruct'],
  ['collections', 'OrderedDictX'],
];

const ALLOWED_USED = [
  ['collections', 'OrderedDict'],
  ['torch._utils', '_rebuild_tensor_v2'],
  ['torch._utils', '_rebuild_parameter'],
  ['torch', 'FloatStorage'],
  ['torch', 'DoubleStorage'],
  ['torch', 'LongStorage'],
];

/** The byte ranges of the GLOBAL opcodes (0x63 module\nname\n) in a pickle we built. */
function globalRanges(pickle: Uint8Array): [number, number][] {
  const out: [number, number][] = [];
  const text = new TextDecoder('latin1').decode(pickle);
  for (const [module, name] of ALLOWED_USED) {
    const opcode = `c${module}\n${name}\n`;
    for (let at = text.indexOf(opcode); at >= 0; at = text.indexOf(opcode, at + 1)) out.push([at, at + opcode.length]);
  }
  return out;
}

describe('fuzz: PyTorch files', () => {
  const zipStored = zipFile(ZIP_PICKLE, 0);
  const zipDeflated = zipFile(ZIP_PICKLE, 8);
  const zipReference = parseTorchFile(zipStored, 'ok.pt');
  const legacyReference = parseTorchFile(LEGACY, 'ok.pt');

  it('the bases parse', () => {
    expect([...zipReference.tensors.keys()]).toEqual(['conv.weight', 'linear_t.weight', 'bias', 'steps']);
    expectSameTensors('deflated', parseTorchFile(zipDeflated, 'ok.pt'), zipReference);
    expect([...legacyReference.tensors.get('b')!.data]).toEqual([5, 7]);
  });

  it('zip archives (stored and deflated): byte damage is refused or leaves the tensors as they were (CRC-32)', async () => {
    const t = tally();
    for (let i = 0; i < cases(200); i++) {
      const r = new Rand(SEED, 'pt-zip', i);
      const m = mutateBytesRepeatedly(r.chance(0.5) ? zipStored : zipDeflated, r);
      const what = `zip case ${i} (${m.what})`;
      const o = check(t, what, await outcomeOf(what, () => parseTorchFile(m.bytes, 'fuzz.pt')));
      expectDeliberate(what, o, 'fuzz.pt');
      if (o.ok) expectSameTensors(what, o.value, zipReference);
    }
    report('.pt zip', t);
  });

  it('pickles mutated inside a valid zip reach the unpickler: refused deliberately or well-formed', async () => {
    const t = tally();
    for (let i = 0; i < cases(250); i++) {
      const r = new Rand(SEED, 'pt-pickle', i);
      const m = mutateBytesRepeatedly(ZIP_PICKLE, r);
      const what = `pickle case ${i} (${m.what})`;
      const o = check(t, what, await outcomeOf(what, () => parseTorchFile(zipFile(m.bytes, 0), 'fuzz.pt')));
      expectDeliberate(what, o, 'fuzz.pt');
      if (o.ok) expectWellFormed(what, o.value);
    }
    report('.pt pickle (zip)', t);
  });

  it('legacy files: storage bytes are plain data (accepted), everything else is refused deliberately or well-formed', async () => {
    const t = tally();
    for (let i = 0; i < cases(250); i++) {
      const r = new Rand(SEED, 'pt-legacy', i);
      const m = mutateBytesRepeatedly(LEGACY, r);
      const what = `legacy case ${i} (${m.what})`;
      const o = check(t, what, await outcomeOf(what, () => parseTorchFile(m.bytes, 'fuzz.pt')));
      expectDeliberate(what, o, 'fuzz.pt');
      if (o.ok) expectWellFormed(what, o.value);
      // Only float values changed (not the 8-byte element counts before each storage).
      const dataOnly = m.inPlace && (m.first ?? 0) >= LEGACY_DATA_START + 8 && !(m.first! < LEGACY_DATA_START + 56 + 8 && m.last! >= LEGACY_DATA_START + 56);
      if (dataOnly) {
        expect(o.ok, `${what}: a storage-value change was refused`).toBe(true);
        if (o.ok) expect([...o.value.tensors.keys()]).toEqual(['a', 'b', 'c']);
      }
      // The magic-number pickle (bytes 0..14); its protocol byte (1) may legally be another protocol.
      if (m.inPlace && (m.last ?? Infinity) < 15 && m.bytes[1] === 2) expect(o.ok, `${what}: a damaged magic number was accepted`).toBe(false);
    }
    report('.pt legacy', t);
  });

  it('a pickle naming a forbidden global anywhere is refused at that global, in zip and legacy files alike', async () => {
    const t = tally();
    for (let i = 0; i < cases(100); i++) {
      const r = new Rand(SEED, 'pt-forbidden', i);
      const legacy = r.chance(0.5);
      const pickle = legacy ? LEGACY_PICKLE : ZIP_PICKLE;
      const [start, end] = r.pick(globalRanges(pickle));
      const [module, name] = r.pick(FORBIDDEN);
      const evil = concat(pickle.subarray(0, start), Uint8Array.from(P.global(module, name)), pickle.subarray(end));
      const file = legacy ? legacyFile(evil) : zipFile(evil, r.chance(0.5) ? 0 : 8);
      const what = `forbidden case ${i} (${module}.${name} at byte ${start}, ${legacy ? 'legacy' : 'zip'})`;
      const o = check(t, what, await outcomeOf(what, () => parseTorchFile(file, 'evil.pt')));
      expect(o.ok, `${what} was accepted`).toBe(false);
      if (!o.ok) expect(o.message, what).toContain(`evil.pt: refused to load: the pickle names the global ${module}.${name}, which is not on the allow-list`);
    }
    expect(t.accepted).toBe(0);
  });
});

// ---- regressions -------------------------------------------------------------------------------

/** Each of these was a crash, a silent acceptance or a multi-line message before. */
describe('regressions found by fuzzing and review', () => {
  const refusal = async (what: string, fn: () => unknown) => {
    const o = await outcomeOf(what, fn);
    expect(o.ok, `${what} was accepted`).toBe(false);
    const message = o.ok ? '' : o.message;
    expect(messageProblems(message), message).toEqual([]);
    return message;
  };

  it('a config key named like an Object.prototype member is an unknown key, not a flag name', async () => {
    const raw = JSON.parse('{"suite": "adversarial", "constructor": 1, "checkpoints": ["x"], "attacks": ["pgd"], "epsilons": [0]}');
    expect(await refusal('constructor', () => validateConfig(raw, 'c.json'))).toMatch(/^c\.json: constructor: unknown key \(allowed: /);
    const proto = JSON.parse('{"suite": "corruption", "__proto__": {"limit": 5}, "checkpoints": ["x"]}');
    expect(await refusal('__proto__', () => validateConfig(proto, 'c.json'))).toMatch(/^c\.json: __proto__: unknown key/);
  });

  it('`bench import --arch constructor` is an unknown architecture (was a TypeError, exit 3)', async () => {
    const { runImport } = await import('../../src/cli/import.js');
    const message = await refusal('arch', () => runImport({ file: 'x.pt', arch: 'constructor', cycles: 0, out: join(work, 'never') }));
    expect(message).toBe('--arch: unknown architecture "constructor" (allowed: cnnf-fmnist, cnnf-wrn)');
    expect(await refusal('arch typo', () => runImport({ file: 'x.pt', arch: 'cnnf_fmnist', cycles: 0, out: join(work, 'never') }))).toContain(
      '(did you mean "cnnf-fmnist"?)',
    );
  });

  it('safetensors: a dtype named like an Object.prototype member is unknown; a tensor name cannot break the line', async () => {
    const file = (header: object, data = new Uint8Array(4)) => {
      const json = Buffer.from(JSON.stringify(header));
      const out = Buffer.alloc(8 + json.length + data.length);
      out.writeBigUInt64LE(BigInt(json.length), 0);
      json.copy(out, 8);
      Buffer.from(data).copy(out, 8 + json.length);
      return new Uint8Array(out);
    };
    const { parseSafetensors } = await import('../../src/models/safetensors.js');
    expect(await refusal('dtype', () => parseSafetensors(file({ t: { dtype: 'constructor', shape: [1], data_offsets: [0, 4] } }), 'f.st'))).toBe(
      'f.st: tensor "t": unknown dtype "constructor" (allowed: F32, F64, F16, BF16, I64, I32, U8, BOOL)',
    );
    expect(await refusal('name', () => parseSafetensors(file({ 'a\nb\u001b[2J': { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }), 'f.st'))).toBe(
      'f.st: tensor "a\\nb\\u001b[2J": holds 4 bytes, but shape [2] of F32 needs 8',
    );
  });

  it('a checkpoint tensor named "__proto__" is an unexpected tensor (was silently ignored)', async () => {
    const dir = join(work, 'proto-tensor');
    const arrays = tinyWeights();
    await saveCheckpoint(dir, { name: 'tiny', architecture: TINY, normalization: { mean: [0.5], std: [0.5] }, classNames: ['a', 'b', 'c'], provenance: {} }, arrays);
    const { encodeSafetensors } = await import('../../src/models/safetensors.js');
    const entries: [string, { shape: number[]; data: Float32Array }][] = [...Object.entries(arrays), ['__proto__', { shape: [1], data: new Float32Array(1) }]];
    const bytes = encodeSafetensors(entries);
    writeFileSync(join(dir, 'weights.safetensors'), bytes);
    const manifest = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
    manifest.weights.sha256 = createHash('sha256').update(bytes).digest('hex');
    writeFileSync(join(dir, 'model.json'), JSON.stringify(manifest));
    expect(await refusal('__proto__ tensor', () => loadCheckpoint(dir))).toMatch(/weights\.safetensors: unexpected tensors "__proto__"/);
  });

  it('a suite refuses a checkpoint whose classes do not fit the dataset, before writing anything (was a matMul stack trace after creating the run directory)', async () => {
    const dir = join(work, 'tiny-suite');
    await saveCheckpoint(dir, { name: 'tiny', architecture: TINY, normalization: { mean: [0.5], std: [0.5] }, classNames: ['a', 'b', 'c'], provenance: {} }, tinyWeights());
    const { prepareRun, executeRun } = await import('../../src/suite/runner.js');
    const { initBackend } = await import('../../src/engine/backend.js');
    const backend = await initBackend('wasm');
    const out = join(work, 'tiny-suite-run');
    const prep = await prepareRun({ suite: 'corruption', overrides: { checkpoints: dir, limit: 4, corruptions: 'gaussian_noise', severities: '1' }, out });
    // The 28x28 images are adapted to the 8x8 input (a notice), but 10 classes cannot be judged by a 3-class model.
    expect(await refusal('tiny in a suite', () => executeRun(prep, { backend, quiet: true }))).toBe(
      'model "tiny": has 3 classes but the dataset fashion-mnist has 10 (allowed: a dataset with 3 classes, or --labels model (labels: the model\'s clean predictions))',
    );
    expect(existsSync(out)).toBe(false);
  });

  it('pickles: a megabyte-long protocol-0 INT and a state_dict that wraps itself are refused quickly', async () => {
    const huge = Uint8Array.from([...Buffer.from(`I${'9'.repeat(1_000_000)}\n`), 0x2e]);
    const zip = makeZip([['archive/data.pkl', huge]], 8);
    expect(await refusal('huge INT', () => parseTorchFile(zip, 'int.pt'))).toMatch(/^int\.pt: corrupted pickle at byte \d+: integer of 1000000 digits is out of range$/);
    // d = {}; d['state_dict'] = d  (EMPTY_DICT, BINPUT 0, 'state_dict', BINGET 0, SETITEM, STOP)
    const selfRef = Uint8Array.from([0x80, 2, 0x7d, 0x71, 0, ...P.str('state_dict'), 0x68, 0, 0x73, 0x2e]);
    expect(await refusal('self-wrapping', () => parseTorchFile(makeZip([['archive/data.pkl', selfRef]], 0), 'self.pt'))).toBe('self.pt: the file holds no tensors');
  });

  it('a zip entry claiming more than deflate can produce is refused before inflating', async () => {
    const zip = makeZip([['archive/data.pkl', stateDictPickle([])]], 8);
    // Central directory: the uncompressed size field (offset 24 of the entry) set to 4 GB - 1.
    const view = new DataView(zip.buffer);
    let central = zip.length - 4;
    while (view.getUint32(central, true) !== 0x02014b50) central--;
    view.setUint32(central + 24, 0xffffffff - 1, true);
    expect(await refusal('deflate claim', () => parseTorchFile(zip, 'claim.pt'))).toMatch(/claim\.pt: corrupted zip archive: archive\/data\.pkl claims 4294967294 bytes from \d+ compressed/);
  });
});
