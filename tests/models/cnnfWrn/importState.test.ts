import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runImport } from '../../../src/cli/import.js';
import { InputError } from '../../../src/engine/errors.js';
import { loadCheckpoint } from '../../../src/models/checkpoint.js';
import { blockSpecs, CIFAR10_CLASS_NAMES, wrnArchitecture, wrnWeightSpecs } from '../../../src/models/cnnfWrn/architecture.js';
import { importReferenceStateDict } from '../../../src/models/importReference.js';
import { readTorchFile, type TorchStateDict } from '../../../src/models/torch/load.js';
import type { WeightArrays } from '../../../src/models/weights.js';

// The WRN state_dict mapping on the reference fixtures (both torch.save formats): every reference tensor
// lands at its name and layout, tied copies are checked, and mismatches are one clear error.
const FIXTURES = join(import.meta.dirname, '../../fixtures/cnnf-reference');
const LEGACY_PT = join(FIXTURES, 'cnnf_wrn40-2_ind5_cycles2/state_dict.pt');
const ZIP_PT = join(FIXTURES, 'cnn_wrn40-2/state_dict.pt');
const arch = wrnArchitecture(40, 2, 5, 2, 0.1);

let legacy: TorchStateDict;
let imported: WeightArrays;

beforeAll(async () => {
  legacy = await readTorchFile(LEGACY_PT);
  imported = importReferenceStateDict(legacy.tensors, arch, LEGACY_PT);
});

const torch = (key: string) => legacy.tensors.get(key)!.data as Float32Array;

describe('importWrnStateDict', () => {
  it('maps every reference tensor: OIHW convs to HWIO, [1,C,1,1] biases to [C], fc [out,in] to [in,out]', () => {
    expect(legacy.format).toBe('legacy');
    expect(Object.keys(imported)).toEqual(wrnWeightSpecs(arch).map((s) => s.name));
    for (const spec of wrnWeightSpecs(arch)) expect(imported[spec.name].shape, spec.name).toEqual(spec.shape);
    // block2.0.conv1: [64, 32, 3, 3] in PyTorch; our [3, 3, 32, 64][h, w, i, o] = torch[o, i, h, w].
    const w = torch('block2.layer.0.conv1.conv.weight');
    const ours = imported['block2.0.conv1.kernel'].data;
    for (const [o, i, h, x] of [[0, 0, 0, 0], [63, 31, 2, 1], [17, 5, 1, 2]])
      expect(ours[((h * 3 + x) * 32 + i) * 64 + o]).toBe(w[((o * 32 + i) * 3 + h) * 3 + x]);
    const shortcut = torch('block3.layer.0.conv_shortcut.conv.weight'); // [128, 64, 1, 1]
    expect(imported['block3.0.shortcut.kernel'].data[40 * 128 + 100]).toBe(shortcut[100 * 64 + 40]);
    expect(Array.from(imported['block1.3.ins2.bias'].data)).toEqual(Array.from(torch('block1.layer.3.ins2_bias.bias')));
    expect(Array.from(imported['final.bias'].data)).toEqual(Array.from(torch('ins1_bias.bias')));
    const fc = torch('fc.linear.weight'); // [10, 128]
    expect(imported['fc.kernel'].data[77 * 10 + 3]).toBe(fc[3 * 128 + 77]);
    expect(Array.from(imported['fc.bias'].data)).toEqual(Array.from(torch('fc_bias.bias')));
    // Shortcut convolutions exactly where the width changes: the first block of every group.
    expect(blockSpecs(arch).filter((b) => b.shortcut).map((b) => b.prefix)).toEqual(['block1.0', 'block2.0', 'block3.0']);
  });

  it('reads the zip-format CNN baseline the same way', async () => {
    const zip = await readTorchFile(ZIP_PT);
    expect(zip.format).toBe('zip');
    const weights = importReferenceStateDict(zip.tensors, wrnArchitecture(40, 2, 0, 0, 0), ZIP_PT);
    expect(Object.keys(weights).length).toBe(wrnWeightSpecs(arch).length);
  });

  it('names the tensor when the depth, the width or a tied copy does not match', () => {
    expect(() => importReferenceStateDict(legacy.tensors, wrnArchitecture(28, 2, 0, 0, 0), 'a.pt')).toThrow(
      /a\.pt: unexpected tensors "block1\.layer\.4\.ins1_bias\.bias".*WRN-28-2/,
    );
    expect(() => importReferenceStateDict(legacy.tensors, wrnArchitecture(40, 4, 0, 0, 0), 'b.pt')).toThrow(
      /b\.pt: tensor "conv1\.conv\.weight"|b\.pt: tensor "block1\.layer\.0\.ins1_bias\.bias"|b\.pt: tensor "block1\.layer\.0\.conv1\.conv\.weight" has shape \[32, 16, 3, 3\], expected \[64, 16, 3, 3\]/,
    );
    const untied = new Map(legacy.tensors);
    const t = untied.get('block2.layer.0.conv1.conv_t.weight')!;
    const data = (t.data as Float32Array).slice();
    data[99] += 1;
    untied.set('block2.layer.0.conv1.conv_t.weight', { ...t, data });
    expect(() => importReferenceStateDict(untied, arch, 'c.pt')).toThrow(
      /c\.pt: tensor "block2\.layer\.0\.conv1\.conv_t\.weight" should be a tied copy of "block2\.layer\.0\.conv1\.conv\.weight" but differs at flat index 99/,
    );
    const missing = new Map(legacy.tensors);
    missing.delete('fc_bias.bias');
    expect(() => importReferenceStateDict(missing, arch, 'd.pt')).toThrow(/d\.pt: missing tensor "fc_bias\.bias"/);
  });
});

