import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/engine/errors.js';
import { readSafetensors } from '../../src/models/safetensors.js';
import { torchPickleHooks } from '../../src/models/torch/allowList.js';
import { parseTorchFile, readTorchFile } from '../../src/models/torch/load.js';
import { unpickle } from '../../src/models/torch/pickle.js';
import { crc32 } from '../../src/models/torch/zip.js';
import {
  concat,
  keyListPickle,
  le,
  legacyPreamble,
  makeZip,
  osSystemPickle,
  stackGlobalEvalPickle,
  stateDictPickle,
  tensorPickle,
} from './torchPickle.helpers.js';

const FIXTURES = join(import.meta.dirname, '../fixtures/cnnf-reference');
const ZIP_PT = join(FIXTURES, 'cnn_feedforward/state_dict.pt');
const LEGACY_PT = join(FIXTURES, 'cnnf_ind2_cycles1/state_dict.pt');

function expectInputError(fn: () => unknown, ...fragments: string[]): InputError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(InputError);
  const message = (caught as Error).message;
  expect(message.includes('\n')).toBe(false);
  for (const f of fragments) expect(message).toContain(f);
  return caught as InputError;
}

describe('reference fixtures', () => {
  for (const [label, file, format, dir] of [
    ['zip (torch >= 1.6)', ZIP_PT, 'zip', 'cnn_feedforward'],
    ['legacy (torch <= 1.5)', LEGACY_PT, 'legacy', 'cnnf_ind2_cycles1'],
  ] as const) {
    it(`parses the ${label} state_dict and matches weights.safetensors exactly`, async () => {
      const sd = await readTorchFile(file);
      expect(sd.format).toBe(format);
      const reference = await readSafetensors(join(FIXTURES, dir, 'weights.safetensors'));
      // The meta.json of the fixture lists the shapes PyTorch reported.
      const meta = JSON.parse(readFileSync(join(FIXTURES, dir, 'meta.json'), 'utf8')) as { weights: Record<string, number[]> };
      for (const [name, shape] of Object.entries(meta.weights)) {
        const t = sd.tensors.get(name)!;
        expect(t.shape, name).toEqual(shape);
        expect(t.dtype).toBe('float32');
        expect(Buffer.from(t.data.buffer).equals(Buffer.from(reference.tensors.get(name)!.data.buffer)), name).toBe(true);
      }
      // 14 originals, 4 conv_t and 3 linear_t tied copies, 3 linear aliases.
      expect(sd.tensors.size).toBe(24);
      expect([...sd.tensors.keys()].slice(0, 3)).toEqual(['conv1.conv.weight', 'conv1.conv_t.weight', 'ins1_bias.bias']);
    });
  }

  it('materialises the transposed linear_t views by their strides', async () => {
    const sd = await readTorchFile(LEGACY_PT);
    const w = sd.tensors.get('fc1.linear.weight')!; // [1000, 3136]
    const wt = sd.tensors.get('fc1.linear_t.weight')!; // [3136, 1000], strides (1, 3136)
    expect(wt.strides).toEqual([1, 3136]);
    expect(wt.storageKey).toBe(w.storageKey);
    for (const [i, o] of [[0, 1], [1, 0], [3135, 999], [1234, 567], [17, 998]]) {
      expect(wt.data[i * 1000 + o]).toBe(w.data[o * 3136 + i]);
    }
  });
});

describe('hand-made checkpoints', () => {
  const floats = [0, 1, 2, 3, 4, 5];
  const doubles = [0.5, 1.5, -2.25, 3.125];
  const longs = [-7, 16777216]; // exact in float32 (2^24)

  it('reads a deflated zip checkpoint with strided views, float64, int64 and parameters', () => {
    const s0 = { type: 'FloatStorage', key: '0', count: 6 } as const;
    const pkl = stateDictPickle([
      ['w', tensorPickle('zip', s0, 0, [2, 3], [1, 2])],
      ['d', tensorPickle('zip', { type: 'DoubleStorage', key: '1', count: 4 }, 1, [3], [1])],
      ['n', tensorPickle('zip', { type: 'LongStorage', key: '2', count: 2 }, 0, [2], [1])],
      ['p', tensorPickle('zip', s0, 2, [2], [2], true)],
    ]);
    const zip = makeZip([
      ['archive/data.pkl', pkl],
      ['archive/byteorder', new TextEncoder().encode('little')],
      ['archive/data/0', le.f32(floats)],
      ['archive/data/1', le.f64(doubles)],
      ['archive/data/2', le.i64(longs)],
      ['archive/version', new TextEncoder().encode('3\n')],
    ]);
    const sd = parseTorchFile(zip, 'mini.pt');
    expect(sd.format).toBe('zip');
    // w[r, c] = storage[r * 1 + c * 2]
    expect([...sd.tensors.get('w')!.data]).toEqual([0, 2, 4, 1, 3, 5]);
    expect([...sd.tensors.get('d')!.data]).toEqual([1.5, -2.25, 3.125]);
    expect(sd.tensors.get('d')!.dtype).toBe('float64');
    expect([...sd.tensors.get('n')!.data]).toEqual(longs);
    expect([...sd.tensors.get('p')!.data]).toEqual([2, 4]);
  });

  it('reads a legacy checkpoint with a storage view', () => {
    // Storage '0' holds 6 floats; view 'v' is elements 2..5 of it.
    const pkl = stateDictPickle([
      ['a', tensorPickle('legacy', { type: 'FloatStorage', key: '0', count: 6 }, 0, [3, 2], [2, 1])],
      ['b', tensorPickle('legacy', { type: 'FloatStorage', key: '0', count: 6, view: ['v', 2, 4] }, 1, [2], [2])],
    ]);
    const file = concat(legacyPreamble(), pkl, keyListPickle(['0']), le.u64(6), le.f32(floats));
    const sd = parseTorchFile(file, 'legacy-mini.pt');
    expect(sd.format).toBe('legacy');
    expect([...sd.tensors.get('a')!.data]).toEqual(floats);
    // view starts at element 2; tensor offset 1, stride 2 -> elements 3 and 5.
    expect([...sd.tensors.get('b')!.data]).toEqual([3, 5]);
  });

  it('refuses a view that reads beyond its storage', () => {
    const pkl = stateDictPickle([['a', tensorPickle('zip', { type: 'FloatStorage', key: '0', count: 6 }, 2, [3, 2], [2, 1])]]);
    const zip = makeZip([['x/data.pkl', pkl], ['x/data/0', le.f32(floats)]]);
    expectInputError(() => parseTorchFile(zip, 'view.pt'), 'view.pt', 'tensor "a"', 'reads element 7');
  });
});

