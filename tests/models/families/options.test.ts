import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../../src/engine/errors.js';
import { tf, type Tensor4D } from '../../../src/engine/tf.js';
import { mapInput, parseModelOptions, readClassNames, resolveModelOptions } from '../../../src/models/families/options.js';

let root: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  root = await mkdtemp(join(tmpdir(), 'bench-model-options-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const W = 'my.json: checkpoints[0]';

describe('per-model options', () => {
  it('parses a config entry and refuses each bad field in one line naming it and the allowed values', () => {
    expect(parseModelOptions({ path: 'm/model.json', name: 'm', inputRange: [0, 255], mean: [1, 2, 3], std: [4], output: 'auto', classNames: ['a'] }, W)).toEqual({
      name: 'm',
      inputRange: [0, 255],
      mean: [1, 2, 3],
      std: [4],
      output: 'auto',
      classNames: ['a'],
    });
    const bad: [unknown, string][] = [
      [{ colour: 1 }, `${W}.colour: unknown field (allowed: path, name, inputRange, mean, std, output, classNames)`],
      [{ inputRange: [255, 0] }, `${W}.inputRange: invalid value [255,0] (allowed: [lo, hi] with lo < hi, e.g. [0,1], [0,255], [-1,1])`],
      [{ std: [0.5, 0] }, `${W}.std: invalid value [0.5,0] (allowed: positive numbers)`],
      [{ mean: [] }, `${W}.mean: invalid value [] (allowed: a non-empty list of finite numbers, one per channel)`],
      [{ output: 'softmax' }, `${W}.output: invalid value "softmax" (allowed: logits, probabilities, auto)`],
      [{ classNames: [1, 2] }, `${W}.classNames: invalid value [1,2] (allowed: a list of non-empty names or a file with one name per line)`],
      ['model.json', `${W}: invalid value "model.json" (allowed: an object)`],
    ];
    for (const [raw, message] of bad) {
      expect(() => parseModelOptions(raw, W)).toThrow(InputError);
      expect(() => parseModelOptions(raw, W)).toThrow(message);
    }
  });

  it('resolves mean/std per channel (one value broadcast) and checks them against the model', () => {
    const r = resolveModelOptions({ mean: [0.5], std: [0.25, 0.5, 1] }, { defaultName: 'x', channels: 3, numClasses: 2 }, W);
    expect(r.mapping).toEqual({ inputRange: [0, 1], mean: [0.5, 0.5, 0.5], std: [0.25, 0.5, 1] });
    expect(r.output).toBe('auto');
    expect(() => resolveModelOptions({ std: [1, 2] }, { defaultName: 'x', channels: 3, numClasses: 2 }, W)).toThrow(
      `${W}: std: has 2 values, the model's input has 3 channels (allowed: 1 or 3 values)`,
    );
  });

  it('reads class names from a file, one per line; a blank line inside is refused naming the line', async () => {
    const good = join(root, 'good.txt');
    await writeFile(good, 'cat\r\ndog\n\n');
    expect(readClassNames(good)).toEqual(['cat', 'dog']);
    const bad = join(root, 'bad.txt');
    await writeFile(bad, 'cat\n\ndog\n');
    expect(() => readClassNames(bad)).toThrow(`${bad}: line 2: empty class name (allowed: one non-empty name per line)`);
    expect(() => readClassNames(join(root, 'none.txt'))).toThrow(/none\.txt: cannot read the class-names file \(ENOENT\)/);
  });

  it('mapInput: identity mapping passes the tensor through; otherwise range first, then mean/std', () => {
    const x = tf.tensor4d([0, 0.5, 1, 0.25, 0.75, 0.1], [1, 1, 2, 3]) as Tensor4D;
    expect(mapInput(x, { inputRange: [0, 1], mean: [0, 0, 0], std: [1, 1, 1] })).toBe(x);
    const m = mapInput(x, { inputRange: [-1, 1], mean: [0, 0.5, -0.5], std: [2, 1, 0.5] });
    const expected = [0, 0.5, 1, 0.25, 0.75, 0.1].map((p, i) => (-1 + p * 2 - [0, 0.5, -0.5][i % 3]) / [2, 1, 0.5][i % 3]);
    Array.from(m.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(expected[i], 6));
  });
});