describe('bench import --arch cnnf-wrn (runImport)', () => {
  it('writes a checkpoint whose model.json holds the architecture, CIFAR-10 classes and normalisation', async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'bench-wrn-import-')), 'paper');
    const { summary } = await runImport({ file: LEGACY_PT, arch: 'cnnf-wrn', depth: 40, widen: 2, ind: 5, cycles: 2, resParam: 0.1, out });
    // The parameter count of the reference's own listing of its weights (meta.json, no tied copies).
    const meta = JSON.parse(readFileSync(join(FIXTURES, 'cnnf_wrn40-2_ind5_cycles2/meta.json'), 'utf8')) as { weights: Record<string, number[]> };
    const parameters = Object.values(meta.weights).reduce((n, shape) => n + shape.reduce((a, b) => a * b, 1), 0);
    expect(summary).toContain(`(legacy, ${Object.keys(meta.weights).length} tensors, ${parameters} parameters) -> `);
    expect(summary).toMatch(/paper \[cnnf-wrn WRN-40-2 ind=5 cycles=2 resParam=0\.1\]/);
    const { manifest, weights } = await loadCheckpoint(out);
    expect(manifest.architecture).toEqual({ family: 'cnnf-wrn', depth: 40, widen: 2, inputShape: [32, 32, 3], numClasses: 10, ind: 5, cycles: 2, resParam: 0.1, insNormEpsilon: 1e-8 });
    expect(manifest.classNames).toEqual(CIFAR10_CLASS_NAMES);
    expect(manifest.normalization).toEqual({ mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
    expect(Buffer.from(weights['block3.5.conv2.kernel'].data.buffer).equals(Buffer.from(imported['block3.5.conv2.kernel'].data.buffer))).toBe(true);
  });

  it('rejects missing or impossible --depth/--widen/--ind with the allowed values', async () => {
    const out = join(tmpdir(), 'bench-wrn-never');
    const message = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (err) {
        expect(err).toBeInstanceOf(InputError);
        return (err as Error).message;
      }
      throw new Error('did not reject');
    };
    expect(await message(runImport({ file: ZIP_PT, arch: 'cnnf-wrn', cycles: 0, out }))).toMatch(/^--depth\/--widen: required with --arch cnnf-wrn/);
    expect(await message(runImport({ file: ZIP_PT, arch: 'cnnf-wrn', depth: 41, widen: 2, cycles: 0, out }))).toMatch(/^--depth: 41 is not a Wide-ResNet depth \(allowed: 6n \+ 4/);
    expect(await message(runImport({ file: ZIP_PT, arch: 'cnnf-wrn', depth: 40, widen: 0, cycles: 0, out }))).toMatch(/^--widen: 0 is not a widen factor/);
    expect(await message(runImport({ file: ZIP_PT, arch: 'cnnf-wrn', depth: 40, widen: 2, ind: 7, cycles: 2, resParam: 0.1, out }))).toMatch(/^--ind: must be an integer, got 7 \(allowed: 0\.\.6\)/);
  });
});
