import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runImport } from '../../src/cli/import.js';
import { InputError } from '../../src/engine/errors.js';
import { fmnistArchitecture, REFERENCE_NORMALIZATION } from '../../src/models/architecture.js';
import { FASHION_MNIST_CLASS_NAMES, loadCheckpoint } from '../../src/models/checkpoint.js';
import { importReferenceFile, importReferenceSafetensors, importReferenceStateDict } from '../../src/models/importReference.js';
import { readSafetensors, type SafeTensor } from '../../src/models/safetensors.js';
import { readTorchFile, type TorchStateDict } from '../../src/models/torch/load.js';
import type { WeightArrays } from '../../src/models/weights.js';

const FIXTURES = join(import.meta.dirname, '../fixtures/cnnf-reference');
const LEGACY_PT = join(FIXTURES, 'cnnf_ind2_cycles1/state_dict.pt');
const ZIP_PT = join(FIXTURES, 'cnn_feedforward/state_dict.pt');
const arch = fmnistArchitecture(2, 1, 0.1);

let legacy: TorchStateDict;
let reference: Map<string, SafeTensor>;
let imported: WeightArrays;
let scratch: string;

beforeAll(async () => {
  legacy = await readTorchFile(LEGACY_PT);
  reference = (await readSafetensors(join(FIXTURES, 'cnnf_ind2_cycles1/weights.safetensors'))).tensors;
  imported = importReferenceStateDict(legacy.tensors, arch, LEGACY_PT);
  scratch = await mkdtemp(join(tmpdir(), 'bench-import-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

async function rejects(p: Promise<unknown>, ...fragments: string[]) {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InputError);
  for (const f of fragments) expect((err as Error).message).toContain(f);
}

describe('importReferenceStateDict', () => {
  it('produces exactly the weights the architecture names, in our layouts', () => {
    expect(Object.keys(imported).sort()).toEqual(
      ['conv1', 'conv2', 'conv3', 'conv4', 'fc1', 'fc2', 'fc3'].flatMap((l) => [`${l}.bias`, `${l}.kernel`]).sort(),
    );
    expect(imported['conv2.kernel'].shape).toEqual([3, 3, 16, 32]);
    expect(imported['fc1.kernel'].shape).toEqual([3136, 1000]);
    expect(imported['fc3.bias'].shape).toEqual([10]);
  });

  it('conv kernels: HWIO[h,w,i,o] = OIHW[o,i,h,w]', () => {
    const src = reference.get('conv3.conv.weight')!.data; // [32, 32, 3, 3]
    const dst = imported['conv3.kernel'].data; // [3, 3, 32, 32]
    for (const [h, w, i, o] of [[0, 0, 0, 0], [2, 1, 5, 31], [1, 2, 31, 0], [2, 2, 17, 9]]) {
      expect(dst[((h * 3 + w) * 32 + i) * 32 + o]).toBe(src[((o * 32 + i) * 3 + h) * 3 + w]);
    }
    const src4 = reference.get('conv4.conv.weight')!.data; // [64, 32, 3, 3]
    expect(imported['conv4.kernel'].data[((1 * 3 + 0) * 32 + 7) * 64 + 63]).toBe(src4[((63 * 32 + 7) * 3 + 1) * 3 + 0]);
  });

  it('fc1: kernel[(h*7 + w)*64 + c, o] = weight[o, c*49 + h*7 + w] (NHWC vs NCHW flattening)', () => {
    const src = reference.get('fc1.weight')!.data; // [1000, 3136]
    const dst = imported['fc1.kernel'].data; // [3136, 1000]
    for (const [h, w, c, o] of [[0, 0, 0, 0], [0, 0, 1, 0], [6, 6, 63, 999], [3, 5, 10, 123], [0, 1, 0, 7]]) {
      expect(dst[((h * 7 + w) * 64 + c) * 1000 + o]).toBe(src[o * 3136 + c * 49 + h * 7 + w]);
    }
  });

  it('fc2/fc3 transpose; biases flatten', () => {
    const w2 = reference.get('fc2.weight')!.data; // [128, 1000]
    expect(imported['fc2.kernel'].data[999 * 128 + 5]).toBe(w2[5 * 1000 + 999]);
    expect([...imported['conv1.bias'].data]).toEqual([...reference.get('ins1_bias.bias')!.data]);
    expect([...imported['fc3.bias'].data]).toEqual([...reference.get('fc3_bias.bias')!.data]);
  });

  it('imports the zip .pt, the legacy .pt and weights.safetensors to identical arrays', async () => {
    const fromSafetensors = await importReferenceSafetensors(join(FIXTURES, 'cnnf_ind2_cycles1/weights.safetensors'), arch);
    for (const name of Object.keys(imported)) expect(Buffer.from(imported[name].data.buffer).equals(Buffer.from(fromSafetensors[name].data.buffer)), name).toBe(true);
    const zip = await importReferenceFile(ZIP_PT, fmnistArchitecture(0, 0, 0));
    expect(zip.format).toBe('zip');
    const zipReference = await importReferenceSafetensors(join(FIXTURES, 'cnn_feedforward/weights.safetensors'), arch);
    for (const name of Object.keys(zipReference)) expect([...zip.weights[name].data.subarray(0, 50)]).toEqual([...zipReference[name].data.subarray(0, 50)]);
    expect(Buffer.from(zip.weights['fc1.kernel'].data.buffer).equals(Buffer.from(zipReference['fc1.kernel'].data.buffer))).toBe(true);
  });

  it('errors: missing key, wrong shape, extra key, broken tie', () => {
    const without = new Map(legacy.tensors);
    without.delete('ins3_bias.bias');
    expect(() => importReferenceStateDict(without, arch, 'a.pt')).toThrow(/a\.pt: missing tensor "ins3_bias\.bias"/);
    const elevenClasses = { ...arch, numClasses: 11 };
    expect(() => importReferenceStateDict(legacy.tensors, elevenClasses, 'b.pt')).toThrow(/b\.pt: tensor "fc3\.linear\.weight" has shape \[10, 128\], expected \[11, 128\]/);
    const extra = new Map(legacy.tensors).set('fc4.linear.weight', { shape: [1], data: new Float32Array(1) } as never);
    expect(() => importReferenceStateDict(extra, arch, 'c.pt')).toThrow(/c\.pt: unexpected tensors "fc4\.linear\.weight"/);
    const untied = new Map(legacy.tensors);
    const t = untied.get('fc2.linear_t.weight')!;
    const data = t.data.slice();
    data[1234] += 1;
    untied.set('fc2.linear_t.weight', { ...t, data });
    expect(() => importReferenceStateDict(untied, arch, 'd.pt')).toThrow(/d\.pt: tensor "fc2\.linear_t\.weight" should be a tied copy of "fc2\.linear\.weight" but differs at flat index 1234/);
  });

  it('strips a DataParallel "module." prefix', () => {
    const wrapped = new Map([...legacy.tensors].map(([k, v]) => [`module.${k}`, v]));
    expect(importReferenceStateDict(wrapped, arch)['fc1.kernel'].data[77]).toBe(imported['fc1.kernel'].data[77]);
  });
});

describe('bench import (runImport)', () => {
  it('writes a checkpoint that loads back with the reference weights and provenance', async () => {
    const out = join(scratch, 'cnnf-ref');
    const { summary } = await runImport({ file: LEGACY_PT, arch: 'cnnf-fmnist', ind: 2, cycles: 1, resParam: 0.1, out });
    expect(summary).toMatch(/^imported .*state_dict\.pt \(legacy, 14 tensors, \d+ parameters\) -> .*cnnf-ref \[cnnf-fmnist ind=2 cycles=1 resParam=0\.1\]/);
    const ckpt = await loadCheckpoint(out);
    expect(ckpt.manifest.name).toBe('cnnf-ref');
    expect(ckpt.manifest.architecture).toEqual(arch);
    expect(ckpt.manifest.normalization).toEqual(REFERENCE_NORMALIZATION);
    expect(ckpt.manifest.classNames).toEqual(FASHION_MNIST_CLASS_NAMES);
    expect(ckpt.manifest.provenance).toMatchObject({ source: LEGACY_PT, format: 'legacy' });
    expect(typeof ckpt.manifest.provenance.importedAt).toBe('string');
    for (const name of Object.keys(imported)) expect(Buffer.from(ckpt.weights[name].data.buffer).equals(Buffer.from(imported[name].data.buffer)), name).toBe(true);
    // A second import into the same directory needs --force.
    await rejects(runImport({ file: LEGACY_PT, arch: 'cnnf-fmnist', ind: 2, cycles: 1, resParam: 0.1, out }), 'already holds a checkpoint', '--force');
    await runImport({ file: join(FIXTURES, 'cnnf_ind2_cycles1/weights.safetensors'), arch: 'cnnf-fmnist', ind: 2, cycles: 1, resParam: 0.1, out, force: true, name: 'again' });
    const again = await loadCheckpoint(out);
    expect(again.manifest.provenance.format).toBe('safetensors');
    expect(again.manifest.weights.sha256).toBe(ckpt.manifest.weights.sha256);
    expect(JSON.parse(await readFile(join(out, 'model.json'), 'utf8')).name).toBe('again');
  });

  it('a feedforward CNN needs no --ind / --res-param', async () => {
    const out = join(scratch, 'cnn');
    await runImport({ file: ZIP_PT, arch: 'cnnf-fmnist', cycles: 0, out });
    expect((await loadCheckpoint(out)).manifest.architecture).toMatchObject({ cycles: 0, ind: 0, resParam: 0 });
  });

  it('rejects bad flags with the allowed values', async () => {
    const out = join(scratch, 'never');
    await rejects(runImport({ file: ZIP_PT, arch: 'resnet', cycles: 0, out }), '--arch', 'unknown architecture "resnet"', 'allowed: cnnf-fmnist');
    await rejects(runImport({ file: ZIP_PT, arch: 'cnnf-fmnist', cycles: 2, out }), '--ind/--res-param', 'required');
    await rejects(runImport({ file: ZIP_PT, arch: 'cnnf-fmnist', ind: 4, cycles: 1, resParam: 0.1, out }), '--ind', 'allowed: 0..3');
    await rejects(runImport({ file: ZIP_PT, arch: 'cnnf-fmnist', ind: 1, cycles: 1, resParam: 1.5, out }), '--res-param', '0..1');
    await rejects(runImport({ file: join(scratch, 'nope.pt'), arch: 'cnnf-fmnist', cycles: 0, out }), 'nope.pt', 'cannot read');
  });
});
