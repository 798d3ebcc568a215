import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/engine/backend.js';
import { InputError } from '../../src/engine/errors.js';
import { loadCheckpoint } from '../../src/models/checkpoint.js';
import { writeSafetensors } from '../../src/models/safetensors.js';
import { verifyAgainstReference } from '../../src/models/verify.js';
import { packageRoot } from '../../src/data/fashionMnist.js';

/**
 * `bench verify` feeds the reference file's x_uint8 / 255 to the model: anything but 8-bit pixels
 * [N, H, W] would put non-images (values above 1, negative, NaN) into it, so it is an InputError.
 */
const dir = mkdtempSync(join(tmpdir(), 'bench-verify-'));

beforeAll(async () => {
  await initBackend('wasm');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('verifyAgainstReference inputs', () => {
  const cases: [string, Float32Array | Uint8Array, number[]][] = [
    ['float pixels (values up to 300 / 255 > 1)', Float32Array.from({ length: 2 * 784 }, (_, i) => (i % 301)), [2, 28, 28]],
    ['a channel axis', new Uint8Array(2 * 784), [2, 28, 28, 1]],
  ];
  for (const [what, data, shape] of cases)
    it(`refuses x_uint8 with ${what}`, async () => {
      const file = join(dir, `cases-${shape.length}-${data.constructor.name}.safetensors`);
      await writeSafetensors(file, { x_uint8: { data, shape }, y: { data: new Int32Array(2), shape: [2] }, logits_first: { data: new Float32Array(20), shape: [2, 10] } });
      const checkpoint = await loadCheckpoint(join(packageRoot(), 'checkpoints', 'cnn-fmnist'));
      const run = verifyAgainstReference(checkpoint, file);
      await expect(run).rejects.toThrow(InputError);
      await expect(verifyAgainstReference(checkpoint, file)).rejects.toThrow(/tensor "x_uint8": is (F32|U8) \[.*\] \(allowed: U8 pixels of shape \[N, H, W\]\)/);
    });
});