describe('malicious pickles are refused and nothing runs', () => {
  const marker = join(tmpdir(), `bench-pwned-${process.pid}`);
  const exploit = osSystemPickle(`touch ${marker}`);

  it('refuses os.system in a zip checkpoint', () => {
    const zip = makeZip([['evil/data.pkl', exploit]], 0);
    expectInputError(
      () => parseTorchFile(zip, 'evil.pt'),
      'evil.pt: refused to load: the pickle names the global os.system, which is not on the allow-list (',
      'collections.OrderedDict',
    );
    expect(existsSync(marker)).toBe(false);
  });

  it('refuses os.system in a legacy checkpoint', () => {
    const file = concat(legacyPreamble(), exploit, keyListPickle([]));
    expectInputError(() => parseTorchFile(file, 'evil-legacy.pt'), 'refused to load', 'os.system');
    expect(existsSync(marker)).toBe(false);
  });

  for (const [module, name] of [
    ['posix', 'system'],
    ['subprocess', 'Popen'],
    ['builtins', 'exec'],
    ['torch.storage', '_load_from_bytes'],
    ['torch', 'load'],
  ]) {
    it(`refuses ${module}.${name} at its GLOBAL opcode`, () => {
      const bytes = osSystemPickle('true', module, name);
      expectInputError(() => unpickle(bytes, 0, torchPickleHooks('x.pt', 'zip'), 'x.pt'), `the global ${module}.${name}`);
    });
  }

  it('refuses builtins.eval reached through protocol 4 STACK_GLOBAL', () => {
    expectInputError(
      () => unpickle(stackGlobalEvalPickle('__import__("os").system("true")'), 0, torchPickleHooks('y.pt', 'zip'), 'y.pt'),
      'builtins.eval',
    );
  });

  it('refuses to call an allowed storage class', () => {
    const bytes = Uint8Array.from([0x80, 2, ...Buffer.from('ctorch\nFloatStorage\n'), 0x29, 0x52, 0x2e]);
    expectInputError(() => unpickle(bytes, 0, torchPickleHooks('z.pt', 'zip'), 'z.pt'), 'refused to call torch.FloatStorage');
  });
});

describe('corrupted files give one-line InputErrors naming the file', () => {
  const zipBytes = new Uint8Array(readFileSync(ZIP_PT));
  const legacyBytes = new Uint8Array(readFileSync(LEGACY_PT));

  it('truncated zip', () => {
    expectInputError(() => parseTorchFile(zipBytes.subarray(0, zipBytes.length - 5000), 'cut.pt'), 'cut.pt', 'corrupted zip archive');
  });

  it('a flipped byte inside a zip storage is caught by its CRC-32', () => {
    const damaged = zipBytes.slice();
    damaged[700_000] ^= 0x40; // inside state_dict/data/8 (fc1), which spans 652624..13196752
    expectInputError(() => parseTorchFile(damaged, 'flip.pt'), 'flip.pt', 'CRC-32 mismatch');
  });

  it('zip without data.pkl', () => {
    expectInputError(() => parseTorchFile(makeZip([['a/data/0', le.f32([1])]]), 'nopkl.pt'), 'nopkl.pt', 'data.pkl');
  });

  it('truncated legacy file', () => {
    expectInputError(() => parseTorchFile(legacyBytes.subarray(0, legacyBytes.length - 100), 'cut-legacy.pt'), 'cut-legacy.pt', 'truncated');
    expectInputError(() => parseTorchFile(legacyBytes.subarray(0, 2000), 'cut2.pt'), 'cut2.pt');
  });

  it('bad magic number', () => {
    const damaged = legacyBytes.slice();
    damaged[5] ^= 0xff;
    expectInputError(() => parseTorchFile(damaged, 'magic.pt'), 'magic.pt', 'bad magic number');
    expectInputError(() => parseTorchFile(new TextEncoder().encode('hello, not a checkpoint'), 'text.pt'), 'text.pt', 'bad magic number');
  });

  it('flipped opcode in the legacy state_dict pickle', () => {
    const damaged = legacyBytes.slice();
    damaged[170] = 0xff; // the MARK that opens the OrderedDict items
    expectInputError(() => parseTorchFile(damaged, 'op.pt'), 'op.pt');
  });

  it('crc32 matches the published check value', () => {
    // CRC-32/ISO-HDLC check value for "123456789" (the CRC catalogue): 0xCBF43926.
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });
});
