import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/engine/errors.js';
import type { ArchitectureSpec } from '../../src/models/architecture.js';
import { loadCheckpoint, saveCheckpoint, type CheckpointManifestInput } from '../../src/models/checkpoint.js';
import { encodeSafetensors, type WritableTensor } from '../../src/models/safetensors.js';
import type { WeightArrays } from '../../src/models/weights.js';

/** A tiny CNN-F: 8x8x1 input, conv 2, conv 3 + pool (-> 4x4x3 = 48), fc 4, classifier 3. */
const arch: ArchitectureSpec = {
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
const SHAPES: Record<string, number[]> = {
  'conv1.kernel': [3, 3, 1, 2],
  'conv1.bias': [2],
  'conv2.kernel': [3, 3, 2, 3],
  'conv2.bias': [3],
  'fc1.kernel': [48, 4],
  'fc1.bias': [4],
  'fc2.kernel': [4, 3],
  'fc2.bias': [3],
};

function makeWeights(): WeightArrays {
  const w: WeightArrays = {};
  let k = 0;
  for (const [name, shape] of Object.entries(SHAPES)) {
    const n = shape.reduce((a, b) => a * b, 1);
    w[name] = { shape, data: Float32Array.from({ length: n }, () => Math.sin(++k) * 0.5) };
  }
  return w;
}

const input: CheckpointManifestInput = {
  name: 'tiny',
  architecture: arch,
  normalization: { mean: [0.5], std: [0.5] },
  classNames: ['a', 'b', 'c'],
  provenance: { source: 'test', seed: 1, epochs: 0 },
  metrics: { cleanAccuracy: { first: 0.1, last: 0.2, average: 0.3 }, testImages: 10 },
};

let root: string;
let counter = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'bench-ckpt-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function freshCheckpoint(): Promise<string> {
  const dir = join(root, `c${++counter}`);
  await saveCheckpoint(dir, input, makeWeights());
  return dir;
}

/** Replaces weights.safetensors and fixes the sha256 in model.json, so only the content is wrong. */
async function rewriteWeights(dir: string, tensors: [string, WritableTensor][]) {
  const bytes = encodeSafetensors(tensors);
  await writeFile(join(dir, 'weights.safetensors'), bytes);
  const manifest = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
  manifest.weights.sha256 = createHash('sha256').update(bytes).digest('hex');
  await writeFile(join(dir, 'model.json'), JSON.stringify(manifest));
}

async function editManifest(dir: string, edit: (m: Record<string, unknown>) => void) {
  const manifest = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
  edit(manifest);
  await writeFile(join(dir, 'model.json'), JSON.stringify(manifest));
}

async function loadError(dir: string): Promise<string> {
  const err = await loadCheckpoint(dir).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InputError);
  const message = (err as Error).message;
  expect(message).not.toContain('\n');
  return message;
}

describe('save and load', () => {
  it('round-trips weights and manifest, leaving exactly two files', async () => {
    const dir = await freshCheckpoint();
    expect((await readdir(dir)).sort()).toEqual(['model.json', 'weights.safetensors']);
    const { manifest, weights } = await loadCheckpoint(dir);
    const original = makeWeights();
    expect(Object.keys(weights).sort()).toEqual(Object.keys(SHAPES).sort());
    for (const [name, w] of Object.entries(original)) {
      expect(weights[name].shape).toEqual(w.shape);
      expect(weights[name].data).toEqual(w.data);
    }
    expect(manifest).toMatchObject({ format: 'bench-checkpoint/1', name: 'tiny', architecture: arch, classNames: ['a', 'b', 'c'] });
    expect(manifest.metrics).toEqual(input.metrics);
    expect(manifest.provenance).toEqual(input.provenance);
    const fileHash = createHash('sha256').update(await readFile(join(dir, 'weights.safetensors'))).digest('hex');
    expect(manifest.weights).toEqual({ file: 'weights.safetensors', sha256: fileHash });
  });

  it('refuses to save non-finite or misshapen weights, and writes nothing', async () => {
    const dir = join(root, 'refused');
    const nan = makeWeights();
    nan['fc1.kernel'].data[7] = NaN;
    await expect(saveCheckpoint(dir, input, nan)).rejects.toThrow(/tensor "fc1\.kernel": non-finite value NaN at flat index 7/);
    const shaped = makeWeights();
    shaped['fc2.kernel'] = { shape: [3, 4], data: shaped['fc2.kernel'].data };
    await expect(saveCheckpoint(dir, input, shaped)).rejects.toThrow(/tensor "fc2\.kernel": has shape \[3, 4\], the architecture needs \[4, 3\]/);
    await expect(readdir(dir)).rejects.toThrow();
  });
});

describe('load errors name the file (and tensor)', () => {
  it('missing directory, a file instead of a directory, missing model.json', async () => {
    expect(await loadError(join(root, 'nope'))).toMatch(/nope: checkpoint directory does not exist/);
    const dir = await freshCheckpoint();
    expect(await loadError(join(dir, 'model.json'))).toMatch(/model\.json: not a directory/);
    await rm(join(dir, 'model.json'));
    expect(await loadError(dir)).toMatch(/model\.json: the checkpoint manifest is missing/);
  });

  it('bad JSON, unknown format, invalid architecture, wrong class names', async () => {
    const dir = await freshCheckpoint();
    await writeFile(join(dir, 'model.json'), '{"format": ');
    expect(await loadError(dir)).toMatch(/model\.json: not valid JSON/);
    const dir2 = await freshCheckpoint();
    await editManifest(dir2, (m) => (m.format = 'bench-checkpoint/9'));
    expect(await loadError(dir2)).toMatch(/model\.json: format: unknown format "bench-checkpoint\/9" \(allowed: "bench-checkpoint\/1"\)/);
    const dir3 = await freshCheckpoint();
    await editManifest(dir3, (m) => ((m.architecture as ArchitectureSpec).kernelSize = 2));
    expect(await loadError(dir3)).toMatch(/model\.json: architecture\.kernelSize/);
    const dir4 = await freshCheckpoint();
    await editManifest(dir4, (m) => (m.classNames = ['a']));
    expect(await loadError(dir4)).toMatch(/model\.json: classNames: must be a list of 3 strings/);
    const dir5 = await freshCheckpoint();
    await editManifest(dir5, (m) => ((m.architecture as ArchitectureSpec).cycles = 1e9));
    expect(await loadError(dir5)).toMatch(/model\.json: architecture\.cycles: must be an integer \(allowed: 0\.\.50\)/);
  });

  it('missing, truncated and corrupted weights files', async () => {
    const dir = await freshCheckpoint();
    await rm(join(dir, 'weights.safetensors'));
    expect(await loadError(dir)).toMatch(/weights\.safetensors: the weights file is missing/);

    const cut = await freshCheckpoint();
    const file = join(cut, 'weights.safetensors');
    const size = (await readFile(file)).length;
    await truncate(file, size - 4);
    // The last tensor in file order is fc2.bias.
    expect(await loadError(cut)).toMatch(/weights\.safetensors: tensor "fc2\.bias": data_offsets .* run past the data section/);

    const flipped = await freshCheckpoint();
    const bytes = await readFile(join(flipped, 'weights.safetensors'));
    bytes[bytes.length - 20] ^= 0x01;
    await writeFile(join(flipped, 'weights.safetensors'), bytes);
    expect(await loadError(flipped)).toMatch(/weights\.safetensors: sha256 mismatch/);
  });

  it('NaN / Inf, shape mismatch, missing, extra and non-F32 tensors', async () => {
    const base = () => Object.entries(makeWeights()) as [string, WritableTensor][];

    const nan = await freshCheckpoint();
    const withNaN = base();
    (withNaN[4][1].data as Float32Array)[5] = NaN; // fc1.kernel
    await rewriteWeights(nan, withNaN);
    expect(await loadError(nan)).toMatch(/weights\.safetensors: tensor "fc1\.kernel": non-finite value NaN at flat index 5/);

    const inf = await freshCheckpoint();
    const withInf = base();
    (withInf[1][1].data as Float32Array)[1] = -Infinity; // conv1.bias
    await rewriteWeights(inf, withInf);
    expect(await loadError(inf)).toMatch(/tensor "conv1\.bias": non-finite value -Infinity at flat index 1/);

    const shape = await freshCheckpoint();
    const reshaped = base();
    reshaped[2] = ['conv2.kernel', { shape: [3, 3, 3, 2], data: reshaped[2][1].data }];
    await rewriteWeights(shape, reshaped);
    expect(await loadError(shape)).toMatch(/weights\.safetensors: tensor "conv2\.kernel": has shape \[3, 3, 3, 2\], the architecture needs \[3, 3, 2, 3\]/);

    const missing = await freshCheckpoint();
    await rewriteWeights(missing, base().filter(([n]) => n !== 'fc1.bias'));
    expect(await loadError(missing)).toMatch(/weights\.safetensors: missing tensor "fc1\.bias"/);

    const extra = await freshCheckpoint();
    await rewriteWeights(extra, [...base(), ['fc3.kernel', { shape: [1], data: new Float32Array(1) }]]);
    expect(await loadError(extra)).toMatch(/weights\.safetensors: unexpected tensors "fc3\.kernel"/);

    const ints = await freshCheckpoint();
    const asInt = base();
    asInt[3] = ['conv2.bias', { shape: [3], data: Int32Array.from([1, 2, 3]) }];
    await rewriteWeights(ints, asInt);
    expect(await loadError(ints)).toMatch(/tensor "conv2\.bias": has dtype I32 \(allowed: F32\)/);
  });
});
